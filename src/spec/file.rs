//! The cluster.toml file format as written by people, before validation.
//!
//! Every field is optional and keeps its position in the file, so that validation can report
//! every problem at once with the line it is on, instead of stopping at the first.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawFile {
    pub(crate) cluster: Option<Spanned<RawCluster>>,
    pub(crate) image: Option<RawImage>,
    pub(crate) network: Option<Spanned<RawNetwork>>,
    pub(crate) persistence: Option<RawPersistence>,
    pub(crate) nodes: Option<Spanned<Vec<Spanned<RawNode>>>>,
    pub(crate) hosts: Option<Spanned<Vec<Spanned<RawHost>>>>,
    pub(crate) tls: Option<Spanned<RawTls>>,
    pub(crate) api: Option<RawApi>,
    /// Redis configuration parameters, applied live with CONFIG SET.
    pub(crate) redis: Option<std::collections::BTreeMap<String, Spanned<toml::Value>>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawCluster {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) node_timeout_ms: Option<Spanned<i64>>,
    pub(crate) password_env: Option<Spanned<String>>,
    pub(crate) password_file: Option<Spanned<String>>,
    pub(crate) no_password: Option<Spanned<bool>>,
    pub(crate) state_dir: Option<Spanned<String>>,
    pub(crate) failback: Option<Spanned<bool>>,
    pub(crate) slot_migration: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawImage {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) pull: Option<Spanned<String>>,
    pub(crate) fallback: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawNetwork {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) subnet: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawPersistence {
    pub(crate) appendonly: Option<Spanned<bool>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawApi {
    pub(crate) token_file: Option<Spanned<String>>,
    pub(crate) token_env: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawTls {
    pub(crate) enabled: Option<Spanned<bool>>,
    pub(crate) port: Option<Spanned<i64>>,
    pub(crate) certs_dir: Option<Spanned<String>>,
    pub(crate) generate: Option<Spanned<bool>>,
    pub(crate) auth_clients: Option<Spanned<String>>,
    pub(crate) cluster_bus: Option<Spanned<bool>>,
    pub(crate) plaintext: Option<Spanned<bool>>,
    pub(crate) renew_before_days: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawNode {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) ip: Option<Spanned<String>>,
    pub(crate) port: Option<Spanned<i64>>,
    pub(crate) slots: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) host_port: Option<Spanned<i64>>,
    /// This node's TLS port, instead of `[tls].port` (nodes sharing a host need their own).
    pub(crate) tls_port: Option<Spanned<i64>>,
    pub(crate) replica_of: Option<Spanned<String>>,
    pub(crate) host: Option<Spanned<String>>,
    /// A replica that may share its master's host (refused unless said).
    pub(crate) allow_same_host: Option<Spanned<bool>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawHost {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) docker: Option<Spanned<String>>,
    pub(crate) address: Option<Spanned<String>>,
    pub(crate) cert_path: Option<Spanned<String>>,
}

/// The keys each table accepts; anything else is a typo that would otherwise be ignored.
pub(crate) const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "cluster",
        &[
            "name",
            "node_timeout_ms",
            "password_env",
            "password_file",
            "no_password",
            "state_dir",
            "failback",
            "slot_migration",
        ],
    ),
    ("image", &["name", "pull", "fallback"]),
    ("network", &["name", "subnet"]),
    ("persistence", &["appendonly"]),
    (
        "nodes",
        &[
            "name",
            "ip",
            "port",
            "slots",
            "host_port",
            "replica_of",
            "host",
            "allow_same_host",
            "tls_port",
        ],
    ),
    ("hosts", &["name", "docker", "address", "cert_path"]),
    (
        "tls",
        &[
            "enabled",
            "port",
            "certs_dir",
            "generate",
            "auth_clients",
            "cluster_bus",
            "plaintext",
            "renew_before_days",
        ],
    ),
    ("api", &["token_file", "token_env"]),
    // Any Redis parameter name is allowed here; validation checks them.
    ("redis", &[]),
];
