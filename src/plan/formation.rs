//! Forming the cluster and keeping it formed: ids to forget, nodes the cluster forgot,
//! config epochs for fresh nodes, unassigned slots, and introductions (MEET).

use super::*;

/// Declared nodes the cluster forgot: a node that knows other declared nodes (it was part of
/// the cluster: a master removed from cluster.toml and declared again, its volume kept)
/// while no node of the cluster proper has any entry at its address, not even a handshake,
/// and that serves no slot and has none open. Redis bans a forgotten id for 60 s and Valkey
/// 8.0 keeps it out even through MEET until then, with writes it acknowledged in between
/// lost; a node reset to a new id joins at once. (CLUSTER RESET refuses a master that holds
/// keys: a node drained before its removal holds none.)
///
/// The cluster proper is the nodes that serve slots (all of them while none does, as in a
/// formation): two removed masters declared again remember each other from their volumes,
/// and that must not count as the cluster knowing them.
pub(super) fn forgotten<'t, 'a>(topology: &'t Topology<'a>) -> Vec<&'t Member<'a>> {
    let members = topology.members();
    let serving: Vec<&Member> = members.iter().filter(|m| !m.holds_no_slots()).collect();
    let proper: Vec<&Member> = if serving.is_empty() {
        members.iter().collect()
    } else {
        serving
    };
    members
        .iter()
        .filter(|m| {
            let knows_peers = m
                .view
                .nodes
                .iter()
                .any(|e| !e.is_myself() && matches!(topology.identify(e), Who::Declared(_)));
            let known = proper.iter().any(|other| {
                other.id() != m.id()
                    && other
                        .view
                        .nodes
                        .iter()
                        .any(|e| topology.declared_at(e) == Some(m.spec))
            });
            knows_peers && !known && m.holds_no_slots()
        })
        .collect()
}

/// Ids the cluster should forget: a declared node's old identity (its address now answers
/// with another id: the node lost its volume), foreign nodes that serve no slots, and foreign
/// nodes the cluster agrees have failed (their keys are gone with them). A live foreign node
/// keeps its slots until they are moved home.
pub(super) fn forgets(topology: &Topology, plan: &mut Plan) {
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
                Who::Foreign | Who::Retired(_)
                    if entry.has_flag("fail")
                        || entry.holds_no_slots()
                        || topology.is_ghost(entry) =>
                {
                    topology.name_of(entry)
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

/// Fresh nodes get distinct epochs above any in use, so no two masters ever collide.
pub(super) fn epochs(topology: &Topology, plan: &mut Plan) {
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
pub(super) fn slots(topology: &Topology, plan: &mut Plan) {
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
pub(super) fn meets(topology: &Topology, joinable: &[&Member], plan: &mut Plan) {
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
