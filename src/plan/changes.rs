//! The whole change of shape between the cluster as it is and cluster.toml, for `plan` to
//! show before anything moves: masters to add and remove, and every slot range that will
//! change hands, whatever pass will carry it out (a new master gets its slots only once it
//! has joined, so the step-by-step plan cannot list those moves yet).

use crate::observe::{Topology, Who};
use crate::spec::slots::ranges_of;
use crate::spec::{SlotRange, SLOT_COUNT};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ShapeChange {
    /// Declared masters that have no container yet.
    pub(crate) add: Vec<String>,
    /// Nodes removed from cluster.toml whose containers still exist.
    pub(crate) remove: Vec<String>,
    pub(crate) moves: Vec<SlotMove>,
}

impl ShapeChange {
    pub(crate) fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty() && self.moves.is_empty()
    }
}

/// Slots that go from one node to another, with their keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlotMove {
    pub(crate) from: String,
    /// Where the source answers (`ip:port`), to count the keys that will move.
    pub(crate) from_addr: String,
    pub(crate) to: String,
    pub(crate) ranges: Vec<SlotRange>,
}

/// The change of shape still to make. A slot's holder is the declared node that serves it by
/// its own word, else the node outside cluster.toml (removed, foreign) the declared nodes see
/// serving it; slots nobody serves are assigned, not moved.
pub(crate) fn shape_change(topology: &Topology) -> ShapeChange {
    let spec = topology.spec;
    let add = spec
        .nodes
        .iter()
        .filter(|n| !topology.observed.containers.contains_key(&n.name))
        .map(|n| n.name.clone())
        .collect();
    let remove = topology
        .retired()
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    let mut moves: Vec<(String, String, String, Vec<u16>)> = Vec::new();
    for slot in 0..SLOT_COUNT {
        let Some(home) = spec.owner_of(slot) else {
            continue;
        };
        let Some((from, from_addr)) = holder(topology, slot) else {
            continue;
        };
        if spec.node(&from).is_some_and(|n| topology.at_home(slot, n)) {
            continue;
        }
        match moves
            .iter_mut()
            .find(|(f, _, t, _)| *f == from && *t == home.name)
        {
            Some((_, _, _, slots)) => slots.push(slot),
            None => moves.push((from, from_addr, home.name.clone(), vec![slot])),
        }
    }
    ShapeChange {
        add,
        remove,
        moves: moves
            .into_iter()
            .map(|(from, from_addr, to, slots)| SlotMove {
                from,
                from_addr,
                to,
                ranges: ranges_of(slots),
            })
            .collect(),
    }
}

/// The slots each of `masters` (declared master names) serves now, itself or through a node
/// of its shard promoted in its place; None when no declared node answers. Slots served by
/// nobody, by a removed node or by a foreign node count as no master's.
pub(crate) fn live_layout(topology: &Topology, masters: &[&str]) -> Option<Vec<Vec<SlotRange>>> {
    if topology.members().is_empty() {
        return None;
    }
    let mut served: Vec<Vec<u16>> = vec![Vec::new(); masters.len()];
    for slot in 0..SLOT_COUNT {
        let Some(member) = topology.serving(slot) else {
            continue;
        };
        let shard = member.spec.shard();
        if let Some(i) = masters.iter().position(|m| *m == shard) {
            served[i].push(slot);
        }
    }
    Some(served.into_iter().map(ranges_of).collect())
}

/// Who holds `slot` now, by name, with the address it answers at.
fn holder(topology: &Topology, slot: u16) -> Option<(String, String)> {
    if let Some(m) = topology.serving(slot) {
        return Some((m.spec.name.clone(), m.spec.addr()));
    }
    let outside = topology.outside_holders(slot);
    let entry = outside.first()?;
    let name = match topology.identify(entry) {
        Who::Retired(name) => name.to_string(),
        _ => topology.name_of(entry),
    };
    Some((name, entry.addr.clone()))
}
