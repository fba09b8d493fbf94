//! What every reconcile shares: the desired state and the clients that reach the world.

use std::sync::atomic::{AtomicBool, Ordering};

use bollard::Docker;

use crate::docker::{host_image, DockerError, Engines};
use crate::redis_clients::NodeClients;
use crate::spec::secret::Secret;
use crate::spec::{ClusterSpec, ImageFallback};

pub struct Context {
    pub(crate) spec: ClusterSpec,
    /// One Docker client per host (just the local engine without `[[hosts]]`).
    pub(crate) engines: Engines,
    pub(crate) redis: NodeClients,
    pub(crate) password: Option<Secret>,
    /// The host fallback image's tag, when the spec allows it and the host has Redis.
    pub(crate) host_image_tag: Option<String>,
    /// The slot moves in flight: progress, and the request to stop after the current round.
    pub(crate) moves: crate::actions::slots::progress::MoveTracker,
    pulled: AtomicBool,
}

impl Context {
    pub async fn connect(
        spec: ClusterSpec,
        password: Option<Secret>,
    ) -> Result<Context, DockerError> {
        let engines = Engines::connect(&spec).await?;
        let host_image_tag = match spec.image.fallback {
            ImageFallback::Host => host_image::find().await.ok().map(|h| h.tag()),
            ImageFallback::None => None,
        };
        // Over TLS the operator presents the first node's certificate: one every node's CA
        // trusts, with the client-auth use the cluster bus needs anyway.
        let client_tls = match &spec.tls {
            Some(tls) if !tls.plaintext => spec
                .nodes
                .first()
                .and_then(|n| crate::tls::load(tls, &n.name).ok()),
            _ => None,
        };
        Ok(Context {
            redis: NodeClients::new(password.clone(), client_tls),
            spec,
            engines,
            password,
            host_image_tag,
            moves: crate::actions::slots::progress::MoveTracker::default(),
            pulled: AtomicBool::new(false),
        })
    }

    /// The Docker client of the host a declared node runs on (the first host's for a name
    /// cluster.toml no longer declares; actions on those say their host themselves).
    pub(crate) fn docker_of(&self, node: &str) -> Result<&Docker, DockerError> {
        let host = self
            .spec
            .node(node)
            .map_or(crate::spec::LOCAL, |n| n.host_name());
        self.engines.of(host)
    }

    /// The Docker client of the host a declared node's container is on, by container name.
    pub(crate) fn docker_of_container(&self, container: &str) -> Result<&Docker, DockerError> {
        let node = self
            .spec
            .nodes
            .iter()
            .find(|n| self.spec.container_name(n) == container);
        self.engines
            .of(node.map_or(crate::spec::LOCAL, |n| n.host_name()))
    }

    /// Whether this process has already made the image available once (for `pull = "always"`).
    pub(crate) fn pulled(&self) -> bool {
        self.pulled.load(Ordering::Relaxed)
    }

    pub(crate) fn mark_pulled(&self) {
        self.pulled.store(true, Ordering::Relaxed);
    }
}
