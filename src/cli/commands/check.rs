//! `check`: the checks of `redis-cli --cluster check`, against cluster.toml.

use std::path::Path;

use crate::cli::exit::{CommandError, Exit};
use crate::observe::health;
use crate::observe::{self, Topology};

pub(crate) async fn run(file: &Path) -> Result<Exit, CommandError> {
    let ctx = super::read_only_context(file).await?;
    let observed = observe::observe(&ctx).await?;
    let findings = health::findings(&Topology::new(&ctx.spec, &observed));
    if findings.is_empty() {
        crate::outln!(
            "[OK] all {} nodes agree about the slot configuration",
            ctx.spec.nodes.len()
        )?;
        crate::outln!("[OK] no open slots")?;
        crate::outln!("[OK] all 16384 slots covered, each by its declared owner")?;
        return Ok(Exit::Ok);
    }
    for f in &findings {
        crate::outln!("[ERR] {}", f.message)?;
    }
    Ok(Exit::Unhealthy)
}
