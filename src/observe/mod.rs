//! The observed state: what Docker and the Redis nodes say right now.
//!
//! Observation never changes anything. It gathers the Docker side (image, network, volumes,
//! containers found by the operator's labels) and the Redis side (`CLUSTER NODES` and
//! `CLUSTER INFO` from every reachable node) into plain data the planner can judge.
//! [`Topology`] answers every question about it once per pass; `health` judges it.
//!
//! Imports `spec`, `tls`, `docker`, the Redis clients and `runtime::context`.

mod certificates;
pub mod cluster_nodes;
mod docker;
pub(crate) mod health;
mod redis;
mod replication;
mod server;
mod settings;
pub(crate) mod topology;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

pub(crate) use certificates::NodeCertificate;
pub use cluster_nodes::{short_id, ClusterInfo, ClusterNode};
pub(crate) use redis::{keys_in_slots, keys_per_slot, refused_password};
pub use replication::Replication;
pub(crate) use server::ServerKind;
pub use server::ServerVersion;
pub(crate) use settings::same_setting;
pub(crate) use topology::{Member, Shard, Standing, Topology, Who};

use crate::docker::DockerError;
use crate::runtime::context::Context;

/// Everything the planner needs to know about the world.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// What each host that answered has: the usable image and the cluster network, by host
    /// name (`LOCAL` without `[[hosts]]`).
    pub hosts: BTreeMap<String, HostObserved>,
    /// Hosts whose Docker Engine did not answer this pass, with why. Unknown, not dead:
    /// nothing of theirs is recreated, forgotten or failed over by the operator.
    pub(crate) unreachable: BTreeMap<String, String>,
    /// Names of the cluster's volumes that exist.
    pub(crate) volumes: BTreeSet<String>,
    /// The cluster's containers, by node name (from the node label).
    pub(crate) containers: BTreeMap<String, ObservedContainer>,
    /// What each node's Redis says, by node name; absent when its container is not running.
    pub(crate) redis: BTreeMap<String, RedisState>,
    /// Each node's certificate on disk and on the wire, by node name (with `[tls]` only).
    pub(crate) certificates: BTreeMap<String, NodeCertificate>,
    /// When Redis was asked, in Unix milliseconds: the clock Redis's ping/pong times use
    /// (containers share the host's clock).
    pub(crate) at_ms: u64,
}

/// One host's Docker side beyond its containers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostObserved {
    pub image: ImageState,
    pub(crate) network: Option<ObservedNetwork>,
}

/// Which image nodes can be created from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageState {
    /// The image present locally that containers should use: `[image].name`, or the host
    /// fallback when that one is absent.
    pub usable: Option<String>,
    /// `pull = "always"` and this process has not pulled yet.
    pub(crate) pull_due: bool,
    /// The server the usable image says it holds, when it says (official images and
    /// redis-keeper's own do): checked before any container is made from it.
    pub(crate) server: Option<ServerVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObservedNetwork {
    pub(crate) id: String,
    pub(crate) subnets: Vec<String>,
    /// Carries the operator's cluster label (false: someone else's network of the same name).
    pub(crate) ours: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
    Removing,
}

impl std::fmt::Display for RunState {
    /// Docker's own word for the state, as `docker ps` shows it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunState::Created => "created",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Restarting => "restarting",
            RunState::Exited => "exited",
            RunState::Dead => "dead",
            RunState::Removing => "removing",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObservedContainer {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) state: RunState,
    /// Docker's health check verdict, when it has one.
    pub(crate) health: Option<String>,
    /// The container's address on the cluster network, if attached.
    pub(crate) ip: Option<Ipv4Addr>,
    pub(crate) spec_hash: Option<String>,
    /// The host it was found on.
    pub(crate) host: String,
    /// The `address:port` a node on a host announces (its address label).
    pub(crate) address: Option<String>,
}

/// A node's Redis, as far as it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RedisState {
    Unreachable(String),
    /// Answers, but not to the declared password: it still has the one from before a
    /// rotation (cluster.toml's password file or variable changed).
    RefusesPassword,
    Up(NodeView),
}

impl RedisState {
    /// The node's view when it answered, or why it could not be asked, in words for a
    /// finding, a plan or a status (one wording wherever a node is not heard).
    pub(crate) fn answer(&self) -> Result<&NodeView, String> {
        match self {
            RedisState::Up(view) => Ok(view),
            RedisState::Unreachable(why) => Err(format!("Redis does not answer ({why})")),
            RedisState::RefusesPassword => {
                Err("Redis refuses the declared password (a rotation is due)".to_string())
            }
        }
    }
}

/// One node's view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeView {
    pub(crate) nodes: Vec<ClusterNode>,
    pub(crate) info: ClusterInfo,
    /// `INFO`: the node's server, clients, memory, stats, replication … fields.
    pub(crate) server: BTreeMap<String, String>,
    /// The node's values of the `[redis]` parameters.
    pub(crate) config: BTreeMap<String, String>,
    /// Which server it runs, from INFO; None if INFO named none.
    pub(crate) version: Option<ServerVersion>,
    /// Accepts another password beside the declared one, or authenticates to its master
    /// with another (`masterauth`): a rotation is not finished. The passwords themselves are
    /// never kept here.
    pub(crate) password_stale: bool,
}

impl NodeView {
    pub(crate) fn myself(&self) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.is_myself())
    }

    /// Never joined a cluster: knows only itself and has no config epoch, so
    /// `CLUSTER SET-CONFIG-EPOCH` is still allowed.
    pub(crate) fn is_fresh(&self) -> bool {
        self.nodes.len() == 1 && self.myself().is_some_and(|m| m.config_epoch == 0)
    }
}

impl Observed {
    pub(crate) fn view(&self, node: &str) -> Option<&NodeView> {
        match self.redis.get(node) {
            Some(RedisState::Up(view)) => Some(view),
            _ => None,
        }
    }

    /// One line naming the image or the nodes whose server is too old to drive, if any.
    pub(crate) fn unsupported_servers(&self) -> Option<String> {
        let (major, minor) = server::OLDEST_SUPPORTED;
        let needs = format!(
            "older than Redis {major}.{minor} (no CLUSTER ADDSLOTSRANGE or CLUSTER SHARDS): set [image].name to a Redis {major}.{minor}+ or Valkey 8+ image"
        );
        for host in self.hosts.values() {
            if let (Some(image), Some(server)) = (&host.image.usable, &host.image.server) {
                if !server.is_supported() {
                    return Some(format!("image {image} holds {server}, {needs}"));
                }
            }
        }
        let mut old: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (node, state) in &self.redis {
            if let RedisState::Up(NodeView {
                version: Some(v), ..
            }) = state
            {
                if !v.is_supported() {
                    old.entry(v.to_string()).or_default().push(node);
                }
            }
        }
        let (oldest, nodes) = old.iter().next()?;
        Some(format!(
            "{} run{} {oldest}, {needs}",
            nodes.join(", "),
            if nodes.len() == 1 { "s" } else { "" }
        ))
    }
}

/// Observes Docker and Redis for the context's cluster.
pub(crate) async fn observe(ctx: &Context) -> Result<Observed, DockerError> {
    let mut observed = docker::observe(ctx).await?;
    observed.at_ms = unix_ms();
    let (redis, certificates) = tokio::join!(
        redis::observe(ctx, &observed.containers),
        certificates::observe(ctx, &observed.containers)
    );
    observed.redis = redis;
    observed.certificates = certificates;
    Ok(observed)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
