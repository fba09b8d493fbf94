//! The planner: a pure function from (desired, observed) to the ordered actions that close the
//! gap. No I/O, so every case is tested here with hand-built observed states.
//!
//! One pass plans everything that can be done now: Docker objects, config epochs for fresh
//! nodes, unassigned slots, and introductions. Once nothing is left to do, the plan lists what
//! it is waiting for (Redis's gossip and writable delay), or what blocks it (drift a person has
//! to resolve).
//!
//! Imports `spec`, `tls`, `docker` (blueprints), `observe` and `actions` (what it plans).

mod changes;
mod docker;
mod formation;
mod moves;
mod replicas;
mod settings;

pub(crate) use changes::{live_layout, shape_change, ShapeChange};

use std::collections::BTreeMap;

use crate::actions::{
    Action, AddSlots, CreateContainer, CreateNetwork, CreateVolume, Forget, IssueCertificates,
    LoadCertificates, Meet, Peer, PrepareImage, ReattachNetwork, RecreateContainer,
    RemoveContainer, RepairNodesConf, ResetNode, RotatePassword, SetConfig, SetConfigEpoch,
    StartContainer, TakeSlots, UnpauseContainer,
};
use crate::observe::health::{self, Severity};
use crate::observe::{
    same_setting, HostObserved, Member, Observed, RedisState, RunState, Topology, Who,
};
use crate::spec::slots::ranges_of;
use crate::spec::{ClusterSpec, SLOT_COUNT};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// What to do now, ordered by `Stage`.
    pub actions: Vec<Action>,
    /// Conditions that settle by themselves; re-observe soon.
    pub(crate) waiting: Vec<String>,
    /// Drift the operator will not repair: stop and tell the user.
    pub blocked: Vec<String>,
    /// Containers that differ from their spec and wait their turn in a rolling change (one
    /// at a time, only while the cluster is healthy), by node name.
    pub(crate) held_back: Vec<String>,
}

/// How actions name a declared node that answered: by id, declared address and name.
fn peer(member: &Member) -> Peer {
    Peer {
        id: member.id().to_string(),
        addr: member.spec.addr(),
        name: member.spec.name.clone(),
    }
}

/// Plans the actions that take the observed world to the desired state.
pub fn plan(spec: &ClusterSpec, observed: &Observed) -> Plan {
    let topology = Topology::new(spec, observed);
    let mut plan = Plan::default();
    let drifted = docker::objects(&topology, &mut plan);
    // Only Redis's own majority decides anything across a partition: while a host is
    // unknown, its nodes may be serving, failing over or coming back, and a forget, a
    // failover or a slot move planned on half the picture could lose keys.
    if !observed.unreachable.is_empty() {
        for (host, why) in &observed.unreachable {
            plan.waiting.push(format!(
                "host {host} is unreachable ({why}): its nodes are left as they are until it answers"
            ));
        }
        plan.actions.sort_by_key(Action::stage);
        return plan;
    }
    redis_actions(&topology, &drifted, &mut plan);
    plan.actions.sort_by_key(Action::stage);
    if plan.actions.is_empty() && plan.waiting.is_empty() && plan.blocked.is_empty() {
        moves::slot_moves(&topology, &mut plan);
        // Claims (ADDSLOTS) first: a node missing a slot reports the cluster down, and
        // MIGRATE refuses to run there until it is whole again.
        plan.actions.sort_by_key(Action::stage);
    }
    if plan.actions.is_empty() && plan.waiting.is_empty() && plan.blocked.is_empty() {
        for finding in health::findings(&topology) {
            match finding.severity {
                Severity::Settling => plan.waiting.push(finding.message),
                Severity::Blocked => plan.blocked.push(finding.message),
            }
        }
        // Replace drifted containers one at a time, and only while the cluster is healthy:
        // replicas first, a master only once its replica has taken over its slots.
        if plan.waiting.is_empty() && plan.blocked.is_empty() {
            if let Some(action) = replicas::rolling(&topology, drifted.clone()) {
                plan.actions.push(action);
            }
        }
    }
    plan.held_back = drifted
        .iter()
        .filter(|a| !plan.actions.contains(a))
        .filter_map(Action::recreated_node)
        .map(str::to_string)
        .collect();
    plan
}

fn redis_actions(topology: &Topology, drifted: &[Action], plan: &mut Plan) {
    settings::passwords(topology, plan);
    formation::forgets(topology, plan);
    let forgotten = formation::forgotten(topology);
    for member in &forgotten {
        plan.actions.push(ResetNode { node: peer(member) }.into());
    }
    // A fresh node joins only once every declared node answers: then epochs, slots and
    // introductions happen in one pass, and a node that is slow to start cannot end up with
    // its slots taken or its epoch out of order.
    let all_answer = topology.all_answer();
    if all_answer {
        formation::epochs(topology, plan);
        formation::slots(topology, plan);
    }
    let joinable: Vec<&Member> = topology
        .members()
        .iter()
        .filter(|m| all_answer || !m.view.is_fresh())
        .filter(|m| !forgotten.iter().any(|f| f.id() == m.id()))
        .collect();
    formation::meets(topology, &joinable, plan);
    replicas::replicas(topology, drifted, plan);
    settings::configs(topology, plan);
    settings::certificates(topology.observed, plan);
}

#[cfg(test)]
impl Plan {
    /// Nothing to do, nothing to wait for: the cluster is healthy and as declared.
    fn is_converged(&self) -> bool {
        self.actions.is_empty() && self.waiting.is_empty() && self.blocked.is_empty()
    }
}

#[cfg(test)]
mod tests;
