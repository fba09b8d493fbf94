//! One Docker client per host of the cluster, and whether each can be reached right now.
//!
//! Creating a client dials nothing, so a host that is down when the operator starts is not
//! an error: it is *unknown* until it answers. Each client settles on an API version the
//! first time its daemon answers; clones of a bollard client share that version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard::{Docker, API_DEFAULT_VERSION};
use sha2::{Digest, Sha256};

use super::DockerError;
use crate::spec::{ClusterSpec, Endpoint, LOCAL};

/// How long a host gets to answer before it counts as unreachable for this pass.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// The same over SSH, where the first connection is a login (an ssh process and a key
/// exchange): seconds on a slow link or a busy machine.
const ANSWER_OVER_SSH_WITHIN: Duration = Duration::from_secs(10);

/// Requests to a remote engine (an image copy or build included) give up after this.
const REQUEST_TIMEOUT_S: u64 = 120;

pub struct Engine {
    docker: Docker,
    /// The endpoint as people wrote it, for messages.
    pub(crate) endpoint: String,
    /// The docker CLI command that reaches it, for hints.
    cli: String,
    /// How long its daemon gets to answer.
    answer_within: Duration,
    negotiated: AtomicBool,
}

impl Engine {
    /// The client, whether or not the daemon answered yet.
    pub(crate) fn docker(&self) -> &Docker {
        &self.docker
    }

    /// That this engine, `host`'s, did not answer, and why.
    pub(crate) fn unreachable(&self, host: &str, reason: impl Into<String>) -> DockerError {
        DockerError::HostUnreachable {
            host: host.to_string(),
            endpoint: self.endpoint.clone(),
            cli: self.cli.clone(),
            reason: reason.into(),
        }
    }

    /// How long its daemon gets to answer before it counts as unreachable.
    pub(crate) fn answer_within(&self) -> Duration {
        self.answer_within
    }
}

/// The clients of every host, by host name ([`LOCAL`] without `[[hosts]]`).
pub(crate) struct Engines {
    by_host: BTreeMap<String, Engine>,
}

impl Engines {
    /// Clients for the spec's hosts. Fails only for an endpoint that cannot even be set up (a
    /// missing certificate, an unknown context), naming the host.
    pub(crate) async fn connect(spec: &ClusterSpec) -> Result<Engines, DockerError> {
        let mut by_host = BTreeMap::new();
        if spec.hosts.is_empty() {
            let docker = super::connect().await?;
            let endpoint = super::docker_host();
            let engine = Engine {
                docker,
                cli: format!("docker -H {endpoint}"),
                endpoint,
                answer_within: ANSWER_WITHIN,
                negotiated: AtomicBool::new(true),
            };
            by_host.insert(LOCAL.to_string(), engine);
        }
        for host in &spec.hosts {
            let unusable = |reason| DockerError::HostUnreachable {
                host: host.name.clone(),
                endpoint: host.docker.to_string(),
                cli: host.docker.docker_cli(),
                reason,
            };
            let concrete = concrete(&host.docker).map_err(unusable)?;
            let docker = client(&concrete).map_err(unusable)?;
            let answer_within = match concrete {
                Endpoint::Ssh(_) => ANSWER_OVER_SSH_WITHIN,
                _ => ANSWER_WITHIN,
            };
            let engine = Engine {
                docker,
                endpoint: host.docker.to_string(),
                cli: host.docker.docker_cli(),
                answer_within,
                negotiated: AtomicBool::new(false),
            };
            by_host.insert(host.name.clone(), engine);
        }
        Ok(Engines { by_host })
    }

    /// The client of `host`, a `[[hosts]]` name ([`LOCAL`] without any).
    pub(crate) fn of(&self, host: &str) -> Result<&Docker, DockerError> {
        self.engine(host).map(Engine::docker)
    }

