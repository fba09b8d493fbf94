//! The desired state: cluster.toml, parsed and validated into a [`ClusterSpec`].
//!
//! Nothing outside this module sees the raw file. A `ClusterSpec` is always valid: slot
//! ranges cover every slot exactly once, names are DNS-safe, addresses fit the subnet. That
//! lets the planner and the actions trust it without re-checking. Beside it: the cluster's
//! password ([`secret`]) and which slot a key lives in ([`keyslot`]).
//!
//! Imports `files` only.

pub(crate) mod balance;
mod file;
pub(crate) mod hosts;
pub mod keyslot;
pub(crate) mod net;
pub mod secret;
pub(crate) mod slots;
mod validate;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub(crate) use hosts::{Endpoint, HostSpec, LOCAL};
pub(crate) use net::Subnet;
pub use slots::{SlotRange, SLOT_COUNT};
pub(crate) use validate::Problem;

/// The port Redis's cluster bus listens on, relative to the client port.
pub(crate) const CLUSTER_BUS_OFFSET: u16 = 10000;

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    pub name: String,
    pub(crate) node_timeout_ms: u64,
    /// A declared master whose replica was promoted while it was down takes its slots back
    /// (a coordinated `CLUSTER FAILOVER`) once it is in sync again; `false` keeps the promoted
    /// replica serving them.
    pub(crate) failback: bool,
    /// How slots move with their keys (`[cluster] slot_migration`).
    pub(crate) slot_migration: SlotMigration,
    pub auth: AuthSpec,
    pub image: ImageSpec,
    pub network: NetworkSpec,
    pub(crate) persistence: PersistenceSpec,
    pub nodes: Vec<NodeSpec>,
    /// `[[hosts]]`: the Docker engines the nodes are spread over; empty for the local one.
    pub(crate) hosts: Vec<HostSpec>,
    /// Redis configuration parameters (`[redis]`), kept live with CONFIG SET.
    pub(crate) redis: std::collections::BTreeMap<String, String>,
    /// Where the operator keeps what it generates (the default password file, later its lock
    /// and status); relative paths in the file are resolved against the file's folder.
    pub(crate) state_dir: PathBuf,
    /// `[tls]`, when enabled.
    pub tls: Option<TlsSpec>,
    /// Where the bearer token for the API's mutating endpoints comes from (`[api]`); without
    /// one they are refused.
    pub(crate) api_token: Option<TokenSource>,
}

/// A setting's value as logs, events, `plan` and the API may show it: the value of a
/// parameter whose name says it holds a secret is never shown, since those reach the
/// unauthenticated `/events` and `/status`.
pub(crate) fn shown_setting<'a>(key: &str, value: &'a str) -> &'a str {
    const SECRET_WORDS: &[&str] = &["pass", "secret", "token", "masterauth", "credential"];
    if SECRET_WORDS.iter().any(|w| key.contains(w)) {
        "(hidden)"
    } else {
        value
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenSource {
    File(PathBuf),
    Env(String),
}

/// TLS for clients, the cluster bus and replication, with per-node certificates laid out as
/// `<certs_dir>/<node>/{redis.crt,redis.key,ca.crt}`.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSpec {
    pub(crate) port: u16,
    pub(crate) certs_dir: PathBuf,
    /// Create the CA and any missing node certificate (and renew generated ones).
    pub(crate) generate: bool,
    pub(crate) auth_clients: AuthClients,
    /// tls-cluster and tls-replication.
    pub(crate) cluster_bus: bool,
    /// Keep the plaintext port open beside the TLS one.
    pub(crate) plaintext: bool,
    pub(crate) renew_before_days: u32,
}

/// Whether clients must present a certificate (Redis's `tls-auth-clients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthClients {
    Yes,
    Optional,
    No,
}

impl AuthClients {
    pub(crate) fn as_redis(self) -> &'static str {
        match self {
            AuthClients::Yes => "yes",
            AuthClients::Optional => "optional",
            AuthClients::No => "no",
        }
    }
}

