//! The node image: which one is usable now, and getting one (pull, else the host fallback).

use bollard::query_parameters::CreateImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;

use super::engines::Engine;
use super::{host_image, status_of, DockerError};
use crate::spec::{ImageFallback, ImageSpec, PullPolicy};

pub(crate) async fn exists(docker: &Docker, name: &str) -> Result<bool, DockerError> {
    Ok(inspect(docker, name).await?.is_some())
}

/// The image's details; None when the engine does not have it.
pub(crate) async fn inspect(
    docker: &Docker,
    name: &str,
) -> Result<Option<bollard::models::ImageInspect>, DockerError> {
    match docker.inspect_image(name).await {
        Ok(image) => Ok(Some(image)),
        Err(e) if status_of(&e) == Some(404) => Ok(None),
        Err(e) => Err(DockerError::api(format!("inspect image {name}"))(e)),
    }
}

/// The label redis-keeper's own node images carry: `redis 7.0.15`, `valkey 8.1.1`.
pub(crate) const SERVER_LABEL: &str = "io.redis-keeper.server";

async fn pull(docker: &Docker, name: &str) -> Result<(), String> {
    let (image, tag) = match name.rsplit_once(':') {
        Some((i, t)) if !t.contains('/') => (i, t),
        _ => (name, "latest"),
    };
    let options = CreateImageOptionsBuilder::new()
        .from_image(image)
        .tag(tag)
        .build();
    let mut stream = docker.create_image(Some(options), None, None);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| super::message_of(&e))?;
        if let Some(detail) = info.error_detail {
            return Err(detail.message.unwrap_or_else(|| "pull failed".into()));
        }
    }
    Ok(())
}

/// Copies `name` from one engine to another through the API (`docker save | docker load`,
/// streamed): how a host without a registry gets the image another host has.
async fn copy(from: &Docker, to: &Docker, name: &str) -> Result<(), DockerError> {
    let tar = from.export_image(name);
    let options = bollard::query_parameters::ImportImageOptionsBuilder::new().build();
    let mut loading = to.import_image_stream(options, tar, None);
    while let Some(item) = loading.next().await {
        let info = item.map_err(DockerError::api(format!("copy image {name}")))?;
        if let Some(detail) = info.error_detail {
            return Err(DockerError::ImageUnavailable {
                image: name.into(),
                reason: format!("copying it failed: {}", detail.message.unwrap_or_default()),
            });
        }
    }
    Ok(())
}

/// Copies `name` to `docker` from the first of `others` that has it, each given its own
/// time to answer (an engine over SSH logs in first); false when none has.
async fn copy_from_any(
    others: &[&Engine],
    docker: &Docker,
    name: &str,
) -> Result<bool, DockerError> {
    for other in others {
        let answer = tokio::time::timeout(other.answer_within(), exists(other.docker(), name));
        if let Ok(Ok(true)) = answer.await {
            tracing::info!(image = %name, from = %other.endpoint, "copying the node image from another host");
            copy(other.docker(), docker, name).await?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// Makes a node image available on `docker`: pulls `[image].name` as the policy allows,
/// copies it from one of the `others` hosts' engines that has it, and falls back to building from
/// the host's Redis (on `docker` itself: the build context travels through the API).
/// Returns the image to use.
pub async fn prepare(
    docker: &Docker,
    others: &[&Engine],
    spec: &ImageSpec,
) -> Result<String, DockerError> {
    let present = exists(docker, &spec.name).await?;
    let mut why = String::from("pull = \"never\"");
    if spec.pull != PullPolicy::Never && (spec.pull == PullPolicy::Always || !present) {
        match pull(docker, &spec.name).await {
            Ok(()) => return Ok(spec.name.clone()),
            Err(reason) => {
                tracing::warn!(image = %spec.name, %reason, "pull failed");
                why = format!("the pull failed: {reason}");
            }
        }
    }
    if present {
        return Ok(spec.name.clone());
    }
    if copy_from_any(others, docker, &spec.name).await? {
        return Ok(spec.name.clone());
    }
    match spec.fallback {
        ImageFallback::Host => {
            let host = host_image::find().await?;
            if exists(docker, &host.tag()).await? {
                return Ok(host.tag());
            }
            if copy_from_any(others, docker, &host.tag()).await? {
                return Ok(host.tag());
            }
            tracing::info!(image = %host.tag(), "building the node image from the host's redis-server");
            host_image::build(docker, &host).await
        }
        ImageFallback::None => Err(DockerError::ImageUnavailable {
            image: spec.name.clone(),
            reason: format!(
                "it is not present and {why}; load it (`docker load`), allow pulling, or set [image].fallback = \"host\""
            ),
        }),
    }
}
