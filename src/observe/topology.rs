//! Who is who in the observed cluster, worked out once per pass and read by the planner and
//! the health checks alike.
//!
//! A node is known by its node id. A `CLUSTER NODES` entry is matched to a declared node by
//! its address, where the IP decides and the port only has to be one of the node's: servers
//! name the plaintext or the TLS port depending on the version and the asking connection,
//! and `0` for a peer learned through gossip (7.2+, Valkey 8). A declared node that answers
//! is the authority on its own id; any other id at its address is an old identity.

use super::{ClusterNode, NodeView, Observed, ObservedContainer};
use crate::spec::{ClusterSpec, NodeSpec, SLOT_COUNT};

/// What a `CLUSTER NODES` entry is, against cluster.toml.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Who<'a> {
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
pub struct Member<'a> {
    pub spec: &'a NodeSpec,
    pub view: &'a NodeView,
    pub myself: &'a ClusterNode,
}

impl Member<'_> {
    pub fn id(&self) -> &str {
        &self.myself.id
    }

    /// Serves `slot`, by its own word.
    pub fn owns(&self, slot: u16) -> bool {
        self.myself.slots.iter().any(|r| r.contains(slot))
    }

    /// The id this node is moving `slot` to, if it is.
    pub fn migrating(&self, slot: u16) -> Option<&str> {
        let found = self.myself.migrating.iter().find(|(s, _)| *s == slot);
        found.map(|(_, to)| to.as_str())
    }

    pub fn importing(&self, slot: u16) -> bool {
        self.myself.importing.iter().any(|(s, _)| *s == slot)
    }

    pub fn is_open(&self, slot: u16) -> bool {
        self.migrating(slot).is_some() || self.importing(slot)
    }

    /// Knows the node with this id, past the handshake.
    pub fn knows(&self, id: &str) -> bool {
        self.view
            .nodes
            .iter()
            .any(|e| e.id == id && !e.in_handshake())
    }
}

/// The observed cluster, with every node told apart.
pub struct Topology<'a> {
    pub spec: &'a ClusterSpec,
    pub observed: &'a Observed,
    /// The declared nodes that answered, in cluster.toml's order.
    members: Vec<Member<'a>>,
    /// Containers of the cluster for nodes cluster.toml no longer declares, by node name.
    retired: Vec<(&'a str, &'a ObservedContainer)>,
}

impl<'a> Topology<'a> {
    pub fn new(spec: &'a ClusterSpec, observed: &'a Observed) -> Topology<'a> {
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
        Topology {
            spec,
            observed,
            members,
            retired,
        }
    }

    /// Containers of nodes cluster.toml no longer declares, by node name.
    pub fn retired(&self) -> &[(&'a str, &'a ObservedContainer)] {
        &self.retired
    }

    /// Some declared node that answers still knows the retired node `name`.
    pub fn still_known(&self, name: &str) -> bool {
        self.members.iter().any(|m| {
            m.view
                .nodes
                .iter()
                .any(|e| !e.is_myself() && self.identify(e) == Who::Retired(name))
        })
    }

    /// The declared nodes that answered, in cluster.toml's order.
    pub fn members(&self) -> &[Member<'a>] {
        &self.members
    }

    pub fn member(&self, name: &str) -> Option<&Member<'a>> {
        self.members.iter().find(|m| m.spec.name == name)
    }

    pub fn member_by_id(&self, id: &str) -> Option<&Member<'a>> {
        self.members.iter().find(|m| m.id() == id)
    }

    /// Every declared node answers.
    pub fn all_answer(&self) -> bool {
        self.members.len() == self.spec.nodes.len()
    }

    /// The declared node at an entry's address, whatever id it has there.
    pub fn declared_at(&self, entry: &ClusterNode) -> Option<&'a NodeSpec> {
        let (ip, port) = (entry.ip(), entry.port());
        self.spec.nodes.iter().find(|n| n.is_at(ip, port))
    }

    /// Who an entry of some node's `CLUSTER NODES` is.
    pub fn identify(&self, entry: &ClusterNode) -> Who<'a> {
        if entry.in_handshake() {
            return Who::Handshake;
        }
        let Some(node) = self.declared_at(entry) else {
            let retired = self
                .retired
                .iter()
                .find(|(_, c)| c.ip.is_some() && c.ip == entry.ip());
            return retired.map_or(Who::Foreign, |(name, _)| Who::Retired(name));
        };
        match self.member(&node.name) {
            Some(m) if m.id() != entry.id => Who::OldIdentity(node),
            _ => Who::Declared(node),
        }
    }

    /// The name to show for an entry: the declared node's, or what it is.
    pub fn name_of(&self, entry: &ClusterNode) -> String {
        match self.identify(entry) {
            Who::Declared(n) => n.name.clone(),
            Who::OldIdentity(n) => format!("{}'s old identity", n.name),
            Who::Retired(name) => format!("{name} (removed from cluster.toml)"),
            Who::Handshake => format!("a node in handshake at {}", shown_addr(entry)),
            Who::Foreign => format!("unknown node {}", shown_addr(entry)),
        }
    }

    /// The entry serving each slot, as one node sees it (a master's word on its slots).
    pub fn slot_owners(view: &NodeView) -> Vec<Option<&ClusterNode>> {
        let mut owners = vec![None; usize::from(SLOT_COUNT)];
        for node in view.nodes.iter().filter(|n| n.is_master()) {
            for slot in node.slots.iter().flat_map(|r| r.slots()) {
                owners[usize::from(slot)] = Some(node);
            }
        }
        owners
    }
}

/// An entry's address for people: `ip:port`, or that it has none.
pub fn shown_addr(entry: &ClusterNode) -> &str {
    if entry.addr.is_empty() {
        "without address"
    } else {
        &entry.addr
    }
}
