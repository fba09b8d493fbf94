//! Validation of cluster.toml: every rule, every problem at once, each with its place in the
//! file and a hint that says how to fix it.

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
    PersistenceSpec, PullPolicy, Subnet, TlsSpec, TokenSource, CLUSTER_BUS_OFFSET,
};

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
            "see the cluster.toml reference in README.md",
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

fn api_token(raw: RawApi, base: &Path, report: &mut Report<'_>) -> Option<TokenSource> {
    match (raw.token_file, raw.token_env) {
        (Some(_), Some(env)) => {
            report.add(
                env.span(),
                "[api] has both token_file and token_env",
                "keep one of them",
            );
            None
        }
        (Some(file), None) if file.get_ref().trim().is_empty() => {
            report.add(
                file.span(),
                "[api].token_file is empty",
                "name a file holding the token",
            );
            None
        }
        (Some(file), None) => Some(TokenSource::File(base.join(file.get_ref()))),
        (None, Some(env)) if !env_name_ok(env.get_ref()) => {
            report.add(
                env.span(),
                format!("'{}' is not an environment variable name", env.get_ref()),
                "use letters, digits and '_', e.g. KEEPER_API_TOKEN",
            );
            None
        }
        (None, Some(env)) => Some(TokenSource::Env(env.get_ref().clone())),
        (None, None) => None,
    }
}

/// `[tls]`: None when absent or `enabled = false`.
fn tls(
    raw: Option<Spanned<RawTls>>,
    state_dir: &Path,
    base: &Path,
    nodes: &[NodeSpec],
    report: &mut Report<'_>,
) -> Option<TlsSpec> {
    let raw = raw?;
    let at = raw.span();
    let raw = raw.into_inner();
    if !raw.enabled.as_ref().is_some_and(|e| *e.get_ref()) {
        return None;
    }
    let flag =
        |v: &Option<Spanned<bool>>, default: bool| v.as_ref().map_or(default, |v| *v.get_ref());
    let port = match &raw.port {
        None => 6390,
        Some(p) => match port_below_bus(
            p,
            "[tls].port",
            "use 1 to 55535: the cluster bus listens on port + 10000",
            report,
        ) {
            Some(port) => {
                if let Some(node) = nodes.iter().find(|n| n.port == port) {
                    report.add(
                        p.span(),
                        format!("[tls].port {port} is also {}'s plaintext port", node.name),
                        "give TLS its own port (the reference layout uses 6390)",
                    );
                }
                port
            }
            None => 6390,
        },
    };
    let auth_clients = match raw
        .auth_clients
        .as_ref()
        .map(|a| (a.get_ref().as_str(), a.span()))
    {
        None | Some(("yes", _)) => AuthClients::Yes,
        Some(("optional", _)) => AuthClients::Optional,
        Some(("no", _)) => AuthClients::No,
        Some((other, span)) => {
            report.add(
                span,
                format!("[tls].auth_clients = \"{other}\" is not a choice"),
                "use \"yes\" (clients need a certificate), \"optional\" or \"no\"",
            );
            AuthClients::Yes
        }
    };
    let plaintext = flag(&raw.plaintext, true);
    let cluster_bus = flag(&raw.cluster_bus, true);
    if !cluster_bus && !plaintext {
        let span = raw.cluster_bus.as_ref().map_or(at.clone(), Spanned::span);
        report.add(
            span,
            "[tls].cluster_bus = false needs the plaintext port, which plaintext = false closes",
            "keep cluster_bus = true (TLS for the bus too), or plaintext = true",
        );
    }
    let renew_before_days = match &raw.renew_before_days {
        None => 30,
        Some(d) if (1..=3650).contains(d.get_ref()) => *d.get_ref() as u32,
        Some(d) => {
            report.add(
                d.span(),
                format!("[tls].renew_before_days = {} is out of range", d.get_ref()),
                "use 1 to 3650 days",
            );
            30
        }
    };
    let certs_dir = match &raw.certs_dir {
        None => state_dir.join("certs"),
        Some(d) if d.get_ref().trim().is_empty() => {
            report.add(
                d.span(),
                "[tls].certs_dir is empty",
                "name a folder, e.g. \"certs\" (with certs/<node>/redis.crt, redis.key, ca.crt)",
            );
            state_dir.join("certs")
        }
        Some(d) => base.join(d.get_ref()),
    };
    Some(TlsSpec {
        port,
        certs_dir,
        generate: flag(&raw.generate, true),
        auth_clients,
        cluster_bus,
        plaintext,
        renew_before_days,
    })
}

