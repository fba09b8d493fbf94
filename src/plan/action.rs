//! The actions the planner can ask for, each described in words a person understands.

use std::fmt;

use crate::spec::SlotRange;

/// One step toward the desired state. Every action is idempotent: applying it again after a
/// crash, or when it already took effect, is harmless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Pull `[image].name`, or build the host fallback.
    PrepareImage {
        image: String,
    },
    CreateNetwork {
        name: String,
        subnet: String,
    },
    CreateVolume {
        node: String,
        volume: String,
    },
    /// Create, configure and start the node's container.
    CreateContainer {
        node: String,
        container: String,
        image: String,
    },
    StartContainer {
        node: String,
        container: String,
    },
    UnpauseContainer {
        node: String,
        container: String,
    },
    /// Replace a container created from another spec; its volume (data, node id) stays.
    RecreateContainer {
        node: String,
        container: String,
        image: String,
    },
    /// Remove the container of a node cluster.toml no longer declares, once no node knows it
    /// (its slots went to their declared owners and it was forgotten). Its volume stays until
    /// `down --volumes`.
    RemoveContainer {
        node: String,
        container: String,
    },
    /// A container that keeps restarting: its `nodes.conf` gets every replica's shard id set
    /// to its primary's (Valkey up to 8.1.1 can write a file it then refuses to load), and
    /// Docker's restart policy starts it on the repaired file.
    RepairNodesConf {
        node: String,
        container: String,
    },
    /// Attach a running container to the cluster network with its declared address (after a
    /// disconnect, a removed and recreated network, or a wrong address).
    ReattachNetwork {
        node: String,
        container: String,
    },
    /// CLUSTER FORGET a node id on every node that knows it, in one go (Redis bans a forgotten
    /// id from gossip for 60 s, so all nodes must forget it within that window).
    Forget {
        id: String,
        /// What the id was: "redis-3's old identity", "foreign node 10.0.0.9:6379".
        was: String,
        /// Slots it still served: their keys are gone with it (no replica took them over).
        lost_slots: usize,
        on: Vec<String>,
    },
    /// CLUSTER RESET HARD a declared node the cluster forgot (it holds no slot): it starts
    /// over with a new id, which no ban keeps out, and joins as a fresh node.
    ResetNode {
        node: String,
    },
    /// CONFIG SET the `[redis]` parameters that differ on this node.
    SetConfig {
        node: String,
        settings: Vec<(String, String)>,
    },
    /// Give a never-joined node a unique config epoch before it meets the others.
    SetConfigEpoch {
        node: String,
        epoch: u64,
    },
    AddSlots {
        node: String,
        ranges: Vec<SlotRange>,
    },
    /// Slots no node serves by its own word while views still name another declared node
    /// (an interrupted hand-over): `node`, their declared owner, takes them with SETSLOT NODE
    /// and BUMPEPOCH so its claim wins everywhere, then every other node is told.
    TakeSlots {
        node: Peer,
        ranges: Vec<SlotRange>,
    },
    /// `node` runs CLUSTER MEET with `peer`'s address.
    Meet {
        node: String,
        peer: String,
        addr: String,
    },
    /// Move slots with their keys from the node serving them to `to`, the way a reshard does:
    /// IMPORTING on `to`, MIGRATING on `from`, MIGRATE in batches, then SETSLOT NODE on `to`,
    /// on `from`, and on the rest.
    MoveSlots {
        ranges: Vec<SlotRange>,
        from: Peer,
        to: Peer,
        /// Completes a move someone started (the slots are open from `from` to `to`), rather
        /// than bringing slots home to their declared owner.
        finishing: bool,
    },
    /// Make new certificates from the operator's CA (`[tls].generate`): missing files, a
    /// certificate inside renew_before_days of expiry, or one that no longer fits its node.
    IssueCertificates {
        /// Node and why.
        nodes: Vec<(String, String)>,
    },
    /// Write the node's certificate files into its container and have Redis load them live
    /// (CONFIG SET of the TLS files): new connections get the new certificate, the
    /// cluster-bus links stay up, nothing restarts.
    LoadCertificates {
        node: String,
        /// The serial it serves now, and the one its files hold.
        served: String,
        file: String,
    },
    /// `CLUSTER FAILOVER FORCE` (TAKEOVER when no election can start) on the in-sync replica
    /// of a shard whose master died: it takes the slots at once, without the wait for
    /// `cluster-node-timeout` and an election delay that Redis's own failover needs.
    Promote {
        node: Peer,
        /// The declared master of the shard.
        shard: String,
    },
    /// A coordinated `CLUSTER FAILOVER` on an in-sync replica: its master pauses its clients
    /// until the replica has every write, then they swap roles. No write is lost.
    Failover {
        node: Peer,
        /// The master it takes over from.
        from: String,
    },
    /// `CLUSTER REPLICATE`: `node` becomes a replica of `master` (the node serving its shard's
    /// slots) and copies its data.
    Replicate {
        node: String,
        master: Peer,
    },
    /// `CLUSTER RESET SOFT` a node declared master that still replicates another shard's
    /// node: it becomes an empty master with the same id (its copy of the other shard's data
    /// is dropped; the other shard keeps it).
    Detach {
        node: String,
    },
    /// Put the declared password (cluster.toml's file or variable changed) in force on these
    /// nodes, live: each accepts it beside its old one, every node authenticates to its master
    /// with it, the containers' private configs get it, then the old one is dropped. Nobody is
    /// locked out at any step: not the operator, the replicas or the health check (its own
    /// PING-only user).
    RotatePassword {
        nodes: Vec<String>,
    },
    /// Close slots left open by an interrupted reshard: keys left on the nodes that have them
    /// open go to `owner` (MIGRATE works there while a slot is open), then SETSLOT STABLE
    /// everywhere. (Open slots nobody serves are first given to their declared owner with
    /// [`Action::AddSlots`].)
    CloseSlots {
        ranges: Vec<SlotRange>,
        owner: Peer,
        open_on: Vec<Peer>,
    },
}

