//! The Docker side of observation: image, network, volumes and containers of one cluster,
//! found by the operator's cluster label.

use std::collections::{BTreeMap, BTreeSet};

use bollard::models::{ContainerSummary, ContainerSummaryStateEnum};
use bollard::query_parameters::{ListContainersOptionsBuilder, ListVolumesOptionsBuilder};
use bollard::Docker;

use super::{
    HostObserved, ImageState, Observed, ObservedContainer, ObservedNetwork, RunState, ServerVersion,
};
use crate::docker::blueprint::{self, label};
use crate::docker::{image, status_of, DockerError};
use crate::runtime::context::Context;
use crate::spec::{ImageFallback, ImageSpec, PullPolicy};

/// Every host at once. Without `[[hosts]]` a silent engine is an error, as it always was;
/// with them, a host that does not answer is recorded as unknown and the others observed.
pub(super) async fn observe(ctx: &Context) -> Result<Observed, DockerError> {
    let hosts = ctx.engines.iter().map(|(host, engine)| async move {
        let seen = async {
            if ctx.spec.hosts.is_empty() {
                // The local engine: as slow as it is, it is the only one.
                return observe_host(ctx, engine.docker(), host).await;
            }
            let docker = ctx.engines.reach(host).await?;
            let within = engine.answer_within() * 2;
            match tokio::time::timeout(within, observe_host(ctx, docker, host)).await {
                Ok(seen) => seen,
                Err(_) => Err(engine.unreachable(host, "it stopped answering while observed")),
            }
        };
        (host, seen.await)
    });
    let mut observed = Observed::default();
    for (host, seen) in futures_util::future::join_all(hosts).await {
        match seen {
            Ok((state, volumes, containers)) => {
                observed.hosts.insert(host.to_string(), state);
                observed.volumes.extend(volumes);
                observed.containers.extend(containers);
            }
            Err(e) if ctx.spec.hosts.is_empty() => return Err(e),
            Err(e) => {
                tracing::warn!(host, error = %e, "host unreachable");
                observed.unreachable.insert(host.to_string(), e.to_string());
            }
        }
    }
    Ok(observed)
}

type HostSeen = (
    HostObserved,
    BTreeSet<String>,
    BTreeMap<String, ObservedContainer>,
);

/// One host's image, network, volumes and containers, asked one after another: requests in
/// flight together each open a connection of their own, and over `ssh://` every connection
/// is another login (an ssh process and a key exchange, costly enough on a busy machine to
/// make the same pass's TLS handshakes with the nodes miss their deadline). One at a time,
/// they share the one connection the client keeps.
async fn observe_host(ctx: &Context, docker: &Docker, host: &str) -> Result<HostSeen, DockerError> {
    let image = image_state(
        docker,
        &ctx.spec.image,
        ctx.host_image_tag.as_deref(),
        ctx.pulled(),
    )
    .await?;
    let network = network(ctx, docker).await?;
    let volumes = volumes(ctx, docker).await?;
    let containers = containers(ctx, docker, host).await?;
    Ok((HostObserved { image, network }, volumes, containers))
}

/// Which image containers can use right now, without pulling or building anything.
async fn image_state(
    docker: &Docker,
    spec: &ImageSpec,
    host_tag: Option<&str>,
    pulled: bool,
) -> Result<ImageState, DockerError> {
    let pull_due = spec.pull == PullPolicy::Always && !pulled;
    if let Some(image) = image::inspect(docker, &spec.name).await? {
        return Ok(ImageState {
            usable: Some(spec.name.clone()),
            pull_due,
            server: server_of(&image),
        });
    }
    if let (ImageFallback::Host, Some(tag)) = (spec.fallback, host_tag) {
        if let Some(image) = image::inspect(docker, tag).await? {
            return Ok(ImageState {
                usable: Some(tag.to_string()),
                pull_due,
                server: server_of(&image),
            });
        }
    }
    Ok(ImageState {
        usable: None,
        pull_due,
        server: None,
    })
}

