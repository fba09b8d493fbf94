//! The planner: a pure function from (desired, observed) to the ordered actions that close the
//! gap. No I/O, so every case is tested here with hand-built observed states.
//!
//! One pass plans everything that can be done now: Docker objects, config epochs for fresh
//! nodes, unassigned slots, and introductions. Once nothing is left to do, the plan lists what
//! it is waiting for (Redis's gossip and writable delay), or what blocks it (drift a person has
//! to resolve).

mod changes;
mod moves;
mod replicas;

pub(crate) use changes::{live_layout, shape_change, ShapeChange};

use std::collections::BTreeMap;

use crate::actions::{
    Action, AddSlots, CreateContainer, CreateNetwork, CreateVolume, Forget, IssueCertificates,
    LoadCertificates, Meet, Peer, PrepareImage, ReattachNetwork, RecreateContainer,
    RemoveContainer, RepairNodesConf, ResetNode, RotatePassword, SetConfig, SetConfigEpoch,
    StartContainer, TakeSlots, UnpauseContainer,
};
use crate::health::{self, Severity};
use crate::observe::topology::shown_addr;
use crate::observe::{
    same_setting, ClusterNode, HostObserved, Member, Observed, RedisState, RunState, Topology, Who,
};
use crate::spec::slots::ranges_of;
use crate::spec::{ClusterSpec, SLOT_COUNT};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// What to do now, ordered by [`Stage`].
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
    let drifted = docker_actions(&topology, &mut plan);
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

/// Plans the Docker side; returns the recreations that spec drift calls for, held back so
/// the caller can roll them one node at a time.
fn docker_actions(topology: &Topology, plan: &mut Plan) -> Vec<Action> {
    let (spec, observed) = (topology.spec, topology.observed);
    let renew: Vec<(String, String)> = observed
        .certificates
        .iter()
        .filter_map(|(node, c)| Some((node.clone(), c.renew.clone()?)))
        .collect();
    if !renew.is_empty() {
        plan.actions.push(IssueCertificates { nodes: renew }.into());
    }
    // The image is made once, on the first host that lacks it, and copied to the others
    // from there: every host then runs the very same image, and a build happens once.
    let in_use = |host: &str| spec.nodes_on(host).next().is_some();
    let lacking: Vec<&str> = observed
        .hosts
        .keys()
        .map(String::as_str)
        .filter(|h| in_use(h) && topology.image(h).is_none())
        .collect();
    let made_somewhere = observed.hosts.keys().any(|h| topology.image(h).is_some());
    let to_prepare = if made_somewhere {
        &lacking[..]
    } else {
        &lacking[..lacking.len().min(1)]
    };
    for host in to_prepare {
        plan.actions.push(
            PrepareImage {
                image: spec.image.name.clone(),
                host: host.to_string(),
            }
            .into(),
        );
    }
    for (host, seen) in &observed.hosts {
        network_actions(topology, host, in_use(host), seen, plan);
    }
    let mut drifted = Vec::new();
    // A node on a host that does not answer is unknown, not gone: nothing is made for it.
    let reachable = spec
        .nodes
        .iter()
        .filter(|n| observed.hosts.contains_key(n.host_name()));
    for node in reachable {
        let image = topology.image(node.host_name());
        let container = spec.container_name(node);
        let Some(found) = observed.containers.get(&node.name) else {
            let volume = spec.volume_name(node);
            if !observed.volumes.contains(&volume) {
                plan.actions.push(
                    CreateVolume {
                        node: node.name.clone(),
                        volume,
                    }
                    .into(),
                );
            }
            match &image {
                Some(image) => plan.actions.push(
                    CreateContainer {
                        node: node.name.clone(),
                        container,
                        image: image.to_string(),
                    }
                    .into(),
                ),
                None => plan
                    .waiting
                    .push(format!("{}: waiting for the node image", node.name)),
            }
            continue;
        };
        // Its data and identity live in a volume on the host it runs on: carried to
        // another host, the node would start empty under its old name.
        if found.host != node.host_name() {
            plan.blocked.push(format!(
                "{}: its container runs on {}, cluster.toml puts it on {}: a node does not move between hosts; declare a new node on {} and remove {} (its slots drain to their owners)",
                node.name, found.host, node.host_name(), node.host_name(), node.name
            ));
            continue;
        }
        let node_name = node.name.clone();
        match found.state {
            RunState::Created | RunState::Exited | RunState::Dead => plan.actions.push(
                StartContainer {
                    node: node_name,
                    container,
                }
                .into(),
            ),
            RunState::Paused => plan.actions.push(
                UnpauseContainer {
                    node: node_name,
                    container,
                }
                .into(),
            ),
            RunState::Restarting => plan.actions.push(
                RepairNodesConf {
                    node: node_name,
                    container,
                }
                .into(),
            ),
            RunState::Removing => plan
                .waiting
                .push(format!("{}: container is being removed", node.name)),
            RunState::Running if found.ip != Some(node.ip) => {
                plan.actions.push(
                    ReattachNetwork {
                        node: node_name,
                        container,
                    }
                    .into(),
                );
            }
            RunState::Running => {
                if let Some(image) = image.filter(|_| topology.outdated(node)) {
                    drifted.push(
                        RecreateContainer {
                            node: node_name,
                            container,
                            image: image.to_string(),
                        }
                        .into(),
                    );
                }
            }
        }
    }
    // A node removed from cluster.toml keeps its container until its slots went home and
    // every node forgot it: removed earlier, a peer that still knew it could gossip it back.
    if topology.all_answer() {
        for (name, container) in topology.retired() {
            if !topology.still_known(name) {
                plan.actions.push(
                    RemoveContainer {
                        node: name.to_string(),
                        container: container.name.clone(),
                        host: container.host.clone(),
                    }
                    .into(),
                );
            }
        }
    }
    drifted
}

