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
use crate::actions::{AddSlots, CloseSlots, MoveSlots, Peer, TakeSlots, Transfer};
use crate::observe::{Member, Topology};
use crate::spec::slots::ranges_of;
use crate::spec::{SlotMigration, SLOT_COUNT};

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
    /// Nobody serves these open slots: `owner` claims them first (the cluster is down until
    /// then), and they are closed, or moved home, once the cluster reports ok again. The
    /// node importing them takes them (`take`: SETSLOT NODE and BUMPEPOCH), as Valkey 8.1+
    /// does by itself; their declared owner adds them only when nobody imports them.
    Claim {
        owner: Peer,
        take: bool,
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
        let wait = |plan: &mut Plan, why: String| {
            let shown: Vec<String> = ranges.iter().map(ToString::to_string).collect();
            plan.waiting
                .push(format!("slots {}: {why}", shown.join(", ")));
        };
        match step {
            Step::Move {
                from,
                to,
                finishing,
            } => match transfer(topology, &from, &to, finishing) {
                Ok(transfer) => plan.actions.push(
                    MoveSlots {
                        ranges,
                        from,
                        to,
                        finishing,
                        transfer,
                    }
                    .into(),
                ),
                Err(why) => wait(plan, why),
            },
            Step::Close { owner, open_on } => plan.actions.push(
                CloseSlots {
                    ranges,
                    owner,
                    open_on,
                }
                .into(),
            ),
            Step::Claim { owner, take: true } => plan.actions.push(
                TakeSlots {
                    node: owner,
                    ranges,
                }
                .into(),
            ),
            Step::Claim { owner, take: false } => plan.actions.push(
                AddSlots {
                    node: owner,
                    ranges,
                }
                .into(),
            ),
            Step::Wait(why) => wait(plan, why),
        }
    }
}

/// How a move carries its keys, as `[cluster] slot_migration` asks and the servers allow; or
/// why it waits (`"atomic"` on servers without it). A move someone started key by key is
/// finished key by key: its slots are open, and an atomic job needs them stable. While any
/// slot is open, no job starts: Valkey refuses one beside a move by keys ("Slots are being
/// manually migrated"), and the two ways must never work on one node at once, where a
/// failed job's clean-up could meet keys a MIGRATE brought.
fn transfer(
    topology: &Topology,
    from: &Peer,
    to: &Peer,
    finishing: bool,
) -> Result<Transfer, String> {
    let setting = topology.spec.slot_migration;
    let by_keys = Transfer::Keys {
        setslot_waits: topology.setslot_waits_for_replicas(),
    };
    if finishing || setting == SlotMigration::Keys {
        return Ok(by_keys);
    }
    let required = setting == SlotMigration::Atomic;
    let atomic = if topology.any_slot_open() {
        Err("slots are open (a move by keys in flight); they are closed first".to_string())
    } else {
        topology.atomic_slot_migration(&[&from.id, &to.id])
    };
    match atomic {
        Ok(kind) => Ok(Transfer::Atomic { kind, required }),
        Err(_) if !required => Ok(by_keys),
        Err(why) => Err(format!(
            "slot_migration = \"atomic\", but {why}; set it to \"auto\" to move them by keys"
        )),
    }
}

