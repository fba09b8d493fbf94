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
    run_at(ctx, node, &spec.addr(), what, &cmd).await
}

/// Runs `cmd` on the node at `addr` (`ip:port`, which may be a node outside cluster.toml),
/// called `name` in errors.
pub(super) async fn run_at<T: redis::FromRedisValue>(
    ctx: &Context,
    name: &str,
    addr: &str,
    what: &str,
    cmd: &redis::Cmd,
) -> Result<T, ActError> {
    let (ip, port) = split_addr(addr);
    ctx.redis
        .query::<T>(ip, port, cmd)
        .await
        .map_err(|e| failed(name, what, e))
}

/// `ip:port` → (ip, port); Redis's default port when there is none.
pub(super) fn split_addr(addr: &str) -> (&str, u16) {
    match addr.rsplit_once(':') {
        Some((ip, port)) => (ip, port.parse().unwrap_or(6379)),
        None => (addr, 6379),
    }
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

/// `node` meets `peer` at the port cluster traffic uses and with the bus port given
/// explicitly: with TLS on the bus, both are the TLS port's. Redis 7.2+ and Valkey take a
/// MEET's port as the peer's TLS port when the bus uses TLS; meeting at the plaintext port
/// there leaves a handshake that never completes.
pub(super) async fn meet(ctx: &Context, node: &str, peer: &str) -> Result<(), ActError> {
    let Some(peer) = ctx.spec.node(peer) else {
        return Ok(());
    };
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("MEET")
        .arg(peer.ip.to_string())
        .arg(peer.cluster_port)
        .arg(peer.bus_port());
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

/// CLUSTER RESET HARD: the node forgets every peer and its slots and takes a new id. Redis
/// refuses it for a master that holds keys, which keeps any data safe.
pub(super) async fn reset_hard(ctx: &Context, node: &str) -> Result<(), ActError> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("RESET").arg("HARD");
    run(ctx, node, "CLUSTER RESET HARD", cmd).await
}

/// CLUSTER RESET SOFT on a replica: it turns into an empty master (its copy is flushed),
/// forgets its peers and keeps its id.
pub(super) async fn reset_soft(ctx: &Context, node: &str) -> Result<(), ActError> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("RESET").arg("SOFT");
    run(ctx, node, "CLUSTER RESET SOFT", cmd).await
}

/// Has the node re-read its TLS files (same paths, new contents), all three at once so the
/// certificate and key never disagree.
pub(super) async fn reload_tls(ctx: &Context, node: &str) -> Result<(), ActError> {
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("SET");
    for (setting, file) in [
        ("tls-cert-file", crate::tls::CERT_FILE),
        ("tls-key-file", crate::tls::KEY_FILE),
        ("tls-ca-cert-file", crate::tls::CA_FILE),
    ] {
        cmd.arg(setting)
            .arg(format!("{}/{file}", crate::blueprint::TLS_DIR));
    }
    run(ctx, node, "CONFIG SET tls-*", cmd).await
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
