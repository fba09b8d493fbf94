//! Is the observed cluster healthy and as declared? The checks of `redis-cli --cluster check`
//! (every node agrees on the slot map, no open slots, all 16384 slots covered) plus the
//! operator's own (the declared owners, every node up and known to every other).
//!
//! `check` prints these findings; the planner waits on them once it has nothing left to do.

use std::collections::BTreeMap;

use crate::observe::topology::shown_addr;
use crate::observe::{
    same_setting, ClusterNode, NodeView, RedisState, RunState, Standing, Topology, Who,
};
use crate::spec::slots::{abbreviated, ranges_of};
use crate::spec::{shown_setting, SLOT_COUNT};

/// A ping on a local bridge is answered in well under a millisecond: one pending this long
/// is on a dead link.
const STALE_PING_MS: u64 = 500;

/// Whether a finding settles by itself or needs someone to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    /// Redis or Docker is still getting there (gossip, the writable delay, a starting node).
    Settling,
    /// Drift that redis-keeper does not repair: a person has to.
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    pub(crate) message: String,
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
pub(crate) fn findings(topology: &Topology) -> Vec<Finding> {
    let (spec, observed) = (topology.spec, topology.observed);
    let mut out = Vec::new();
    for (host, why) in &observed.unreachable {
        out.push(settling(format!("host {host} is unreachable ({why})")));
    }
    for node in &spec.nodes {
        if observed.unreachable.contains_key(node.host_name()) {
            out.push(settling(format!(
                "{}: unknown, its host {} is unreachable",
                node.name,
                node.host_name()
            )));
            continue;
        }
        let container = observed.containers.get(&node.name);
        match container.map(|c| c.state) {
            None => out.push(settling(format!("{}: no container", node.name))),
            Some(RunState::Running) => {}
            Some(state) => out.push(settling(format!("{}: container is {state}", node.name))),
        }
        if let Some(c) = container.filter(|c| c.state == RunState::Running && c.ip != Some(node.ip))
        {
            out.push(blocked(format!(
                "{}: container {} is not on network {} with ip {}",
                node.name, c.name, spec.network.name, node.ip
            )));
        }
        let view = match observed.redis.get(&node.name).map(RedisState::answer) {
            Some(Ok(view)) => view,
            Some(Err(unheard)) => {
                out.push(settling(format!("{}: {unheard}", node.name)));
                continue;
            }
            None => continue,
        };
        if view.password_stale {
            out.push(settling(format!(
                "{}: still accepts or uses the password from before the rotation",
                node.name
            )));
        }
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
            out.extend(peer_finding(topology, &node.name, entry));
        }
        for peer in spec.nodes.iter().filter(|p| p.name != node.name) {
            if !view
                .nodes
                .iter()
                .any(|e| topology.declared_at(e) == Some(peer))
            {
                out.push(settling(format!(
                    "{}: does not know {} yet",
                    node.name, peer.name
                )));
            }
        }
        slot_map_findings(topology, &node.name, view, &mut out);
        for (key, value) in &topology.settings_to_keep(node) {
            let seen = view.config.get(key);
            if !same_setting(seen.map(String::as_str), value) {
                out.push(settling(format!(
                    "{}: {key} is {}, declared {}",
                    node.name,
                    seen.map_or("unset", |v| shown_setting(key, v)),
                    shown_setting(key, value)
                )));
            }
        }
    }
    shard_findings(topology, &mut out);
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