/// A node the operator reaches by its gossiped address, which may not be in cluster.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: String,
    /// `ip:port`.
    pub addr: String,
    /// Its name in cluster.toml, or "foreign node <addr>".
    pub name: String,
}

/// Actions run stage by stage; actions of one stage are independent and run in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// First: a shard without a master accepts no write until its replica is promoted.
    Failover,
    Image,
    Network,
    Volumes,
    Containers,
    /// Before anything else talks to Redis: a node that refuses the password answers nothing.
    Password,
    Forget,
    Epochs,
    Slots,
    Meet,
    Replicate,
    Move,
    Config,
}

impl Action {
    pub fn stage(&self) -> Stage {
        match self {
            Action::PrepareImage { .. } => Stage::Image,
            Action::CreateNetwork { .. } => Stage::Network,
            Action::CreateVolume { .. } => Stage::Volumes,
            Action::CreateContainer { .. }
            | Action::StartContainer { .. }
            | Action::UnpauseContainer { .. }
            | Action::RecreateContainer { .. }
            | Action::RemoveContainer { .. }
            | Action::RepairNodesConf { .. }
            | Action::ReattachNetwork { .. } => Stage::Containers,
            Action::Forget { .. } | Action::ResetNode { .. } => Stage::Forget,
            Action::SetConfig { .. } => Stage::Config,
            Action::SetConfigEpoch { .. } => Stage::Epochs,
            Action::AddSlots { .. } | Action::TakeSlots { .. } => Stage::Slots,
            Action::Meet { .. } => Stage::Meet,
            Action::Promote { .. } | Action::Failover { .. } => Stage::Failover,
            Action::Replicate { .. } => Stage::Replicate,
            Action::RotatePassword { .. } => Stage::Password,
            Action::Detach { .. } => Stage::Forget,
            Action::MoveSlots { .. } | Action::CloseSlots { .. } => Stage::Move,
            Action::LoadCertificates { .. } => Stage::Config,
            Action::IssueCertificates { .. } => Stage::Image,
        }
    }

    /// The node whose container this action recreates, if it is a recreation.
    pub fn recreated_node(&self) -> Option<&str> {
        match self {
            Action::RecreateContainer { node, .. } => Some(node),
            _ => None,
        }
    }

    /// How many slots this action hands from one node to another (for progress).
    pub fn slots_moved(&self) -> usize {
        match self {
            Action::MoveSlots { ranges: r, .. } | Action::CloseSlots { ranges: r, .. } => {
                r.iter().map(SlotRange::len).sum()
            }
            _ => 0,
        }
    }

