//! `down`: remove the cluster's containers and network; its volumes only with `--volumes`.

use std::path::Path;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptions,
};
use bollard::Docker;

use crate::cli::exit::{CommandError, Exit};
use crate::docker::blueprint::{self, label};
use crate::docker::{status_of, DockerError, Engines};
use crate::spec::{self, ClusterSpec};

pub(crate) async fn run(file: &Path, volumes: bool) -> Result<Exit, CommandError> {
    let spec = spec::load(file)?;
    let _lock = crate::guard::lock::acquire(&spec.name, "down")?;
    let engines = Engines::connect(&spec).await?;
    // On every host, or on none: a half-removed cluster across hosts is worse than either.
    engines.reach_all().await?;
    let lease = crate::guard::lease::acquire(&spec, &engines, "down").await?;
    let removed = remove_everywhere(&engines, &spec, volumes).await;
    if let Some(lease) = lease {
        lease.release().await;
    }
    removed?;
    if !volumes {
        crate::outln!(
            "kept the data volumes (node identities and data); `down --volumes` removes them"
        )?;
    }
    Ok(Exit::Ok)
}

async fn remove_everywhere(
    engines: &Engines,
    spec: &ClusterSpec,
    volumes: bool,
) -> Result<(), DockerError> {
    for (_, engine) in engines.iter() {
        let docker = engine.docker();
        remove_containers(docker, spec).await?;
        remove_network(docker, spec).await?;
        if volumes {
            remove_volumes(docker, spec).await?;
        }
    }
    Ok(())
}

async fn remove_containers(docker: &Docker, spec: &ClusterSpec) -> Result<(), DockerError> {
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&blueprint::cluster_filter(spec))
        .build();
    let list = docker
        .list_containers(Some(options))
        .await
        .map_err(DockerError::api("list containers"))?;
    let removals = list.into_iter().filter_map(|c| c.id).map(|id| async move {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match docker.remove_container(&id, Some(options)).await {
            Err(e) if status_of(&e) != Some(404) => {
                Err(DockerError::api(format!("remove container {id}"))(e))
            }
            _ => Ok(()),
        }
    });
    let results = futures_util::future::join_all(removals).await;
    let count = results.len();
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    // What was removed is told when someone still reads; a reader gone away (`down | head`)
    // does not stop a removal halfway.
    crate::outln!("removed {count} container(s) of cluster {}", spec.name).ok();
    Ok(())
}

async fn remove_network(docker: &Docker, spec: &ClusterSpec) -> Result<(), DockerError> {
    let name = &spec.network.name;
    let net = match docker.inspect_network(name, None).await {
        Ok(net) => net,
        Err(e) if status_of(&e) == Some(404) => return Ok(()),
        Err(e) => return Err(DockerError::api(format!("inspect network {name}"))(e)),
    };
    if net.labels.unwrap_or_default().get(label::CLUSTER) != Some(&spec.name) {
        crate::outln!("left network {name} alone: redis-keeper did not create it").ok();
        return Ok(());
    }
    match docker.remove_network(name).await {
        Err(e) if status_of(&e) != Some(404) => {
            Err(DockerError::api(format!("remove network {name}"))(e))
        }
        _ => {
            crate::outln!("removed network {name}").ok();
            Ok(())
        }
    }
}

async fn remove_volumes(docker: &Docker, spec: &ClusterSpec) -> Result<(), DockerError> {
    let options = ListVolumesOptionsBuilder::new()
        .filters(&blueprint::cluster_filter(spec))
        .build();
    let list = docker
        .list_volumes(Some(options))
        .await
        .map_err(DockerError::api("list volumes"))?;
    for volume in list.volumes.unwrap_or_default() {
        match docker
            .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
            .await
        {
            Err(e) if status_of(&e) != Some(404) => {
                return Err(DockerError::api(format!("remove volume {}", volume.name))(
                    e,
                ))
            }
            _ => {
                crate::outln!("removed volume {}", volume.name).ok();
            }
        }
    }
    Ok(())
}