/// The server an image says it holds: the official images' `REDIS_VERSION` / `VALKEY_VERSION`
/// environment, or the label redis-keeper's own images carry. None when it says nothing.
fn server_of(image: &bollard::models::ImageInspect) -> Option<ServerVersion> {
    let config = image.config.as_ref()?;
    let labels = config.labels.as_ref();
    if let Some(label) = labels.and_then(|l| l.get(image::SERVER_LABEL)) {
        return ServerVersion::from_label(label);
    }
    // Host fallback images built before the server label existed.
    if let Some(version) = labels.and_then(|l| l.get("io.redis-keeper.host-build")) {
        return ServerVersion::from_label(&format!("redis {version}"));
    }
    let env = config.env.as_deref().unwrap_or_default();
    let var = |name: &str| {
        env.iter()
            .find_map(|e| e.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    match (var("VALKEY_VERSION"), var("REDIS_VERSION")) {
        (Some(v), _) => ServerVersion::from_label(&format!("valkey {v}")),
        (None, Some(v)) => ServerVersion::from_label(&format!("redis {v}")),
        (None, None) => None,
    }
}

async fn network(ctx: &Context, docker: &Docker) -> Result<Option<ObservedNetwork>, DockerError> {
    let name = &ctx.spec.network.name;
    let net = match docker.inspect_network(name, None).await {
        Ok(net) => net,
        Err(e) if status_of(&e) == Some(404) => return Ok(None),
        Err(e) => return Err(DockerError::api(format!("inspect network {name}"))(e)),
    };
    let subnets = net
        .ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.subnet)
        .collect();
    let ours = net
        .labels
        .is_some_and(|l| l.get(label::CLUSTER) == Some(&ctx.spec.name));
    Ok(Some(ObservedNetwork {
        id: net.id.unwrap_or_default(),
        subnets,
        ours,
    }))
}

async fn volumes(ctx: &Context, docker: &Docker) -> Result<BTreeSet<String>, DockerError> {
    let options = ListVolumesOptionsBuilder::new()
        .filters(&blueprint::cluster_filter(&ctx.spec))
        .build();
    let list = docker
        .list_volumes(Some(options))
        .await
        .map_err(DockerError::api("list volumes"))?;
    Ok(list
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect())
}

async fn containers(
    ctx: &Context,
    docker: &Docker,
    host: &str,
) -> Result<BTreeMap<String, ObservedContainer>, DockerError> {
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&blueprint::cluster_filter(&ctx.spec))
        .build();
    let list = docker
        .list_containers(Some(options))
        .await
        .map_err(DockerError::api("list containers"))?;
    Ok(list
        .into_iter()
        .filter_map(|c| container(ctx, c, host))
        .collect())
}

fn container(
    ctx: &Context,
    c: ContainerSummary,
    host: &str,
) -> Option<(String, ObservedContainer)> {
    let labels = c.labels.unwrap_or_default();
    let node = labels.get(label::NODE)?.clone();
    let state = match c.state? {
        ContainerSummaryStateEnum::CREATED => RunState::Created,
        ContainerSummaryStateEnum::RUNNING => RunState::Running,
        ContainerSummaryStateEnum::PAUSED => RunState::Paused,
        ContainerSummaryStateEnum::RESTARTING => RunState::Restarting,
        ContainerSummaryStateEnum::REMOVING => RunState::Removing,
        ContainerSummaryStateEnum::DEAD => RunState::Dead,
        _ => RunState::Exited,
    };
    // Docker 20.10 has no Health field in the list; its status text carries the verdict.
    let status = c.status.unwrap_or_default();
    let health = ["healthy", "unhealthy", "health: starting"]
        .into_iter()
        .find(|h| status.contains(&format!("({h})")))
        .map(str::to_string);
    let ip = c
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|mut n| n.remove(&ctx.spec.network.name))
        .and_then(|e| e.ip_address)
        .and_then(|ip| ip.parse().ok());
    let name = c
        .names
        .and_then(|n| n.into_iter().next())
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string();
    Some((
        node,
        ObservedContainer {
            id: c.id.unwrap_or_default(),
            name,
            state,
            health,
            ip,
            spec_hash: labels.get(label::SPEC_HASH).cloned(),
            host: host.to_string(),
            address: labels.get(label::ADDRESS).cloned(),
        },
    ))
}
