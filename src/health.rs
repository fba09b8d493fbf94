//! Is the observed cluster healthy and as declared? The checks of `redis-cli --cluster check`
//! (every node agrees on the slot map, no open slots, all 16384 slots covered) plus the
//! operator's own (the declared owners, every node up and known to every other).
//!
//! `check` prints these findings; the planner waits on them once it has nothing left to do.

use std::collections::BTreeMap;

use crate::observe::{Observed, RedisState, RunState};
use crate::spec::slots::ranges_of;
use crate::spec::{ClusterSpec, SLOT_COUNT};

/// A ping on a local bridge is answered in well under a millisecond: one pending this long
/// is on a dead link.
const STALE_PING_MS: u64 = 500;

/// Whether a finding settles by itself or needs someone to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Redis or Docker is still getting there (gossip, the writable delay, a starting node).
    Settling,
    /// Drift that redis-keeper does not repair: a person has to.
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

fn settling(message: String) -> Finding {
    Finding {
        severity: Severity::Settling,
        message,
    }
}

fn blocked(message: String) -> Finding {
    Finding {
        severity: Severity::Blocked,
        message,
    }
}

/// Everything that keeps the cluster from being healthy and as declared; empty when it is.
pub fn findings(spec: &ClusterSpec, observed: &Observed) -> Vec<Finding> {
    let mut out = Vec::new();
    let names: BTreeMap<String, &str> = spec
        .nodes
        .iter()
        .map(|n| (n.addr(), n.name.as_str()))
        .collect();
    let name_of = |addr: Option<&str>| -> String {
        match addr {
            None => "nobody".into(),
            Some(a) => names
                .get(a)
                .map_or_else(|| format!("unknown node {a}"), |n| n.to_string()),
        }
    };
    // The id each answering node has now, by its declared address.
    let ids: BTreeMap<String, String> = spec
        .nodes
        .iter()
        .filter_map(|n| Some((n.addr(), observed.view(&n.name)?.myself()?.id.clone())))
        .collect();
    let ids: BTreeMap<&str, &str> = ids.iter().map(|(a, i)| (a.as_str(), i.as_str())).collect();
    for node in &spec.nodes {
        let container = observed.containers.get(&node.name);
        match container.map(|c| c.state) {
            None => out.push(settling(format!("{}: no container", node.name))),
            Some(RunState::Running) => {}
            Some(state) => out.push(settling(
                format!("{}: container is {state:?}", node.name).to_lowercase(),
            )),
        }
        if let Some(c) = container.filter(|c| c.state == RunState::Running && c.ip != Some(node.ip))
        {
            out.push(blocked(format!(
                "{}: container {} is not on network {} with ip {}",
                node.name, c.name, spec.network.name, node.ip
            )));
        }
        let view = match observed.redis.get(&node.name) {
            Some(RedisState::Up(view)) => view,
            Some(RedisState::Unreachable(why)) => {
                out.push(settling(format!(
                    "{}: Redis does not answer ({why})",
                    node.name
                )));
                continue;
            }
            None => continue,
        };
        if !view.info.state_ok() {
            out.push(settling(format!(
                "{}: reports cluster_state:{}",
                node.name,
                view.info
                    .fields
                    .get("cluster_state")
                    .map_or("?", String::as_str)
            )));
        }
        for entry in &view.nodes {
            if entry.is_myself() {
                for (slot, to) in &entry.migrating {
                    out.push(settling(format!(
                        "{}: slot {slot} is open (migrating to {to})",
                        node.name
                    )));
                }
                for (slot, from) in &entry.importing {
                    out.push(settling(format!(
                        "{}: slot {slot} is open (importing from {from})",
                        node.name
                    )));
                }
                continue;
            }
            let who = name_of(Some(&entry.addr));
            let addr = if entry.addr.is_empty() {
                "no address"
            } else {
                &entry.addr
            };
            if !names.contains_key(&entry.addr) && !entry.in_handshake() {
                let text = format!(
                    "{}: knows {} ({addr}), which is not in cluster.toml",
                    node.name, entry.id
                );
                // Its slots are moved home with their keys, then it is forgotten.
                out.push(settling(if entry.slots.is_empty() {
                    text
                } else {
                    format!("{text} and serves {} slot(s)", entry.slot_count())
                }));
            } else if ids
                .get(entry.addr.as_str())
                .is_some_and(|id| *id != entry.id)
            {
                out.push(settling(format!(
                    "{}: still knows {who}'s old identity {}",
                    node.name, entry.id
                )));
            } else if entry.in_handshake() {
                out.push(settling(format!(
                    "{}: still in handshake with {who}",
                    node.name
                )));
            } else if entry.is_failing() {
                out.push(settling(format!(
                    "{}: marks {who} as failing ({})",
                    node.name,
                    entry.flags.join(",")
                )));
            } else if entry.ping_sent > 0
                && observed.at_ms.saturating_sub(entry.ping_sent) > STALE_PING_MS
            {
                // A link whose socket died (its node was reattached) looks connected until
                // Redis's ping timeout; an unanswered ping gives it away.
                out.push(settling(format!(
                    "{}: ping to {who} unanswered for {} ms",
                    node.name,
                    observed.at_ms.saturating_sub(entry.ping_sent)
                )));
            } else if !entry.link_connected {
                out.push(settling(format!("{}: link to {who} is down", node.name)));
            }
        }
        for peer in spec.nodes.iter().filter(|p| p.name != node.name) {
            if view.entry_for(&peer.addr()).is_none() {
                out.push(settling(format!(
                    "{}: does not know {} yet",
                    node.name, peer.name
                )));
            }
        }
        slot_map_findings(spec, &node.name, &view.slot_owners(), &name_of, &mut out);
        for (key, value) in &spec.redis {
            let seen = view.config.get(key);
            if !crate::plan::same_setting(seen.map(String::as_str), value) {
                out.push(settling(format!(
                    "{}: {key} is {}, declared {value}",
                    node.name,
                    seen.map_or("unset", String::as_str)
                )));
            }
        }
    }
    for (node, cert) in &observed.certificates {
        if let Some(problem) = &cert.problem {
            out.push(blocked(format!(
                "{node}: its certificate files cannot be loaded: {problem}"
            )));
        }
        if let (Some(file), Some(served)) = (cert.loadable(), &cert.served) {
            if file != served {
                out.push(settling(format!(
                    "{node}: serves certificate {served}, its files hold {file}"
                )));
            }
        }
    }
    out
}

