//! `up`: converge to cluster.toml and exit 0 once healthy.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cli::exit::{CommandError, Exit};
use crate::runtime::context::Context;
use crate::runtime::progress::Progress;
use crate::runtime::reconcile;
use crate::spec;
use crate::spec::secret::{self, Missing};

pub(crate) async fn run(file: &Path, timeout: u64, json_logs: bool) -> Result<Exit, CommandError> {
    let spec = spec::load(file)?;
    let _lock = crate::guard::lock::acquire(&spec.name, "up")?;
    let password = secret::resolve(&spec.auth, Missing::Create)?;
    crate::tls::prepare(&spec, std::time::SystemTime::now()).map_err(CommandError::Certificates)?;
    let ctx = Context::connect(spec, password).await?;
    // Nothing is created on some hosts while another is out of reach.
    ctx.engines.reach_all().await?;
    let lease = crate::guard::lease::acquire(&ctx.spec, &ctx.engines, "up").await?;
    let result = converge(&ctx, timeout, json_logs).await;
    if let Some(lease) = lease {
        lease.release().await;
    }
    result
}

async fn converge(ctx: &Context, timeout: u64, json_logs: bool) -> Result<Exit, CommandError> {
    let mut progress = Progress::for_stderr(json_logs);
    let live = matches!(progress, Progress::Terminal { .. });
    let started = Instant::now();
    let result = {
        let converging = reconcile::converge(ctx, Duration::from_secs(timeout), &mut progress);
        tokio::pin!(converging);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                result = &mut converging => break result,
                // A long reshard: how far it has got, on the live line.
                _ = tick.tick(), if live => {
                    if let Some(moving) = ctx.moves.snapshot() {
                        eprint!("\r\x1b[2K  … {moving}");
                    }
                }
            }
        }
    };
    progress.finish();
    result?;
    let masters = ctx.spec.masters().count();
    let replicas = match ctx.spec.nodes.len() - masters {
        0 => String::new(),
        1 => ", 1 replica in sync".to_string(),
        n => format!(", {n} replicas in sync"),
    };
    crate::outln!(
        "cluster {} is healthy: {masters} masters{replicas}, all 16384 slots as declared ({:.1} s)",
        ctx.spec.name,
        started.elapsed().as_secs_f64()
    )?;
    Ok(Exit::Ok)
}