/// Where the cluster's password comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthSpec {
    /// Explicitly asked for with `no_password = true`.
    NoPassword,
    /// The name of an environment variable that holds the password.
    Env(String),
    /// A file holding the password; created with a random one (mode 0600) when missing.
    File(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

/// How slots move with their keys between masters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotMigration {
    /// Atomically where every node's server can (Valkey 9.0+, Redis 8.4+, all on one
    /// version), by keys otherwise.
    Auto,
    /// Only atomically: moves wait, saying why, on a cluster whose servers cannot.
    Atomic,
    /// Key by key with MIGRATE, as `redis-cli --cluster reshard` does, on every server.
    Keys,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageFallback {
    /// Build a `FROM scratch` image from the host's redis-server when the image cannot be had.
    Host,
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImageSpec {
    pub(crate) name: String,
    pub(crate) pull: PullPolicy,
    pub(crate) fallback: ImageFallback,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSpec {
    pub name: String,
    pub subnet: Subnet,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PersistenceSpec {
    pub(crate) appendonly: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    pub(crate) name: String,
    /// The container's address on the cluster network of its host.
    pub(crate) ip: Ipv4Addr,
    /// The `[[hosts]]` entry the node runs on; None on the local engine.
    pub(crate) host: Option<String>,
    /// Where peers, clients and the operator reach the node, and what it announces: its
    /// host's address, or its container address without `[[hosts]]`.
    pub(crate) address: Ipv4Addr,
    /// The plaintext client port (`[[nodes]].port`), open unless `[tls].plaintext = false`.
    pub(crate) port: u16,
    /// The port the operator speaks to, and that Redis names to it in CLUSTER NODES: the
    /// plaintext port, or the TLS port when that is the only one.
    pub(crate) client_port: u16,
    /// The port cluster traffic is addressed with (MIGRATE): the TLS port when the cluster bus
    /// uses TLS. The bus itself listens on it + [`CLUSTER_BUS_OFFSET`].
    pub(crate) cluster_port: u16,
    /// The TLS port, with `[tls]`.
    pub(crate) tls_port: Option<u16>,
    /// A master's slots; empty for a replica.
    pub(crate) slots: Vec<SlotRange>,
    pub(crate) host_port: Option<u16>,
    /// The master this node replicates (`replica_of`); None for a master. Validation
    /// guarantees it names a master that owns slots.
    pub replica_of: Option<String>,
}

impl NodeSpec {
    pub fn is_replica(&self) -> bool {
        self.replica_of.is_some()
    }

    /// The declared master of this node's shard: its `replica_of`, or itself.
    pub(crate) fn shard(&self) -> &str {
        self.replica_of.as_deref().unwrap_or(&self.name)
    }

    pub(crate) fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|r| r.contains(slot))
    }

    pub fn slot_count(&self) -> usize {
        self.slots.iter().map(SlotRange::len).sum()
    }

    /// `ip:port`, the address Redis names this node by to the operator.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.address, self.client_port)
    }

    /// The engine the node runs on: its `[[hosts]]` entry, or [`LOCAL`].
    pub(crate) fn host_name(&self) -> &str {
        self.host.as_deref().unwrap_or(LOCAL)
    }

    /// The ports the node listens on: the plaintext one (when open), TLS, and the bus.
    /// On a host these are published on its address, so no two nodes there may share one.
    pub(crate) fn published_ports(&self, plaintext: bool) -> Vec<u16> {
        let mut ports: Vec<u16> = plaintext.then_some(self.port).into_iter().collect();
        ports.extend(self.tls_port);
        ports.push(self.bus_port());
        ports
    }

    /// `ip:port` a peer meets this node at: the port cluster traffic uses (with a TLS bus,
    /// servers take a MEET's port as the node's TLS port), with [`NodeSpec::bus_port`].
    pub(crate) fn meet_addr(&self) -> String {
        format!("{}:{}", self.address, self.cluster_port)
    }

    pub(crate) fn bus_port(&self) -> u16 {
        self.cluster_port + CLUSTER_BUS_OFFSET
    }

    /// Whether a node named at `ip:port` is this one. The IP decides; the port only has to be
    /// one of the node's (plaintext or TLS), or 0: which one a server names depends on its
    /// version, the asking connection and whether it has heard from the node directly yet.
    /// On a host, nodes share the address and only the port tells them apart; they announce
    /// theirs, so a server never names one of them with port 0.
    pub(crate) fn is_at(&self, ip: Option<Ipv4Addr>, port: u16) -> bool {
        ip == Some(self.address)
            && ((port == 0 && self.host.is_none())
                || port == self.port
                || port == self.client_port
                || Some(port) == self.tls_port)
    }
}

impl ClusterSpec {
    pub fn container_name(&self, node: &NodeSpec) -> String {
        format!("{}-{}", self.name, node.name)
    }

    pub fn volume_name(&self, node: &NodeSpec) -> String {
        format!("{}-{}-data", self.name, node.name)
    }

    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Whether nodes listen on their plaintext port: without `[tls]`, or with `plaintext`.
    pub(crate) fn plaintext_open(&self) -> bool {
        self.tls.as_ref().is_none_or(|t| t.plaintext)
    }

    /// The engines nodes run on: each `[[hosts]]` name, or just `LOCAL`.
    pub fn host_names(&self) -> Vec<&str> {
        if self.hosts.is_empty() {
            vec![LOCAL]
        } else {
            self.hosts.iter().map(|h| h.name.as_str()).collect()
        }
    }

    /// The declared nodes that run on `host`.
    pub(crate) fn nodes_on<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a NodeSpec> {
        self.nodes.iter().filter(move |n| n.host_name() == host)
    }

    /// The declared masters, in file order.
    pub(crate) fn masters(&self) -> impl Iterator<Item = &NodeSpec> {
        self.nodes.iter().filter(|n| !n.is_replica())
    }

    /// The nodes of `master`'s shard: the master first, then its replicas in file order.
    pub(crate) fn shard(&self, master: &str) -> impl Iterator<Item = &NodeSpec> {
        let master = master.to_string();
        let (first, rest): (Vec<&NodeSpec>, Vec<&NodeSpec>) = self
            .nodes
            .iter()
            .filter(|n| n.shard() == master)
            .partition(|n| !n.is_replica());
        first.into_iter().chain(rest)
    }

    /// The declared owner of a slot. Validation guarantees there is exactly one.
    pub fn owner_of(&self, slot: u16) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.owns(slot))
    }

    /// Parses and validates `text`; `path` names the file in problems and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<ClusterSpec, Vec<Problem>> {
        validate::parse(text, path)
    }
}

