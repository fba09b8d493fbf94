//! Actions on Redis: the native cluster-forming commands, never redis-cli.

use super::ActError;
use crate::context::Context;
use crate::spec::SlotRange;

fn failed(node: &str, what: &str, source: redis::RedisError) -> ActError {
    ActError::Redis {
        node: node.to_string(),
        command: what.to_string(),
        source,
    }
}

/// Runs `cmd` on the declared address of `node`; `what` names it in errors.
async fn run(ctx: &Context, node: &str, what: &str, cmd: redis::Cmd) -> Result<(), ActError> {
    let Some(spec) = ctx.spec.node(node) else {
        let e = redis::RedisError::from((redis::ErrorKind::Client, "node is not in cluster.toml"));
        return Err(failed(node, what, e));
    };
    ctx.redis
        .query::<()>(&spec.ip.to_string(), spec.port, &cmd)
        .await
        .map_err(|e| failed(node, what, e))
}

pub(super) async fn set_config_epoch(
    ctx: &Context,
    node: &str,
    epoch: u64,
) -> Result<(), ActError> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("SET-CONFIG-EPOCH").arg(epoch);
    match run(ctx, node, "CLUSTER SET-CONFIG-EPOCH", cmd).await {
        // Already joined, or already given an epoch: what this action wanted is moot.
        Err(ActError::Redis { source, .. })
            if source.to_string().contains("know any other node")
                || source.to_string().contains("already non-zero") =>
        {
            Ok(())
        }
        other => other,
    }
}

pub(super) async fn add_slots(
    ctx: &Context,
    node: &str,
    ranges: &[SlotRange],
) -> Result<(), ActError> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("ADDSLOTSRANGE");
    for r in ranges {
        cmd.arg(r.start).arg(r.end);
    }
    run(ctx, node, "CLUSTER ADDSLOTSRANGE", cmd).await
}

pub(super) async fn meet(ctx: &Context, node: &str, addr: &str) -> Result<(), ActError> {
    let (ip, port) = addr.rsplit_once(':').unwrap_or((addr, "6379"));
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("MEET").arg(ip).arg(port);
    run(ctx, node, "CLUSTER MEET", cmd).await
}