/// Parameters the operator sets itself, from other keys of cluster.toml or by design.
const MANAGED: &[(&str, &str)] = &[
    ("port", "set [[nodes]].port"),
    (
        "bind",
        "the operator binds every node to its container address",
    ),
    ("protected-mode", "the password protects the nodes"),
    ("cluster-enabled", "every node is a cluster node"),
    (
        "cluster-config-file",
        "the operator keeps nodes.conf on the node's volume",
    ),
    ("cluster-node-timeout", "set [cluster].node_timeout_ms"),
    ("cluster-announce-ip", "set [[nodes]].ip"),
    (
        "cluster-allow-replica-migration",
        "every declared node stays a master",
    ),
    (
        "repl-diskless-sync-delay",
        "the operator sets 0 so a replica gets its copy at once",
    ),
    ("dir", "data lives on the node's volume at /data"),
    ("appendonly", "set [persistence].appendonly"),
    ("requirepass", "set the password in [cluster]"),
    ("masterauth", "set the password in [cluster]"),
    ("masteruser", "replicas authenticate as the default user"),
    ("user", "ACL users are not managed through [redis]"),
    ("aclfile", "ACL users are not managed through [redis]"),
    ("include", "includes are not supported"),
    ("replicaof", "set [[nodes]].replica_of"),
    ("slaveof", "set [[nodes]].replica_of"),
    ("cluster-port", "the bus port is the client port + 10000"),
    ("cluster-announce-port", "set [[nodes]].port"),
    ("cluster-announce-tls-port", "set [tls].port"),
    (
        "cluster-announce-bus-port",
        "the bus port is the client port + 10000",
    ),
    (
        "cluster-announce-hostname",
        "nodes are announced by [[nodes]].ip",
    ),
    ("tls-port", "set [tls].port"),
    ("tls-cert-file", "set [tls].certs_dir"),
    ("tls-key-file", "set [tls].certs_dir"),
    (
        "tls-key-file-pass",
        "node keys are written unencrypted, 0600",
    ),
    ("tls-client-cert-file", "set [tls].certs_dir"),
    ("tls-client-key-file", "set [tls].certs_dir"),
    (
        "tls-client-key-file-pass",
        "node keys are written unencrypted, 0600",
    ),
    ("tls-ca-cert-file", "set [tls].certs_dir"),
    ("tls-ca-cert-dir", "set [tls].certs_dir"),
    ("tls-auth-clients", "set [tls].auth_clients"),
    ("tls-cluster", "set [tls].cluster_bus"),
    ("tls-replication", "set [tls].cluster_bus"),
    (
        "rename-command",
        "the operator needs the commands by their names",
    ),
    ("daemonize", "the node is the container's main process"),
];

fn redis_settings(
    raw: std::collections::BTreeMap<String, Spanned<toml::Value>>,
    report: &mut Report<'_>,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for (key, value) in raw {
        let span = value.span();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            report.add(
                span,
                format!("[redis] '{key}' is not a Redis parameter name"),
                "use Redis's own names, e.g. maxmemory-policy",
            );
            continue;
        }
        if let Some((_, why)) = MANAGED.iter().find(|(k, _)| *k == key) {
            report.add(
                span,
                format!("[redis] {key} is managed by redis-keeper"),
                *why,
            );
            continue;
        }
        let text = match value.into_inner() {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => if b { "yes" } else { "no" }.to_string(),
            other => {
                report.add(
                    span,
                    format!(
                        "[redis] {key} = {} is not a string, integer or boolean",
                        super::shown_setting(&key, &other.to_string())
                    ),
                    "write the value as Redis's CONFIG SET takes it, e.g. \"100mb\"",
                );
                continue;
            }
        };
        out.insert(key, text);
    }
    out
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

fn cluster_name(cluster: &RawCluster, at: Range<usize>, report: &mut Report<'_>) -> Option<String> {
    dns_name(
        cluster.name.as_ref(),
        at,
        "cluster name",
        "[cluster] has no name".into(),
        "add name = \"dev\"; it prefixes every container, volume and label",
        report,
    )
    .map(|n| n.get_ref().clone())
}

fn auth(
    cluster: &RawCluster,
    at: Range<usize>,
    base: &Path,
    report: &mut Report<'_>,
) -> Option<AuthSpec> {
    let no_password = cluster.no_password.as_ref().is_some_and(|v| *v.get_ref());
    let chosen = [
        cluster.password_env.as_ref().map(Spanned::span),
        cluster.password_file.as_ref().map(Spanned::span),
        no_password
            .then(|| cluster.no_password.as_ref().map(Spanned::span))
            .flatten(),
    ];
    let count = chosen.iter().flatten().count();
    if count == 0 {
        report.add(
            at,
            "no password source in [cluster]",
            "set password_file = \".redis-keeper/password\" (created for you), password_env = \"REDIS_PASSWORD\", or no_password = true",
        );
        return None;
    }
    if count > 1 {
        let span = chosen.iter().flatten().nth(1).cloned().unwrap_or(at);
        report.add(
            span,
            "more than one password source in [cluster]",
            "keep exactly one of password_env, password_file and no_password = true",
        );
        return None;
    }
    if let Some(var) = &cluster.password_env {
        if !env_name_ok(var.get_ref()) {
            report.add(
                var.span(),
                format!("'{}' is not an environment variable name", var.get_ref()),
                "use letters, digits and '_', e.g. REDIS_PASSWORD",
            );
            return None;
        }
        return Some(AuthSpec::Env(var.get_ref().clone()));
    }
    if let Some(file) = &cluster.password_file {
        if file.get_ref().trim().is_empty() {
            report.add(
                file.span(),
                "password_file is empty",
                "name a file, e.g. \".redis-keeper/password\"",
            );
            return None;
        }
        return Some(AuthSpec::File(base.join(file.get_ref())));
    }
    Some(AuthSpec::NoPassword)
}

fn image(raw: super::file::RawImage, report: &mut Report<'_>) -> ImageSpec {
    let name = match raw.name {
        Some(n) if n.get_ref().trim().is_empty() || n.get_ref().contains(char::is_whitespace) => {
            report.add(
                n.span(),
                format!("image name '{}' is not valid", n.get_ref()),
                "use a reference like redis:7.2",
            );
            String::new()
        }
        Some(n) => n.into_inner(),
        None => "redis:7.2".to_string(),
    };
    let pull = match raw.pull.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
        None | Some(("if-not-present", _)) => PullPolicy::IfNotPresent,
        Some(("always", _)) => PullPolicy::Always,
        Some(("never", _)) => PullPolicy::Never,
        Some((other, span)) => {
            report.add(
                span,
                format!("pull = '{other}' is not a pull policy"),
                "use \"always\", \"if-not-present\" or \"never\"",
            );
            PullPolicy::IfNotPresent
        }
    };
    let fallback = match raw
        .fallback
        .as_ref()
        .map(|p| (p.get_ref().as_str(), p.span()))
    {
        None | Some(("host", _)) => ImageFallback::Host,
        Some(("none", _)) => ImageFallback::None,
        Some((other, span)) => {
            report.add(
                span,
                format!("fallback = '{other}' is not a fallback"),
                "use \"host\" or \"none\"",
            );
            ImageFallback::Host
        }
    };
    ImageSpec {
        name,
        pull,
        fallback,
    }
}

