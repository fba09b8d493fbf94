//! Actions on a shard's roles: attach a replica, promote a dead master's replica, hand the
//! slots back with a coordinated failover. Each waits until the node's role has changed, so
//! the next pass observes the shard as it now is.

use std::time::Duration;

use super::redis::run_at;
use super::ActError;
use crate::context::Context;
use crate::plan::Peer;

/// A forced failover wins its election in tens of milliseconds on a local network. A
/// coordinated one waits for the replica to catch up, and Redis gives that 5 s
/// (`CLUSTER_MF_TIMEOUT`) before it gives up.
const ELECTION_WITHIN: Duration = Duration::from_millis(500);
const TAKEOVER_WITHIN: Duration = Duration::from_secs(2);
const FAILOVER_WITHIN: Duration = Duration::from_secs(6);
const ROLE_POLL: Duration = Duration::from_millis(10);

pub(super) async fn replicate(ctx: &Context, node: &str, master: &Peer) -> Result<(), ActError> {
    let Some(spec) = ctx.spec.node(node) else {
        return Ok(());
    };
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("REPLICATE").arg(&master.id);
    run_at::<()>(ctx, node, &spec.addr(), "CLUSTER REPLICATE", &cmd).await
}

/// Promotes the replica of a master whose container Docker reports dead.
///
/// First `CLUSTER FAILOVER FORCE`: no handshake with the dead master, but an election the
/// other masters vote in. A replica that ran an election less than 4 × node_timeout before
/// cannot start another (Redis's `auth_retry_time`; "Failover attempt expired" in its log),
/// so after half a second without a win it takes the slots with `TAKEOVER`, which needs no vote.
/// That is safe here as it is not in a partition: the old master's process is gone, so no
/// other node can be taking writes for these slots.
pub(super) async fn promote(ctx: &Context, node: &Peer) -> Result<(), ActError> {
    if !switch(ctx, node, Some("FORCE"), ELECTION_WITHIN).await? {
        let what = "CLUSTER FAILOVER TAKEOVER";
        if !switch(ctx, node, Some("TAKEOVER"), TAKEOVER_WITHIN).await? {
            return Err(still_replica(node, what, TAKEOVER_WITHIN));
        }
    }
    outrank(ctx, node).await
}

/// A coordinated `CLUSTER FAILOVER`: the master stops its clients until the replica has its
/// every write, so none is lost.
pub(super) async fn coordinated(ctx: &Context, node: &Peer) -> Result<(), ActError> {
    if !switch(ctx, node, None, FAILOVER_WITHIN).await? {
        return Err(still_replica(node, "CLUSTER FAILOVER", FAILOVER_WITHIN));
    }
    outrank(ctx, node).await
}

fn still_replica(node: &Peer, what: &str, within: Duration) -> ActError {
    let e = redis::RedisError::from((
        redis::ErrorKind::Client,
        "the node is still a replica",
        format!("{} s after {what}", within.as_secs()),
    ));
    ActError::Redis {
        node: node.name.clone(),
        command: what.to_string(),
        source: e,
        permanent: false,
    }
}

/// Sends `CLUSTER FAILOVER [mode]` and waits until the node is a master (the command returns
/// at once; the election follows); false if it is not within `within`.
async fn switch(
    ctx: &Context,
    node: &Peer,
    mode: Option<&str>,
    within: Duration,
) -> Result<bool, ActError> {
    let what = match mode {
        Some(m) => format!("CLUSTER FAILOVER {m}"),
        None => "CLUSTER FAILOVER".to_string(),
    };
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("FAILOVER");
    if let Some(m) = mode {
        cmd.arg(m);
    }
    run_at::<()>(ctx, &node.name, &node.addr, &what, &cmd).await?;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let role: Vec<redis::Value> =
            run_at(ctx, &node.name, &node.addr, "ROLE", &redis::cmd("ROLE")).await?;
        let first = role.into_iter().next();
        if first
            .and_then(|v| redis::from_redis_value::<String>(v).ok())
            .as_deref()
            == Some("master")
        {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(ROLE_POLL).await;
    }
}

/// Makes sure the new master's claim carries the cluster's highest config epoch.
///
/// A replica that won an election less than `max(2 × node_timeout, 2 s)` before keeps that
/// election's state: its next manual failover is "won" at once, without a vote, with the old
/// epoch (seen on Redis 7.0.15, `clusterHandleSlaveFailover`), lower than its old master's.
/// When the old master comes back, its claim wins and the writes the promoted node took are
/// lost in the resync. `CLUSTER BUMPEPOCH` raises the node's epoch above every other when it
/// is not the highest already (else it answers STILL and changes nothing).
async fn outrank(ctx: &Context, node: &Peer) -> Result<(), ActError> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("BUMPEPOCH");
    run_at::<String>(ctx, &node.name, &node.addr, "CLUSTER BUMPEPOCH", &cmd)
        .await
        .map(drop)
}