    fn engine(&self, host: &str) -> Result<&Engine, DockerError> {
        self.by_host
            .get(host)
            .ok_or_else(|| DockerError::HostUnreachable {
                host: host.to_string(),
                endpoint: "nowhere".into(),
                cli: "docker".into(),
                reason: "it is not declared in cluster.toml".into(),
            })
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Engine)> {
        self.by_host.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Asks `host`'s daemon to answer within its engine's time, settling the API version the
    /// first time. The error names the host and its endpoint.
    pub(crate) async fn reach(&self, host: &str) -> Result<&Docker, DockerError> {
        let engine = self.engine(host)?;
        let ask = async {
            if engine.negotiated.load(Ordering::Relaxed) {
                engine.docker.ping().await.map(|_| ())
            } else {
                engine.docker.clone().negotiate_version().await.map(|_| ())
            }
        };
        match tokio::time::timeout(engine.answer_within, ask).await {
            Ok(Ok(())) => {
                engine.negotiated.store(true, Ordering::Relaxed);
                Ok(&engine.docker)
            }
            Ok(Err(e)) => Err(engine.unreachable(host, e.to_string())),
            Err(_) => Err(engine.unreachable(
                host,
                format!("no answer within {} s", engine.answer_within.as_secs()),
            )),
        }
    }

    /// Every host answers, or the error names the first that does not: `up` creates nothing
    /// on some hosts while another is out of reach.
    pub(crate) async fn reach_all(&self) -> Result<(), DockerError> {
        let hosts: Vec<&str> = self.by_host.keys().map(String::as_str).collect();
        let answers = futures_util::future::join_all(hosts.iter().map(|h| self.reach(h))).await;
        answers.into_iter().try_for_each(|a| a.map(|_| ()))
    }
}

/// A client for one endpoint; dials nothing.
fn client(endpoint: &Endpoint) -> Result<Docker, String> {
    let version = API_DEFAULT_VERSION;
    let made = match endpoint {
        Endpoint::Unix(url) => Docker::connect_with_unix(url, REQUEST_TIMEOUT_S, version),
        Endpoint::Tcp { url, certs: None } => {
            Docker::connect_with_http(url, REQUEST_TIMEOUT_S, version)
        }
        Endpoint::Tcp {
            url,
            certs: Some(dir),
        } => {
            let (key, cert, ca) = cert_files(dir)?;
            Docker::connect_with_ssl(url, &key, &cert, &ca, REQUEST_TIMEOUT_S, version)
        }
        Endpoint::Ssh(url) => super::ssh::client(url, REQUEST_TIMEOUT_S, version),
        Endpoint::Context(name) => return Err(format!("context {name} was not resolved")),
    };
    made.map_err(|e| e.to_string())
}

/// `key.pem`, `cert.pem` and `ca.pem` of a `DOCKER_CERT_PATH`-style folder, each present.
fn cert_files(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    let file = |name: &str| {
        let path = dir.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{} is missing (a TLS endpoint's cert_path holds ca.pem, cert.pem and key.pem)",
                path.display()
            ))
        }
    };
    Ok((file("key.pem")?, file("cert.pem")?, file("ca.pem")?))
}

/// The endpoint itself, or the one a `docker context` names, read where the docker CLI keeps
/// it: `$DOCKER_CONFIG/contexts/meta/<sha256 of the name>/meta.json`, with its TLS files
/// under `contexts/tls/<same>/docker/`.
fn concrete(endpoint: &Endpoint) -> Result<Endpoint, String> {
    let Endpoint::Context(name) = endpoint else {
        return Ok(endpoint.clone());
    };
    let config = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))
        .ok_or("neither DOCKER_CONFIG nor HOME is set, so no docker context can be found")?;
    let (url, tls) = context_endpoint(&config, name)?;
    let endpoint = Endpoint::parse(&url, tls).map_err(|e| format!("context {name}: {e}"))?;
    match endpoint {
        Endpoint::Context(_) => Err(format!("context {name} names no Docker endpoint")),
        other => Ok(other),
    }
}

/// The context's Docker host and, when it has TLS files, their folder.
fn context_endpoint(config: &Path, name: &str) -> Result<(String, Option<PathBuf>), String> {
    let hash = format!("{:x}", Sha256::digest(name.as_bytes()));
    let meta = config.join("contexts/meta").join(&hash).join("meta.json");
    let text = std::fs::read_to_string(&meta).map_err(|e| {
        format!(
            "docker context {name} not found ({}: {e}); create it with `docker context create {name} --docker host=…`",
            meta.display()
        )
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", meta.display()))?;
    let url = json["Endpoints"]["docker"]["Host"]
        .as_str()
        .ok_or_else(|| format!("docker context {name} has no Docker host"))?
        .to_string();
    let tls = config.join("contexts/tls").join(&hash).join("docker");
    Ok((url, tls.join("ca.pem").is_file().then_some(tls)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_is_read_where_the_docker_cli_keeps_it() {
        let config = tempfile::tempdir().expect("temp dir");
        let hash = format!("{:x}", Sha256::digest(b"staging-a"));
        let meta = config.path().join("contexts/meta").join(&hash);
        std::fs::create_dir_all(&meta).expect("meta dir");
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"staging-a","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://10.0.0.12:2376","SkipTLSVerify":false}}}"#,
        )
        .expect("meta.json");
        assert_eq!(
            context_endpoint(config.path(), "staging-a"),
            Ok(("tcp://10.0.0.12:2376".to_string(), None))
        );
        let tls = config
            .path()
            .join("contexts/tls")
            .join(&hash)
            .join("docker");
        std::fs::create_dir_all(&tls).expect("tls dir");
        std::fs::write(tls.join("ca.pem"), "x").expect("ca.pem");
        assert_eq!(
            context_endpoint(config.path(), "staging-a").map(|(_, t)| t),
            Ok(Some(tls))
        );
        let missing = context_endpoint(config.path(), "nope").unwrap_err();
        assert!(
            missing.contains("docker context nope not found"),
            "{missing}"
        );
    }

    #[test]
    fn a_tls_endpoint_without_its_files_says_which_is_missing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = cert_files(dir.path()).unwrap_err();
        assert!(err.contains("key.pem is missing"), "{err}");
    }
}
