//! Actions on Docker: image, network, volumes and containers, through the Engine API.

use bollard::models::{
    Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListNetworksOptions, RemoveContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};

use super::ActError;
use crate::blueprint::{self, PRIVATE_CONF_DIR, PRIVATE_CONF_FILE};
use crate::context::Context;
use crate::docker::{archive, image, message_of, status_of, DockerError};
use crate::spec::Subnet;

pub(super) async fn prepare_image(ctx: &Context) -> Result<(), ActError> {
    image::prepare(&ctx.docker, &ctx.spec.image).await?;
    ctx.mark_pulled();
    Ok(())
}

/// Fails with the name of any existing network whose subnet overlaps ours: Docker's own
/// message ("Pool overlaps …") does not say which.
async fn check_overlap(ctx: &Context) -> Result<(), DockerError> {
    let wanted = ctx.spec.network.subnet;
    let networks = ctx
        .docker
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

pub(super) async fn create_network(ctx: &Context) -> Result<(), ActError> {
    check_overlap(ctx).await?;
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
    match ctx.docker.create_network(request).await {
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

pub(super) async fn create_volume(ctx: &Context, node: &str) -> Result<(), ActError> {
    let Some(spec) = ctx.spec.node(node) else {
        return Ok(());
    };
    let name = ctx.spec.volume_name(spec);
    let request = VolumeCreateRequest {
        name: Some(name.clone()),
        labels: Some(blueprint::volume_labels(&ctx.spec, spec)),
        ..Default::default()
    };
    ctx.docker
        .create_volume(request)
        .await
        .map_err(DockerError::api(format!("create volume {name}")))?;
    Ok(())
}

/// The private config as a tar for the archive API: `redis-keeper/keeper.conf` and, with TLS,
/// `redis-keeper/tls/*`, owned by the uid Redis runs as (999 in the official and the
/// host-built image), secrets mode 0600.
fn private_tar(
    password: Option<&str>,
    redis: &std::collections::BTreeMap<String, String>,
    tls: Option<&crate::tls::NodeMaterial>,
) -> Result<Vec<u8>, std::io::Error> {
    let dir = PRIVATE_CONF_DIR.trim_start_matches("/etc/");
    let conf = blueprint::private_conf(password, redis);
    let mut tar = tar::Builder::new(Vec::new());
    archive::append_owned_dir(&mut tar, &format!("{dir}/"), 0o700)?;
    archive::append_owned_file(
        &mut tar,
        &format!("{dir}/{PRIVATE_CONF_FILE}"),
        conf.as_bytes(),
        0o600,
    )?;
    if let Some(material) = tls {
        append_tls(&mut tar, material)?;
    }
    tar.into_inner()
}

/// The node's certificate, key and CA under `redis-keeper/tls/` (relative to /etc).
fn append_tls(
    tar: &mut tar::Builder<Vec<u8>>,
    material: &crate::tls::NodeMaterial,
) -> Result<(), std::io::Error> {
    let dir = blueprint::TLS_DIR.trim_start_matches("/etc/");
    archive::append_owned_dir(tar, &format!("{dir}/"), 0o700)?;
    for (file, data) in [
        (crate::tls::CERT_FILE, &material.cert),
        (crate::tls::KEY_FILE, &material.key),
        (crate::tls::CA_FILE, &material.ca),
    ] {
        archive::append_owned_file(tar, &format!("{dir}/{file}"), data, 0o600)?;
    }
    Ok(())
}

/// A node's TLS files as cluster.toml's certs_dir has them now, if TLS is on.
fn tls_material(ctx: &Context, node: &str) -> Result<Option<crate::tls::NodeMaterial>, ActError> {
    let Some(tls) = &ctx.spec.tls else {
        return Ok(None);
    };
    Ok(Some(crate::tls::load(tls, node)?))
}

/// Writes the node's TLS files into its running container and has Redis reload them: TLS
/// file settings are re-applied by CONFIG SET even when the path is unchanged.
pub(super) async fn load_certificates(ctx: &Context, node: &str) -> Result<(), ActError> {
    let (Some(spec), Some(material)) = (ctx.spec.node(node), tls_material(ctx, node)?) else {
        return Ok(());
    };
    let name = ctx.spec.container_name(spec);
    let pack = |e: std::io::Error| {
        DockerError::api(format!("pack the certificates of {name}"))(
            bollard::errors::Error::IOError { err: e },
        )
    };
    let mut tar = tar::Builder::new(Vec::new());
    append_tls(&mut tar, &material).map_err(pack)?;
    let tar = tar.into_inner().map_err(pack)?;
    let options = UploadToContainerOptionsBuilder::new().path("/etc").build();
    ctx.docker
        .upload_to_container(&name, Some(options), bollard::body_full(tar.into()))
        .await
        .map_err(DockerError::api(format!(
            "write the certificates into {name}"
        )))?;
    super::redis::reload_tls(ctx, node).await
}

pub(super) async fn create_container(
    ctx: &Context,
    node: &str,
    image: &str,
) -> Result<(), ActError> {
    let Some(spec) = ctx.spec.node(node) else {
        return Ok(());
    };
    let name = ctx.spec.container_name(spec);
    let body = blueprint::container_body(&ctx.spec, spec, image);
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    match ctx.docker.create_container(Some(options), body).await {
        Ok(_) => {}
        // Created by an earlier run that stopped half-way: finish the job.
        Err(e) if status_of(&e) == Some(409) => {}
        Err(e) => return Err(DockerError::api(format!("create container {name}"))(e).into()),
    }
    write_private_config(ctx, node, &name).await?;
    if let Err(e) = start(ctx, node, &name).await {
        if e.is_permanent() {
            // Leave nothing half-made behind a setup error; the next run starts clean.
            let _ = remove_container(ctx, &name).await;
        }
        return Err(e);
    }
    Ok(())
}

/// Writes the node's private config (the password, the `[redis]` parameters, the TLS files)
/// into its container, where Redis reads it when it starts.
pub(super) async fn write_private_config(
    ctx: &Context,
    node: &str,
    container: &str,
) -> Result<(), ActError> {
    let material = tls_material(ctx, node)?;
    let tar = private_tar(
        ctx.password.as_ref().map(|p| p.expose()),
        &ctx.spec.redis,
        material.as_ref(),
    );
    upload(ctx, container, "/etc", tar, "the private config").await
}

/// Unpacks `tar` (or the error packing it) into `dir` of the container; `what` names the
/// content in errors.
pub(super) async fn upload(
    ctx: &Context,
    container: &str,
    dir: &str,
    tar: Result<Vec<u8>, std::io::Error>,
    what: &str,
) -> Result<(), ActError> {
    let tar = tar.map_err(|e| {
        DockerError::api(format!("pack {what} for {container}"))(bollard::errors::Error::IOError {
            err: e,
        })
    })?;
    let options = UploadToContainerOptionsBuilder::new().path(dir).build();
    ctx.docker
        .upload_to_container(container, Some(options), bollard::body_full(tar.into()))
        .await
        .map_err(DockerError::api(format!("write {what} into {container}")))?;
    Ok(())
}

/// The text of one file in the container (running or not); None when it is empty or absent.
pub(super) async fn read_file(
    ctx: &Context,
    container: &str,
    path: &str,
) -> Result<Option<String>, ActError> {
    use futures_util::TryStreamExt;
    let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::new()
        .path(path)
        .build();
    let tar: Vec<u8> = match ctx
        .docker
        .download_from_container(container, Some(options))
        .try_fold(Vec::new(), |mut tar, chunk| async move {
            tar.extend_from_slice(&chunk);
            Ok(tar)
        })
        .await
    {
        Ok(tar) => tar,
        Err(e) if status_of(&e) == Some(404) => return Ok(None),
        Err(e) => return Err(DockerError::api(format!("read {path} in {container}"))(e).into()),
    };
    let unreadable = |e: std::io::Error| {
        ActError::from(DockerError::api(format!("read {path} in {container}"))(
            bollard::errors::Error::IOError { err: e },
        ))
    };
    let mut archive = tar::Archive::new(tar.as_slice());
    // The archive holds the one file asked for.
    let Some(entry) = archive.entries().map_err(unreadable)?.next() else {
        return Ok(None);
    };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry.map_err(unreadable)?, &mut text)
        .map_err(unreadable)?;
    Ok(Some(text).filter(|t| !t.is_empty()))
}

/// The password the node's private config holds: the one Redis started with, before a
/// rotation. None when the config sets none.
pub(super) async fn private_password(
    ctx: &Context,
    container: &str,
) -> Result<Option<String>, ActError> {
    let path = format!("{PRIVATE_CONF_DIR}/{PRIVATE_CONF_FILE}");
    let text = read_file(ctx, container, &path).await?;
    Ok(text.as_deref().and_then(blueprint::password_in))
}

pub(super) async fn start(ctx: &Context, node: &str, container: &str) -> Result<(), ActError> {
    let Err(e) = ctx.docker.start_container(container, None).await else {
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
        return ctx
            .docker
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
pub(super) async fn reattach(ctx: &Context, node: &str, container: &str) -> Result<(), ActError> {
    let Some(spec) = ctx.spec.node(node) else {
        return Ok(());
    };
    let network = &ctx.spec.network.name;
    let _ = ctx
        .docker
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
    match ctx.docker.connect_network(network, request).await {
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

pub(super) async fn unpause(ctx: &Context, container: &str) -> Result<(), ActError> {
    ctx.docker
        .unpause_container(container)
        .await
        .map_err(DockerError::api(format!("unpause container {container}")))?;
    Ok(())
}

/// Removes a container (never its volume); gone already is fine.
pub async fn remove_container(ctx: &Context, container: &str) -> Result<(), ActError> {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(false)
        .build();
    match ctx.docker.remove_container(container, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if status_of(&e) == Some(404) => Ok(()),
        Err(e) => Err(DockerError::api(format!("remove container {container}"))(e).into()),
    }
}
