//! Certificates for `[tls]`: where each node's files live (`<certs_dir>/<node>/redis.crt`,
//! `redis.key`, `ca.crt`, the layout Vault and the reference stack use), making them when
//! cluster.toml allows it ([`issue`]), and checking them before any container is touched
//! (`verify`).
//!
//! Files brought by the user are used unchanged. Generated ones come from a CA the operator
//! keeps in `<certs_dir>/ca.crt` and `ca.key` and reuses. Private keys are written 0600.
//!
//! Imports `files` and `spec`.

pub mod issue;
pub(crate) mod verify;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::spec::TlsSpec;

pub(crate) const CERT_FILE: &str = "redis.crt";
pub(crate) const KEY_FILE: &str = "redis.key";
pub(crate) const CA_FILE: &str = "ca.crt";
const CA_KEY_FILE: &str = "ca.key";

/// What `up` and `run` do before any container is touched: make what cluster.toml lets the
/// operator make, then check every node's files. Returns what was made.
pub(crate) fn prepare(
    spec: &crate::spec::ClusterSpec,
    now: std::time::SystemTime,
) -> Result<Vec<(String, issue::Reason)>, Vec<CertProblem>> {
    let made = issue::ensure(spec, now).map_err(|p| vec![p])?;
    for (node, reason) in &made {
        tracing::info!(node = %node, reason = ?reason, "issued a TLS certificate");
    }
    let problems = verify::verify(spec, now);
    if problems.is_empty() {
        Ok(made)
    } else {
        Err(problems)
    }
}

/// One node's certificate files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub(crate) ca: PathBuf,
}

pub fn node_files(tls: &TlsSpec, node: &str) -> NodeFiles {
    let dir = tls.certs_dir.join(node);
    NodeFiles {
        cert: dir.join(CERT_FILE),
        key: dir.join(KEY_FILE),
        ca: dir.join(CA_FILE),
    }
}

/// The generated CA's certificate and key.
fn ca_files(tls: &TlsSpec) -> (PathBuf, PathBuf) {
    (tls.certs_dir.join(CA_FILE), tls.certs_dir.join(CA_KEY_FILE))
}

/// Something wrong with a certificate file: which file, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {what}: {hint}", path.display())]
pub struct CertProblem {
    pub(crate) path: PathBuf,
    pub(crate) what: String,
    pub(crate) hint: String,
}

impl CertProblem {
    fn new(path: &Path, what: impl Into<String>, hint: impl Into<String>) -> CertProblem {
        CertProblem {
            path: path.to_path_buf(),
            what: what.into(),
            hint: hint.into(),
        }
    }
}

/// A node's certificate, key and CA as PEM, read from its files.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct NodeMaterial {
    pub(crate) cert: Vec<u8>,
    pub(crate) key: Vec<u8>,
    pub(crate) ca: Vec<u8>,
}

impl fmt::Debug for NodeMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeMaterial")
            .field("cert", &format_args!("{} bytes", self.cert.len()))
            .field("key", &"<redacted>")
            .field("ca", &format_args!("{} bytes", self.ca.len()))
            .finish()
    }
}

/// Reads a node's three files.
pub(crate) fn load(tls: &TlsSpec, node: &str) -> Result<NodeMaterial, CertProblem> {
    let files = node_files(tls, node);
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| {
            CertProblem::new(
                path,
                format!("cannot read it ({e})"),
                "put the node's file there, or set [tls].generate = true",
            )
        })
    };
    Ok(NodeMaterial {
        cert: read(&files.cert)?,
        key: read(&files.key)?,
        ca: read(&files.ca)?,
    })
}

/// Writes `data` to `path` (creating its folder), readable by the owner only when `private`;
/// replaced whole, so a node's files are never seen half-written.
fn write_file(path: &Path, data: &[u8], private: bool) -> Result<(), CertProblem> {
    let mode = if private {
        crate::files::PRIVATE
    } else {
        crate::files::PUBLIC
    };
    crate::files::write_atomic(path, data, mode).map_err(|e| {
        CertProblem::new(
            path,
            format!("cannot write it ({e})"),
            "make the folder writable, or bring the file yourself with [tls].generate = false",
        )
    })
}

#[cfg(test)]
mod tests;
