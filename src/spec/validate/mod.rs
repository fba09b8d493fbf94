//! Validation of cluster.toml: every rule, every problem at once, each with its place in the
//! file and a hint that says how to fix it.
//!
//! One file per section of cluster.toml, each with its tests. This one holds the pass over
//! the whole file ([`parse`]), the rules that span sections, and the helpers they share.

mod api;
mod auth;
mod cluster;
mod hosts;
mod image;
mod network;
mod nodes;
mod redis_settings;
mod tls;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::Path;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::file::{RawApi, RawCluster, RawFile, RawHost, RawNetwork, RawNode, RawTls, KNOWN_KEYS};
use super::hosts::{Endpoint, HostSpec};
use super::slots::{coverage, SlotRange};
use super::{
    AuthClients, AuthSpec, ClusterSpec, ImageFallback, ImageSpec, NetworkSpec, NodeSpec,
    PersistenceSpec, PullPolicy, SlotMigration, Subnet, TlsSpec, TokenSource, CLUSTER_BUS_OFFSET,
};

use api::api_token;
use auth::auth;
use cluster::{cluster_name, slot_migration};
use hosts::{hosts, node_host};
use image::image;
use network::network;
use nodes::{check_placements, nodes};
use redis_settings::redis_settings;
use tls::tls;

/// One thing wrong with cluster.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
    pub(crate) hint: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {} (fix: {})",
            self.file, self.line, self.column, self.message, self.hint
        )
    }
}

/// Turns byte offsets into line:column and collects problems.
struct Report<'a> {
    text: &'a str,
    file: String,
    problems: Vec<Problem>,
}

impl Report<'_> {
    fn add(&mut self, span: Range<usize>, message: impl Into<String>, hint: impl Into<String>) {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        self.problems.push(Problem {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
            hint: hint.into(),
        });
    }

    fn toml_error(&mut self, err: &toml::de::Error) {
        let message = err.message().trim().replace('\n', " ");
        self.add(
            err.span().unwrap_or(0..0),
            message,
            "see the cluster.toml reference in docs/cluster-toml.md",
        );
    }
}

pub(super) fn parse(text: &str, path: &Path) -> Result<ClusterSpec, Vec<Problem>> {
    let mut report = Report {
        text,
        file: path.display().to_string(),
        problems: Vec::new(),
    };
    match DeTable::parse(text) {
        Ok(table) => unknown_keys(table.get_ref(), &mut report),
        Err(err) => {
            report.toml_error(&err);
            return Err(report.problems);
        }
    }
    let raw: RawFile = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(err) => {
            report.toml_error(&err);
            return Err(report.problems);
        }
    };
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let spec = build(raw, &base, &mut report);
    match spec {
        Some(spec) if report.problems.is_empty() => Ok(spec),
        _ => {
            report.problems.sort_by_key(|p| (p.line, p.column));
            Err(report.problems)
        }
    }
}

fn unknown_keys(top: &DeTable<'_>, report: &mut Report<'_>) {
    let tables: Vec<&str> = KNOWN_KEYS.iter().map(|(t, _)| *t).collect();
    for (key, value) in top.iter() {
        let Some((_, known)) = KNOWN_KEYS
            .iter()
            .find(|(t, _)| *t == key.get_ref().as_ref())
        else {
            report.add(
                key.span(),
                format!("unknown table or key '{}'", key.get_ref()),
                format!("the top level takes only {}", tables.join(", ")),
            );
            continue;
        };
        if key.get_ref() == "redis" {
            continue;
        }
        let check = |t: &DeTable<'_>, report: &mut Report<'_>| {
            for (k, _) in t.iter() {
                if !known.contains(&k.get_ref().as_ref()) {
                    report.add(
                        k.span(),
                        format!("unknown key '{}' in [{}]", k.get_ref(), key.get_ref()),
                        format!("[{}] takes {}", key.get_ref(), known.join(", ")),
                    );
                }
            }
        };
        match value.get_ref() {
            DeValue::Table(t) => check(t, report),
            DeValue::Array(items) => {
                for item in items {
                    if let DeValue::Table(t) = item.get_ref() {
                        check(t, report);
                    }
                }
            }
            _ => {}
        }
    }
}

const DNS_HINT: &str =
    "use 1-63 lowercase letters, digits and '-', not starting or ending with '-'";