/// One host's cluster network (`needed` when some node runs there).
fn network_actions(
    topology: &Topology,
    host: &str,
    needed: bool,
    seen: &HostObserved,
    plan: &mut Plan,
) {
    let spec = topology.spec;
    let wanted_subnet = spec.network.subnet.to_string();
    match &seen.network {
        None if needed => plan.actions.push(CreateNetwork {
            name: spec.network.name.clone(),
            subnet: wanted_subnet,
            host: host.to_string(),
        }.into()),
        None => {}
        Some(net) if !net.subnets.contains(&wanted_subnet) => plan.blocked.push(format!(
            "Docker network {} exists with subnet {}, not {wanted_subnet}: remove it (`docker network rm {}`) or change [network].subnet",
            spec.network.name,
            if net.subnets.is_empty() { "none".into() } else { net.subnets.join(", ") },
            spec.network.name
        )),
        Some(_) => {}
    }
}

fn redis_actions(topology: &Topology, drifted: &[Action], plan: &mut Plan) {
    passwords(topology, plan);
    forgets(topology, plan);
    let forgotten = forgotten(topology);
    for member in &forgotten {
        plan.actions.push(ResetNode { node: peer(member) }.into());
    }
    // A fresh node joins only once every declared node answers: then epochs, slots and
    // introductions happen in one pass, and a node that is slow to start cannot end up with
    // its slots taken or its epoch out of order.
    let all_answer = topology.all_answer();
    if all_answer {
        epochs(topology, plan);
        slots(topology, plan);
    }
    let joinable: Vec<&Member> = topology
        .members()
        .iter()
        .filter(|m| all_answer || !m.view.is_fresh())
        .filter(|m| !forgotten.iter().any(|f| f.id() == m.id()))
        .collect();
    meets(topology, &joinable, plan);
    replicas::replicas(topology, drifted, plan);
    configs(topology, plan);
    certificates(topology.observed, plan);
}

/// Declared nodes the cluster forgot: a node that knows other declared nodes (it was part of
/// the cluster: a master removed from cluster.toml and declared again, its volume kept)
/// while none of them has any entry at its address, not even a handshake, and that serves no
/// slot and has none open. Redis bans a forgotten id for 60 s and Valkey 8.0 keeps it out
/// even through MEET until then, with writes it acknowledged in between lost; a node reset
/// to a new id joins at once. (CLUSTER RESET refuses a master that holds keys: a node drained
/// before its removal holds none.)
fn forgotten<'t, 'a>(topology: &'t Topology<'a>) -> Vec<&'t Member<'a>> {
    topology
        .members()
        .iter()
        .filter(|m| {
            let knows_peers = m
                .view
                .nodes
                .iter()
                .any(|e| !e.is_myself() && matches!(topology.identify(e), Who::Declared(_)));
            let known = topology.members().iter().any(|other| {
                other.id() != m.id()
                    && other
                        .view
                        .nodes
                        .iter()
                        .any(|e| topology.declared_at(e) == Some(m.spec))
            });
            let idle = m.myself.slots.is_empty()
                && m.myself.migrating.is_empty()
                && m.myself.importing.is_empty();
            knows_peers && !known && idle
        })
        .collect()
}