fn network(raw: Option<Spanned<RawNetwork>>, report: &mut Report<'_>) -> Option<NetworkSpec> {
    let Some(raw) = raw else {
        report.add(
            0..0,
            "missing [network] table",
            "add [network] with name = \"dev-data\" and subnet = \"172.20.2.0/24\"",
        );
        return None;
    };
    let at = raw.span();
    let raw = raw.into_inner();
    let name = dns_name(
        raw.name.as_ref(),
        at.clone(),
        "network name",
        "[network] has no name".into(),
        "add name = \"dev-data\"",
        report,
    )
    .map(|n| n.get_ref().clone());
    let subnet = match raw.subnet {
        None => {
            report.add(
                at,
                "[network] has no subnet",
                "add subnet = \"172.20.2.0/24\"",
            );
            None
        }
        Some(s) => match s.get_ref().parse::<Subnet>() {
            Ok(subnet) => Some(subnet),
            Err(e) => {
                report.add(
                    s.span(),
                    e.to_string(),
                    "write the network address with its prefix, e.g. 172.20.2.0/24",
                );
                None
            }
        },
    };
    Some(NetworkSpec {
        name: name?,
        subnet: subnet?,
    })
}

/// Where a node sits, kept for the checks that need every node and the ports TLS settles.
struct Placement {
    at: Range<usize>,
    allow_same_host: bool,
}

fn nodes(
    raw: Option<Spanned<Vec<Spanned<RawNode>>>>,
    cluster: Option<&str>,
    network: Option<&NetworkSpec>,
    hosts: &[HostSpec],
    report: &mut Report<'_>,
) -> (Vec<NodeSpec>, Vec<Placement>) {
    let Some(raw) = raw.filter(|n| !n.get_ref().is_empty()) else {
        report.add(
            0..0,
            "no [[nodes]] declared",
            "add one [[nodes]] table per master, with name, ip and slots",
        );
        return (Vec::new(), Vec::new());
    };
    let mut placements = Vec::new();
    let mut names: HashMap<String, Range<usize>> = HashMap::new();
    let mut ips: HashMap<Ipv4Addr, String> = HashMap::new();
    let mut host_ports: HashMap<u16, String> = HashMap::new();
    let mut out = Vec::new();
    let mut owners: Vec<(String, Range<usize>, Vec<SlotRange>)> = Vec::new();
    let mut replicas: Vec<(String, Spanned<String>)> = Vec::new();
    for (index, node) in raw.into_inner().into_iter().enumerate() {
        let at = node.span();
        let node = node.into_inner();
        let label = node
            .name
            .as_ref()
            .map_or_else(|| format!("nodes[{index}]"), |n| n.get_ref().clone());
        let name = match dns_name(
            node.name.as_ref(),
            at.clone(),
            "node name",
            format!("nodes[{index}] has no name"),
            "add name = \"redis-N\"",
            report,
        ) {
            None => None,
            Some(n) => {
                if let Some(first) = names.get(n.get_ref()) {
                    let line = report.text[..first.start].matches('\n').count() + 1;
                    report.add(
                        n.span(),
                        format!("node name '{}' is used twice", n.get_ref()),
                        format!("rename one of them; the first is on line {line}"),
                    );
                } else {
                    names.insert(n.get_ref().clone(), n.span());
                }
                if let Some(cluster) = cluster {
                    if cluster.len() + 1 + n.get_ref().len() > 63 {
                        report.add(
                            n.span(),
                            format!(
                                "container name '{cluster}-{}' is longer than 63 characters",
                                n.get_ref()
                            ),
                            "shorten the cluster or node name",
                        );
                    }
                }
                Some(n.get_ref().clone())
            }
        };
        let ip = node_ip(&node, &label, at.clone(), network, &mut ips, report);
        let port = match &node.port {
            None => Some(6379),
            Some(p) => port_below_bus(
                p,
                &format!("{label}: port"),
                "use 1 to 55535: the cluster bus listens on port + 10000",
                report,
            ),
        };
        let tls_port = node.tls_port.as_ref().and_then(|p| {
            port_below_bus(
                p,
                &format!("{label}: tls_port"),
                "use 1 to 55535: with a TLS bus, the bus listens on tls_port + 10000",
                report,
            )
        });
        let host_port = match &node.host_port {
            None => None,
            Some(p) if (1..=65535).contains(p.get_ref()) => {
                let hp = *p.get_ref() as u16;
                if let Some(other) = host_ports.insert(hp, label.clone()) {
                    report.add(
                        p.span(),
                        format!("{label}: host_port {hp} is also {other}'s"),
                        "give each node its own host_port",
                    );
                }
                Some(hp)
            }
            Some(p) => {
                report.add(
                    p.span(),
                    format!("{label}: host_port {} is out of range", p.get_ref()),
                    "use 1 to 65535, or leave host_port out",
                );
                None
            }
        };
        let slots = match (&node.replica_of, &node.slots) {
            (Some(master), Some(slots)) => {
                report.add(
                    slots.span(),
                    format!(
                        "{label} is a replica of {} and declares slots",
                        master.get_ref()
                    ),
                    "remove slots: a replica serves its master's slots only once promoted",
                );
                Vec::new()
            }
            (Some(master), None) => {
                replicas.push((label.clone(), master.clone()));
                Vec::new()
            }
            (None, _) => {
                let slots = node_slots(&node, &label, at.clone(), report);
                owners.push((label.clone(), at.clone(), slots.clone()));
                slots
            }
        };
        let host = node_host(&node, &label, at.clone(), hosts, report);
        if let (Some(name), Some(ip), Some(port)) = (name, ip, port) {
            let (host, address) = match host {
                Some(h) => (Some(h.name.clone()), h.address),
                None => (None, ip),
            };
            if host.is_some() && host_port.is_some() {
                report.add(
                    at.clone(),
                    format!("{label} has a host and a host_port"),
                    "remove host_port: a node on a host publishes its ports on the host's address",
                );
            }
            placements.push(Placement {
                at: at.clone(),
                allow_same_host: node.allow_same_host.as_ref().is_some_and(|a| *a.get_ref()),
            });
            out.push(NodeSpec {
                name,
                ip,
                host,
                address,
                port,
                client_port: port,
                cluster_port: port,
                // Its own, for now; settled against [tls] once that is read.
                tls_port,
                slots,
                host_port,
                replica_of: node.replica_of.map(Spanned::into_inner),
            });
        }
    }
    check_coverage(&owners, report);
    check_replicas(&replicas, &owners, report);
    (out, placements)
}

