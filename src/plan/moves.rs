//! Slots that are not where cluster.toml puts them: served by another node (a reshard someone
//! ran, a foreign node that joined), or left open by an interrupted reshard.
//!
//! Each slot gets the one step that takes it closer to home, in the order `redis-cli --cluster
//! fix` would take it: a move in flight is finished first (clients are following it through
//! ASK redirects, so reversing it half-way could strand a write), open slots are closed at
//! their owner, and only a stable slot is moved to its declared owner. Moves are planned only
//! on an otherwise formed cluster: SETSLOT names nodes by id, and every node must know them.

use std::collections::BTreeSet;

use super::{Action, Peer, Plan};
use crate::observe::{ClusterNode, NodeView, Observed};
use crate::spec::slots::ranges_of;
use crate::spec::{ClusterSpec, NodeSpec, SLOT_COUNT};

/// A declared node that answered, with what it says of itself.
struct Answering<'a> {
    spec: &'a NodeSpec,
    view: &'a NodeView,
    myself: &'a ClusterNode,
}

impl Answering<'_> {
    fn peer(&self) -> Peer {
        Peer {
            id: self.myself.id.clone(),
            addr: self.spec.addr(),
            name: self.spec.name.clone(),
        }
    }

    fn owns(&self, slot: u16) -> bool {
        self.myself.slots.iter().any(|r| r.contains(slot))
    }

    fn migrating(&self, slot: u16) -> Option<&str> {
        let found = self.myself.migrating.iter().find(|(s, _)| *s == slot);
        found.map(|(_, to)| to.as_str())
    }

    fn is_open(&self, slot: u16) -> bool {
        self.migrating(slot).is_some() || self.myself.importing.iter().any(|(s, _)| *s == slot)
    }
}

/// The step one slot needs now; slots needing the same step are grouped into one action.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Move {
        from: Peer,
        to: Peer,
        finishing: bool,
    },
    /// Close the slots at `owner`; with `claim`, nobody serves them and `owner`, their
    /// declared owner, takes them first.
    Close {
        owner: Peer,
        claim: bool,
        open_on: Vec<Peer>,
    },
    Wait(String),
}

/// Adds the slot moves the cluster needs to `plan`, or what they wait for.
pub(super) fn slot_moves(spec: &ClusterSpec, observed: &Observed, plan: &mut Plan) {
    let Some(nodes) = all_answering(spec, observed) else {
        return;
    };
    let declared: BTreeSet<String> = spec.nodes.iter().map(NodeSpec::addr).collect();
    let mut steps: Vec<(Step, Vec<u16>)> = Vec::new();
    for slot in 0..SLOT_COUNT {
        if let Some(step) = step_for(&nodes, &declared, slot) {
            match steps.iter_mut().find(|(s, _)| *s == step) {
                Some((_, slots)) => slots.push(slot),
                None => steps.push((step, vec![slot])),
            }
        }
    }
    for (step, slots) in steps {
        let ranges = ranges_of(slots);
        match step {
            Step::Move {
                from,
                to,
                finishing,
            } => plan.actions.push(Action::MoveSlots {
                ranges,
                from,
                to,
                finishing,
            }),
            Step::Close {
                owner,
                claim,
                open_on,
            } => {
                if claim {
                    plan.actions.push(Action::AddSlots {
                        node: owner.name.clone(),
                        ranges: ranges.clone(),
                    });
                }
                plan.actions.push(Action::CloseSlots {
                    ranges,
                    owner,
                    open_on,
                });
            }
            Step::Wait(why) => {
                let shown: Vec<String> = ranges.iter().map(ToString::to_string).collect();
                plan.waiting
                    .push(format!("slots {}: {why}", shown.join(", ")));
            }
        }
    }
}