/// Where this view's slot owners differ from the declared ones, grouped into ranges.
fn slot_map_findings(
    spec: &ClusterSpec,
    viewer: &str,
    owners: &[Option<&str>],
    name_of: &dyn Fn(Option<&str>) -> String,
    out: &mut Vec<Finding>,
) {
    let mut wrong: BTreeMap<(String, String), Vec<u16>> = BTreeMap::new();
    for slot in 0..SLOT_COUNT {
        let declared = spec.owner_of(slot).map(|n| n.addr());
        let seen = owners[usize::from(slot)];
        if seen != declared.as_deref() {
            let declared_name = name_of(declared.as_deref());
            wrong
                .entry((name_of(seen), declared_name))
                .or_default()
                .push(slot);
        }
    }
    for ((seen, declared), slots) in wrong {
        let ranges: Vec<String> = ranges_of(slots.iter().copied())
            .iter()
            .map(ToString::to_string)
            .collect();
        let text = format!(
            "{viewer}: sees {} slot(s) {} served by {seen}, declared for {declared}",
            slots.len(),
            abbreviate(&ranges)
        );
        // Unassigned slots are assigned, slots served elsewhere are moved home with their keys.
        out.push(settling(text));
    }
}

fn abbreviate(ranges: &[String]) -> String {
    if ranges.len() <= 4 {
        ranges.join(", ")
    } else {
        format!(
            "{}, … and {} more ranges",
            ranges[..3].join(", "),
            ranges.len() - 3
        )
    }
}
