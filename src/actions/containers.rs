//! Docker's side of the cluster: the node image, the network, the volumes and the
//! containers, through the Engine API.

use std::fmt;

use bollard::models::{
    Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListNetworksOptions, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use bollard::Docker;

use super::container_files::write_private_config;
use super::{ActError, Kind, Stage};
use crate::docker::blueprint;
use crate::docker::{image, message_of, status_of, DockerError};
use crate::runtime::context::Context;
use crate::spec::Subnet;

/// Pull `[image].name`, copy it from another host that has it, or build the host fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareImage {
    pub(crate) image: String,
    pub(crate) host: String,
}

impl Kind for PrepareImage {
    const NAME: &'static str = "prepare-image";
    const STAGE: Stage = Stage::Image;

    fn why(&self) -> &'static str {
        "no usable node image (or pull = \"always\")"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let others: Vec<_> = ctx
            .engines
            .iter()
            .filter(|(host, _)| *host != self.host)
            .map(|(_, engine)| engine)
            .collect();
        image::prepare(ctx.engines.of(&self.host)?, &others, &ctx.spec.image).await?;
        ctx.mark_pulled();
        Ok(())
    }
}

impl fmt::Display for PrepareImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "make the node image available on {} ({}, else copy or build it from the host's Redis)",
            self.host, self.image
        )
    }
}

/// The cluster's bridge network, with its declared subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateNetwork {
    pub(crate) name: String,
    pub(crate) subnet: String,
    pub(crate) host: String,
}

impl Kind for CreateNetwork {
    const NAME: &'static str = "create-network";
    const STAGE: Stage = Stage::Network;

    fn why(&self) -> &'static str {
        "the cluster network does not exist"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        create_network(ctx, ctx.engines.of(&self.host)?).await
    }
}

impl fmt::Display for CreateNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "create network {} ({}) on {}",
            self.name, self.subnet, self.host
        )
    }
}

/// The node's data volume: its data and its cluster identity (`nodes.conf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateVolume {
    pub(crate) node: String,
    pub(crate) volume: String,
}

impl Kind for CreateVolume {
    const NAME: &'static str = "create-volume";
    const STAGE: Stage = Stage::Volumes;

    fn why(&self) -> &'static str {
        "the node's data volume does not exist"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        create_volume(ctx, &self.node).await
    }
}

impl fmt::Display for CreateVolume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "create volume {} for {}", self.volume, self.node)
    }
}

/// Create, configure and start the node's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateContainer {
    pub(crate) node: String,
    pub(crate) container: String,
    pub(crate) image: String,
}

impl Kind for CreateContainer {
    const NAME: &'static str = "create-container";
    const STAGE: Stage = Stage::Containers;

    fn why(&self) -> &'static str {
        "the node's container does not exist"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        create_container(ctx, &self.node, &self.image).await
    }
}

impl fmt::Display for CreateContainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "create and start container {} for {} from {}",
            self.container, self.node, self.image
        )
    }
}

/// Start the node's stopped container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartContainer {
    pub(crate) node: String,
    pub(crate) container: String,
}

impl Kind for StartContainer {
    const NAME: &'static str = "start-container";
    const STAGE: Stage = Stage::Containers;

    fn why(&self) -> &'static str {
        "the node's container is not running"
    }

    /// Aligns stale shard ids in its `nodes.conf` first: Valkey up to 8.1.1 would refuse the
    /// file and crash-loop (see [`super::nodes_conf`]).
    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        super::nodes_conf::align_in_container(ctx, &self.container).await?;
        start(ctx, &self.node, &self.container).await
    }
}

impl fmt::Display for StartContainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "start the stopped container {} ({})",
            self.container, self.node
        )
    }
}

/// Unpause the node's paused container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpauseContainer {
    pub(crate) node: String,
    pub(crate) container: String,
}

impl Kind for UnpauseContainer {
    const NAME: &'static str = "unpause-container";
    const STAGE: Stage = Stage::Containers;

    fn why(&self) -> &'static str {
        "the node's container is paused"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        ctx.docker_of(&self.node)?
            .unpause_container(&self.container)
            .await
            .map_err(DockerError::api(format!(
                "unpause container {}",
                self.container
            )))?;
        Ok(())
    }
}

impl fmt::Display for UnpauseContainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unpause container {} ({})", self.container, self.node)
    }
}

/// Replace a container created from another spec; its volume (data, node id) stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecreateContainer {
    pub(crate) node: String,
    pub(crate) container: String,
    pub(crate) image: String,
}

impl Kind for RecreateContainer {
    const NAME: &'static str = "recreate-container";
    const STAGE: Stage = Stage::Containers;

