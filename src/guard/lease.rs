//! One operator per cluster across machines: a lease kept on the cluster's first host.
//!
//! The file lock ([`crate::guard::lock`]) keeps a second operator off the same machine. With
//! `[[hosts]]`, the operator may run anywhere that reaches the engines, so `up`, `run` and
//! `down` also take a lease where every operator of the cluster must look: a container named
//! `<cluster>-keeper-lease` on the first host, created (never started) from a tiny image.
//! Docker refuses a second container of the same name, so exactly one operator holds it; its
//! labels say who (machine, pid, command, since).
//!
//! A lease left by an operator that died on this machine is recognised (its pid no longer
//! runs) and taken over. One left by an operator on another machine is not guessed at: the
//! refusal names that machine and the command that removes the lease once it is known gone.
//!
//! `run` keeps its lease where the cluster.toml in force says: an edit that changes the first
//! host (or adds or removes `[[hosts]]`) takes the lease there before the edit is put in
//! force, and only then gives the old one back ([`follow`]); otherwise a second operator
//! reading the new file would find no lease where it looks.

use std::collections::HashMap;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::docker::{image, status_of, DockerError, Engines};
use crate::guard::lock::Holder;
use crate::spec::ClusterSpec;

/// The image lease containers are created from: nothing in it, never run.
const IMAGE: &str = "redis-keeper/lease:1";
/// The label holding who has the lease, as JSON.
const HOLDER_LABEL: &str = "io.redis-keeper.lease-holder";
/// The label naming the cluster a lease is for.
const LEASE_OF_LABEL: &str = "io.redis-keeper.lease-of";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHolder {
    pub(crate) machine: String,
    #[serde(flatten)]
    pub(crate) process: Holder,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("cluster {cluster} is being managed by `redis-keeper {}` on {} (pid {}, since {}): stop it there first; if that machine is gone, remove its lease with `{cli} rm {container}`", .holder.process.command, .holder.machine, .holder.process.pid, .holder.process.since)]
    Held {
        cluster: String,
        holder: Box<LeaseHolder>,
        /// The docker CLI command that reaches the lease's host.
        cli: String,
        container: String,
    },
    /// A lease appeared again, naming no holder, right after a stale one was removed:
    /// another operator is taking it at the same moment.
    #[error("cluster {cluster}: another operator took the lease {container} while this one was taking over a stale one: run the command again once it is done, or remove the lease with `{cli} rm {container}`")]
    Contended {
        cluster: String,
        cli: String,
        container: String,
    },
    #[error(transparent)]
    Docker(#[from] DockerError),
}

/// Held while the command runs; [`Lease::release`] gives it back.
#[derive(Debug)]
pub(crate) struct Lease {
    docker: Docker,
    container: String,
    /// The lease container's id: two endpoints that name the same engine find the same one.
    id: String,
    /// The first host's endpoint as cluster.toml names it.
    endpoint: String,
}

/// A lease container found in place.
struct Existing {
    id: String,
    /// Who it names; None when it names no one this version can read.
    holder: Option<LeaseHolder>,
}

/// This machine's name, as other operators' refusals show it.
fn this_machine() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this machine".into())
}

pub(crate) fn container_name(spec: &ClusterSpec) -> String {
    format!("{}-keeper-lease", spec.name)
}

/// Takes the cluster's lease for `command`, or says who has it. None without `[[hosts]]`:
/// then every operator of the cluster runs on the one machine, and the file lock suffices.
pub(crate) async fn acquire(
    spec: &ClusterSpec,
    engines: &Engines,
    command: &str,
) -> Result<Option<Lease>, LeaseError> {
    let Some(first) = spec.hosts.first() else {
        return Ok(None);
    };
    let docker = engines.reach(&first.name).await?.clone();
    ensure_image(&docker).await?;
    let container = container_name(spec);
    let me = LeaseHolder {
        machine: this_machine(),
        process: Holder::of_this_process(command),
    };
    let endpoint = first.docker.to_string();
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        labels: Some(HashMap::from([
            (
                HOLDER_LABEL.to_string(),
                serde_json::to_string(&me).unwrap_or_default(),
            ),
            // Not the cluster label: `down` removes what carries that, and the lease
            // outlives it until given back.
            (LEASE_OF_LABEL.to_string(), spec.name.clone()),
        ])),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::new()
        .name(&container)
        .build();
    for attempt in 0..2 {
        let e = match docker
            .create_container(Some(options.clone()), body.clone())
            .await
        {
            Ok(made) => {
                return Ok(Some(Lease {
                    docker,
                    container,
                    id: made.id,
                    endpoint,
                }))
            }
            Err(e) => e,
        };
        if status_of(&e) != Some(409) {
            return Err(DockerError::api(format!("create the lease {container}"))(e).into());
        }
        let existing = existing(&docker, &container).await?;
        let holder = existing.as_ref().and_then(|e| e.holder.clone());
        if let (Some(found), Some(h)) = (&existing, &holder) {
            if h.machine == me.machine && h.process.is_this_process() {
                // Taken by this very operator through another endpoint of the same engine.
                return Ok(Some(Lease {
                    docker,
                    container,
                    id: found.id.clone(),
                    endpoint,
                }));
            }
        }
        let stale = holder
            .as_ref()
            .is_none_or(|h| h.machine == me.machine && !h.process.is_running());
        if stale && attempt == 0 {
            tracing::info!(%container, "taking over a lease its holder left on this machine");
            remove(&docker, &container).await?;
            continue;
        }
        if let Some(holder) = holder {
            return Err(LeaseError::Held {
                cluster: spec.name.clone(),
                holder: Box::new(holder),
                cli: first.docker.docker_cli(),
                container,
            });
        }
    }
    Err(LeaseError::Contended {
        cluster: spec.name.clone(),
        cli: first.docker.docker_cli(),
        container,
    })
}