/// Nodes that refuse the declared password, or keep the one before it, get it in force.
fn passwords(topology: &Topology, plan: &mut Plan) {
    let nodes: Vec<String> = topology
        .spec
        .nodes
        .iter()
        .filter(|n| match topology.observed.redis.get(&n.name) {
            Some(RedisState::RefusesPassword) => true,
            Some(RedisState::Up(view)) => view.password_stale,
            _ => false,
        })
        .map(|n| n.name.clone())
        .collect();
    if !nodes.is_empty() {
        plan.actions.push(RotatePassword { nodes }.into());
    }
}

/// A node serving another certificate than its (valid) files hold loads them live.
fn certificates(observed: &Observed, plan: &mut Plan) {
    for (node, cert) in &observed.certificates {
        if let (Some(file), Some(served)) = (cert.loadable(), &cert.served) {
            if file != served {
                plan.actions.push(
                    LoadCertificates {
                        node: node.clone(),
                        served: served.clone(),
                        file: file.to_string(),
                    }
                    .into(),
                );
            }
        }
    }
}

/// Ids the cluster should forget: a declared node's old identity (its address now answers
/// with another id: the node lost its volume), foreign nodes that serve no slots, and foreign
/// nodes the cluster agrees have failed (their keys are gone with them). A live foreign node
/// keeps its slots until they are moved home.
fn forgets(topology: &Topology, plan: &mut Plan) {
    let mut ghosts: BTreeMap<&str, (String, usize, Vec<Peer>)> = BTreeMap::new();
    for viewer in topology.members().iter().filter(|m| !m.view.is_fresh()) {
        // A replica refuses to forget its own master: it is promoted or attached to the
        // node serving its shard first (the replicas pass), and forgets it on a later pass.
        let own_master = viewer.master_id();
        for entry in viewer
            .view
            .nodes
            .iter()
            .filter(|e| !e.is_myself() && Some(e.id.as_str()) != own_master)
        {
            let was = match topology.identify(entry) {
                Who::OldIdentity(node) => format!("{}'s old identity", node.name),
                who @ (Who::Foreign | Who::Retired(_))
                    if entry.has_flag("fail")
                        || (entry.slots.is_empty()
                            && entry.migrating.is_empty()
                            && entry.importing.is_empty())
                        || ghost(topology, entry) =>
                {
                    match who {
                        Who::Retired(name) => format!("{name}, removed from cluster.toml"),
                        _ => format!("foreign node {}", shown_addr(entry)),
                    }
                }
                Who::Declared(_) | Who::Handshake | Who::Foreign | Who::Retired(_) => continue,
            };
            let ghost = ghosts
                .entry(entry.id.as_str())
                .or_insert((was, 0, Vec::new()));
            ghost.1 = ghost.1.max(entry.slot_count());
            ghost.2.push(peer(viewer));
        }
    }
    for (id, (was, lost_slots, on)) in ghosts {
        plan.actions.push(
            Forget {
                id: id.to_string(),
                was,
                lost_slots,
                on,
            }
            .into(),
        );
    }
}

/// A node with no address that some answering node does not know at all: what is left of an
/// id the cluster already began to forget (an old identity gossiped on before every node
/// forgot it). It can never be reached to move its slots, and without the nodes that forgot
/// it no majority can ever agree it failed: only forgetting it everywhere ends it.
fn ghost(topology: &Topology, entry: &ClusterNode) -> bool {
    entry.ip().is_none()
        && topology
            .members()
            .iter()
            .any(|m| !m.view.is_fresh() && !m.view.nodes.iter().any(|e| e.id == entry.id))
}

/// Fresh nodes get distinct epochs above any in use, so no two masters ever collide.
fn epochs(topology: &Topology, plan: &mut Plan) {
    let members = topology.members();
    let base = members
        .iter()
        .filter(|m| !m.view.is_fresh())
        .map(|m| m.view.info.current_epoch())
        .max()
        .unwrap_or(0);
    for (index, node) in topology.spec.nodes.iter().enumerate() {
        if let Some(member) = topology.member(&node.name).filter(|m| m.view.is_fresh()) {
            plan.actions.push(
                SetConfigEpoch {
                    node: peer(member),
                    epoch: base + index as u64 + 1,
                }
                .into(),
            );
        }
    }
}

