//! Who is who in the observed cluster, worked out once per pass and read by the planner and
//! the health checks alike.
//!
//! A node is known by its node id. A `CLUSTER NODES` entry is matched to a declared node by
//! its address, where the IP decides and the port only has to be one of the node's: servers
//! name the plaintext or the TLS port depending on the version and the asking connection,
//! and `0` for a peer learned through gossip (7.2+, Valkey 8). A declared node that answers
//! is the authority on its own id; any other id at its address is an old identity.

use std::collections::BTreeMap;

use super::replication::Replication;
use super::{
    ClusterNode, NodeView, Observed, ObservedContainer, RedisState, RunState, ServerKind,
    ServerVersion,
};
use crate::docker::blueprint::{kept_settings, spec_hash};
use crate::spec::{ClusterSpec, NodeSpec, SLOT_COUNT};

fn usable_image<'a>(observed: &'a Observed, host: &str) -> Option<&'a str> {
    let image = &observed.hosts.get(host)?.image;
    image.usable.as_deref().filter(|_| !image.pull_due)
}

/// What a `CLUSTER NODES` entry is, against cluster.toml.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Who<'a> {
    /// A declared node: its current id, or its only id known while it does not answer.
    Declared(&'a NodeSpec),
    /// An id at a declared node's address that the node no longer answers with (it lost its
    /// volume and started over).
    OldIdentity(&'a NodeSpec),
    /// A node removed from cluster.toml whose container still exists (by its address): it is
    /// drained into the declared owners, forgotten, then its container is removed.
    Retired(&'a str),
    /// A handshake in flight (its id is a placeholder): neither foreign nor an old identity.
    Handshake,
    /// Not in cluster.toml.
    Foreign,
}

/// A declared node that answered, with what it says of itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member<'a> {
    pub(crate) spec: &'a NodeSpec,
    pub(crate) view: &'a NodeView,
    pub(crate) myself: &'a ClusterNode,
}

impl Member<'_> {
    pub(crate) fn id(&self) -> &str {
        &self.myself.id
    }

    /// Serves `slot`, by its own word.
    pub(crate) fn owns(&self, slot: u16) -> bool {
        self.myself.slots.iter().any(|r| r.contains(slot))
    }

    /// The id this node is moving `slot` to, if it is.
    pub(crate) fn migrating(&self, slot: u16) -> Option<&str> {
        let found = self.myself.migrating.iter().find(|(s, _)| *s == slot);
        found.map(|(_, to)| to.as_str())
    }

    pub(crate) fn importing(&self, slot: u16) -> bool {
        self.myself.importing.iter().any(|(s, _)| *s == slot)
    }

    pub(crate) fn is_open(&self, slot: u16) -> bool {
        self.migrating(slot).is_some() || self.importing(slot)
    }

    /// Sees some master serving `slot`.
    pub(crate) fn sees_served(&self, slot: u16) -> bool {
        self.view
            .nodes
            .iter()
            .any(|e| e.is_master() && e.slots.iter().any(|r| r.contains(slot)))
    }

    /// A replica, by its own word.
    pub(crate) fn is_replica(&self) -> bool {
        self.myself.is_replica()
    }

    /// The id of the master it replicates, if it is a replica.
    pub(crate) fn master_id(&self) -> Option<&str> {
        self.myself
            .master_id
            .as_deref()
            .filter(|_| self.is_replica())
    }

    pub(crate) fn replication(&self) -> Replication {
        Replication::of(&self.view.server)
    }

    /// Has some slot open (MIGRATING or IMPORTING).
    pub(crate) fn has_open_slots(&self) -> bool {
        !self.myself.migrating.is_empty() || !self.myself.importing.is_empty()
    }

    /// Serves no slot and has none open.
    pub(crate) fn holds_no_slots(&self) -> bool {
        self.myself.holds_no_slots()
    }

    /// Knows the node with this id, past the handshake.
    pub(crate) fn knows(&self, id: &str) -> bool {
        self.view
            .nodes
            .iter()
            .any(|e| e.id == id && !e.in_handshake())
    }
}

