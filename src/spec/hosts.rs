//! `[[hosts]]`: the Docker engines a cluster spans, and how each is reached.
//!
//! Without `[[hosts]]` every node runs on the local engine (`DOCKER_HOST`, else the default
//! socket) and is reached at its container address, exactly as before hosts existed. With
//! them, each node names its host, publishes its ports on the host's address and announces
//! that address, so peers and clients on other machines can follow `MOVED` to it.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The name nodes are placed under when cluster.toml declares no `[[hosts]]`.
pub(crate) const LOCAL: &str = "local";

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HostSpec {
    pub(crate) name: String,
    pub(crate) docker: Endpoint,
    /// The address the host's nodes publish their ports on and announce to the cluster.
    pub(crate) address: Ipv4Addr,
}

/// How the operator reaches a host's Docker Engine: Docker's own ways, nothing home-made.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Endpoint {
    /// `unix:///path/to/docker.sock`.
    Unix(String),
    /// `tcp://host:port`; with `certs`, TLS with the client certificate in that folder
    /// (`ca.pem`, `cert.pem`, `key.pem`: the `DOCKER_CERT_PATH` layout).
    Tcp { url: String, certs: Option<PathBuf> },
    /// `ssh://user@host`, through the `ssh` client and its configuration.
    Ssh(String),
    /// The name of a `docker context`.
    Context(String),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(url) | Endpoint::Ssh(url) => f.write_str(url),
            Endpoint::Tcp { url, certs: None } => f.write_str(url),
            Endpoint::Tcp {
                url,
                certs: Some(_),
            } => write!(f, "{url} (TLS)"),
            Endpoint::Context(name) => write!(f, "docker context {name}"),
        }
    }
}

/// Why a `docker = "…"` value names no endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EndpointError {
    #[error("'{0}' uses a scheme Docker does not speak")]
    Scheme(String),
    #[error("'{0}' names no host")]
    Empty(String),
}

impl Endpoint {
    /// The docker CLI command that reaches this endpoint, for hints in messages.
    pub(crate) fn docker_cli(&self) -> String {
        match self {
            Endpoint::Context(name) => format!("docker --context {name}"),
            Endpoint::Tcp {
                url,
                certs: Some(dir),
            } => format!(
                "DOCKER_CERT_PATH={} docker -H {url} --tlsverify",
                dir.display()
            ),
            Endpoint::Unix(url) | Endpoint::Ssh(url) | Endpoint::Tcp { url, certs: None } => {
                format!("docker -H {url}")
            }
        }
    }

    /// Reads `docker = "…"`: a URL by its scheme, anything without `://` a context's name.
    /// `certs` is only meaningful for `tcp://`; the caller reports it elsewhere.
    pub(crate) fn parse(value: &str, certs: Option<PathBuf>) -> Result<Endpoint, EndpointError> {
        let Some((scheme, rest)) = value.split_once("://") else {
            return if value.trim().is_empty() {
                Err(EndpointError::Empty(value.into()))
            } else {
                Ok(Endpoint::Context(value.into()))
            };
        };
        if rest.trim_matches('/').is_empty() {
            return Err(EndpointError::Empty(value.into()));
        }
        match scheme {
            "unix" => Ok(Endpoint::Unix(value.into())),
            "tcp" => Ok(Endpoint::Tcp {
                url: value.into(),
                certs,
            }),
            "ssh" => Ok(Endpoint::Ssh(value.into())),
            _ => Err(EndpointError::Scheme(value.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_values_name_their_endpoint_by_scheme_or_as_a_context() {
        assert_eq!(
            Endpoint::parse("unix:///run/docker.sock", None),
            Ok(Endpoint::Unix("unix:///run/docker.sock".into()))
        );
        assert_eq!(
            Endpoint::parse("ssh://deploy@vm-a", None),
            Ok(Endpoint::Ssh("ssh://deploy@vm-a".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://10.0.0.12:2376", Some("certs/vm-b".into())),
            Ok(Endpoint::Tcp {
                url: "tcp://10.0.0.12:2376".into(),
                certs: Some("certs/vm-b".into())
            })
        );
        assert_eq!(
            Endpoint::parse("staging-a", None),
            Ok(Endpoint::Context("staging-a".into()))
        );
        assert_eq!(
            Endpoint::parse("http2://x", None),
            Err(EndpointError::Scheme("http2://x".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://", None),
            Err(EndpointError::Empty("tcp://".into()))
        );
    }

    #[test]
    fn hints_name_the_docker_command_that_reaches_the_same_endpoint() {
        let cli = |value: &str, certs: Option<&str>| {
            Endpoint::parse(value, certs.map(PathBuf::from))
                .expect("an endpoint")
                .docker_cli()
        };
        assert_eq!(cli("staging-a", None), "docker --context staging-a");
        assert_eq!(
            cli("tcp://10.0.0.12:2376", Some("/etc/rk/vm-b")),
            "DOCKER_CERT_PATH=/etc/rk/vm-b docker -H tcp://10.0.0.12:2376 --tlsverify"
        );
        assert_eq!(
            cli("ssh://deploy@vm-a", None),
            "docker -H ssh://deploy@vm-a"
        );
        assert_eq!(
            cli("tcp://10.0.0.11:2375", None),
            "docker -H tcp://10.0.0.11:2375"
        );
    }
}
