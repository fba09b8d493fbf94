//! Actions on Redis: the native cluster-forming commands, never redis-cli.

use super::ActError;
use crate::context::Context;
use crate::spec::SlotRange;

fn failed(node: &str, what: &str, source: redis::RedisError) -> ActError {
    ActError::Redis {
        node: node.to_string(),
        command: what.to_string(),
        source,
        permanent: false,
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

/// Forgets `id` on every node in `on`, in parallel: Redis bans a forgotten id from gossip for
/// 60 s, so every node must forget it within that window or it comes back.
pub(super) async fn forget(ctx: &Context, id: &str, on: &[String]) -> Result<(), ActError> {
    let results = futures_util::future::join_all(on.iter().map(|node| async move {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("FORGET").arg(id);
        match run(ctx, node, "CLUSTER FORGET", cmd).await {
            // Already forgotten (by an earlier, interrupted pass): done.
            Err(ActError::Redis { source, .. }) if source.to_string().contains("Unknown node") => {
                Ok(())
            }
            other => other,
        }
    }))
    .await;
    results.into_iter().collect()
}

pub(super) async fn set_config(
    ctx: &Context,
    node: &str,
    settings: &[(String, String)],
) -> Result<(), ActError> {
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("SET");
    for (k, v) in settings {
        cmd.arg(k).arg(v);
    }
    run(ctx, node, "CONFIG SET", cmd)
        .await
        .map_err(|e| match e {
            // Redis said no (an unknown parameter, a bad value): retrying will not change that.
            ActError::Redis {
                node,
                command,
                source,
                ..
            } if matches!(source.kind(), redis::ErrorKind::Server(_)) => ActError::Redis {
                node,
                command,
                source,
                permanent: true,
            },
            other => other,
        })
}
