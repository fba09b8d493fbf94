//! The planner: a pure function from (desired, observed) to the ordered actions that close the
//! gap. No I/O, so every case is tested here with hand-built observed states.
//!
//! One pass plans everything that can be done now: Docker objects, config epochs for fresh
//! nodes, unassigned slots, and introductions. Once nothing is left to do, the plan lists what
//! it is waiting for (Redis's gossip and writable delay), or what blocks it (drift a person has
//! to resolve).

mod action;

pub use action::{Action, Stage};

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

fn redis_actions(spec: &ClusterSpec, observed: &Observed, plan: &mut Plan) {
    let reachable: Vec<(usize, &NodeSpec, &NodeView)> = spec
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| observed.view(&n.name).map(|v| (i, n, v)))
        .collect();
    // A fresh node joins only once every declared node answers: then epochs, slots and
    // introductions happen in one pass, and a node that is slow to start cannot end up with
    // its slots taken or its epoch out of order.
    if reachable.len() == spec.nodes.len() {
        epochs(&reachable, plan);
        slots(observed, &reachable, plan);
    }
    let joinable: Vec<_> = reachable
        .iter()
        .copied()
        .filter(|(_, _, v)| reachable.len() == spec.nodes.len() || !v.is_fresh())
        .collect();
    meets(&joinable, plan);
}

/// Fresh nodes get distinct epochs above any in use, so no two masters ever collide.
fn epochs(reachable: &[(usize, &NodeSpec, &NodeView)], plan: &mut Plan) {
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
fn slots(observed: &Observed, reachable: &[(usize, &NodeSpec, &NodeView)], plan: &mut Plan) {
    let mut claimed = vec![false; usize::from(SLOT_COUNT)];
    for view in observed.redis.values().filter_map(|r| match r {
        crate::observe::RedisState::Up(v) => Some(v),
        _ => None,
    }) {
        for (slot, owner) in view.slot_owners().into_iter().enumerate() {
            claimed[slot] |= owner.is_some();
        }
        // A slot half-way through a migration is claimed too, even if no owner is listed.
        for entry in &view.nodes {
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

/// Every pair of nodes is introduced directly. Relying on gossip to spread introductions is
/// correct but slow: a node pings one random peer a second, so a third node can take seconds
/// to hear of the second. A pair where one side already knows the other (and is not merely
/// in handshake) is completed by the side that does not.
fn meets(reachable: &[(usize, &NodeSpec, &NodeView)], plan: &mut Plan) {
    for (i, (_, a, a_view)) in reachable.iter().enumerate() {
        for (_, b, b_view) in &reachable[i + 1..] {
            let a_knows = a_view.entry_for(&b.addr());
            let b_knows = b_view.entry_for(&a.addr());
            let meet = |from: &NodeSpec, to: &NodeSpec| Action::Meet {
                node: from.name.clone(),
                peer: to.name.clone(),
                addr: to.addr(),
            };
            match (a_knows, b_knows) {
                (None, None) => plan.actions.push(meet(a, b)),
                (Some(known), None) if !known.in_handshake() => plan.actions.push(meet(b, a)),
                (None, Some(known)) if !known.in_handshake() => plan.actions.push(meet(a, b)),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
