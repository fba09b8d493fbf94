//! The planner: a pure function from (desired, observed) to the ordered actions that close the
//! gap. No I/O, so every case is tested here with hand-built observed states.
//!
//! One pass plans everything that can be done now: Docker objects, config epochs for fresh
//! nodes, unassigned slots, and introductions. Once nothing is left to do, the plan lists what
//! it is waiting for (Redis's gossip and writable delay), or what blocks it (drift a person has
//! to resolve).

mod action;
mod moves;

pub use action::{Action, Peer, Stage};

use std::collections::{BTreeMap, BTreeSet};

use crate::blueprint::spec_hash;
use crate::health::{self, Severity};
use crate::observe::{NodeView, Observed, RunState};
use crate::spec::slots::ranges_of;
use crate::spec::{ClusterSpec, NodeSpec, SLOT_COUNT};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// What to do now, ordered by [`Stage`].
    pub actions: Vec<Action>,
    /// Conditions that settle by themselves; re-observe soon.
    pub waiting: Vec<String>,
    /// Drift the operator will not repair: stop and tell the user.
    pub blocked: Vec<String>,
}

impl Plan {
    /// Nothing to do, nothing to wait for: the cluster is healthy and as declared.
    pub fn is_converged(&self) -> bool {
        self.actions.is_empty() && self.waiting.is_empty() && self.blocked.is_empty()
    }
}

/// Plans the actions that take the observed world to the desired state.
pub fn plan(spec: &ClusterSpec, observed: &Observed) -> Plan {
    let mut plan = Plan::default();
    let drifted = docker_actions(spec, observed, &mut plan);
    redis_actions(spec, observed, &mut plan);
    plan.actions.sort_by_key(Action::stage);
    if plan.actions.is_empty() && plan.waiting.is_empty() && plan.blocked.is_empty() {
        moves::slot_moves(spec, observed, &mut plan);
        // Claims (ADDSLOTS) first: a node missing a slot reports the cluster down, and
        // MIGRATE refuses to run there until it is whole again.
        plan.actions.sort_by_key(Action::stage);
    }
    if plan.actions.is_empty() && plan.waiting.is_empty() && plan.blocked.is_empty() {
        for finding in health::findings(spec, observed) {
            match finding.severity {
                Severity::Settling => plan.waiting.push(finding.message),
                Severity::Blocked => plan.blocked.push(finding.message),
            }
        }
        // Replace drifted containers one at a time, and only while the cluster is healthy.
        if plan.waiting.is_empty() && plan.blocked.is_empty() {
            if let Some(action) = drifted.into_iter().next() {
                plan.actions.push(action);
            }
        }
    }
    plan
}

/// Plans the Docker side; returns the recreations that spec drift calls for, held back so
/// the caller can roll them one node at a time.
fn docker_actions(spec: &ClusterSpec, observed: &Observed, plan: &mut Plan) -> Vec<Action> {
    let renew: Vec<(String, String)> = observed
        .certificates
        .iter()
        .filter_map(|(node, c)| Some((node.clone(), c.renew.clone()?)))
        .collect();
    if !renew.is_empty() {
        plan.actions
            .push(Action::IssueCertificates { nodes: renew });
    }
    let image = observed
        .image
        .usable
        .clone()
        .filter(|_| !observed.image.pull_due);
    if image.is_none() {
        plan.actions.push(Action::PrepareImage {
            image: spec.image.name.clone(),
        });
    }
    let wanted_subnet = spec.network.subnet.to_string();
    match &observed.network {
        None => plan.actions.push(Action::CreateNetwork {
            name: spec.network.name.clone(),
            subnet: wanted_subnet,
        }),
        Some(net) if !net.subnets.contains(&wanted_subnet) => plan.blocked.push(format!(
            "Docker network {} exists with subnet {}, not {wanted_subnet}: remove it (`docker network rm {}`) or change [network].subnet",
            spec.network.name,
            if net.subnets.is_empty() { "none".into() } else { net.subnets.join(", ") },
            spec.network.name
        )),
        Some(_) => {}
    }
    let mut drifted = Vec::new();
    for node in &spec.nodes {
        let container = spec.container_name(node);
        let Some(found) = observed.containers.get(&node.name) else {
            let volume = spec.volume_name(node);
            if !observed.volumes.contains(&volume) {
                plan.actions.push(Action::CreateVolume {
                    node: node.name.clone(),
                    volume,
                });
            }
            match &image {
                Some(image) => plan.actions.push(Action::CreateContainer {
                    node: node.name.clone(),
                    container,
                    image: image.clone(),
                }),
                None => plan
                    .waiting
                    .push(format!("{}: waiting for the node image", node.name)),
            }
            continue;
        };
        let node_name = node.name.clone();
        match found.state {
            RunState::Created | RunState::Exited | RunState::Dead => {
                plan.actions.push(Action::StartContainer {
                    node: node_name,
                    container,
                })
            }
            RunState::Paused => plan.actions.push(Action::UnpauseContainer {
                node: node_name,
                container,
            }),
            RunState::Restarting | RunState::Removing => plan
                .waiting
                .push(format!("{}: container is {:?}", node.name, found.state).to_lowercase()),
            RunState::Running if found.ip != Some(node.ip) => {
                plan.actions.push(Action::ReattachNetwork {
                    node: node_name,
                    container,
                });
            }
            RunState::Running => {
                if let Some(image) = &image {
                    if found.spec_hash.as_deref() != Some(spec_hash(spec, node, image).as_str()) {
                        drifted.push(Action::RecreateContainer {
                            node: node_name,
                            container,
                            image: image.clone(),
                        });
                    }
                }
            }
        }
    }
    drifted
}

