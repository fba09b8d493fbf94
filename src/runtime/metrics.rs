//! What `/metrics` serves, in Prometheus text format: the operator's own counters (reconcile
//! passes, their duration, errors, repairs by kind) and gauges read from the last observation
//! (cluster state and slots per node, node up, role, slot count, certificate expiry).
//!
//! Counters are kept here as passes happen; gauges are rendered from the observed state the
//! controller already holds, so a scrape never reaches Redis.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::observe::{Observed, RedisState};
use crate::spec::ClusterSpec;

/// Upper bounds of the reconcile-duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
pub(crate) struct Metrics {
    reconciles: AtomicU64,
    errors: AtomicU64,
    durations: Mutex<Histogram>,
    /// (kind, outcome) → count.
    repairs: Mutex<BTreeMap<(String, &'static str), u64>>,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub(crate) fn record_pass(&self, took: Duration, ok: bool) {
        self.reconciles.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        if let Ok(mut h) = self.durations.lock() {
            for (i, bound) in BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        }
    }

    pub(crate) fn record_action(&self, kind: &str, ok: bool) {
        if let Ok(mut repairs) = self.repairs.lock() {
            let outcome = if ok { "ok" } else { "error" };
            *repairs.entry((kind.to_string(), outcome)).or_default() += 1;
        }
    }

    /// The whole exposition: counters, then the gauges of `observed`.
    pub(crate) fn render(&self, spec: &ClusterSpec, observed: Option<&Observed>) -> String {
        let mut out = String::new();
        self.render_counters(&mut out);
        if let Some(observed) = observed {
            render_gauges(&mut out, spec, observed);
        }
        out
    }

    fn render_counters(&self, out: &mut String) {
        let reconciles = self.reconciles.load(Ordering::Relaxed);
        let errors = self.errors.load(Ordering::Relaxed);
        header(
            out,
            "redis_keeper_reconciles_total",
            "counter",
            "Reconcile passes since start.",
        );
        let _ = writeln!(out, "redis_keeper_reconciles_total {reconciles}");
        header(
            out,
            "redis_keeper_reconcile_errors_total",
            "counter",
            "Reconcile passes that failed.",
        );
        let _ = writeln!(out, "redis_keeper_reconcile_errors_total {errors}");
        let name = "redis_keeper_reconcile_duration_seconds";
        header(out, name, "histogram", "How long reconcile passes took.");
        if let Ok(h) = self.durations.lock() {
            for (bound, count) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum {}", h.sum);
            let _ = writeln!(out, "{name}_count {}", h.count);
        }
        header(
            out,
            "redis_keeper_repairs_total",
            "counter",
            "Actions taken, by kind and outcome.",
        );
        if let Ok(repairs) = self.repairs.lock() {
            for ((kind, outcome), n) in repairs.iter() {
                let _ = writeln!(
                    out,
                    "redis_keeper_repairs_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn render_gauges(out: &mut String, spec: &ClusterSpec, observed: &Observed) {
    let cluster_info = [
        (
            "redis_cluster_state_ok",
            "cluster_state",
            "1 when the node reports cluster_state:ok.",
        ),
        (
            "redis_cluster_slots_assigned",
            "cluster_slots_assigned",
            "Slots assigned, as the node sees it.",
        ),
        (
            "redis_cluster_slots_ok",
            "cluster_slots_ok",
            "Slots served by a node not failing.",
        ),
        (
            "redis_cluster_slots_pfail",
            "cluster_slots_pfail",
            "Slots served by a node suspected failing.",
        ),
        (
            "redis_cluster_slots_fail",
            "cluster_slots_fail",
            "Slots served by a failed node.",
        ),
        (
            "redis_cluster_known_nodes",
            "cluster_known_nodes",
            "Nodes the node knows, itself included.",
        ),
    ];
    for (metric, field, help) in cluster_info {
        header(out, metric, "gauge", help);
        for node in &spec.nodes {
            let Some(view) = observed.view(&node.name) else {
                continue;
            };
            let value = match field {
                "cluster_state" => u64::from(view.info.state_ok()),
                _ => view.info.number(field).unwrap_or(0),
            };
            let _ = writeln!(out, "{metric}{{node=\"{}\"}} {value}", node.name);
        }
    }
    header(
        out,
        "redis_node_up",
        "gauge",
        "1 when the node answered the last observation.",
    );
    for node in &spec.nodes {
        let up = matches!(observed.redis.get(&node.name), Some(RedisState::Up(_)));
        let _ = writeln!(
            out,
            "redis_node_up{{node=\"{}\"}} {}",
            node.name,
            u8::from(up)
        );
    }
    header(
        out,
        "redis_node_master",
        "gauge",
        "1 when the node is a master, 0 a replica.",
    );
    header(
        out,
        "redis_node_slots",
        "gauge",
        "Slots the node serves, by its own account.",
    );
    for node in &spec.nodes {
        let Some(me) = observed.view(&node.name).and_then(|v| v.myself()) else {
            continue;
        };
        let _ = writeln!(
            out,
            "redis_node_master{{node=\"{}\"}} {}",
            node.name,
            u8::from(me.is_master())
        );
        let _ = writeln!(
            out,
            "redis_node_slots{{node=\"{}\"}} {}",
            node.name,
            me.slot_count()
        );
    }
    if !observed.certificates.is_empty() {
        let name = "redis_keeper_certificate_expiry_seconds";
        header(
            out,
            name,
            "gauge",
            "Seconds until the node's certificate (its files) expires.",
        );
        let now = SystemTime::now();
        for (node, cert) in &observed.certificates {
            let Some(expires) = cert.file.as_ref().map(|c| c.not_after) else {
                continue;
            };
            let left = match expires.duration_since(now) {
                Ok(d) => d.as_secs() as i64,
                Err(e) => -(e.duration().as_secs() as i64),
            };
            let _ = writeln!(out, "{name}{{node=\"{node}\"}} {left}");
        }
    }
}