    /// The drift that calls for this action, for events.
    pub fn why(&self) -> &'static str {
        match self {
            Action::PrepareImage { .. } => "no usable node image (or pull = \"always\")",
            Action::CreateNetwork { .. } => "the cluster network does not exist",
            Action::CreateVolume { .. } => "the node's data volume does not exist",
            Action::CreateContainer { .. } => "the node's container does not exist",
            Action::StartContainer { .. } => "the node's container is not running",
            Action::UnpauseContainer { .. } => "the node's container is paused",
            Action::RecreateContainer { .. } => {
                "the container differs from its spec (spec-hash label)"
            }
            Action::ReattachNetwork { .. } => {
                "the container is not on the cluster network with its declared address"
            }
            Action::RemoveContainer { .. } => {
                "the node was removed from cluster.toml, drained and forgotten"
            }
            Action::TakeSlots { .. } => {
                "declared slots are served by nobody while some nodes still name another owner"
            }
            Action::Forget { .. } => {
                "the cluster still knows a node id that is gone or not in cluster.toml"
            }
            Action::SetConfig { .. } => "a setting differs from what cluster.toml declares",
            Action::ResetNode { .. } => {
                "the cluster forgot this node's id (it was removed and is declared again)"
            }
            Action::SetConfigEpoch { .. } => "the node has never joined a cluster",
            Action::AddSlots { .. } => "declared slots are served by no node",
            Action::Meet { .. } => "two nodes do not know each other",
            Action::Promote { .. } => {
                "a master's container died and its replica holds all of its data"
            }
            Action::Failover { .. } => {
                "a declared master is back in sync (failback), or a master's container is to be recreated"
            }
            Action::Replicate { .. } => {
                "a node of a shard does not replicate the node serving the shard's slots"
            }
            Action::RotatePassword { .. } => {
                "nodes refuse the declared password, or still keep the one before it"
            }
            Action::RepairNodesConf { .. } => "the node's container keeps restarting",
            Action::Detach { .. } => {
                "a node declared master still replicates another shard's node"
            }
            Action::LoadCertificates { .. } => {
                "the node serves another certificate than its files hold (renewed or replaced)"
            }
            Action::IssueCertificates { .. } => {
                "a generated certificate is missing, expiring or no longer fits its node"
            }
            Action::MoveSlots {
                finishing: false, ..
            } => "slots are served by another node than cluster.toml declares",
            Action::MoveSlots { .. } | Action::CloseSlots { .. } => {
                "slots are left open (an interrupted reshard)"
            }
        }
    }

    /// A short machine-friendly name of the kind of action, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::PrepareImage { .. } => "prepare-image",
            Action::CreateNetwork { .. } => "create-network",
            Action::CreateVolume { .. } => "create-volume",
            Action::CreateContainer { .. } => "create-container",
            Action::StartContainer { .. } => "start-container",
            Action::UnpauseContainer { .. } => "unpause-container",
            Action::RecreateContainer { .. } => "recreate-container",
            Action::ReattachNetwork { .. } => "reattach-network",
            Action::RemoveContainer { .. } => "remove-container",
            Action::TakeSlots { .. } => "take-slots",
            Action::Forget { .. } => "forget",
            Action::SetConfig { .. } => "set-config",
            Action::ResetNode { .. } => "reset-node",
            Action::SetConfigEpoch { .. } => "set-config-epoch",
            Action::AddSlots { .. } => "add-slots",
            Action::Meet { .. } => "meet",
            Action::Promote { .. } => "promote",
            Action::Failover { .. } => "failover",
            Action::Replicate { .. } => "replicate",
            Action::RotatePassword { .. } => "rotate-password",
            Action::RepairNodesConf { .. } => "repair-nodes-conf",
            Action::Detach { .. } => "detach",
            Action::MoveSlots { .. } => "move-slots",
            Action::LoadCertificates { .. } => "load-certificates",
            Action::IssueCertificates { .. } => "issue-certificates",
            Action::CloseSlots { .. } => "close-slots",
        }
    }
}

