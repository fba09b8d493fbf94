//! What every reconcile shares: the desired state and the clients that reach the world.

use std::sync::atomic::{AtomicBool, Ordering};

use bollard::Docker;

use crate::docker::{self, host_image, DockerError};
use crate::node_client::NodeClients;
use crate::secret::Secret;
use crate::spec::{ClusterSpec, ImageFallback};

pub struct Context {
    pub spec: ClusterSpec,
    pub docker: Docker,
    pub redis: NodeClients,
    pub password: Option<Secret>,
    /// The host fallback image's tag, when the spec allows it and the host has Redis.
    pub host_image_tag: Option<String>,
    /// The slot moves in flight: progress, and the request to stop after the current round.
    pub moves: crate::slot_moves::MoveTracker,
    pulled: AtomicBool,
}

impl Context {
    pub async fn connect(
        spec: ClusterSpec,
        password: Option<Secret>,
    ) -> Result<Context, DockerError> {
        let docker = docker::connect().await?;
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
            docker,
            password,
            host_image_tag,
            moves: crate::slot_moves::MoveTracker::default(),
            pulled: AtomicBool::new(false),
        })
    }

    /// Whether this process has already made the image available once (for `pull = "always"`).
    pub fn pulled(&self) -> bool {
        self.pulled.load(Ordering::Relaxed)
    }

    pub fn mark_pulled(&self) {
        self.pulled.store(true, Ordering::Relaxed);
    }
}