/// `[[hosts]]`: each with a DNS-safe unique name, a Docker endpoint and an IPv4 address.
fn hosts(
    raw: Option<Spanned<Vec<Spanned<RawHost>>>>,
    base: &Path,
    report: &mut Report<'_>,
) -> Vec<HostSpec> {
    let mut out: Vec<HostSpec> = Vec::new();
    for (index, host) in raw
        .map(Spanned::into_inner)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let at = host.span();
        let host = host.into_inner();
        let name = match dns_name(
            host.name.as_ref(),
            at.clone(),
            "host name",
            format!("hosts[{index}] has no name"),
            "add name = \"vm-a\"",
            report,
        ) {
            None => None,
            Some(n) if out.iter().any(|h| &h.name == n.get_ref()) => {
                report.add(
                    n.span(),
                    format!("host name '{}' is used twice", n.get_ref()),
                    "give each host its own name",
                );
                None
            }
            Some(n) => Some(n.get_ref().clone()),
        };
        let label = name.clone().unwrap_or_else(|| format!("hosts[{index}]"));
        let certs = host.cert_path.as_ref().map(|c| base.join(c.get_ref()));
        let docker = match &host.docker {
            None => {
                report.add(
                    at.clone(),
                    format!("host {label} has no docker endpoint"),
                    "add docker = \"ssh://user@host\", \"tcp://host:2376\" (with cert_path), \"unix:///…\" or a docker context's name",
                );
                None
            }
            Some(d) => match Endpoint::parse(d.get_ref(), certs) {
                Ok(e) => Some(e),
                Err(e) => {
                    report.add(
                        d.span(),
                        format!("host {label}: docker = {e}"),
                        "use unix://, tcp:// or ssh://, or the name of a docker context",
                    );
                    None
                }
            },
        };
        if let (Some(c), Some(d)) = (&host.cert_path, &docker) {
            if !matches!(d, Endpoint::Tcp { .. }) {
                report.add(
                    c.span(),
                    format!("host {label}: cert_path is only for tcp:// endpoints"),
                    "remove cert_path: ssh, unix sockets and contexts bring their own credentials",
                );
            }
        }
        let address = match &host.address {
            None => {
                report.add(
                    at.clone(),
                    format!("host {label} has no address"),
                    "add address = \"A.B.C.D\": the address its nodes publish their ports on and announce",
                );
                None
            }
            Some(a) => match a.get_ref().parse::<Ipv4Addr>() {
                Ok(ip) if !ip.is_unspecified() => Some(ip),
                _ => {
                    report.add(
                        a.span(),
                        format!(
                            "host {label}: '{}' is not an address peers can reach",
                            a.get_ref()
                        ),
                        "write the host's IPv4 address as A.B.C.D, e.g. 10.0.0.11",
                    );
                    None
                }
            },
        };
        if let (Some(name), Some(docker), Some(address)) = (name, docker, address) {
            out.push(HostSpec {
                name,
                docker,
                address,
            });
        }
    }
    out
}

/// The host a node names: required once there are `[[hosts]]`, refused without them.
fn node_host<'h>(
    node: &RawNode,
    label: &str,
    at: Range<usize>,
    hosts: &'h [HostSpec],
    report: &mut Report<'_>,
) -> Option<&'h HostSpec> {
    let names = || {
        hosts
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &node.host {
        None if hosts.is_empty() => None,
        None => {
            report.add(
                at,
                format!("{label} names no host"),
                format!("add host = one of {}", names()),
            );
            None
        }
        Some(h) if hosts.is_empty() => {
            report.add(
                h.span(),
                format!("{label}: host '{}' is not declared", h.get_ref()),
                "declare it in a [[hosts]] table, or remove host to run on the local engine",
            );
            None
        }
        Some(h) => {
            let found = hosts.iter().find(|x| &x.name == h.get_ref());
            if found.is_none() {
                report.add(
                    h.span(),
                    format!("{label}: host '{}' is not declared", h.get_ref()),
                    format!("name one of {}", names()),
                );
            }
            found
        }
    }
}