fn dns_safe(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn env_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn build(raw: RawFile, base: &Path, report: &mut Report<'_>) -> Option<ClusterSpec> {
    let (cluster, cluster_span) = match raw.cluster {
        Some(c) => {
            let span = c.span();
            (c.into_inner(), span)
        }
        None => {
            report.add(
                0..0,
                "missing [cluster] table",
                "add [cluster] with at least name = \"dev\"",
            );
            (RawCluster::default(), 0..0)
        }
    };
    let name = cluster_name(&cluster, cluster_span.clone(), report);
    let node_timeout_ms = match &cluster.node_timeout_ms {
        None => 5000,
        Some(v) if (100..=3_600_000).contains(v.get_ref()) => *v.get_ref() as u64,
        Some(v) => {
            report.add(
                v.span(),
                format!("node_timeout_ms = {} is out of range", v.get_ref()),
                "use 100 to 3600000 milliseconds (Redis's default is 15000, ours 5000)",
            );
            5000
        }
    };
    let auth = auth(&cluster, cluster_span, base, report);
    let state_dir = cluster
        .state_dir
        .as_ref()
        .map_or_else(|| base.join(".redis-keeper"), |d| base.join(d.get_ref()));
    let image = image(raw.image.unwrap_or_default(), report);
    let network = network(raw.network, report);
    let persistence = PersistenceSpec {
        appendonly: raw
            .persistence
            .and_then(|p| p.appendonly)
            .is_none_or(|a| *a.get_ref()),
    };
    let hosts = hosts(raw.hosts, base, report);
    let (mut nodes, placements) =
        nodes(raw.nodes, name.as_deref(), network.as_ref(), &hosts, report);
    let redis = redis_settings(raw.redis.unwrap_or_default(), report);
    let tls = tls(raw.tls, &state_dir, base, &nodes, report);
    for (node, place) in nodes.iter_mut().zip(&placements) {
        let Some(tls) = &tls else {
            if node.tls_port.take().is_some() {
                report.add(
                    place.at.clone(),
                    format!("{} has a tls_port but [tls] is not enabled", node.name),
                    "enable [tls], or remove tls_port",
                );
            }
            continue;
        };
        let port = node.tls_port.unwrap_or(tls.port);
        if tls.plaintext && port == node.port {
            report.add(
                place.at.clone(),
                format!("{}: TLS port {port} is also its plaintext port", node.name),
                "give TLS its own port (tls_port, or [tls].port)",
            );
        }
        node.tls_port = Some(port);
        if !tls.plaintext {
            node.client_port = port;
        }
        if tls.cluster_bus {
            node.cluster_port = port;
        }
    }
    check_placements(&nodes, &placements, tls.as_ref(), report);
    Some(ClusterSpec {
        name: name?,
        node_timeout_ms,
        failback: cluster.failback.as_ref().is_none_or(|f| *f.get_ref()),
        slot_migration: slot_migration(cluster.slot_migration.as_ref(), report),
        auth: auth?,
        image,
        network: network?,
        persistence,
        nodes,
        hosts,
        redis,
        state_dir,
        tls,
        api_token: api_token(raw.api.unwrap_or_default(), base, report),
    })
}

/// A port that leaves room for the cluster bus above it (port + 10000 ≤ 65535), or the
/// problem `what {value} is out of range` with `hint`.
fn port_below_bus(
    raw: &Spanned<i64>,
    what: &str,
    hint: &str,
    report: &mut Report<'_>,
) -> Option<u16> {
    let value = *raw.get_ref();
    if (1..=i64::from(u16::MAX - CLUSTER_BUS_OFFSET)).contains(&value) {
        return Some(value as u16);
    }
    report.add(raw.span(), format!("{what} {value} is out of range"), hint);
    None
}

/// A name that must be given and DNS-safe (the cluster's, the network's, a node's, a
/// host's): `kind` names it in problems, `missing` says what has none, `example` how to add it.
fn dns_name<'n>(
    name: Option<&'n Spanned<String>>,
    at: Range<usize>,
    kind: &str,
    missing: String,
    example: &str,
    report: &mut Report<'_>,
) -> Option<&'n Spanned<String>> {
    match name {
        None => {
            report.add(at, missing, example);
            None
        }
        Some(n) if !dns_safe(n.get_ref()) => {
            report.add(
                n.span(),
                format!("{kind} '{}' is not DNS-safe", n.get_ref()),
                DNS_HINT,
            );
            None
        }
        Some(n) => Some(n),
    }
}

#[cfg(test)]
mod test_support {
    pub(super) use super::*;

    pub(super) const VALID: &str = r#"
[cluster]
name = "dev"
password_file = "pw"

[network]
name = "dev-data"
subnet = "172.20.2.0/24"

[[nodes]]
name = "redis-1"
ip = "172.20.2.13"
slots = ["0-5460"]

[[nodes]]
name = "redis-2"
ip = "172.20.2.16"
slots = ["5461-10922"]

[[nodes]]
name = "redis-3"
ip = "172.20.2.17"
slots = ["10923-16383"]
"#;