/// Why cluster.toml could not be turned into a spec.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {path}: {source} (pass the cluster file with -f PATH)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has {} problem(s):\n{}", path.display(), problems.len(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// Reads and validates the cluster file at `path`. No side effects.
pub fn load(path: &Path) -> Result<ClusterSpec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    ClusterSpec::parse(&text, path).map_err(|problems| SpecError::Invalid {
        path: path.to_path_buf(),
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::shown_setting;

    #[test]
    fn values_of_secret_looking_settings_are_hidden() {
        assert_eq!(shown_setting("maxmemory", "100mb"), "100mb");
        assert_eq!(shown_setting("masterauth", "hunter2"), "(hidden)");
        assert_eq!(shown_setting("tls-key-file-pass", "hunter2"), "(hidden)");
        assert_eq!(shown_setting("some-module-secret", "x"), "(hidden)");
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// The reference layout (the seed's three masters on 172.20.2.0/24, TLS on 6390 beside
    /// plaintext 6379), as a fixture of its own: tests do not change when someone edits the
    /// repository's cluster.toml.
    pub(crate) const REFERENCE_TOML: &str = r#"
[cluster]
name = "dev"
node_timeout_ms = 5000
password_file = ".redis-keeper/dev.password"

[image]
name = "redis:7.2"

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

[tls]
enabled = true
port = 6390
"#;

    /// The reference layout with a replica per master (the seed's 3 + 3): redis-4, -5 and -6
    /// replicate redis-1, -2 and -3.
    pub(crate) const REPLICAS_TOML: &str = r#"
[[nodes]]
name = "redis-4"
ip = "172.20.2.14"
replica_of = "redis-1"

[[nodes]]
name = "redis-5"
ip = "172.20.2.15"
replica_of = "redis-2"

[[nodes]]
name = "redis-6"
ip = "172.20.2.18"
replica_of = "redis-3"
"#;

    pub(crate) fn replicated_spec() -> ClusterSpec {
        let text = format!("{REFERENCE_TOML}{REPLICAS_TOML}");
        ClusterSpec::parse(&text, Path::new("cluster.toml")).expect("the 3 + 3 fixture is valid")
    }

    /// 3 + 3 over three hosts, no TLS: each host runs a master (port 6379) and another
    /// shard's replica (6380), as redis-keeper's multi-host layout advises.
    pub(crate) const HOSTED_TOML: &str = r#"
[cluster]
name = "dev"
password_file = ".redis-keeper/dev.password"

[network]
name = "dev-data"
subnet = "172.20.2.0/24"

[[hosts]]
name = "vm-a"
docker = "ssh://deploy@10.0.0.11"
address = "10.0.0.11"

[[hosts]]
name = "vm-b"
docker = "ssh://deploy@10.0.0.12"
address = "10.0.0.12"

[[hosts]]
name = "vm-c"
docker = "ssh://deploy@10.0.0.13"
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

[[nodes]]
name = "redis-5"
ip = "172.20.2.15"
host = "vm-c"
port = 6380
replica_of = "redis-2"

[[nodes]]
name = "redis-6"
ip = "172.20.2.18"
host = "vm-a"
port = 6380
replica_of = "redis-3"
"#;

    pub(crate) fn hosted_spec() -> ClusterSpec {
        ClusterSpec::parse(HOSTED_TOML, Path::new("cluster.toml"))
            .expect("the hosted fixture is valid")
    }

    pub(crate) fn reference_spec() -> ClusterSpec {
        ClusterSpec::parse(REFERENCE_TOML, Path::new("cluster.toml"))
            .expect("the reference fixture is valid")
    }
}