/// The nodes that answered, with their position in cluster.toml.
type Reachable<'a> = Vec<(usize, &'a NodeSpec, &'a NodeView)>;

fn redis_actions(spec: &ClusterSpec, observed: &Observed, plan: &mut Plan) {
    let reachable: Reachable = spec
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| observed.view(&n.name).map(|v| (i, n, v)))
        .collect();
    forgets(spec, &reachable, plan);
    // A fresh node joins only once every declared node answers: then epochs, slots and
    // introductions happen in one pass, and a node that is slow to start cannot end up with
    // its slots taken or its epoch out of order.
    let all_answer = reachable.len() == spec.nodes.len();
    if all_answer {
        epochs(&reachable, plan);
        slots(&reachable, plan);
    }
    let joinable: Reachable = reachable
        .iter()
        .copied()
        .filter(|(_, _, v)| all_answer || !v.is_fresh())
        .collect();
    meets(&joinable, plan);
    configs(spec, &reachable, plan);
    certificates(observed, plan);
}

/// A node serving another certificate than its (valid) files hold loads them live.
fn certificates(observed: &Observed, plan: &mut Plan) {
    for (node, cert) in &observed.certificates {
        if let (Some(file), Some(served)) = (cert.loadable(), &cert.served) {
            if file != served {
                plan.actions.push(Action::LoadCertificates {
                    node: node.clone(),
                    served: served.clone(),
                    file: file.to_string(),
                });
            }
        }
    }
}

/// Ids the cluster should forget: a declared node's old identity (its address now answers
/// with another id: the node lost its volume), foreign nodes that serve no slots, and foreign
/// nodes the cluster agrees have failed (their keys are gone with them). A live foreign node
/// keeps its slots until they are moved home.
fn forgets(spec: &ClusterSpec, reachable: &Reachable, plan: &mut Plan) {
    let actual: BTreeMap<String, (&str, &str)> = reachable
        .iter()
        .filter_map(|(_, n, v)| Some((n.addr(), (v.myself()?.id.as_str(), n.name.as_str()))))
        .collect();
    let mut ghosts: BTreeMap<&str, (String, usize, Vec<String>)> = BTreeMap::new();
    for (_, viewer, view) in reachable.iter().filter(|(_, _, v)| !v.is_fresh()) {
        for entry in view
            .nodes
            .iter()
            .filter(|e| !e.is_myself() && !e.in_handshake())
        {
            let was = match actual.get(&entry.addr) {
                Some((id, name)) if *id != entry.id => format!("{name}'s old identity"),
                Some(_) => continue,
                None if spec.nodes.iter().any(|n| n.addr() == entry.addr) => continue,
                None if entry.has_flag("fail")
                    || (entry.slots.is_empty()
                        && entry.migrating.is_empty()
                        && entry.importing.is_empty()) =>
                {
                    format!(
                        "foreign node {}",
                        if entry.addr.is_empty() {
                            "without address"
                        } else {
                            &entry.addr
                        }
                    )
                }
                None => continue,
            };
            let ghost = ghosts
                .entry(entry.id.as_str())
                .or_insert((was, 0, Vec::new()));
            ghost.1 = ghost.1.max(entry.slot_count());
            ghost.2.push(viewer.name.clone());
        }
    }
    for (id, (was, lost_slots, on)) in ghosts {
        plan.actions.push(Action::Forget {
            id: id.to_string(),
            was,
            lost_slots,
            on,
        });
    }
}
/// Fresh nodes get distinct epochs above any in use, so no two masters ever collide.
fn epochs(reachable: &Reachable, plan: &mut Plan) {
    let base = reachable
        .iter()
        .filter(|(_, _, v)| !v.is_fresh())
        .map(|(_, _, v)| v.info.current_epoch())
        .max()
        .unwrap_or(0);
    for (index, node, view) in reachable {
        if view.is_fresh() {
            plan.actions.push(Action::SetConfigEpoch {
                node: node.name.clone(),
                epoch: base + *index as u64 + 1,
            });
        }
    }
}