fn ranges(r: &[SlotRange]) -> String {
    let count: usize = r.iter().map(SlotRange::len).sum();
    let shown: Vec<String> = r.iter().map(ToString::to_string).collect();
    format!("{} ({count} slots)", shown.join(", "))
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::PrepareImage { image } => {
                write!(f, "make the node image available ({image}, else build it from the host's Redis)")
            }
            Action::CreateNetwork { name, subnet } => write!(f, "create network {name} ({subnet})"),
            Action::CreateVolume { node, volume } => write!(f, "create volume {volume} for {node}"),
            Action::CreateContainer { node, container, image } => {
                write!(f, "create and start container {container} for {node} from {image}")
            }
            Action::StartContainer { node, container } => {
                write!(f, "start the stopped container {container} ({node})")
            }
            Action::UnpauseContainer { node, container } => {
                write!(f, "unpause container {container} ({node})")
            }
            Action::RecreateContainer { node, container, image } => write!(
                f,
                "recreate container {container} ({node}) from the current spec and {image}, keeping its volume"
            ),
            Action::ReattachNetwork { node, container } => {
                write!(f, "attach {container} ({node}) to the cluster network with its declared address")
            }
            Action::RemoveContainer { node, container } => write!(
                f,
                "remove container {container} of {node}, removed from cluster.toml (its volume stays until `down --volumes`)"
            ),
            Action::TakeSlots { node, ranges: r } => write!(
                f,
                "have {} take slots {} (SETSLOT NODE and BUMPEPOCH), then tell every node",
                node.name,
                ranges(r)
            ),
            Action::Forget { id, was, lost_slots, on } => {
                write!(f, "forget {} ({was}) on {}", &id[..id.len().min(8)], on.join(", "))?;
                if *lost_slots > 0 {
                    write!(f, "; the keys of its {lost_slots} slots are lost (no replica held them)")?;
                }
                Ok(())
            }
            Action::SetConfig { node, settings } => {
                let shown: Vec<String> = settings
                    .iter()
                    .map(|(k, v)| format!("{k} {}", crate::spec::shown_setting(k, v)))
                    .collect();
                write!(f, "set {} on {node} (CONFIG SET, no restart)", shown.join(", "))
            }
            Action::ResetNode { node } => write!(
                f,
                "reset {node} (CLUSTER RESET HARD): the cluster forgot its id, it joins under a new one"
            ),
            Action::SetConfigEpoch { node, epoch } => {
                write!(f, "give {node} config epoch {epoch} before it joins")
            }
            Action::AddSlots { node, ranges: r } => write!(f, "assign slots {} to {node}", ranges(r)),
            Action::Meet { node, peer, addr } => {
                write!(f, "introduce {node} to {peer} (CLUSTER MEET {addr})")
            }
            Action::MoveSlots { ranges: r, from, to, finishing: true } => write!(
                f,
                "finish moving slots {} with their keys from {} to {} (an interrupted reshard)",
                ranges(r),
                from.name,
                to.name
            ),
            Action::MoveSlots { ranges: r, from, to, .. } => write!(
                f,
                "move slots {} with their keys from {} to {}, their declared owner",
                ranges(r),
                from.name,
                to.name
            ),
            Action::Promote { node, shard } => write!(
                f,
                "promote {}, in sync with {shard}'s shard until its master died (CLUSTER FAILOVER FORCE, or TAKEOVER when no election can start)",
                node.name
            ),
            Action::Failover { node, from } => write!(
                f,
                "hand {from}'s slots to {} (coordinated CLUSTER FAILOVER, no write lost)",
                node.name
            ),
            Action::Replicate { node, master } => write!(
                f,
                "make {node} a replica of {} (CLUSTER REPLICATE)",
                master.name
            ),
            Action::RepairNodesConf { node, container } => write!(
                f,
                "align the shard ids in {container}'s nodes.conf ({node} keeps restarting on it)"
            ),
            Action::Detach { node } => write!(
                f,
                "make {node} a master of its own (CLUSTER RESET SOFT): cluster.toml declares it one"
            ),
            Action::RotatePassword { nodes } => write!(
                f,
                "put the declared password in force on {} (live: both accepted, masterauth, private configs, then the old one dropped)",
                nodes.join(", ")
            ),
            Action::IssueCertificates { nodes } => {
                let shown: Vec<String> = nodes.iter().map(|(n, why)| format!("{n} ({why})")).collect();
                write!(f, "issue new certificates for {}", shown.join(", "))
            }
            Action::LoadCertificates { node, served, file } => write!(
                f,
                "load {node}'s certificate {file} live in place of {served} (CONFIG SET, no restart)"
            ),
            Action::CloseSlots { ranges: r, owner, open_on } => {
                let open: Vec<&str> = open_on.iter().map(|p| p.name.as_str()).collect();
                write!(f, "close open slots {} at their owner {}", ranges(r), owner.name)?;
                if !open.is_empty() {
                    write!(f, ", bringing keys left on {} to it", open.join(", "))?;
                }
                Ok(())
            }
        }
    }
}
