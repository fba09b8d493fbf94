//! Files the operator keeps inside a node's container: its private config (password,
//! `[redis]` parameters) and TLS files, written through the Engine API's archive endpoint so
//! no secret ever shows in the container's command line, environment or `docker inspect`.

use bollard::query_parameters::UploadToContainerOptionsBuilder;

use super::ActError;
use crate::docker::blueprint::{self, PRIVATE_CONF_DIR, PRIVATE_CONF_FILE};
use crate::docker::{archive, status_of, DockerError};
use crate::runtime::context::Context;

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
pub(super) fn append_tls(
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
pub(super) fn tls_material(
    ctx: &Context,
    node: &str,
) -> Result<Option<crate::tls::NodeMaterial>, ActError> {
    let Some(tls) = &ctx.spec.tls else {
        return Ok(None);
    };
    Ok(Some(crate::tls::load(tls, node)?))
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
    ctx.docker_of_container(container)?
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
        .docker_of_container(container)?
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
