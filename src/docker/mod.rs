//! The Docker Engine, through its API (bollard): connecting, and errors a person can act on.
//!
//! Docker's own messages ("Pool overlaps with other one on this address space") are turned
//! into [`DockerError`]s that say what is wrong in cluster.toml terms and how to fix it.
//! [`blueprint`] says what each Docker object of a cluster should look like.
//!
//! Imports `spec` and `tls`.

pub mod archive;
pub mod blueprint;
pub(crate) mod engines;
pub mod host_image;
pub mod image;
mod ssh;

pub(crate) use engines::Engines;

use bollard::errors::Error as BollardError;
use bollard::Docker;

/// A Docker failure, classified so callers can tell a bad setup from a passing fault.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach the Docker daemon at {host} ({reason}): start it (e.g. `sudo systemctl start docker`) or point DOCKER_HOST at a running one")]
    Unreachable { host: String, reason: String },
    #[error("host {host}: cannot reach its Docker Engine at {endpoint} ({reason}): check that the machine is up and `{cli} info` answers from here, or fix its [[hosts]] entry in cluster.toml")]
    HostUnreachable {
        host: String,
        endpoint: String,
        /// The docker CLI command that reaches the same endpoint.
        cli: String,
        reason: String,
    },
    #[error("image {image} is not available: {reason}")]
    ImageUnavailable { image: String, reason: String },
    #[error("[network].subnet {subnet} overlaps Docker network '{other}' ({other_subnet}): choose another subnet in cluster.toml, or remove that network")]
    SubnetOverlap {
        subnet: String,
        other: String,
        other_subnet: String,
    },
    #[error("Docker network '{name}' already exists with subnet {found}, not {wanted}: remove it (`docker network rm {name}`) or set [network].subnet = \"{found}\"")]
    NetworkMismatch {
        name: String,
        found: String,
        wanted: String,
    },
    #[error("{node}: address {ip} is already in use on network {network}: give the node another ip in cluster.toml, or remove the container that holds it")]
    AddressInUse {
        node: String,
        ip: String,
        network: String,
    },
    #[error("{node}: host port {port} is already taken on 127.0.0.1: free it, or change host_port in cluster.toml")]
    PortTaken { node: String, port: u16 },
    #[error("Docker refused to {what}: {source}")]
    Api {
        what: String,
        #[source]
        source: BollardError,
    },
}

impl DockerError {
    /// Setup problems that retrying cannot fix: `up` stops at once and says why.
    pub(crate) fn is_permanent(&self) -> bool {
        !matches!(self, DockerError::Api { .. })
    }

    pub(crate) fn api(what: impl Into<String>) -> impl FnOnce(BollardError) -> DockerError {
        let what = what.into();
        move |source| match unreachable(&source) {
            Some(e) => e,
            None => DockerError::Api { what, source },
        }
    }
}

pub(crate) fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// A lost daemon shows up as an I/O or hyper error on any call.
fn unreachable(err: &BollardError) -> Option<DockerError> {
    let reason = match err {
        BollardError::IOError { err } => err.to_string(),
        BollardError::HyperResponseError { err } => err.to_string(),
        BollardError::HyperLegacyError { err } => err.to_string(),
        BollardError::SocketNotFoundError(path) => format!("no socket at {path}"),
        _ => return None,
    };
    Some(DockerError::Unreachable {
        host: docker_host(),
        reason,
    })
}

/// The HTTP status Docker answered with, if it answered at all.
pub(crate) fn status_of(err: &BollardError) -> Option<u16> {
    match err {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Docker's own message, for matching the few we translate.
pub(crate) fn message_of(err: &BollardError) -> String {
    match err {
        BollardError::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Connects to the local daemon and settles on an API version both sides speak (Docker 20.10
/// stops at 1.41; bollard would otherwise ask for newer).
pub async fn connect() -> Result<Docker, DockerError> {
    let unreachable = |reason: String| DockerError::Unreachable {
        host: docker_host(),
        reason,
    };
    let docker = Docker::connect_with_local_defaults().map_err(|e| unreachable(e.to_string()))?;
    docker
        .negotiate_version()
        .await
        .map_err(|e| unreachable(e.to_string()))
}