/// Moves run in parallel, but no node gives slots in one move (or close) while it takes
/// slots in another. Taking a slot bumps the taker's config epoch, and a source that bumps
/// while it still owns a slot it is handing over outranks its target's claim, which then
/// deletes the keys it received (Redis's silent delete). And MIGRATE blocks its source until
/// the target has restored the batch: two nodes migrating to each other at once wait on each
/// other until both time out. With one role per node no such cycle can form. A claim counts
/// as taking: a take bumps the claimer's epoch, which must not happen while it hands a slot
/// over. The held-back steps wait for the next pass.
fn one_role_per_node(steps: Vec<(Step, Vec<u16>)>) -> Vec<(Step, Vec<u16>)> {
    let (mut giving, mut taking): (BTreeSet<String>, BTreeSet<String>) = Default::default();
    steps
        .into_iter()
        .map(|(step, slots)| {
            let (givers, taker): (Vec<&Peer>, &Peer) = match &step {
                Step::Move { from, to, .. } => (vec![from], to),
                Step::Close { owner, open_on } => (open_on.iter().collect(), owner),
                Step::Claim { owner, .. } => (Vec::new(), owner),
                Step::Wait(_) => return (step, slots),
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
    // A replica's marks are its master's, copied (Valkey 8 replicates SETSLOT), and a
    // replica refuses SETSLOT ("Please use SETSLOT only with masters"): its master's
    // close clears them.
    let masters = || nodes.iter().filter(|n| !n.is_replica());
    let open: Vec<&Member> = masters().filter(|n| n.is_open(slot)).collect();
    // A move in flight from an owner outside cluster.toml (a removed node being drained): a
    // declared node imports the slot from it. Its MIGRATING mark cannot be seen (it is not
    // asked), and its keys are leaving anyway: finish the move toward the declared node.
    if let Some(outsider) = owner.as_ref().filter(|_| claimers.is_empty()) {
        if let Some(importer) = masters().find(|n| {
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
            return Some(claim(home, &open, slot));
        };
        let open_on: Vec<Peer> = open
            .iter()
            .map(|n| peer(n))
            .filter(|p| p.id != owner.id)
            .collect();
        let parties: Vec<&Peer> = std::iter::once(&owner).chain(&open_on).collect();
        // A node importing a slot ignores gossip about it: one that saw the owner fail over
        // and back sees the slot served by nobody and reports fail until the close names
        // the owner to it.
        let blind = |m: &Member| m.id() != owner.id && m.is_open(slot) && !m.sees_served(slot);
        return Some(when_ready_but(topology, &parties, blind, || Step::Close {
            owner: owner.clone(),
            open_on: open_on.clone(),
        }));
    }
    let at_home = |o: &Peer| {
        topology
            .member_by_id(&o.id)
            .is_some_and(|m| topology.at_home(slot, m.spec))
    };
    match owner {
        Some(owner) if !at_home(&owner) => {
            let to = peer(home);
            Some(when_ready(topology, &[&owner, &to], || {
                hand_over(topology, owner.clone(), to.clone(), false)
            }))
        }
        // At home, or unassigned (the slots pass assigns it).
        _ => None,
    }
}

/// Who claims an open slot nobody serves. A node importing it takes it (its declared owner
/// first, if it is one of them): Valkey 8.1+ has an importer whose source stopped claiming the
/// slot take it by itself with a bumped epoch, and were the declared owner to add it beside
/// that, the importer's newer claim would win and the owner would delete its keys of the slot
/// (the silent delete). A node that gave the slot up keeps its keys through the take (it no
/// longer owns the slot, so nothing is deleted), and the slot comes home by an ordinary
/// move. Only when nobody imports it does the declared owner add it.
fn claim(home: &Member, open: &[&Member], slot: u16) -> Step {
    let importers = || open.iter().filter(|n| n.importing(slot));
    let importer = importers()
        .find(|n| n.id() == home.id())
        .or_else(|| importers().next());
    match importer {
        Some(importer) => Step::Claim {
            owner: peer(importer),
            take: true,
        },
        None => Step::Claim {
            owner: peer(home),
            take: false,
        },
    }
}

/// `step`, or a wait while a declared party of it cannot take part yet: keys move only
/// between nodes that report `cluster_state:ok` (a node that does not answers MIGRATE's
/// RESTORE with CLUSTERDOWN), and that know each other by id (SETSLOT IMPORTING, MIGRATING
/// and NODE accept only known ids).
fn when_ready(topology: &Topology, parties: &[&Peer], step: impl FnOnce() -> Step) -> Step {
    when_ready_but(topology, parties, |_| false, step)
}

/// [`when_ready`], but a party for which `excused` holds may report fail.
fn when_ready_but(
    topology: &Topology,
    parties: &[&Peer],
    excused: impl Fn(&Member) -> bool,
    step: impl FnOnce() -> Step,
) -> Step {
    for a in parties {
        let Some(n) = topology.member_by_id(&a.id) else {
            continue;
        };
        if !n.view.info.state_ok() && !excused(n) {
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
    match topology.outside_holders(slot).as_slice() {
        [] => Ok(None),
        [entry] if topology.marked_failing(&entry.id) => Err(format!(
            "served by {}, which is failing (forgotten once the cluster agrees it failed)",
            topology.name_of(entry)
        )),
        [entry] => Ok(Some(Peer {
            id: entry.id.clone(),
            addr: entry.addr.clone(),
            name: topology.name_of(entry),
        })),
        _ => Err("the nodes disagree on which foreign node serves them".into()),
    }
}