/// The observed cluster, with every node told apart.
pub(crate) struct Topology<'a> {
    pub(crate) spec: &'a ClusterSpec,
    pub(crate) observed: &'a Observed,
    /// The declared nodes that answered, in cluster.toml's order.
    members: Vec<Member<'a>>,
    /// Containers of the cluster for nodes cluster.toml no longer declares, by node name.
    retired: Vec<(&'a str, &'a ObservedContainer)>,
    /// Declared nodes whose container was created from another spec or image (the spec
    /// hash, worked out once per pass: the planner and health both ask).
    outdated: Vec<&'a str>,
}

impl<'a> Topology<'a> {
    pub(crate) fn new(spec: &'a ClusterSpec, observed: &'a Observed) -> Topology<'a> {
        let members = spec
            .nodes
            .iter()
            .filter_map(|n| {
                let view = observed.view(&n.name)?;
                Some(Member {
                    spec: n,
                    view,
                    myself: view.myself()?,
                })
            })
            .collect();
        let retired = observed
            .containers
            .iter()
            .filter(|(name, _)| spec.node(name).is_none())
            .map(|(name, c)| (name.as_str(), c))
            .collect();
        let outdated = spec
            .nodes
            .iter()
            .filter(|n| {
                let Some(image) = usable_image(observed, n.host_name()) else {
                    return false;
                };
                observed.containers.get(&n.name).is_some_and(|c| {
                    c.spec_hash.as_deref() != Some(spec_hash(spec, n, image).as_str())
                })
            })
            .map(|n| n.name.as_str())
            .collect();
        Topology {
            spec,
            observed,
            members,
            retired,
            outdated,
        }
    }

    /// The image new containers on `host` are created from, once it is there and not due a
    /// pull.
    pub(crate) fn image(&self, host: &str) -> Option<&'a str> {
        usable_image(self.observed, host)
    }

    /// Whether `node`'s container was created from another spec or image: it is due to be
    /// recreated.
    pub(crate) fn outdated(&self, node: &NodeSpec) -> bool {
        self.outdated.contains(&node.name.as_str())
    }

    /// The settings `node` is kept at while it runs. An outdated container gets the
    /// operator's own settings from its new command line, not live: set ahead of the
    /// recreation, a new announce address would send its peers to an address it does not
    /// have yet.
    pub(crate) fn settings_to_keep(&self, node: &NodeSpec) -> BTreeMap<String, String> {
        if self.outdated(node) {
            self.spec.redis.clone()
        } else {
            kept_settings(self.spec, node)
        }
    }

    /// Containers of nodes cluster.toml no longer declares, by node name.
    pub(crate) fn retired(&self) -> &[(&'a str, &'a ObservedContainer)] {
        &self.retired
    }

    /// Some declared node that answers still knows the retired node `name`.
    pub(crate) fn still_known(&self, name: &str) -> bool {
        self.members.iter().any(|m| {
            m.view
                .nodes
                .iter()
                .any(|e| !e.is_myself() && self.identify(e) == Who::Retired(name))
        })
    }

    /// The declared nodes that answered, in cluster.toml's order.
    pub(crate) fn members(&self) -> &[Member<'a>] {
        &self.members
    }

    pub(crate) fn member(&self, name: &str) -> Option<&Member<'a>> {
        self.members.iter().find(|m| m.spec.name == name)
    }

    pub(crate) fn member_by_id(&self, id: &str) -> Option<&Member<'a>> {
        self.members.iter().find(|m| m.id() == id)
    }

    /// The declared node that serves `slot` by its own word, if one does.
    pub(crate) fn serving(&self, slot: u16) -> Option<&Member<'a>> {
        self.members.iter().find(|m| m.owns(slot))
    }

    /// The nodes outside cluster.toml (foreign, or removed and not yet drained) that the
    /// declared nodes see serving `slot`, each once. A declared node's word on its own slots is
    /// [`Topology::serving`]; the peers' word counts only for a node the operator does not ask.
    pub(crate) fn outside_holders(&self, slot: u16) -> Vec<&'a ClusterNode> {
        let mut found: Vec<&'a ClusterNode> = Vec::new();
        for m in &self.members {
            let entry = m
                .view
                .nodes
                .iter()
                .find(|e| !e.is_myself() && e.slots.iter().any(|r| r.contains(slot)));
            let Some(entry) = entry else { continue };
            let outside = matches!(self.identify(entry), Who::Foreign | Who::Retired(_));
            if outside && !found.iter().any(|f| f.id == entry.id) {
                found.push(entry);
            }
        }
        found
    }

    /// Some declared node marks the node with this id as failing.
    pub(crate) fn marked_failing(&self, id: &str) -> bool {
        self.members
            .iter()
            .any(|m| m.view.nodes.iter().any(|e| e.id == id && e.is_failing()))
    }

    /// `node` serving `slot` is at home: it is the slot's declared owner, or a node of that
    /// owner's shard promoted in its place (roles within a shard change by failover, never
    /// by moving keys).
    pub(crate) fn at_home(&self, slot: u16, node: &NodeSpec) -> bool {
        self.spec
            .owner_of(slot)
            .is_some_and(|home| node.shard() == home.name)
    }

    /// What is left of an id the cluster began to forget: an entry with no address that some
    /// settled declared node no longer knows at all. It can never be reached, and without the
    /// nodes that forgot it no majority can agree it failed.
    pub(crate) fn is_ghost(&self, entry: &ClusterNode) -> bool {
        entry.ip().is_none()
            && self
                .members
                .iter()
                .any(|m| !m.view.is_fresh() && !m.view.nodes.iter().any(|e| e.id == entry.id))
    }

    /// A ghost that only the member with id `only` still knows: it can never come back with
    /// newer writes.
    pub(crate) fn is_ghost_to_all_but(&self, entry: &ClusterNode, only: &str) -> bool {
        entry.ip().is_none()
            && self
                .members
                .iter()
                .all(|o| o.id() == only || !o.view.nodes.iter().any(|e| e.id == entry.id))
    }

    /// A declared master's shard.
    pub(crate) fn shard<'t>(&'t self, master: &'a NodeSpec) -> Shard<'t, 'a> {
        let members: Vec<&'t Member<'a>> = self
            .spec
            .shard(&master.name)
            .filter_map(|n| self.member(&n.name))
            .collect();
        let leaders = members
            .iter()
            .filter(|m| {
                !m.is_replica() && master.slots.iter().any(|r| r.slots().any(|s| m.owns(s)))
            })
            .copied()
            .collect();
        Shard {
            master,
            members,
            leaders,
        }
    }

    /// The node's container is running (Docker's word; its Redis may still be starting).
    pub(crate) fn runs(&self, node: &NodeSpec) -> bool {
        self.observed
            .containers
            .get(&node.name)
            .is_some_and(|c| c.state == RunState::Running)
    }

    /// Every declared node answers.
    pub(crate) fn all_answer(&self) -> bool {
        self.members.len() == self.spec.nodes.len()
    }

    /// The declared node at an entry's address, whatever id it has there.
    pub(crate) fn declared_at(&self, entry: &ClusterNode) -> Option<&'a NodeSpec> {
        let (ip, port) = (entry.ip(), entry.port());
        self.spec.nodes.iter().find(|n| n.is_at(ip, port))
    }

    /// Who an entry of some node's `CLUSTER NODES` is.
    pub(crate) fn identify(&self, entry: &ClusterNode) -> Who<'a> {
        if entry.in_handshake() {
            return Who::Handshake;
        }
        let Some(node) = self.declared_at(entry) else {
            let retired = self.retired.iter().find(|(_, c)| match &c.address {
                // On a host, nodes share the address: the port tells them apart.
                Some(address) => *address == entry.addr,
                None => c.ip.is_some() && c.ip == entry.ip(),
            });
            return retired.map_or(Who::Foreign, |(name, _)| Who::Retired(name));
        };
        match self.member(&node.name) {
            Some(m) if m.id() != entry.id => Who::OldIdentity(node),
            _ => Who::Declared(node),
        }
    }

    /// The name to show for an entry: the declared node's, or what it is.
    pub(crate) fn name_of(&self, entry: &ClusterNode) -> String {
        match self.identify(entry) {
            Who::Declared(n) => n.name.clone(),
            Who::OldIdentity(n) => format!("{}'s old identity", n.name),
            Who::Retired(name) => format!("{name} (removed from cluster.toml)"),
            Who::Handshake => format!("a node in handshake at {}", shown_addr(entry)),
            Who::Foreign => format!("foreign node {}", shown_addr(entry)),
        }
    }

    /// Whether a master's `CLUSTER SETSLOT` waits for its replicas here: some node runs a
    /// server that does, and some declared node is a replica.
    pub(crate) fn setslot_waits_for_replicas(&self) -> bool {
        let waits = self.observed.redis.values().any(|state| {
            matches!(state, RedisState::Up(view)
                if view.version.as_ref().is_some_and(|v| v.setslot_waits_for_replicas()))
        });
        waits && self.members.iter().any(|m| m.myself.is_replica())
    }

    /// The server whose atomic slot migration moves slots between the nodes with these ids:
    /// every node that answers runs one and the same version, which has it, and the parties
    /// are among them or are removed masters of this cluster being drained. Otherwise why not: a cluster in the middle of a rolling change, or a
    /// party the operator does not ask, moves by keys.
    pub(crate) fn atomic_slot_migration(&self, parties: &[&str]) -> Result<ServerKind, String> {
        let mut running: Vec<(&str, &ServerVersion)> = Vec::new();
        for (name, state) in &self.observed.redis {
            let RedisState::Up(view) = state else {
                continue;
            };
            let Some(version) = &view.version else {
                return Err(format!("{name} does not say which server it runs"));
            };
            running.push((name.as_str(), version));
        }
        let Some((_, first)) = running.first() else {
            return Err("no node answers".into());
        };
        if let Some((name, other)) = running.iter().find(|(_, v)| v != first) {
            return Err(format!(
                "the nodes run different servers ({other} on {name}, {first} on others): a rolling change is in flight"
            ));
        }
        if !first.moves_slots_atomically() {
            return Err(format!(
                "{first} has no atomic slot migration (Valkey 9.0+ and Redis 8.4+ have it)"
            ));
        }
        for id in parties {
            let answers = self.observed.redis.values().any(|state| {
                matches!(state, RedisState::Up(view) if view.myself().is_some_and(|m| m.id == *id))
            });
            // A removed master being drained runs an image of this cluster's too; were it
            // older, its refusal of the job counts as a failed job, and auto falls back.
            let retired = self.members.iter().any(|m| {
                m.view
                    .nodes
                    .iter()
                    .any(|e| e.id == *id && matches!(self.identify(e), Who::Retired(_)))
            });
            if !answers && !retired {
                return Err(format!(
                    "node {} is not one redis-keeper runs, so its server is unknown",
                    crate::observe::short_id(id)
                ));
            }
        }
        Ok(first.kind)
    }

    /// Some declared node has a slot open (MIGRATING or IMPORTING): a move by keys is in
    /// flight or was interrupted.
    pub(crate) fn any_slot_open(&self) -> bool {
        self.members.iter().any(Member::has_open_slots)
    }

    /// The entry serving each slot, as one node sees it (a master's word on its slots).
    pub(crate) fn slot_owners(view: &NodeView) -> Vec<Option<&ClusterNode>> {
        let mut owners = vec![None; usize::from(SLOT_COUNT)];
        for node in view.nodes.iter().filter(|n| n.is_master()) {
            for slot in node.slots.iter().flat_map(|r| r.slots()) {
                owners[usize::from(slot)] = Some(node);
            }
        }
        owners
    }
}