/// Rules that need every node placed and every port settled: a replica does not share its
/// master's host (losing that one machine would lose the shard), and two nodes on one host
/// do not publish the same port.
fn check_placements(
    nodes: &[NodeSpec],
    placements: &[Placement],
    tls: Option<&TlsSpec>,
    report: &mut Report<'_>,
) {
    let plaintext = tls.is_none_or(|t| t.plaintext);
    let mut taken: HashMap<(String, u16), String> = HashMap::new();
    for (node, place) in nodes.iter().zip(placements) {
        let Some(host) = &node.host else { continue };
        let master = node
            .replica_of
            .as_deref()
            .and_then(|m| nodes.iter().find(|n| n.name == m));
        if let Some(master) = master.filter(|m| m.host == node.host) {
            if !place.allow_same_host {
                report.add(
                    place.at.clone(),
                    format!("{} is on host {host} with its master {}", node.name, master.name),
                    "put it on another host, or add allow_same_host = true if losing that host may lose the shard",
                );
            }
        }
        for port in node.published_ports(plaintext) {
            if let Some(other) = taken.insert((host.clone(), port), node.name.clone()) {
                report.add(
                    place.at.clone(),
                    format!("{} publishes port {port} on host {host}, as {other} does", node.name),
                    "give nodes on one host their own port and tls_port (the bus takes the cluster port + 10000)",
                );
            }
        }
    }
}

/// Each replica names a master of this file: not itself, not another replica (no chains).
fn check_replicas(
    replicas: &[(String, Spanned<String>)],
    masters: &[(String, Range<usize>, Vec<SlotRange>)],
    report: &mut Report<'_>,
) {
    let names: Vec<&str> = masters.iter().map(|(n, _, _)| n.as_str()).collect();
    let hint = format!("name one of the masters: {}", names.join(", "));
    for (label, master) in replicas {
        let named = master.get_ref();
        let message = if named == label {
            format!("{label} names itself in replica_of")
        } else if let Some((_, of)) = replicas.iter().find(|(r, _)| r == named) {
            format!(
                "{label} replicates {named}, itself a replica of {}: replicas do not chain",
                of.get_ref()
            )
        } else if !names.contains(&named.as_str()) {
            format!("{label}: replica_of names '{named}', which is not a node of this file")
        } else {
            continue;
        };
        report.add(master.span(), message, hint.clone());
    }
}

fn node_ip(
    node: &RawNode,
    label: &str,
    at: Range<usize>,
    network: Option<&NetworkSpec>,
    seen: &mut HashMap<Ipv4Addr, String>,
    report: &mut Report<'_>,
) -> Option<Ipv4Addr> {
    let Some(raw) = &node.ip else {
        report.add(
            at,
            format!("{label} has no ip"),
            "add ip = \"A.B.C.D\", a static address inside [network].subnet",
        );
        return None;
    };
    let Ok(ip) = raw.get_ref().parse::<Ipv4Addr>() else {
        report.add(
            raw.span(),
            format!("{label}: '{}' is not an IPv4 address", raw.get_ref()),
            "write it as A.B.C.D, e.g. 172.20.2.13",
        );
        return None;
    };
    if let Some(net) = network {
        let (first, last) = net.subnet.node_range();
        let hint = format!("pick an address from {first} to {last}");
        let s = net.subnet;
        if !s.contains(ip) {
            report.add(
                raw.span(),
                format!("{label}: {ip} is outside the subnet {s}"),
                hint,
            );
        } else if ip == s.network() {
            report.add(
                raw.span(),
                format!("{label}: {ip} is the network address of {s}"),
                hint,
            );
        } else if ip == s.broadcast() {
            report.add(
                raw.span(),
                format!("{label}: {ip} is the broadcast address of {s}"),
                hint,
            );
        } else if ip == s.gateway() {
            report.add(
                raw.span(),
                format!("{label}: {ip} is the gateway of {s} (Docker's bridge takes it)"),
                hint,
            );
        }
    }
    if let Some(other) = seen.insert(ip, label.to_string()) {
        report.add(
            raw.span(),
            format!("{label}: ip {ip} is also {other}'s"),
            "give each node its own address",
        );
    }
    Some(ip)
}

