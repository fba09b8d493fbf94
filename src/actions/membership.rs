//! Who is in the cluster: introductions, epochs for newcomers, forgetting ids that are gone,
//! and resets that give a node a clean start.

use std::fmt;

use futures_util::future::join_all;

use super::redis::{run_checked, run_on, says};
use super::{ActError, Kind, Peer, Stage};
use crate::observe::short_id;
use crate::runtime::context::Context;

/// CLUSTER FORGET an id on every node that knows it, in one go (Redis bans a forgotten id
/// from gossip for 60 s, so all nodes must forget it within that window or it comes back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forget {
    pub(crate) id: String,
    /// What the id was: "redis-3's old identity", "foreign node 10.0.0.9:6379".
    pub(crate) was: String,
    /// Slots it still served: their keys are gone with it (no replica took them over).
    pub(crate) lost_slots: usize,
    pub(crate) on: Vec<Peer>,
}

impl Kind for Forget {
    const NAME: &'static str = "forget";
    const STAGE: Stage = Stage::Forget;

    fn why(&self) -> &'static str {
        "the cluster still knows a node id that is gone or not in cluster.toml"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("FORGET").arg(&self.id);
        let cmd = &cmd;
        let results = join_all(self.on.iter().map(|node| async move {
            match run_on::<()>(ctx, node, "CLUSTER FORGET", cmd).await {
                // Already forgotten (by an earlier, interrupted pass): done.
                Err(e) if says(&e, "Unknown node") => Ok(()),
                other => other,
            }
        }))
        .await;
        results.into_iter().collect()
    }
}

impl fmt::Display for Forget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on: Vec<&str> = self.on.iter().map(|p| p.name.as_str()).collect();
        let short = short_id(&self.id);
        write!(f, "forget {short} ({}) on {}", self.was, on.join(", "))?;
        if self.lost_slots > 0 {
            write!(
                f,
                "; the keys of its {} slots are lost (no replica held them)",
                self.lost_slots
            )?;
        }
        Ok(())
    }
}

/// CLUSTER RESET HARD a declared node the cluster forgot (it holds no slot): it starts over
/// with a new id, which no ban keeps out, and joins as a fresh node. Redis refuses it for a
/// master that holds keys, which keeps any data safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetNode {
    pub node: Peer,
}

impl Kind for ResetNode {
    const NAME: &'static str = "reset-node";
    const STAGE: Stage = Stage::Forget;

    fn why(&self) -> &'static str {
        "the cluster forgot this node's id (it was removed and is declared again)"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("RESET").arg("HARD");
        run_checked(ctx, &self.node, "CLUSTER RESET HARD", &cmd).await
    }
}

impl fmt::Display for ResetNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reset {} (CLUSTER RESET HARD): the cluster forgot its id {}, it joins under a new one",
            self.node.name,
            short_id(&self.node.id)
        )
    }
}

/// CLUSTER RESET SOFT a node declared master that still replicates another shard's node: it
/// becomes an empty master with the same id (its copy of the other shard's data is dropped;
/// the other shard keeps it) and forgets its peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detach {
    pub(crate) node: Peer,
}

impl Kind for Detach {
    const NAME: &'static str = "detach";
    const STAGE: Stage = Stage::Forget;

    fn why(&self) -> &'static str {
        "a node declared master still replicates another shard's node"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("RESET").arg("SOFT");
        run_checked(ctx, &self.node, "CLUSTER RESET SOFT", &cmd).await
    }
}

impl fmt::Display for Detach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "make {} a master of its own (CLUSTER RESET SOFT): cluster.toml declares it one",
            self.node.name
        )
    }
}

/// Give a never-joined node a unique config epoch before it meets the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetConfigEpoch {
    pub(crate) node: Peer,
    pub(crate) epoch: u64,
}

impl Kind for SetConfigEpoch {
    const NAME: &'static str = "set-config-epoch";
    const STAGE: Stage = Stage::Epochs;

    fn why(&self) -> &'static str {
        "the node has never joined a cluster"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("SET-CONFIG-EPOCH").arg(self.epoch);
        match run_checked(ctx, &self.node, "CLUSTER SET-CONFIG-EPOCH", &cmd).await {
            // Already joined, or already given an epoch: what this action wanted is moot.
            Err(e) if says(&e, "know any other node") || says(&e, "already non-zero") => Ok(()),
            other => other,
        }
    }
}

impl fmt::Display for SetConfigEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "give {} config epoch {} before it joins",
            self.node.name, self.epoch
        )
    }
}

/// `node` runs CLUSTER MEET with `peer`'s address. It meets the peer at the port cluster
/// traffic uses and with the bus port given explicitly: with TLS on the bus, both are the
/// TLS port's. Redis 7.2+ and Valkey take a MEET's port as the peer's TLS port when the bus
/// uses TLS; meeting at the plaintext port there leaves a handshake that never completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meet {
    pub(crate) node: Peer,
    pub(crate) peer: Peer,
    /// `ip:port` it is met at: the port cluster traffic uses.
    pub(crate) addr: String,
}

impl Kind for Meet {
    const NAME: &'static str = "meet";
    const STAGE: Stage = Stage::Meet;

    fn why(&self) -> &'static str {
        "two nodes do not know each other"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let Some(peer) = ctx.spec.node(&self.peer.name) else {
            return Ok(());
        };
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("MEET")
            .arg(peer.address.to_string())
            .arg(peer.cluster_port)
            .arg(peer.bus_port());
        run_on(ctx, &self.node, "CLUSTER MEET", &cmd).await
    }
}

impl fmt::Display for Meet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "introduce {} to {} (CLUSTER MEET {})",
            self.node.name, self.peer.name, self.addr
        )
    }
}
