//! `status`: every node as Docker and Redis see it, and the slot map drawn as a bar.

use std::path::Path;

use crate::cli::args::Output;
use crate::cli::exit::{CommandError, Exit};
use crate::observe;
use crate::runtime::report::{report, OperatorView, SlotSpan, StatusReport};
use crate::spec::slots::ranges_of;
use crate::spec::{ClusterSpec, SLOT_COUNT};
/// What the files of a `run` say: who holds the lock, and the status it last wrote.
fn operator_from_files(spec: &ClusterSpec) -> Option<OperatorView> {
    let holder = crate::guard::lock::holder(&spec.name);
    let status = crate::runtime::status::OperatorStatus::read(&crate::runtime::status::path(
        &spec.state_dir,
        &spec.name,
    ));
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
    for h in &r.hosts {
        crate::outln!(
            "host {:<10} {:<12} {:<15} {} ({})",
            h.name,
            if h.reachable {
                "reachable"
            } else {
                "UNREACHABLE"
            },
            h.address,
            h.docker,
            h.nodes.join(", ")
        )?;
    }
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

pub(crate) async fn run(file: &Path, output: Output) -> Result<Exit, CommandError> {
    let ctx = super::read_only_context(file).await?;
    let observed = observe::observe(&ctx).await?;
    let spec = ctx.spec.clone();
    let operator = tokio::task::spawn_blocking(move || operator_from_files(&spec))
        .await
        .map_err(std::io::Error::other)?;
    let r = report(&ctx.spec, &observed, operator);
    match output {
        Output::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&r).map_err(std::io::Error::other)?
        ),
        Output::Text => print_text(&ctx.spec, &r),
    }?;
    Ok(Exit::Ok)
}