/// A declared master's shard as observed: which of its nodes serves its slots.
pub(crate) struct Shard<'t, 'a> {
    pub(crate) master: &'a NodeSpec,
    /// The shard's nodes that answered, the declared master first.
    pub(crate) members: Vec<&'t Member<'a>>,
    /// The members serving some of the shard's declared slots by their own word: normally
    /// one, none while the node serving them is down, two while a restarted master has not
    /// yet heard that its replica was promoted.
    pub(crate) leaders: Vec<&'t Member<'a>>,
}

/// How far behind its master's replication offset a replica with its link up still counts
/// as in sync: the two offsets are read a moment apart while writes flow, and a replica that
/// is streaming stays within a few kilobytes; one catching up on a backlog does not.
const IN_SYNC_LAG_BYTES: u64 = 1 << 20;

/// Where a shard member stands against the shard's one leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Standing {
    Leads,
    /// Replicates the leader.
    Follows {
        in_sync: bool,
    },
    /// Replicates another node, named.
    FollowsOther(String),
    /// A master without slots (fresh, reset, or cut loose): it can become a replica.
    Idle {
        keys: u64,
    },
    /// A master serving or moving other slots: they are moved to their owners first.
    ServesOther,
}

impl<'t, 'a> Shard<'t, 'a> {
    /// The one member serving the shard's slots, if exactly one does.
    pub(crate) fn leader(&self) -> Option<&'t Member<'a>> {
        match self.leaders.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    pub(crate) fn standing(&self, topology: &Topology, member: &Member) -> Option<Standing> {
        let leader = self.leader()?;
        Some(if member.id() == leader.id() {
            Standing::Leads
        } else if let Some(master) = member.master_id() {
            if master == leader.id() {
                let (copy, source) = (member.replication(), leader.replication());
                Standing::Follows {
                    in_sync: copy.in_sync()
                        && source.offset.saturating_sub(copy.offset) <= IN_SYNC_LAG_BYTES,
                }
            } else {
                let entry = member.view.nodes.iter().find(|e| e.id == master);
                Standing::FollowsOther(entry.map_or_else(
                    || super::short_id(master).to_string(),
                    |e| topology.name_of(e),
                ))
            }
        } else if member.holds_no_slots() {
            Standing::Idle {
                keys: member.replication().keys,
            }
        } else {
            Standing::ServesOther
        })
    }

    /// The replica to promote: the shard's slots were served by a node whose container has
    /// stopped (or that came back under a new id, its volume lost), and this replica followed
    /// it with a complete copy until at most `within_s` seconds ago; or the node it follows is
    /// a ghost every other node forgot. Of several, the one with the most data.
    pub(crate) fn successor(&self, topology: &Topology, within_s: u64) -> Option<&'t Member<'a>> {
        if !self.leaders.is_empty() {
            return None;
        }
        self.members
            .iter()
            .filter(|m| {
                let Some(master) = m.master_id() else {
                    return false;
                };
                let Some(entry) = m.view.nodes.iter().find(|e| e.id == master) else {
                    return false;
                };
                // The replica's copy is the best there is of a master only it remembers.
                let ghost = topology.is_ghost_to_all_but(entry, m.id());
                let gone = match topology.identify(entry) {
                    Who::Declared(n) => n.shard() == self.master.name && !topology.runs(n),
                    Who::OldIdentity(n) => n.shard() == self.master.name,
                    _ => ghost,
                };
                gone && entry.slot_count() > 0 && (ghost || m.replication().was_in_sync(within_s))
            })
            .max_by_key(|m| m.replication().offset)
            .copied()
    }
}

/// An entry's address for people: `ip:port`, or that it has none.
pub(crate) fn shown_addr(entry: &ClusterNode) -> &str {
    if entry.addr.is_empty() {
        "without address"
    } else {
        &entry.addr
    }
}
