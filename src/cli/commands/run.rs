//! `run`: bring the cluster up, then keep it at cluster.toml until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::cli::exit::{CommandError, Exit};
use crate::guard::lock;
use crate::runtime::context::Context;
use crate::runtime::controller::{self, RunOptions, Shared};
use crate::runtime::status::OperatorStatus;
use crate::spec;
use crate::spec::secret::{self, Missing};

pub(crate) async fn run(
    file: &Path,
    resync_secs: f64,
    listen: Option<SocketAddr>,
    listen_tls: Option<SocketAddr>,
) -> Result<Exit, CommandError> {
    let spec = spec::load(file)?;
    let lock = lock::acquire(&spec.name, "run")?;
    let password = secret::resolve(&spec.auth, Missing::Create)?;
    crate::tls::prepare(&spec, std::time::SystemTime::now()).map_err(CommandError::Certificates)?;
    let token = crate::api::token(&spec).map_err(CommandError::Api)?;
    let ctx = Arc::new(Context::connect(spec, password).await?);
    let lease = crate::guard::lease::acquire(&ctx.spec, &ctx.engines, "run").await?;
    let status = OperatorStatus::new(&ctx.spec.name);
    let shared = Arc::new(Shared::new(
        Arc::new(ctx.spec.clone()),
        status,
        token,
        Some(lock.holder().clone()),
    ));
    if let Some(addr) = listen {
        let https = listen_tls.or_else(|| {
            ctx.spec
                .tls
                .as_ref()
                .map(|_| SocketAddr::new(addr.ip(), 8443))
        });
        crate::api::serve(addr, https, shared.clone())
            .await
            .map_err(CommandError::Api)?;
    }
    let (stop, shutdown) = watch::channel(false);
    let mut term = signal(SignalKind::terminate()).map_err(CommandError::Output)?;
    let mut int = signal(SignalKind::interrupt()).map_err(CommandError::Output)?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: finishing the pass in flight"),
            _ = int.recv() => tracing::info!("SIGINT: finishing the pass in flight"),
        }
        let _ = stop.send(true);
    });
    let options = RunOptions {
        resync: Duration::from_secs_f64(resync_secs),
        file: file.to_path_buf(),
    };
    controller::run(ctx, options, shared, shutdown, lease).await;
    drop(lock);
    Ok(Exit::Ok)
}