fn node_slots(
    node: &RawNode,
    label: &str,
    at: Range<usize>,
    report: &mut Report<'_>,
) -> Vec<SlotRange> {
    let Some(list) = &node.slots else {
        report.add(
            at,
            format!("{label} has no slots"),
            "add slots = [\"START-END\", ...] (every master owns slots), or replica_of = \"<master>\" for a replica",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in list.get_ref() {
        match item.get_ref().parse::<SlotRange>() {
            Ok(r) => out.push(r),
            Err(e) => report.add(
                item.span(),
                format!("{label}: {e}"),
                "write ranges as \"0-5460\"; single slots as \"42\"",
            ),
        }
    }
    if list.get_ref().is_empty() {
        report.add(
            list.span(),
            format!("{label} declares an empty slot list"),
            "give it at least one range, or remove the node",
        );
    }
    out
}

fn check_coverage(owners: &[(String, Range<usize>, Vec<SlotRange>)], report: &mut Report<'_>) {
    let ranges: Vec<Vec<SlotRange>> = owners.iter().map(|(_, _, r)| r.clone()).collect();
    let cover = coverage(&ranges);
    let first_span = owners.first().map(|(_, s, _)| s.clone()).unwrap_or(0..0);
    if !cover.gaps.is_empty() {
        let gaps: Vec<String> = cover.gaps.iter().map(ToString::to_string).collect();
        let count: usize = cover.gaps.iter().map(SlotRange::len).sum();
        report.add(
            first_span,
            format!("{count} slot(s) belong to no node: {}", gaps.join(", ")),
            "add these ranges to a node's slots; all 16384 slots (0-16383) must be declared",
        );
    }
    let mut by_owners: BTreeMap<Vec<usize>, Vec<SlotRange>> = BTreeMap::new();
    for (range, who) in cover.overlaps {
        by_owners.entry(who).or_default().push(range);
    }
    for (who, ranges) in by_owners {
        let names: Vec<&str> = who.iter().map(|i| owners[*i].0.as_str()).collect();
        let shown: Vec<String> = ranges.iter().map(ToString::to_string).collect();
        report.add(
            owners[who[1]].1.clone(),
            format!(
                "slots {} are declared by more than one node: {}",
                shown.join(", "),
                names.join(" and ")
            ),
            "remove them from all but one node",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
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

    fn problems(text: &str) -> Vec<Problem> {
        parse(text, Path::new("c.toml")).expect_err("expected problems")
    }

    /// Asserts one problem mentions `needle`, on `line`.
    fn has(problems: &[Problem], line: usize, needle: &str) {
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

    fn with_replica(extra: &str) -> String {
        format!("{VALID}\n[[nodes]]\nname = \"redis-4\"\nip = \"172.20.2.18\"\n{extra}\n")
    }

    #[test]
    fn a_replica_names_its_master_and_declares_no_slots() {
        let spec = parse(
            &with_replica("replica_of = \"redis-2\""),
            Path::new("c.toml"),
        )
        .unwrap();
        let replica = spec.node("redis-4").unwrap();
        assert!(replica.is_replica() && replica.slots.is_empty());
        assert_eq!(replica.shard(), "redis-2");
        let shard: Vec<&str> = spec.shard("redis-2").map(|n| n.name.as_str()).collect();
        assert_eq!(shard, ["redis-2", "redis-4"]);
        assert_eq!(spec.masters().count(), 3);
        assert!(spec.failback, "failback is the default");
    }

    #[test]
    fn replicas_with_slots_unknown_masters_chains_and_self_references_are_refused() {
        let text = with_replica("replica_of = \"redis-2\"\nslots = [\"0-1\"]");
        has(
            &problems(&text),
            29,
            "redis-4 is a replica of redis-2 and declares slots",
        );
        let text = with_replica("replica_of = \"redis-9\"");
        has(
            &problems(&text),
            28,
            "replica_of names 'redis-9', which is not a node",
        );
        let text = with_replica("replica_of = \"redis-4\"");
        has(&problems(&text), 28, "redis-4 names itself");
        let chain = format!(
            "{}\n[[nodes]]\nname = \"redis-5\"\nip = \"172.20.2.19\"\nreplica_of = \"redis-4\"\n",
            with_replica("replica_of = \"redis-1\"")
        );
        let found = problems(&chain);
        has(
            &found,
            33,
            "redis-5 replicates redis-4, itself a replica of redis-1",
        );
        has(
            &found,
            33,
            "name one of the masters: redis-1, redis-2, redis-3",
        );
    }

    #[test]
    fn the_shipped_manifests_are_valid() {
        let shipped = [
            (
                "replicas.toml",
                include_str!("../../manifests/replicas.toml"),
            ),
            ("uneven.toml", include_str!("../../manifests/uneven.toml")),
            (
                "ci-nopassword.toml",
                include_str!("../../manifests/ci-nopassword.toml"),
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
    fn failback_can_be_turned_off() {
        let text = VALID.replace(
            "password_file = \"pw\"",
            "password_file = \"pw\"\nfailback = false",
        );
        assert!(!parse(&text, Path::new("c.toml")).unwrap().failback);
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
    fn gaps_and_overlaps_are_named() {
        let text = VALID.replace("\"5461-10922\"", "\"5000-10000\"");
        let p = problems(&text);
        has(&p, 10, "922 slot(s) belong to no node: 10001-10922");
        has(
            &p,
            15,
            "slots 5000-5460 are declared by more than one node: redis-1 and redis-2",
        );
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
    fn tls_defaults_and_ports() {
        let spec = parse(
            &format!("{VALID}\n[tls]\nenabled = true\n"),
            Path::new("c.toml"),
        )
        .unwrap();
        let tls = spec.tls.as_ref().unwrap();
        assert_eq!(tls.port, 6390);
        assert_eq!(tls.auth_clients, AuthClients::Yes);
        assert!(tls.generate && tls.cluster_bus && tls.plaintext);
        assert_eq!(tls.renew_before_days, 30);
        assert_eq!(tls.certs_dir, Path::new(".redis-keeper/certs"));
        let node = &spec.nodes[0];
        assert_eq!(
            (node.client_port, node.cluster_port, node.bus_port()),
            (6379, 6390, 16390)
        );
        let only_tls = format!("{VALID}\n[tls]\nenabled = true\nplaintext = false\n");
        let spec = parse(&only_tls, Path::new("c.toml")).unwrap();
        assert_eq!(spec.nodes[0].addr(), "172.20.2.13:6390");
        let off = parse(
            &format!("{VALID}\n[tls]\nenabled = false\nport = 1\n"),
            Path::new("c.toml"),
        );
        assert!(off.unwrap().tls.is_none());
    }

    #[test]
    fn tls_mistakes_are_named() {
        let text = format!(
            "{VALID}\n[tls]\nenabled = true\nport = 6379\nauth_clients = \"maybe\"\nplaintext = false\ncluster_bus = false\nrenew_before_days = 0\n"
        );
        let p = problems(&text);
        has(&p, 27, "[tls].port 6379 is also redis-1's plaintext port");
        has(&p, 28, "[tls].auth_clients = \"maybe\" is not a choice");
        has(&p, 30, "[tls].cluster_bus = false needs the plaintext port");
        has(&p, 31, "[tls].renew_before_days = 0 is out of range");
    }

    #[test]
    fn addresses_must_fit_the_subnet() {
        let text = VALID
            .replace("172.20.2.13", "172.20.3.13")
            .replace("172.20.2.16", "172.20.2.1")
            .replace("172.20.2.17", "172.20.2.255");
        let p = problems(&text);
        has(&p, 12, "172.20.3.13 is outside the subnet 172.20.2.0/24");
        has(&p, 17, "is the gateway");
        has(&p, 22, "is the broadcast address");
        let net = problems(&VALID.replace("172.20.2.13", "172.20.2.0"));
        has(&net, 12, "is the network address");
        let bad = problems(&VALID.replace("172.20.2.13", "172.20.2.300"));
        has(&bad, 12, "not an IPv4 address");
    }

    #[test]
    fn names_and_ips_are_unique_and_names_dns_safe() {
        let text = VALID
            .replace("\"redis-2\"", "\"redis-1\"")
            .replace("172.20.2.17", "172.20.2.13")
            .replace("name = \"dev\"", "name = \"Dev_1\"");
        let p = problems(&text);
        has(&p, 3, "cluster name 'Dev_1' is not DNS-safe");
        has(&p, 16, "node name 'redis-1' is used twice");
        has(&p, 22, "ip 172.20.2.13 is also redis-1's");
    }

    #[test]
    fn ports_are_checked() {
        let text = VALID
            .replace(
                "slots = [\"0-5460\"]",
                "slots = [\"0-5460\"]\nport = 60000\nhost_port = 7000",
            )
            .replace(
                "slots = [\"5461-10922\"]",
                "slots = [\"5461-10922\"]\nhost_port = 7000",
            )
            .replace(
                "slots = [\"10923-16383\"]",
                "slots = [\"10923-16383\"]\nhost_port = 0",
            );
        let p = problems(&text);
        has(&p, 14, "port 60000 is out of range");
        has(&p, 21, "host_port 7000 is also redis-1's");
        has(&p, 27, "host_port 0 is out of range");
    }

    #[test]
    fn password_source_must_be_exactly_one() {
        let none = problems(&VALID.replace("password_file = \"pw\"", ""));
        has(&none, 2, "no password source");
        let two = problems(&VALID.replace(
            "password_file = \"pw\"",
            "password_file = \"pw\"\nno_password = true",
        ));
        has(&two, 5, "more than one password source");
        let env = problems(&VALID.replace("password_file = \"pw\"", "password_env = \"1BAD\""));
        has(&env, 4, "not an environment variable name");
        let ok = parse(
            &VALID.replace("password_file = \"pw\"", "no_password = true"),
            Path::new("c.toml"),
        );
        assert_eq!(ok.unwrap().auth, AuthSpec::NoPassword);
    }

    #[test]
    fn redis_settings_are_checked_and_kept_as_text() {
        let ok = parse(
            &format!(
                "{VALID}\n[redis]\nmaxmemory = \"100mb\"\nhz = 20\nlazyfree-lazy-eviction = true\n"
            ),
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(ok.redis.get("maxmemory").map(String::as_str), Some("100mb"));
        assert_eq!(ok.redis.get("hz").map(String::as_str), Some("20"));
        assert_eq!(
            ok.redis.get("lazyfree-lazy-eviction").map(String::as_str),
            Some("yes")
        );
        let p = problems(&format!(
            "{VALID}\n[redis]\nport = 7000\nMaxMemory = 1\nsave = [1]\n"
        ));
        has(&p, 26, "[redis] port is managed by redis-keeper");
        has(&p, 27, "[redis] 'MaxMemory' is not a Redis parameter name");
        has(&p, 28, "[redis] save = [1] is not a string");
    }

    #[test]
    fn bad_slot_ranges_and_policies() {
        let text = VALID
            .replace("[\"0-5460\"]", "[\"0-5460\", \"9-2\", \"x\"]")
            .replace(
                "[network]",
                "[image]\npull = \"sometimes\"\nfallback = \"cloud\"\n\n[network]",
            );
        let p = problems(&text);
        has(&p, 7, "pull = 'sometimes' is not a pull policy");
        has(&p, 8, "fallback = 'cloud' is not a fallback");
        has(&p, 17, "range '9-2' ends before it starts");
        has(&p, 17, "'x' is not a slot range");
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

    #[test]
    fn subnet_and_timeout_ranges() {
        let p = problems(
            &VALID
                .replace("172.20.2.0/24", "172.20.2.1/24")
                .replace("password_file", "node_timeout_ms = 10\npassword_file"),
        );
        has(&p, 4, "node_timeout_ms = 10 is out of range");
        has(&p, 9, "has host bits set");
    }

    /// Three hosts, a master and another shard's replica on each.
    const HOSTED: &str = r#"
[cluster]
name = "dev"
password_file = "pw"

[network]
name = "dev-data"
subnet = "172.20.2.0/24"

[[hosts]]
name = "vm-a"
docker = "ssh://deploy@10.0.0.11"
address = "10.0.0.11"

[[hosts]]
name = "vm-b"
docker = "tcp://10.0.0.12:2376"
cert_path = "certs/vm-b"
address = "10.0.0.12"

[[hosts]]
name = "vm-c"
docker = "staging-c"
address = "10.0.0.13"

[[nodes]]
name = "redis-1"
ip = "172.20.2.13"
host = "vm-a"
slots = ["0-5460"]

[[nodes]]
name = "redis-2"
ip = "172.20.2.16"
host = "vm-b"
slots = ["5461-10922"]

[[nodes]]
name = "redis-3"
ip = "172.20.2.17"
host = "vm-c"
slots = ["10923-16383"]

[[nodes]]
name = "redis-4"
ip = "172.20.2.14"
host = "vm-b"
port = 6380
replica_of = "redis-1"
"#;

    #[test]
    fn hosted_nodes_are_reached_and_announced_at_their_hosts_address() {
        let spec = parse(HOSTED, Path::new("/etc/rk/cluster.toml")).expect("valid");
        assert_eq!(spec.host_names(), ["vm-a", "vm-b", "vm-c"]);
        let four = spec.node("redis-4").expect("declared");
        assert_eq!(four.host.as_deref(), Some("vm-b"));
        assert_eq!(four.addr(), "10.0.0.12:6380");
        assert_eq!(four.ip, "172.20.2.14".parse::<Ipv4Addr>().unwrap());
        assert_eq!(
            spec.hosts[1].docker,
            Endpoint::Tcp {
                url: "tcp://10.0.0.12:2376".into(),
                certs: Some("/etc/rk/certs/vm-b".into())
            }
        );
        assert_eq!(
            spec.nodes_on("vm-b")
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>(),
            ["redis-2", "redis-4"]
        );
        // Two nodes share the address: the port tells them apart, never port 0.
        let two = spec.node("redis-2").expect("declared");
        let at = Some("10.0.0.12".parse().unwrap());
        assert!(four.is_at(at, 6380) && !two.is_at(at, 6380) && !four.is_at(at, 0));
    }

    #[test]
    fn without_hosts_everything_is_local_and_reached_at_its_container() {
        let spec = parse(VALID, Path::new("c.toml")).expect("valid");
        assert_eq!(spec.host_names(), [crate::spec::LOCAL]);
        assert_eq!(spec.nodes[0].addr(), "172.20.2.13:6379");
        assert!(spec.nodes[0].is_at(Some(spec.nodes[0].ip), 0));
    }

    #[test]
    fn a_replica_on_its_masters_host_is_refused_unless_allowed() {
        let same = HOSTED.replace(
            "host = \"vm-b\"\nport = 6380",
            "host = \"vm-a\"\nport = 6380",
        );
        has(
            &problems(&same),
            44,
            "redis-4 is on host vm-a with its master redis-1",
        );
        let allowed = same.replace(
            "replica_of = \"redis-1\"",
            "replica_of = \"redis-1\"\nallow_same_host = true",
        );
        assert!(parse(&allowed, Path::new("c.toml")).is_ok());
    }

    #[test]
    fn two_nodes_publishing_one_port_on_a_host_are_refused() {
        let clash = HOSTED.replace("port = 6380\n", "");
        has(
            &problems(&clash),
            44,
            "redis-4 publishes port 6379 on host vm-b, as redis-2 does",
        );
        // The bus port (+10000) counts too.
        let bus = HOSTED.replace("port = 6380\n", "port = 16379\n");
        let found = problems(&bus);
        assert!(
            found
                .iter()
                .any(|p| p.message.contains("publishes port 16379")),
            "{found:?}"
        );
    }

    #[test]
    fn nodes_sharing_a_host_need_their_own_tls_port() {
        let tls = format!("{HOSTED}\n[tls]\nenabled = true\nport = 6390\n");
        let found = problems(&tls);
        assert!(
            found
                .iter()
                .any(|p| p.message == "redis-4 publishes port 6390 on host vm-b, as redis-2 does"),
            "{found:?}"
        );
        let own = tls.replace("port = 6380\n", "port = 6380\ntls_port = 6391\n");
        let spec = parse(&own, Path::new("c.toml")).expect("valid");
        let four = spec.node("redis-4").expect("declared");
        assert_eq!(
            (four.tls_port, spec.node("redis-2").unwrap().tls_port),
            (Some(6391), Some(6390))
        );
        // With a TLS bus, the bus is the TLS port's + 10000.
        assert_eq!(four.published_ports(true), [6380, 6391, 16391]);
        let stray = HOSTED.replace("port = 6380\n", "port = 6380\ntls_port = 6391\n");
        has(
            &problems(&stray),
            44,
            "redis-4 has a tls_port but [tls] is not enabled",
        );
        let high = problems(&own.replace("tls_port = 6391", "tls_port = 60000"));
        assert!(
            high.iter()
                .any(|p| p.message == "redis-4: tls_port 60000 is out of range"),
            "{high:?}"
        );
        let same = own.replace("tls_port = 6391", "tls_port = 6380");
        has(
            &problems(&same),
            44,
            "redis-4: TLS port 6380 is also its plaintext port",
        );
    }

    #[test]
    fn hosts_and_node_hosts_are_checked() {
        let bad = HOSTED
            .replace("docker = \"staging-c\"", "docker = \"ftp://x\"")
            .replace("address = \"10.0.0.13\"", "address = \"0.0.0.0\"")
            .replace("host = \"vm-c\"", "host = \"vm-z\"");
        let found = problems(&bad);
        has(
            &found,
            23,
            "host vm-c: docker = 'ftp://x' uses a scheme Docker does not speak",
        );
        has(
            &found,
            24,
            "host vm-c: '0.0.0.0' is not an address peers can reach",
        );
        has(&found, 41, "redis-3: host 'vm-z' is not declared");
        let unplaced = HOSTED.replace("host = \"vm-a\"\n", "");
        has(&problems(&unplaced), 26, "redis-1 names no host");
        let undeclared = VALID.replace(
            "ip = \"172.20.2.13\"",
            "ip = \"172.20.2.13\"\nhost = \"vm-a\"",
        );
        has(
            &problems(&undeclared),
            13,
            "redis-1: host 'vm-a' is not declared",
        );
        let stray_certs = HOSTED.replace(
            "docker = \"ssh://deploy@10.0.0.11\"",
            "docker = \"ssh://deploy@10.0.0.11\"\ncert_path = \"c\"",
        );
        has(
            &problems(&stray_certs),
            13,
            "cert_path is only for tcp:// endpoints",
        );
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