    fn why(&self) -> &'static str {
        "the container differs from its spec (spec-hash label)"
    }

    /// Stops the server gracefully before the container goes: see [`stop_gracefully`].
    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        let docker = ctx.docker_of(&self.node)?;
        stop_gracefully(docker, &self.container).await?;
        remove_container(docker, &self.container).await?;
        create_container(ctx, &self.node, &self.image).await
    }
}

impl fmt::Display for RecreateContainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "recreate container {} ({}) from the current spec and {}, keeping its volume",
            self.container, self.node, self.image
        )
    }
}

/// Remove the container of a node cluster.toml no longer declares, once no node knows it
/// (its slots went to their declared owners and it was forgotten). Its volume stays until
/// `down --volumes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveContainer {
    pub(crate) node: String,
    pub(crate) container: String,
    /// Where the container was found: cluster.toml no longer says.
    pub(crate) host: String,
}

impl Kind for RemoveContainer {
    const NAME: &'static str = "remove-container";
    const STAGE: Stage = Stage::Containers;

    fn why(&self) -> &'static str {
        "the node was removed from cluster.toml, drained and forgotten"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        remove_container(ctx.engines.of(&self.host)?, &self.container).await
    }
}

impl fmt::Display for RemoveContainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "remove container {} of {}, removed from cluster.toml (its volume stays until `down --volumes`)", self.container, self.node)
    }
}

/// Attach a running container to the cluster network with its declared address (after a
/// disconnect, a removed and recreated network, or a wrong address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReattachNetwork {
    pub(crate) node: String,
    pub(crate) container: String,
}

impl Kind for ReattachNetwork {
    const NAME: &'static str = "reattach-network";
    const STAGE: Stage = Stage::Containers;

    fn why(&self) -> &'static str {
        "the container is not on the cluster network with its declared address"
    }

    async fn apply(&self, ctx: &Context) -> Result<(), ActError> {
        reattach(ctx, &self.node, &self.container).await
    }
}

impl fmt::Display for ReattachNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "attach {} ({}) to the cluster network with its declared address",
            self.container, self.node
        )
    }
}

/// Fails with the name of any existing network whose subnet overlaps ours: Docker's own
/// message ("Pool overlaps …") does not say which.
async fn check_overlap(ctx: &Context, docker: &Docker) -> Result<(), DockerError> {
    let wanted = ctx.spec.network.subnet;
    let networks = docker
        .list_networks(None::<ListNetworksOptions>)
        .await
        .map_err(DockerError::api("list networks"))?;
    for net in networks {
        let name = net.name.unwrap_or_default();
        if name == ctx.spec.network.name {
            continue;
        }
        let configs = net.ipam.and_then(|i| i.config).unwrap_or_default();
        for subnet in configs.into_iter().filter_map(|c| c.subnet) {
            if subnet.parse::<Subnet>().is_ok_and(|s| s.overlaps(&wanted)) {
                return Err(DockerError::SubnetOverlap {
                    subnet: wanted.to_string(),
                    other: name,
                    other_subnet: subnet,
                });
            }
        }
    }
    Ok(())
}