/// Declared slots no node claims go to their declared owner, exactly as declared. Called only
/// when every node answers: an unreachable node may still own its slots.
///
/// A node that answers is the authority on its own slots (someone may have run DELSLOTS on
/// it while its peers still list it as owner); for any other owner (gone, foreign, a lost
/// identity) the peers' word counts until it is forgotten.
fn slots(reachable: &Reachable, plan: &mut Plan) {
    let answering: BTreeSet<&str> = reachable
        .iter()
        .filter_map(|(_, _, v)| v.myself().map(|m| m.id.as_str()))
        .collect();
    let mut claimed = vec![false; usize::from(SLOT_COUNT)];
    for (_, _, view) in reachable {
        for entry in &view.nodes {
            if entry.is_myself() || !answering.contains(entry.id.as_str()) {
                for slot in entry.slots.iter().flat_map(|r| r.slots()) {
                    claimed[usize::from(slot)] = true;
                }
            }
            // A slot half-way through a migration is claimed too, even if no owner is listed.
            for (slot, _) in entry.migrating.iter().chain(&entry.importing) {
                claimed[usize::from(*slot)] = true;
            }
        }
    }
    for (_, node, _) in reachable {
        let free = ranges_of(
            node.slots
                .iter()
                .flat_map(|r| r.slots())
                .filter(|s| !claimed[usize::from(*s)]),
        );
        if !free.is_empty() {
            plan.actions.push(Action::AddSlots {
                node: node.name.clone(),
                ranges: free,
            });
        }
    }
}

/// How well a node knows a peer: by its current id, only by a handshake in flight, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acquaintance {
    Known,
    Introducing,
    Unknown,
}

fn acquaintance(view: &NodeView, peer: &NodeSpec, peer_view: &NodeView) -> Acquaintance {
    let addr = peer.addr();
    let id = peer_view.myself().map(|m| m.id.as_str());
    let at_addr = view.nodes.iter().filter(|n| n.addr == addr);
    let mut result = Acquaintance::Unknown;
    for entry in at_addr {
        if entry.in_handshake() {
            result = Acquaintance::Introducing;
        } else if Some(entry.id.as_str()) == id {
            return Acquaintance::Known;
        }
    }
    result
}

/// Every pair of nodes is introduced directly. Relying on gossip to spread introductions is
/// correct but slow: a node pings one random peer a second, so a third node can take seconds
/// to hear of the second. A pair where one side knows the other by its current id is
/// completed by the side that does not; a pair with a handshake in flight is left to it.
fn meets(reachable: &Reachable, plan: &mut Plan) {
    use Acquaintance::*;
    for (i, (_, a, a_view)) in reachable.iter().enumerate() {
        for (_, b, b_view) in &reachable[i + 1..] {
            let meet = |from: &NodeSpec, to: &NodeSpec| Action::Meet {
                node: from.name.clone(),
                peer: to.name.clone(),
                addr: to.addr(),
            };
            match (
                acquaintance(a_view, b, b_view),
                acquaintance(b_view, a, a_view),
            ) {
                (Unknown, Unknown) | (Unknown, Known) => plan.actions.push(meet(a, b)),
                (Known, Unknown) => plan.actions.push(meet(b, a)),
                _ => {}
            }
        }
    }
}

/// `[redis]` parameters a node does not have (someone ran CONFIG SET) are set back live.
fn configs(spec: &ClusterSpec, reachable: &Reachable, plan: &mut Plan) {
    for (_, node, view) in reachable {
        let settings: Vec<(String, String)> = spec
            .redis
            .iter()
            .filter(|(k, v)| !same_setting(view.config.get(*k).map(String::as_str), v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !settings.is_empty() {
            plan.actions.push(Action::SetConfig {
                node: node.name.clone(),
                settings,
            });
        }
    }
}

/// Redis answers CONFIG GET in its own spelling: memory in bytes ("100mb" → "104857600"),
/// booleans as yes/no. Compare in that spelling.
pub fn same_setting(observed: Option<&str>, desired: &str) -> bool {
    observed.is_some_and(|o| canonical_setting(o) == canonical_setting(desired))
}

fn canonical_setting(value: &str) -> String {
    let v = value.trim().to_ascii_lowercase();
    match v.as_str() {
        "true" => return "yes".into(),
        "false" => return "no".into(),
        _ => {}
    }
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = v.split_at(digits);
    let factor: Option<u64> = match unit {
        "k" => Some(1000),
        "kb" => Some(1024),
        "m" => Some(1000 * 1000),
        "mb" => Some(1024 * 1024),
        "g" => Some(1000 * 1000 * 1000),
        "gb" => Some(1024 * 1024 * 1024),
        _ => None,
    };
    match (number.parse::<u64>(), factor) {
        (Ok(n), Some(f)) => n.saturating_mul(f).to_string(),
        _ => v,
    }
}

#[cfg(test)]
mod tests;