fn step_for(nodes: &[Answering], declared: &BTreeSet<String>, slot: u16) -> Option<Step> {
    let home = nodes.iter().find(|n| n.spec.owns(slot))?;
    // A node is the authority on its own slots; the peers' word counts only for an owner
    // outside cluster.toml, which the operator does not ask.
    let claimers: Vec<&Answering> = nodes.iter().filter(|n| n.owns(slot)).collect();
    let owner = match claimers.as_slice() {
        [] => match foreign_owner(nodes, declared, slot) {
            Ok(owner) => owner,
            Err(why) => return Some(Step::Wait(why)),
        },
        [one] => Some(one.peer()),
        many => {
            let names: Vec<&str> = many.iter().map(|n| n.spec.name.as_str()).collect();
            return Some(Step::Wait(format!(
                "claimed by {} at once; Redis settles this by config epoch",
                names.join(" and ")
            )));
        }
    };
    let open: Vec<&Answering> = nodes.iter().filter(|n| n.is_open(slot)).collect();
    // A move in flight from a declared owner to a node that is importing it: finish it.
    if let Some(o) = claimers.first().filter(|o| o.migrating(slot).is_some()) {
        let target = o.migrating(slot);
        let importer = nodes.iter().find(|n| {
            Some(n.myself.id.as_str()) == target
                && n.myself.importing.iter().any(|(s, _)| *s == slot)
        });
        if let Some(to) = importer {
            return Some(unless_unknown(nodes, o.peer(), to.peer(), true));
        }
    }
    if !open.is_empty() {
        let (owner, claim) = match owner {
            Some(owner) => (owner, false),
            None => (home.peer(), true),
        };
        let open_on = open
            .iter()
            .map(|n| n.peer())
            .filter(|p| p.id != owner.id)
            .collect();
        return Some(Step::Close {
            owner,
            claim,
            open_on,
        });
    }
    match owner {
        Some(owner) if owner.id != home.myself.id => {
            Some(unless_unknown(nodes, owner, home.peer(), false))
        }
        // At home, or unassigned (the slots pass assigns it).
        _ => None,
    }
}

/// A move, or a wait while a declared party does not yet know the other by id (SETSLOT
/// IMPORTING and MIGRATING accept only known ids).
fn unless_unknown(nodes: &[Answering], from: Peer, to: Peer, finishing: bool) -> Step {
    for (a, b) in [(&to, &from), (&from, &to)] {
        if let Some(n) = nodes.iter().find(|n| n.myself.id == a.id) {
            if !knows(n.view, &b.id) {
                return Step::Wait(format!("{} does not know {} yet", a.name, b.name));
            }
        }
    }
    Step::Move {
        from,
        to,
        finishing,
    }
}

/// Every declared node with what it says of itself, or None while one does not answer or
/// has never joined.
fn all_answering<'a>(spec: &'a ClusterSpec, observed: &'a Observed) -> Option<Vec<Answering<'a>>> {
    spec.nodes
        .iter()
        .map(|n| {
            let view = observed.view(&n.name).filter(|v| !v.is_fresh())?;
            Some(Answering {
                spec: n,
                view,
                myself: view.myself()?,
            })
        })
        .collect()
}

/// The node outside cluster.toml that the declared nodes see serving `slot`, if they agree
/// on one. An old identity of a declared address is not foreign: it is forgotten instead.
fn foreign_owner(
    nodes: &[Answering],
    declared: &BTreeSet<String>,
    slot: u16,
) -> Result<Option<Peer>, String> {
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut failing = false;
    for n in nodes {
        let owner = n
            .view
            .nodes
            .iter()
            .find(|e| !e.is_myself() && e.slots.iter().any(|r| r.contains(slot)));
        if let Some(e) = owner.filter(|e| !declared.contains(&e.addr)) {
            seen.insert((e.id.as_str(), e.addr.as_str()));
            failing |= e.is_failing();
        }
    }
    let mut seen = seen.into_iter();
    match (seen.next(), seen.next()) {
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err("the nodes disagree on which foreign node serves them".into()),
        (Some((_, addr)), None) if failing => Err(format!(
            "served by foreign node {addr}, which is failing (forgotten once the cluster agrees it failed)"
        )),
        (Some((id, addr)), None) => Ok(Some(Peer {
            id: id.to_string(),
            addr: addr.to_string(),
            name: format!("foreign node {addr}"),
        })),
    }
}

/// Knows the node by this id, past the handshake.
fn knows(view: &NodeView, id: &str) -> bool {
    view.nodes.iter().any(|e| e.id == id && !e.in_handshake())
}
