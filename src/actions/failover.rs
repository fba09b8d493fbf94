//! Actions on a shard's roles: attach a replica, promote a dead master's replica, hand the
//! slots back with a coordinated failover. Each waits until the node's role has changed, so
//! the next pass observes the shard as it now is.

use std::fmt;
use std::time::Duration;

use super::redis::{failed, run_checked, run_on};
use super::{ActError, Kind, Peer, Stage};
use crate::runtime::context::Context;

/// A forced failover wins its election in tens of milliseconds on a local network. A
/// coordinated one waits for the replica to catch up, and Redis gives that 5 s
/// (`CLUSTER_MF_TIMEOUT`) before it gives up.
const ELECTION_WITHIN: Duration = Duration::from_millis(500);
const TAKEOVER_WITHIN: Duration = Duration::from_secs(2);
const FAILOVER_WITHIN: Duration = Duration::from_secs(6);
const ROLE_POLL: Duration = Duration::from_millis(10);

/// `CLUSTER FAILOVER FORCE` (TAKEOVER when no election can start) on the in-sync replica of
/// a shard whose master died: it takes the slots at once, without the wait for
/// `cluster-node-timeout` and an election delay that Redis's own failover needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promote {
    pub(crate) node: Peer,
    /// The declared master of the shard.
    pub(crate) shard: String,
}

impl Kind for Promote {
    const NAME: &'static str = "promote";
    const STAGE: Stage = Stage::Failover;

    fn why(&self) -> &'static str {
        "a master's container died and its replica holds all of its data"
    }

    /// First `CLUSTER FAILOVER FORCE`: no handshake with the dead master, but an election the
    /// other masters vote in. A replica that ran an election less than 4 × node_timeout
    /// before cannot start another (Redis's `auth_retry_time`; "Failover attempt expired" in
    /// its log), so after half a second without a win it takes the slots with `TAKEOVER`,
    /// which needs no vote. That is safe here as it is not in a partition: the old master's
    /// process is gone, so no other node can be taking writes for these slots.
    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let node = &self.node;
        if !switch(ctx, node, Some("FORCE"), ELECTION_WITHIN).await? {
            let what = "CLUSTER FAILOVER TAKEOVER";
            if !switch(ctx, node, Some("TAKEOVER"), TAKEOVER_WITHIN).await? {
                return Err(still_replica(node, what, TAKEOVER_WITHIN));
            }
        }
        outrank(ctx, node).await
    }
}

impl fmt::Display for Promote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "promote {}, in sync with {}'s shard until its master died (CLUSTER FAILOVER FORCE, or TAKEOVER when no election can start)",
            self.node.name, self.shard
        )
    }
}

/// A coordinated `CLUSTER FAILOVER` on an in-sync replica: its master pauses its clients
/// until the replica has every write, then they swap roles. No write is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failover {
    pub(crate) node: Peer,
    /// The master it takes over from.
    pub(crate) from: String,
}

impl Kind for Failover {
    const NAME: &'static str = "failover";
    const STAGE: Stage = Stage::Failover;

    fn why(&self) -> &'static str {
        "a declared master is back in sync (failback), or a master's container is to be recreated"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        if !switch(ctx, &self.node, None, FAILOVER_WITHIN).await? {
            return Err(still_replica(
                &self.node,
                "CLUSTER FAILOVER",
                FAILOVER_WITHIN,
            ));
        }
        outrank(ctx, &self.node).await
    }
}

impl fmt::Display for Failover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hand {}'s slots to {} (coordinated CLUSTER FAILOVER, no write lost)",
            self.from, self.node.name
        )
    }
}

/// `CLUSTER REPLICATE`: `node` becomes a replica of `master` (the node serving its shard's
/// slots) and copies its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replicate {
    pub(crate) node: Peer,
    pub(crate) master: Peer,
}

impl Kind for Replicate {
    const NAME: &'static str = "replicate";
    const STAGE: Stage = Stage::Replicate;

    fn why(&self) -> &'static str {
        "a node of a shard does not replicate the node serving the shard's slots"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("REPLICATE").arg(&self.master.id);
        run_checked(ctx, &self.node, "CLUSTER REPLICATE", &cmd).await
    }
}

impl fmt::Display for Replicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "make {} a replica of {} (CLUSTER REPLICATE)",
            self.node.name, self.master.name
        )
    }
}

fn still_replica(node: &Peer, what: &str, within: Duration) -> ActError {
    let e = redis::RedisError::from((
        redis::ErrorKind::Client,
        "the node is still a replica",
        format!("{} s after {what}", within.as_secs()),
    ));
    failed(&node.name, what, e)
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
    run_on::<()>(ctx, node, &what, &cmd).await?;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let role: Vec<redis::Value> = run_on(ctx, node, "ROLE", &redis::cmd("ROLE")).await?;
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
    run_on::<String>(ctx, node, "CLUSTER BUMPEPOCH", &cmd)
        .await
        .map(drop)
}