async fn create_network(ctx: &Context, docker: &Docker) -> Result<(), ActError> {
    check_overlap(ctx, docker).await?;
    let net = &ctx.spec.network;
    let request = NetworkCreateRequest {
        name: net.name.clone(),
        driver: Some("bridge".into()),
        ipam: Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(net.subnet.to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        labels: Some(blueprint::network_labels(&ctx.spec)),
        ..Default::default()
    };
    match docker.create_network(request).await {
        Ok(_) => Ok(()),
        Err(e) if status_of(&e) == Some(409) => Ok(()),
        Err(e) if message_of(&e).contains("overlaps") => Err(DockerError::SubnetOverlap {
            subnet: net.subnet.to_string(),
            other: "(unnamed)".into(),
            other_subnet: message_of(&e),
        }
        .into()),
        Err(e) => Err(DockerError::api(format!("create network {}", net.name))(e).into()),
    }
}

async fn create_volume(ctx: &Context, node: &str) -> Result<(), ActError> {
    let Some(spec) = ctx.spec.node(node) else {
        return Ok(());
    };
    let name = ctx.spec.volume_name(spec);
    let request = VolumeCreateRequest {
        name: Some(name.clone()),
        labels: Some(blueprint::volume_labels(&ctx.spec, spec)),
        ..Default::default()
    };
    ctx.docker_of(node)?
        .create_volume(request)
        .await
        .map_err(DockerError::api(format!("create volume {name}")))?;
    Ok(())
}

async fn create_container(ctx: &Context, node: &str, image: &str) -> Result<(), ActError> {
    let Some(spec) = ctx.spec.node(node) else {
        return Ok(());
    };
    let name = ctx.spec.container_name(spec);
    let body = blueprint::container_body(&ctx.spec, spec, image);
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    let docker = ctx.docker_of(node)?;
    match docker.create_container(Some(options), body).await {
        Ok(_) => {}
        // Created by an earlier run that stopped half-way: finish the job.
        Err(e) if status_of(&e) == Some(409) => {}
        Err(e) => return Err(DockerError::api(format!("create container {name}"))(e).into()),
    }
    write_private_config(ctx, node, &name).await?;
    if let Err(e) = start(ctx, node, &name).await {
        if e.is_permanent() {
            // Leave nothing half-made behind a setup error; the next run starts clean.
            let _ = remove_container(docker, &name).await;
        }
        return Err(e);
    }
    Ok(())
}

async fn start(ctx: &Context, node: &str, container: &str) -> Result<(), ActError> {
    let docker = ctx.docker_of(node)?;
    let Err(e) = docker.start_container(container, None).await else {
        return Ok(());
    };
    if status_of(&e) == Some(304) {
        return Ok(());
    }
    let message = message_of(&e);
    // The container still points at a network that was removed and recreated: attach it to
    // the current one, then start.
    if message.contains("network") && message.contains("not found") {
        reattach(ctx, node, container).await?;
        return docker
            .start_container(container, None)
            .await
            .map_err(|e| DockerError::api(format!("start container {container}"))(e).into());
    }
    let spec = ctx.spec.node(node);
    let host_port = spec.and_then(|n| n.host_port);
    let lower = message.to_lowercase();
    if let Some(port) =
        host_port.filter(|_| lower.contains("port is already allocated") || lower.contains("bind"))
    {
        return Err(DockerError::PortTaken {
            node: node.to_string(),
            port,
        }
        .into());
    }
    if lower.contains("address already in use") {
        return Err(DockerError::AddressInUse {
            node: node.to_string(),
            ip: spec.map(|n| n.ip.to_string()).unwrap_or_default(),
            network: ctx.spec.network.name.clone(),
        }
        .into());
    }
    Err(DockerError::api(format!("start container {container}"))(e).into())
}

/// Attaches the container to the cluster network with its declared address, dropping any
/// stale or wrong attachment first.
async fn reattach(ctx: &Context, node: &str, container: &str) -> Result<(), ActError> {
    let Some(spec) = ctx.spec.node(node) else {
        return Ok(());
    };
    let network = &ctx.spec.network.name;
    let docker = ctx.docker_of(node)?;
    let _ = docker
        .disconnect_network(
            network,
            NetworkDisconnectRequest {
                container: container.to_string(),
                force: Some(true),
            },
        )
        .await;
    let request = NetworkConnectRequest {
        container: container.to_string(),
        endpoint_config: Some(blueprint::endpoint(spec)),
    };
    match docker.connect_network(network, request).await {
        Ok(()) => Ok(()),
        Err(e)
            if message_of(&e)
                .to_lowercase()
                .contains("address already in use") =>
        {
            Err(DockerError::AddressInUse {
                node: node.to_string(),
                ip: spec.ip.to_string(),
                network: network.clone(),
            }
            .into())
        }
        Err(e) => {
            Err(DockerError::api(format!("attach {container} to network {network}"))(e).into())
        }
    }
}

/// How long a stopping server gets to exit before Docker kills it: enough to write its AOF
/// and an RDB snapshot of a dev-sized dataset.
const STOP_GRACE_SECS: i32 = 30;

/// Stops the container with SIGTERM, giving the server [`STOP_GRACE_SECS`] to exit. A
/// server shutting down writes and syncs its AOF; a SIGKILL (what `docker rm -f` sends)
/// skips that, and under `appendfsync everysec` a server whose background fsync is still
/// running may have acknowledged writes it has not written yet (aof.c, flushAppendOnlyFile).
async fn stop_gracefully(docker: &Docker, container: &str) -> Result<(), ActError> {
    let options = StopContainerOptionsBuilder::new()
        .t(STOP_GRACE_SECS)
        .build();
    match docker.stop_container(container, Some(options)).await {
        Ok(()) => Ok(()),
        // Already stopped, or gone.
        Err(e) if matches!(status_of(&e), Some(304 | 404)) => Ok(()),
        Err(e) => Err(DockerError::api(format!("stop container {container}"))(e).into()),
    }
}

/// Removes a container (never its volume); gone already is fine.
async fn remove_container(docker: &Docker, container: &str) -> Result<(), ActError> {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(false)
        .build();
    match docker.remove_container(container, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if status_of(&e) == Some(404) => Ok(()),
        Err(e) => Err(DockerError::api(format!("remove container {container}"))(e).into()),
    }
}
