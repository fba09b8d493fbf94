//! The cluster.toml file format as written by people, before validation.
//!
//! Every field is optional and keeps its position in the file, so that validation can report
//! every problem at once with the line it is on, instead of stopping at the first.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
pub struct RawFile {
    pub cluster: Option<Spanned<RawCluster>>,
    pub image: Option<RawImage>,
    pub network: Option<Spanned<RawNetwork>>,
    pub persistence: Option<RawPersistence>,
    pub nodes: Option<Spanned<Vec<Spanned<RawNode>>>>,
    pub hosts: Option<Spanned<Vec<Spanned<RawHost>>>>,
    pub tls: Option<Spanned<RawTls>>,
    pub api: Option<RawApi>,
    /// Redis configuration parameters, applied live with CONFIG SET.
    pub redis: Option<std::collections::BTreeMap<String, Spanned<toml::Value>>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawCluster {
    pub name: Option<Spanned<String>>,
    pub node_timeout_ms: Option<Spanned<i64>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub no_password: Option<Spanned<bool>>,
    pub state_dir: Option<Spanned<String>>,
    pub failback: Option<Spanned<bool>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawImage {
    pub name: Option<Spanned<String>>,
    pub pull: Option<Spanned<String>>,
    pub fallback: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawNetwork {
    pub name: Option<Spanned<String>>,
    pub subnet: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawPersistence {
    pub appendonly: Option<Spanned<bool>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawApi {
    pub token_file: Option<Spanned<String>>,
    pub token_env: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawTls {
    pub enabled: Option<Spanned<bool>>,
    pub port: Option<Spanned<i64>>,
    pub certs_dir: Option<Spanned<String>>,
    pub generate: Option<Spanned<bool>>,
    pub auth_clients: Option<Spanned<String>>,
    pub cluster_bus: Option<Spanned<bool>>,
    pub plaintext: Option<Spanned<bool>>,
    pub renew_before_days: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawNode {
    pub name: Option<Spanned<String>>,
    pub ip: Option<Spanned<String>>,
    pub port: Option<Spanned<i64>>,
    pub slots: Option<Spanned<Vec<Spanned<String>>>>,
    pub host_port: Option<Spanned<i64>>,
    /// This node's TLS port, instead of `[tls].port` (nodes sharing a host need their own).
    pub tls_port: Option<Spanned<i64>>,
    pub replica_of: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    /// A replica that may share its master's host (refused unless said).
    pub allow_same_host: Option<Spanned<bool>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawHost {
    pub name: Option<Spanned<String>>,
    pub docker: Option<Spanned<String>>,
    pub address: Option<Spanned<String>>,
    pub cert_path: Option<Spanned<String>>,
}

/// The keys each table accepts; anything else is a typo that would otherwise be ignored.
pub const KNOWN_KEYS: &[(&str, &[&str])] = &[
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
