//! Slots that are not where cluster.toml puts them: served by another node (a reshard someone
//! ran, a foreign node that joined), or left open by an interrupted reshard.
//!
//! Each slot gets the one step that takes it closer to home, in the order `redis-cli --cluster
//! fix` would take it: a move in flight is finished first (clients are following it through
//! ASK redirects, so reversing it half-way could strand a write), open slots are closed at
//! their owner, and only a stable slot is moved to its declared owner. Moves are planned only
//! on an otherwise formed cluster: SETSLOT names nodes by id, and every node must know them.

use std::collections::BTreeSet;

use super::{peer, Plan};
use crate::actions::{AddSlots, CloseSlots, MoveSlots, Peer};
use crate::observe::{Member, Topology, Who};
use crate::spec::slots::ranges_of;
use crate::spec::SLOT_COUNT;

/// The step one slot needs now; slots needing the same step are grouped into one action.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Move {
        from: Peer,
        to: Peer,
        finishing: bool,
    },
    /// Close the slots at `owner`, bringing keys left on `open_on` to it.
    Close {
        owner: Peer,
        open_on: Vec<Peer>,
    },
    /// Nobody serves these open slots: `owner`, their declared owner, takes them first (the
    /// cluster is down until then), and they are closed once it reports ok again.
    Claim {
        owner: Peer,
    },
    Wait(String),
}

/// Adds the slot moves the cluster needs to `plan`, or what they wait for.
pub(super) fn slot_moves(topology: &Topology, plan: &mut Plan) {
    // Every declared node answers and has joined.
    let nodes = topology.members();
    if !topology.all_answer() || nodes.iter().any(|m| m.view.is_fresh()) {
        return;
    }
    let mut steps: Vec<(Step, Vec<u16>)> = Vec::new();
    for slot in 0..SLOT_COUNT {
        if let Some(step) = step_for(topology, slot) {
            match steps.iter_mut().find(|(s, _)| *s == step) {
                Some((_, slots)) => slots.push(slot),
                None => steps.push((step, vec![slot])),
            }
        }
    }
    for (step, slots) in one_role_per_node(steps) {
        let ranges = ranges_of(slots);
        match step {
            Step::Move {
                from,
                to,
                finishing,
            } => plan.actions.push(
                MoveSlots {
                    ranges,
                    from,
                    to,
                    finishing,
                }
                .into(),
            ),
            Step::Close { owner, open_on } => plan.actions.push(
                CloseSlots {
                    ranges,
                    owner,
                    open_on,
                }
                .into(),
            ),
            Step::Claim { owner } => plan.actions.push(
                AddSlots {
                    node: owner,
                    ranges,
                }
                .into(),
            ),
            Step::Wait(why) => {
                let shown: Vec<String> = ranges.iter().map(ToString::to_string).collect();
                plan.waiting
                    .push(format!("slots {}: {why}", shown.join(", ")));
            }
        }
    }
}

/// Moves run in parallel, but no node gives slots in one move (or close) while it takes
/// slots in another. Taking a slot bumps the taker's config epoch, and a source that bumps
/// while it still owns a slot it is handing over outranks its target's claim, which then
/// deletes the keys it received (Redis's silent delete). And MIGRATE blocks its source until
/// the target has restored the batch: two nodes migrating to each other at once wait on each
/// other until both time out. With one role per node no such cycle can form. The held-back
/// steps wait for the next pass.
fn one_role_per_node(steps: Vec<(Step, Vec<u16>)>) -> Vec<(Step, Vec<u16>)> {
    let (mut giving, mut taking): (BTreeSet<String>, BTreeSet<String>) = Default::default();
    steps
        .into_iter()
        .map(|(step, slots)| {
            let (givers, taker): (Vec<&Peer>, &Peer) = match &step {
                Step::Move { from, to, .. } => (vec![from], to),
                Step::Close { owner, open_on } => (open_on.iter().collect(), owner),
                Step::Claim { .. } | Step::Wait(_) => return (step, slots),
            };
            let busy = givers
                .iter()
                .find(|g| taking.contains(&g.id))
                .copied()
                .or_else(|| giving.contains(&taker.id).then_some(taker));
            if let Some(busy) = busy {
                let why = format!(
                    "waiting for {}'s moves in flight: a node never gives and takes slots at once",
                    busy.name
                );
                return (Step::Wait(why), slots);
            }
            giving.extend(givers.iter().map(|g| g.id.clone()));
            taking.insert(taker.id.clone());
            (step, slots)
        })
        .collect()
}