/// Moves `run`'s lease to where `spec` keeps it, before `spec` is put in force: taken at the
/// new first host, then the old one given back; given back when `spec` has no `[[hosts]]`.
/// When the new place refuses, the old lease is handed back with the reason.
pub(crate) async fn follow(
    held: Option<Lease>,
    spec: &ClusterSpec,
    engines: &Engines,
) -> Result<Option<Lease>, (Option<Lease>, LeaseError)> {
    let unmoved = match (&held, spec.hosts.first()) {
        (Some(lease), Some(first)) => lease.endpoint == first.docker.to_string(),
        (None, None) => true,
        _ => false,
    };
    if unmoved {
        return Ok(held);
    }
    let taken = match acquire(spec, engines, "run").await {
        Ok(taken) => taken,
        Err(e) => return Err((held, e)),
    };
    if let Some(old) = held {
        if taken.as_ref().is_none_or(|new| new.id != old.id) {
            old.release().await;
        }
    }
    if let Some(new) = &taken {
        tracing::info!(container = %new.container, endpoint = %new.endpoint, "the lease follows cluster.toml to its first host");
    }
    Ok(taken)
}

impl Lease {
    /// Gives the lease back; a lease that is already gone is fine.
    pub(crate) async fn release(self) {
        if let Err(e) = remove(&self.docker, &self.container).await {
            tracing::warn!(container = %self.container, error = %e, "cannot release the lease");
        }
    }
}

/// The lease container in place, if any.
async fn existing(docker: &Docker, container: &str) -> Result<Option<Existing>, DockerError> {
    let found = match docker.inspect_container(container, None).await {
        Ok(found) => found,
        Err(e) if status_of(&e) == Some(404) => return Ok(None),
        Err(e) => {
            return Err(DockerError::api(format!("inspect the lease {container}"))(
                e,
            ))
        }
    };
    let label = found
        .config
        .and_then(|c| c.labels)
        .and_then(|mut l| l.remove(HOLDER_LABEL));
    Ok(Some(Existing {
        id: found.id.unwrap_or_default(),
        holder: label.and_then(|l| serde_json::from_str(&l).ok()),
    }))
}

async fn remove(docker: &Docker, container: &str) -> Result<(), DockerError> {
    let options = RemoveContainerOptionsBuilder::new().force(true).build();
    match docker.remove_container(container, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if status_of(&e) == Some(404) => Ok(()),
        Err(e) => Err(DockerError::api(format!("remove the lease {container}"))(e)),
    }
}

/// Builds the lease image (`FROM scratch`, nothing in it) where it is missing: no registry
/// is needed, and it costs no disk.
async fn ensure_image(docker: &Docker) -> Result<(), DockerError> {
    if image::exists(docker, IMAGE).await? {
        return Ok(());
    }
    let dockerfile = b"FROM scratch\nCMD [\"lease\"]\n";
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let packed = tar
        .append_data(&mut header, "Dockerfile", &dockerfile[..])
        .and_then(|()| tar.into_inner());
    let context = packed.map_err(|e| {
        DockerError::api("pack the lease image")(bollard::errors::Error::IOError { err: e })
    })?;
    let options = BuildImageOptionsBuilder::new().t(IMAGE).rm(true).build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(DockerError::api(format!("build {IMAGE}")))?;
        if let Some(detail) = info.error_detail {
            return Err(DockerError::ImageUnavailable {
                image: IMAGE.into(),
                reason: detail.message.unwrap_or_default(),
            });
        }
    }
    Ok(())
}