/// Declared slots nobody serves go to their declared owner, exactly as declared. Called only
/// when every node answers: an unreachable node may still own its slots.
///
/// A slot is never assigned while a node claims it by its own word, has it open, or an owner
/// outside the answering nodes (gone, foreign, an old identity) holds it in some view: those
/// are moved, closed or forgotten instead. A node that answers is the authority on its own
/// slots (someone may have run DELSLOTS on it while its peers still list it as owner). The
/// owner gets the slot with ADDSLOTS where its own view has no owner for it, and takes it
/// ([`Action::TakeSlots`]) where its view still names a declared node that gave it up.
fn slots(topology: &Topology, plan: &mut Plan) {
    let mut busy = vec![false; usize::from(SLOT_COUNT)];
    for member in topology.members() {
        for entry in &member.view.nodes {
            if entry.is_myself() || topology.member_by_id(&entry.id).is_none() {
                for slot in entry.slots.iter().flat_map(|r| r.slots()) {
                    busy[usize::from(slot)] = true;
                }
            }
            for (slot, _) in entry.migrating.iter().chain(&entry.importing) {
                busy[usize::from(*slot)] = true;
            }
        }
    }
    // A replica takes no slot: its shard's slots come to it only by failover.
    for member in topology.members().iter().filter(|m| !m.is_replica()) {
        let owners = Topology::slot_owners(member.view);
        let (mut free, mut taken) = (Vec::new(), Vec::new());
        for slot in member.spec.slots.iter().flat_map(|r| r.slots()) {
            if busy[usize::from(slot)] {
                continue;
            }
            match owners[usize::from(slot)] {
                None => free.push(slot),
                Some(_) => taken.push(slot),
            }
        }
        if !free.is_empty() {
            plan.actions.push(
                AddSlots {
                    node: peer(member),
                    ranges: ranges_of(free),
                }
                .into(),
            );
        }
        if !taken.is_empty() {
            plan.actions.push(
                TakeSlots {
                    node: peer(member),
                    ranges: ranges_of(taken),
                }
                .into(),
            );
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

fn acquaintance(topology: &Topology, member: &Member, peer: &Member) -> Acquaintance {
    let mut result = Acquaintance::Unknown;
    for entry in &member.view.nodes {
        if entry.id == peer.id() && !entry.in_handshake() {
            return Acquaintance::Known;
        }
        if entry.in_handshake() && topology.declared_at(entry) == Some(peer.spec) {
            result = Acquaintance::Introducing;
        }
    }
    result
}

/// Every pair of nodes is introduced directly. Relying on gossip to spread introductions is
/// correct but slow: a node pings one random peer a second, so a third node can take seconds
/// to hear of the second. A pair where one side knows the other by its current id is
/// completed by the side that does not; a pair with a handshake in flight is left to it.
fn meets(topology: &Topology, joinable: &[&Member], plan: &mut Plan) {
    use Acquaintance::*;
    for (i, a) in joinable.iter().enumerate() {
        for b in &joinable[i + 1..] {
            let meet = |from: &Member, to: &Member| -> Action {
                Meet {
                    node: peer(from),
                    peer: peer(to),
                    addr: to.spec.meet_addr(),
                }
                .into()
            };
            match (acquaintance(topology, a, b), acquaintance(topology, b, a)) {
                (Unknown, Unknown) | (Unknown, Known) => plan.actions.push(meet(a, b)),
                (Known, Unknown) => plan.actions.push(meet(b, a)),
                _ => {}
            }
        }
    }
}

/// Settings a node no longer has (someone ran CONFIG SET), set back live.
fn configs(topology: &Topology, plan: &mut Plan) {
    for member in topology.members() {
        let settings: Vec<(String, String)> = topology
            .settings_to_keep(member.spec)
            .into_iter()
            .filter(|(k, v)| !same_setting(member.view.config.get(k).map(String::as_str), v))
            .collect();
        if !settings.is_empty() {
            plan.actions.push(
                SetConfig {
                    node: peer(member),
                    settings,
                }
                .into(),
            );
        }
    }
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