/// Nodes of a shard that do not (yet) replicate the node serving its slots.
fn shard_findings(topology: &Topology, out: &mut Vec<Finding>) {
    for master in topology.spec.masters() {
        let shard = topology.shard(master);
        let Some(leader) = shard.leader() else {
            continue;
        };
        let leader_name = &leader.spec.name;
        for member in &shard.members {
            let name = &member.spec.name;
            let finding = match shard.standing(topology, member) {
                None | Some(Standing::Leads | Standing::ServesOther) => continue,
                // A declared master in sync under its promoted replica is healthy; the
                // planner's failback (or a rolling change) decides when it takes over.
                Some(Standing::Follows { in_sync: true }) => continue,
                Some(Standing::Follows { in_sync: false }) => {
                    settling(format!("{name}: syncing from {leader_name}"))
                }
                Some(Standing::FollowsOther(other)) => settling(format!(
                    "{name}: replicates {other}, not {leader_name}, which serves {}'s slots",
                    master.name
                )),
                Some(Standing::Idle { keys: 0 }) => {
                    settling(format!("{name}: not yet a replica of {leader_name}"))
                }
                Some(Standing::Idle { keys }) => blocked(format!(
                    "{name} is a master without slots that holds {keys} key(s): it cannot replicate {leader_name} without losing them; move them into the cluster, or FLUSHALL it"
                )),
            };
            out.push(finding);
        }
    }
}

/// What is wrong with how `viewer` sees one other node, if anything.
fn peer_finding(topology: &Topology, viewer: &str, entry: &ClusterNode) -> Option<Finding> {
    let who = topology.name_of(entry);
    let message = match topology.identify(entry) {
        Who::Foreign => {
            let text = format!(
                "{viewer}: knows {} ({}), which is not in cluster.toml",
                entry.id,
                shown_addr(entry)
            );
            // Its slots are moved home with their keys, then it is forgotten.
            if entry.slots.is_empty() {
                text
            } else {
                format!("{text} and serves {} slot(s)", entry.slot_count())
            }
        }
        Who::Retired(name) => {
            // Drained into the declared owners, forgotten, then its container is removed.
            let serves = match entry.slot_count() {
                0 => String::new(),
                n => format!(" and still serves {n} slot(s)"),
            };
            format!("{viewer}: still knows {name}, removed from cluster.toml{serves}")
        }
        Who::OldIdentity(node) => {
            format!(
                "{viewer}: still knows {}'s old identity {}",
                node.name, entry.id
            )
        }
        Who::Handshake => format!("{viewer}: still in handshake with {who}"),
        Who::Declared(_) if entry.is_failing() => {
            format!(
                "{viewer}: marks {who} as failing ({})",
                entry.flags.join(",")
            )
        }
        Who::Declared(_)
            if entry.ping_sent > 0
                && topology.observed.at_ms.saturating_sub(entry.ping_sent) > STALE_PING_MS =>
        {
            // A link whose socket died (its node was reattached) looks connected until
            // Redis's ping timeout; an unanswered ping gives it away.
            format!(
                "{viewer}: ping to {who} unanswered for {} ms",
                topology.observed.at_ms.saturating_sub(entry.ping_sent)
            )
        }
        Who::Declared(_) if !entry.link_connected => format!("{viewer}: link to {who} is down"),
        Who::Declared(_) => return None,
    };
    Some(settling(message))
}

/// Where this view's slot owners differ from the declared ones, grouped into ranges.
fn slot_map_findings(topology: &Topology, viewer: &str, view: &NodeView, out: &mut Vec<Finding>) {
    let owners = Topology::slot_owners(view);
    let mut wrong: BTreeMap<(String, String), Vec<u16>> = BTreeMap::new();
    for slot in 0..SLOT_COUNT {
        let declared = topology.spec.owner_of(slot);
        let seen = owners[usize::from(slot)];
        let at_home = match seen.map(|e| topology.identify(e)) {
            Some(Who::Declared(n)) => topology.at_home(slot, n),
            None => declared.is_none(),
            Some(_) => false,
        };
        if !at_home {
            let seen_name = seen.map_or_else(|| "nobody".into(), |e| topology.name_of(e));
            let declared_name = declared.map_or_else(|| "nobody".into(), |d| d.name.clone());
            wrong
                .entry((seen_name, declared_name))
                .or_default()
                .push(slot);
        }
    }
    for ((seen, declared), slots) in wrong {
        let ranges = ranges_of(slots.iter().copied());
        let text = format!(
            "{viewer}: sees {} slot(s) {} served by {seen}, declared for {declared}",
            slots.len(),
            abbreviated(&ranges)
        );
        // Unassigned slots are assigned, slots served elsewhere are moved home with their keys.
        out.push(settling(text));
    }
}