    pub(super) fn problems(text: &str) -> Vec<Problem> {
        parse(text, Path::new("c.toml")).expect_err("expected problems")
    }

    /// Asserts one problem mentions `needle`, on `line`.
    pub(super) fn has(problems: &[Problem], line: usize, needle: &str) {
        assert!(
            problems
                .iter()
                .any(|p| p.line == line && p.to_string().contains(needle)),
            "no problem on line {line} containing {needle:?} in:\n{}",
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;

    #[test]
    fn valid_file_with_defaults() {
        let spec = parse(VALID, Path::new("/etc/k/cluster.toml")).unwrap();
        assert_eq!(spec.node_timeout_ms, 5000);
        assert_eq!(spec.image.name, "redis:7.2");
        assert_eq!(spec.image.pull, PullPolicy::IfNotPresent);
        assert_eq!(spec.image.fallback, ImageFallback::Host);
        assert!(spec.persistence.appendonly);
        assert_eq!(spec.nodes[0].port, 6379);
        assert_eq!(spec.auth, AuthSpec::File("/etc/k/pw".into()));
        assert_eq!(spec.state_dir, Path::new("/etc/k/.redis-keeper"));
    }

    #[test]
    fn the_shipped_manifests_are_valid() {
        let shipped = [
            (
                "replicas.toml",
                include_str!("../../../manifests/replicas.toml"),
            ),
            (
                "uneven.toml",
                include_str!("../../../manifests/uneven.toml"),
            ),
            (
                "ci-nopassword.toml",
                include_str!("../../../manifests/ci-nopassword.toml"),
            ),
        ];
        for (name, text) in shipped {
            if let Err(problems) = parse(text, Path::new(name)) {
                panic!("manifests/{name}: {problems:?}");
            }
        }
        let spec = parse(shipped[0].1, Path::new("replicas.toml")).unwrap();
        assert_eq!((spec.masters().count(), spec.nodes.len()), (3, 6));
    }

    #[test]
    fn the_repository_cluster_toml_is_the_reference_layout() {
        let spec = crate::spec::test_support::reference_spec();
        let layout: Vec<(String, String, String)> = spec
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.ip.to_string(), n.slots[0].to_string()))
            .collect();
        assert_eq!(
            layout,
            [
                ("redis-1", "172.20.2.13", "0-5460"),
                ("redis-2", "172.20.2.16", "5461-10922"),
                ("redis-3", "172.20.2.17", "10923-16383"),
            ]
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        );
        assert_eq!(spec.name, "dev");
        assert_eq!(spec.network.name, "dev-data");
        assert!(spec.nodes.iter().all(|n| n.port == 6379));
        assert_eq!(spec.tls.as_ref().map(|t| t.port), Some(6390));
    }

    #[test]
    fn unknown_keys_are_rejected_where_they_are() {
        let text = VALID
            .replace("name = \"dev\"", "name = \"dev\"\nnode_timeout = 10")
            .replace("slots = [\"0-5460\"]", "slots = [\"0-5460\"]\nprot = 1");
        let p = problems(&text);
        has(&p, 4, "unknown key 'node_timeout' in [cluster]");
        has(&p, 15, "unknown key 'prot' in [nodes]");
        let top = problems(&format!("{VALID}\n[sentinel]\nenabled = true\n"));
        has(&top, 25, "unknown table or key 'sentinel'");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = VALID
            .replace("name = \"dev\"", "name = \"-dev\"")
            .replace("172.20.2.0/24", "172.20.2.0/33")
            .replace("\"redis-3\"", "\"redis_3\"");
        assert_eq!(problems(&text).len(), 3);
    }

    #[test]
    fn syntax_and_type_errors_point_at_their_line() {
        let syntax = problems(&VALID.replace("name = \"redis-1\"", "name = redis-1"));
        has(&syntax, 11, "");
        let types = problems(&VALID.replace(
            "slots = [\"0-5460\"]",
            "slots = [\"0-5460\"]\nport = \"6379\"",
        ));
        has(&types, 14, "invalid type");
    }
}

#[cfg(test)]
mod manifest_tests {
    use super::*;

    #[test]
    fn every_example_manifest_is_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                if let Err(problems) = parse(&text, &path) {
                    panic!("{} is invalid: {problems:?}", path.display());
                }
                seen += 1;
            }
        }
        assert!(seen >= 2, "found {seen} manifests");
    }
}
