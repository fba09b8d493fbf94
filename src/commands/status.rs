//! `status`: every node as Docker and Redis see it, and the slot map drawn as a bar.

use std::path::Path;

use serde::Serialize;

use crate::cli::Output;
use crate::exit::{CommandError, Exit};
use crate::health;
use crate::observe::{self, Member, Observed, RedisState, Topology};
use crate::spec::slots::ranges_of;
use crate::spec::{ClusterSpec, SlotRange, SLOT_COUNT};

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub cluster: String,
    pub healthy: bool,
    pub nodes: Vec<NodeStatus>,
    /// The slot map as the first answering node sees it.
    pub slot_map: Vec<SlotSpan>,
    /// Slots some node has open (migrating or importing).
    pub open_slots: Vec<u16>,
    pub findings: Vec<String>,
    /// The `run` controller's view: who holds the cluster and what it did, when one runs.
    pub operator: Option<OperatorView>,
    /// Each node's certificate, with `[tls]`.
    pub certificates: Vec<CertificateStatus>,
}

#[derive(Debug, Serialize)]
pub struct CertificateStatus {
    pub node: String,
    pub file: String,
    /// Serial in the file, and the one the node serves (null when it did not answer).
    pub serial: Option<String>,
    pub served_serial: Option<String>,
    pub not_after: Option<String>,
    pub days_to_expiry: Option<i64>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct OperatorView {
    pub holder: Option<crate::lock::Holder>,
    /// The last status `run` wrote (stale when no holder runs).
    pub status: Option<crate::status::OperatorStatus>,
}

#[derive(Debug, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub container: Option<String>,
    pub container_state: Option<String>,
    pub health: Option<String>,
    pub ip: Option<String>,
    pub declared_ip: String,
    pub node_id: Option<String>,
    /// The server and version the node runs (`Valkey 8.1.1`), from INFO.
    pub server: Option<String>,
    pub role: Option<String>,
    /// The declared master of a replica (`replica_of`).
    pub replica_of: Option<String>,
    /// For a replica: the node it replicates, its link, and how many bytes of the master's
    /// replication stream it has yet to apply.
    pub replication: Option<ReplicaStatus>,
    pub cluster_state: Option<String>,
    pub slots: Vec<SlotRange>,
    pub slot_count: usize,
    pub declared_slots: Vec<SlotRange>,
    /// Links from this node to its peers that are connected, as "up/known".
    pub links: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ReplicaStatus {
    pub master: String,
    /// "up", "syncing" (a full sync in flight) or "down".
    pub link: &'static str,
    /// Bytes behind its master's replication offset; None when the master does not answer.
    pub lag_bytes: Option<u64>,
}

impl ReplicaStatus {
    fn of(topology: &Topology, member: &Member) -> Option<ReplicaStatus> {
        let master_id = member.master_id()?;
        let entry = member.view.nodes.iter().find(|e| e.id == master_id);
        let replication = member.replication();
        let master = topology.member_by_id(master_id);
        Some(ReplicaStatus {
            master: entry.map_or_else(|| master_id.to_string(), |e| topology.name_of(e)),
            link: match (replication.link_up, replication.syncing) {
                (_, true) => "syncing",
                (true, false) => "up",
                (false, false) => "down",
            },
            lag_bytes: master.map(|m| m.replication().offset.saturating_sub(replication.offset)),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct SlotSpan {
    pub start: u16,
    pub end: u16,
    /// The node name (or address, for one not in cluster.toml); null when unassigned.
    pub owner: Option<String>,
}

pub fn report(spec: &ClusterSpec, observed: &Observed) -> StatusReport {
    let topology = Topology::new(spec, observed);
    let nodes = spec
        .nodes
        .iter()
        .map(|n| {
            let c = observed.containers.get(&n.name);
            let mut status = NodeStatus {
                name: n.name.clone(),
                container: c.map(|c| c.name.clone()),
                container_state: c.map(|c| format!("{:?}", c.state).to_lowercase()),
                health: c.and_then(|c| c.health.clone()),
                ip: c.and_then(|c| c.ip).map(|ip| ip.to_string()),
                declared_ip: n.ip.to_string(),
                node_id: None,
                server: None,
                role: None,
                replica_of: n.replica_of.clone(),
                replication: topology
                    .member(&n.name)
                    .and_then(|m| ReplicaStatus::of(&topology, m)),
                cluster_state: None,
                slots: Vec::new(),
                slot_count: 0,
                declared_slots: n.slots.clone(),
                links: None,
                error: None,
            };
            match observed.redis.get(&n.name) {
                Some(RedisState::Up(view)) => {
                    if let Some(me) = view.myself() {
                        status.node_id = Some(me.id.clone());
                        status.role =
                            Some(if me.is_master() { "master" } else { "replica" }.into());
                        status.slots = me.slots.clone();
                        status.slot_count = me.slot_count();
                    }
                    status.cluster_state = view.info.fields.get("cluster_state").cloned();
                    status.server = view.version.as_ref().map(ToString::to_string);
                    let peers: Vec<_> = view.nodes.iter().filter(|p| !p.is_myself()).collect();
                    let up = peers.iter().filter(|p| p.link_connected).count();
                    status.links = Some(format!("{up}/{}", peers.len()));
                }
                Some(RedisState::Unreachable(e)) => status.error = Some(e.clone()),
                Some(RedisState::RefusesPassword) => {
                    status.error = Some("refuses the declared password (a rotation is due)".into())
                }
                None => {}
            }
            status
        })
        .collect();
    let findings: Vec<String> = health::findings(&topology)
        .into_iter()
        .map(|f| f.message)
        .collect();
    StatusReport {
        cluster: spec.name.clone(),
        healthy: findings.is_empty(),
        nodes,
        slot_map: slot_map(&topology),
        open_slots: open_slots(spec, observed),
        findings,
        operator: operator(spec),
        certificates: certificates(spec, observed),
    }
}

/// Each node's certificate as this observation saw it (no file is read again here: `/status`
/// serves this on every request).
fn certificates(spec: &ClusterSpec, observed: &Observed) -> Vec<CertificateStatus> {
    let Some(tls) = &spec.tls else {
        return Vec::new();
    };
    let now = std::time::SystemTime::now();
    spec.nodes
        .iter()
        .map(|n| {
            let seen = observed.certificates.get(&n.name);
            let cert = seen.and_then(|c| c.file.as_ref());
            CertificateStatus {
                node: n.name.clone(),
                file: crate::tls::node_files(tls, &n.name)
                    .cert
                    .display()
                    .to_string(),
                serial: cert.map(|c| c.serial.clone()),
                served_serial: seen.and_then(|c| c.served.clone()),
                not_after: cert.map(|c| humantime::format_rfc3339_seconds(c.not_after).to_string()),
                days_to_expiry: cert.map(|c| c.days_left(now)),
                error: seen
                    .filter(|c| c.file.is_none())
                    .and_then(|c| c.problem.clone()),
            }
        })
        .collect()
}

fn open_slots(spec: &ClusterSpec, observed: &Observed) -> Vec<u16> {
    let mut open: Vec<u16> = spec
        .nodes
        .iter()
        .filter_map(|n| observed.view(&n.name)?.myself())
        .flat_map(|me| {
            me.migrating
                .iter()
                .chain(&me.importing)
                .map(|(slot, _)| *slot)
        })
        .collect();
    open.sort_unstable();
    open.dedup();
    open
}

fn operator(spec: &ClusterSpec) -> Option<OperatorView> {
    let holder = crate::lock::holder(&spec.name);
    let status =
        crate::status::OperatorStatus::read(&crate::status::path(&spec.state_dir, &spec.name));
    (holder.is_some() || status.is_some()).then_some(OperatorView { holder, status })
}

fn print_operator(op: &OperatorView) -> std::io::Result<()> {
    crate::outln!()?;
    match &op.holder {
        Some(h) => crate::outln!(
            "operator: `redis-keeper {}` (pid {}, since {})",
            h.command,
            h.pid,
            h.since
        ),
        None => crate::outln!("operator: not running (last status below is from an earlier run)"),
    }?;
    let Some(status) = &op.status else {
        return Ok(());
    };
    if let Some(moving) = &status.moving {
        crate::outln!("  {moving}")?;
    }
    for c in &status.conditions {
        crate::outln!(
            "  {:<12} {:<6} {:<14} since {}  {}",
            format!("{:?}", c.kind),
            c.status,
            c.reason,
            c.last_transition_time,
            c.message
        )?;
    }
    if !status.events.is_empty() {
        crate::outln!("recent events:")?;
        for e in status.events.iter().rev().take(10) {
            crate::outln!(
                "  {} {} ({} ms, {}): {}",
                e.at,
                e.message,
                e.took_ms,
                e.outcome,
                e.why
            )?;
        }
    }
    Ok(())
}

fn slot_map(topology: &Topology) -> Vec<SlotSpan> {
    let Some(member) = topology.members().first() else {
        return Vec::new();
    };
    let owners = Topology::slot_owners(member.view);
    let mut spans: Vec<SlotSpan> = Vec::new();
    for slot in 0..SLOT_COUNT {
        let owner = owners[usize::from(slot)].map(|e| topology.name_of(e));
        match spans.last_mut() {
            Some(last) if last.owner == owner => last.end = slot,
            _ => spans.push(SlotSpan {
                start: slot,
                end: slot,
                owner,
            }),
        }
    }
    spans
}

const BAR_WIDTH: usize = 64;
const SYMBOLS: [char; 6] = ['█', '▓', '▒', '░', '▞', '▚'];

/// The slot map as a bar of [`BAR_WIDTH`] cells; each cell shows the owner of most of its slots.
fn bar(spec: &ClusterSpec, spans: &[SlotSpan]) -> String {
    let symbol = |owner: &Option<String>| match owner {
        None => '·',
        Some(o) => spec
            .nodes
            .iter()
            .position(|n| &n.name == o)
            .map_or('?', |i| SYMBOLS[i % SYMBOLS.len()]),
    };
    let per_cell = usize::from(SLOT_COUNT) / BAR_WIDTH;
    (0..BAR_WIDTH)
        .map(|cell| {
            let mid = (cell * per_cell + per_cell / 2) as u16;
            spans
                .iter()
                .find(|s| s.start <= mid && mid <= s.end)
                .map_or(' ', |s| symbol(&s.owner))
        })
        .collect()
}

fn print_text(spec: &ClusterSpec, r: &StatusReport) -> std::io::Result<()> {
    crate::outln!(
        "cluster {}: {}",
        r.cluster,
        if r.healthy { "healthy" } else { "NOT healthy" }
    )?;
    crate::outln!(
        "{:<10} {:<16} {:<9} {:<15} {:<10} {:<13} {:<7} {:<8} {:<6} SLOTS",
        "NODE",
        "CONTAINER",
        "STATE",
        "IP",
        "NODE ID",
        "SERVER",
        "ROLE",
        "CLUSTER",
        "LINKS"
    )?;
    let dash = || "-".to_string();
    for n in &r.nodes {
        let slots = if let Some(r) = &n.replication {
            let lag = r.lag_bytes.map_or_else(dash, |b| format!("{b} B"));
            format!("replicates {} (link {}, lag {lag})", r.master, r.link)
        } else if n.slots.is_empty() {
            "-".to_string()
        } else {
            let shown: Vec<String> = n.slots.iter().map(ToString::to_string).collect();
            format!("{} ({})", shown.join(","), n.slot_count)
        };
        crate::outln!(
            "{:<10} {:<16} {:<9} {:<15} {:<10} {:<13} {:<7} {:<8} {:<6} {}",
            n.name,
            n.container.clone().unwrap_or_else(dash),
            n.container_state.clone().unwrap_or_else(|| "absent".into()),
            n.ip.clone().unwrap_or_else(dash),
            n.node_id
                .as_deref()
                .map_or_else(dash, |id| id.chars().take(8).collect()),
            n.server.clone().unwrap_or_else(dash),
            n.role.clone().unwrap_or_else(dash),
            n.cluster_state.clone().unwrap_or_else(dash),
            n.links.clone().unwrap_or_else(dash),
            slots
        )?;
    }
    if !r.slot_map.is_empty() {
        crate::outln!()?;
        crate::outln!("slots 0 ▕{}▏ 16383", bar(spec, &r.slot_map))?;
        let legend: Vec<String> = spec
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{} {}", SYMBOLS[i % SYMBOLS.len()], n.name))
            .chain(std::iter::once("· unassigned".to_string()))
            .collect();
        crate::outln!("        {}", legend.join("   "))?;
        let unassigned: Vec<String> = ranges_of(
            r.slot_map
                .iter()
                .filter(|s| s.owner.is_none())
                .flat_map(|s| s.start..=s.end),
        )
        .iter()
        .map(ToString::to_string)
        .collect();
        if !unassigned.is_empty() {
            crate::outln!("        unassigned: {}", unassigned.join(", "))?;
        }
    }
    for f in &r.findings {
        crate::outln!("  ! {f}")?;
    }
    if !r.certificates.is_empty() {
        crate::outln!()?;
        crate::outln!("certificates:")?;
        for c in &r.certificates {
            match (&c.serial, c.days_to_expiry, &c.not_after) {
                (Some(serial), Some(days), Some(until)) => crate::outln!(
                    "  {:<10} {days} days to expiry ({until}), serial {serial}{}",
                    c.node,
                    match &c.served_serial {
                        Some(s) if s != serial => format!(", serving {s}"),
                        _ => String::new(),
                    }
                ),
                _ => crate::outln!(
                    "  {:<10} {}",
                    c.node,
                    c.error.as_deref().unwrap_or("unreadable")
                ),
            }?;
        }
    }
    match &r.operator {
        Some(op) => print_operator(op),
        None => Ok(()),
    }
}

pub async fn run(file: &Path, output: Output) -> Result<Exit, CommandError> {
    let ctx = super::read_only_context(file).await?;
    let observed = observe::observe(&ctx).await?;
    let r = report(&ctx.spec, &observed);
    match output {
        Output::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&r).map_err(std::io::Error::other)?
        ),
        Output::Text => print_text(&ctx.spec, &r),
    }?;
    Ok(Exit::Ok)
}
