//! Running Redis's own commands for the actions: on a declared node, on a [`Peer`] by its
//! gossiped address, or on a peer only while it is still the node the plan was made for.

use super::{ActError, Peer};
use crate::observe::short_id;
use crate::runtime::context::Context;

pub(super) fn failed(node: &str, what: &str, source: redis::RedisError) -> ActError {
    ActError::Redis {
        node: node.to_string(),
        command: what.to_string(),
        source,
        permanent: false,
    }
}

/// Runs `cmd` on the declared address of `node`; `what` names it in errors.
pub(super) async fn run(
    ctx: &Context,
    node: &str,
    what: &str,
    cmd: redis::Cmd,
) -> Result<(), ActError> {
    let Some(spec) = ctx.spec.node(node) else {
        let e = redis::RedisError::from((redis::ErrorKind::Client, "node is not in cluster.toml"));
        return Err(failed(node, what, e));
    };
    run_at(ctx, node, &spec.addr(), what, &cmd).await
}

/// Runs `cmd` on `peer`'s address.
pub(super) async fn run_on<T: redis::FromRedisValue>(
    ctx: &Context,
    peer: &Peer,
    what: &str,
    cmd: &redis::Cmd,
) -> Result<T, ActError> {
    run_at(ctx, &peer.name, &peer.addr, what, cmd).await
}

/// Runs `cmd` on `peer` if the node at its address still has the id the plan saw. For the
/// commands that would do harm on another identity: a reset repeated after a crash would
/// reset the fresh identity again, and slots or a master meant for one node must not go to
/// whatever answers at its address now.
pub(super) async fn run_checked(
    ctx: &Context,
    peer: &Peer,
    what: &str,
    cmd: &redis::Cmd,
) -> Result<(), ActError> {
    let found: String = run_on(
        ctx,
        peer,
        "CLUSTER MYID",
        &redis::cmd("CLUSTER").arg("MYID").clone(),
    )
    .await?;
    if found != peer.id {
        return Err(ActError::NotTheSameNode {
            node: peer.name.clone(),
            planned: short_id(&peer.id).to_string(),
            found: short_id(&found).to_string(),
        });
    }
    run_on(ctx, peer, what, cmd).await
}

/// Runs `cmd` on the node at `addr` (`ip:port`, which may be a node outside cluster.toml),
/// called `name` in errors.
async fn run_at<T: redis::FromRedisValue>(
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

/// A Redis error whose message says `what`: the replies that mean "already done".
pub(super) fn says(e: &ActError, what: &str) -> bool {
    matches!(e, ActError::Redis { source, .. } if source.to_string().contains(what))
}