fn step_for(topology: &Topology, slot: u16) -> Option<Step> {
    let nodes = topology.members();
    let home = nodes.iter().find(|n| n.spec.owns(slot))?;
    // A node is the authority on its own slots; the peers' word counts only for an owner
    // outside cluster.toml, which the operator does not ask.
    let claimers: Vec<&Member> = nodes.iter().filter(|n| n.owns(slot)).collect();
    let owner = match claimers.as_slice() {
        [] => match foreign_owner(topology, slot) {
            Ok(owner) => owner,
            Err(why) => return Some(Step::Wait(why)),
        },
        [one] => Some(peer(one)),
        many => {
            let names: Vec<&str> = many.iter().map(|n| n.spec.name.as_str()).collect();
            return Some(Step::Wait(format!(
                "claimed by {} at once; Redis settles this by config epoch",
                names.join(" and ")
            )));
        }
    };
    let open: Vec<&Member> = nodes.iter().filter(|n| n.is_open(slot)).collect();
    // A move in flight from an owner outside cluster.toml (a removed node being drained): a
    // declared node imports the slot from it. Its MIGRATING mark cannot be seen (it is not
    // asked), and its keys are leaving anyway: finish the move toward the declared node.
    if let Some(outsider) = owner.as_ref().filter(|_| claimers.is_empty()) {
        if let Some(importer) = nodes.iter().find(|n| {
            n.myself
                .importing
                .iter()
                .any(|(s, from)| *s == slot && *from == outsider.id)
        }) {
            let (from, to) = (outsider.clone(), peer(importer));
            return Some(when_ready(topology, &[&from, &to], || {
                hand_over(topology, from.clone(), to.clone(), true)
            }));
        }
    }
    // A move in flight from a declared owner to a node that is importing it: finish it.
    if let Some(o) = claimers.first().filter(|o| o.migrating(slot).is_some()) {
        let target = o.migrating(slot);
        let importer = nodes
            .iter()
            .find(|n| Some(n.id()) == target && n.importing(slot));
        if let Some(to) = importer {
            return Some(when_ready(topology, &[&peer(o), &peer(to)], || {
                Step::Move {
                    from: peer(o),
                    to: peer(to),
                    finishing: true,
                }
            }));
        }
    }
    if !open.is_empty() {
        let Some(owner) = owner else {
            return Some(Step::Claim { owner: peer(home) });
        };
        let open_on: Vec<Peer> = open
            .iter()
            .map(|n| peer(n))
            .filter(|p| p.id != owner.id)
            .collect();
        let parties: Vec<&Peer> = std::iter::once(&owner).chain(&open_on).collect();
        return Some(when_ready(topology, &parties, || Step::Close {
            owner: owner.clone(),
            open_on: open_on.clone(),
        }));
    }
    // A node of the slot's own shard serving it (a promoted replica) is at home: roles
    // within a shard change by failover, never by moving keys.
    let in_shard = |o: &Peer| {
        topology
            .member_by_id(&o.id)
            .is_some_and(|m| m.spec.shard() == home.spec.name)
    };
    match owner {
        Some(owner) if !in_shard(&owner) => {
            let to = peer(home);
            Some(when_ready(topology, &[&owner, &to], || {
                hand_over(topology, owner.clone(), to.clone(), false)
            }))
        }
        // At home, or unassigned (the slots pass assigns it).
        _ => None,
    }
}

/// `step`, or a wait while a declared party of it cannot take part yet: keys move only
/// between nodes that report `cluster_state:ok` (a node that does not answers MIGRATE's
/// RESTORE with CLUSTERDOWN), and that know each other by id (SETSLOT IMPORTING, MIGRATING
/// and NODE accept only known ids).
fn when_ready(topology: &Topology, parties: &[&Peer], step: impl FnOnce() -> Step) -> Step {
    for a in parties {
        let Some(n) = topology.member_by_id(&a.id) else {
            continue;
        };
        if !n.view.info.state_ok() {
            return Step::Wait(format!(
                "{} reports cluster_state:fail; keys move only between nodes that report ok",
                a.name
            ));
        }
        if let Some(b) = parties.iter().find(|b| b.id != a.id && !n.knows(&b.id)) {
            return Step::Wait(format!("{} does not know {} yet", a.name, b.name));
        }
    }
    step()
}

/// A move, or a wait while the cluster could not take the hand-over safely: every node must
/// know the target by id (SETSLOT NODE goes to all of them), and the target must see the
/// source's current config epoch, so that the epoch it takes the slot with outranks the
/// source's claim (else the target deletes the keys it received when the source's older,
/// unseen bump arrives).
fn hand_over(topology: &Topology, from: Peer, to: Peer, finishing: bool) -> Step {
    if let Some(m) = topology
        .members()
        .iter()
        .find(|m| !m.knows(&to.id) && m.id() != to.id)
    {
        return Step::Wait(format!("{} does not know {} yet", m.spec.name, to.name));
    }
    let target = topology.member_by_id(&to.id);
    let source = topology.member_by_id(&from.id);
    if let (Some(target), Some(source)) = (target, source) {
        let seen = target.view.nodes.iter().find(|e| e.id == from.id);
        if seen.map(|e| e.config_epoch) != Some(source.myself.config_epoch) {
            return Step::Wait(format!(
                "{} has not seen {}'s config epoch {} yet",
                to.name, from.name, source.myself.config_epoch
            ));
        }
    }
    Step::Move {
        from,
        to,
        finishing,
    }
}

/// The node outside cluster.toml that the declared nodes see serving `slot`, if they agree
/// on one. An old identity of a declared address is not foreign: it is forgotten instead.
fn foreign_owner(topology: &Topology, slot: u16) -> Result<Option<Peer>, String> {
    let mut seen: BTreeSet<(&str, &str, String)> = BTreeSet::new();
    let mut failing = false;
    for n in topology.members() {
        let owner = n
            .view
            .nodes
            .iter()
            .find(|e| !e.is_myself() && e.slots.iter().any(|r| r.contains(slot)));
        let Some(e) = owner else { continue };
        let name = match topology.identify(e) {
            Who::Foreign => format!("foreign node {}", e.addr),
            Who::Retired(name) => format!("{name} (removed from cluster.toml)"),
            Who::Declared(_) | Who::OldIdentity(_) | Who::Handshake => continue,
        };
        seen.insert((e.id.as_str(), e.addr.as_str(), name));
        failing |= e.is_failing();
    }
    let mut seen = seen.into_iter();
    match (seen.next(), seen.next()) {
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err("the nodes disagree on which foreign node serves them".into()),
        (Some((_, _, name)), None) if failing => Err(format!(
            "served by {name}, which is failing (forgotten once the cluster agrees it failed)"
        )),
        (Some((id, addr, name)), None) => Ok(Some(Peer {
            id: id.to_string(),
            addr: addr.to_string(),
            name,
        })),
    }
}
