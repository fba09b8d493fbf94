//! A Redis node outside cluster.toml that joins the cluster.

use super::*;

/// A Redis cluster node that is not in cluster.toml (someone else's container on the
/// cluster's network, with the cluster's password), removed when dropped.
pub struct Stranger {
    pub name: String,
    pub addr: String,
}

impl Stranger {
    pub async fn start(cluster: &TestCluster, last: u8) -> Stranger {
        use bollard::models::{
            ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, NetworkingConfig,
        };
        use bollard::query_parameters::{
            CreateContainerOptionsBuilder, InspectContainerOptions, UploadToContainerOptionsBuilder,
        };
        let docker = docker().await;
        let ours = docker
            .inspect_container(
                &format!("{}-redis-1", cluster.name),
                None::<InspectContainerOptions>,
            )
            .await
            .expect("inspect redis-1");
        let image = ours.config.and_then(|c| c.image).expect("redis-1's image");
        let name = format!("{}-stranger", cluster.name);
        let ip = cluster.ip(last);
        let network = format!("{}-net", cluster.name);
        let cmd: Vec<String> = [
            "redis-server",
            "/etc/stranger/node.conf",
            "--port",
            "6379",
            "--bind",
            "0.0.0.0",
            "--cluster-enabled",
            "yes",
            "--cluster-announce-ip",
            &ip,
            "--dir",
            "/data",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let body = ContainerCreateBody {
            image: Some(image),
            cmd: Some(cmd),
            host_config: Some(HostConfig {
                network_mode: Some(network.clone()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network,
                    EndpointSettings {
                        ipam_config: Some(EndpointIpamConfig {
                            ipv4_address: Some(ip.clone()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let stranger = Stranger {
            name: name.clone(),
            addr: format!("{ip}:6379"),
        };
        stranger.remove();
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        docker
            .create_container(Some(options), body)
            .await
            .expect("create the stranger");
        let conf = redis_keeper::docker::blueprint::private_conf(
            Some(&cluster.password()),
            &std::collections::BTreeMap::new(),
        );
        let mut tar = tar::Builder::new(Vec::new());
        redis_keeper::docker::archive::append_owned_dir(&mut tar, "stranger/", 0o700).unwrap();
        redis_keeper::docker::archive::append_owned_file(
            &mut tar,
            "stranger/node.conf",
            conf.as_bytes(),
            0o600,
        )
        .unwrap();
        let options = UploadToContainerOptionsBuilder::new().path("/etc").build();
        docker
            .upload_to_container(
                &name,
                Some(options),
                bollard::body_full(tar.into_inner().unwrap().into()),
            )
            .await
            .expect("write the stranger's config");
        docker
            .start_container(
                &name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .expect("start the stranger");
        stranger
    }

    /// Force-removes the container, from any context (Drop cannot await).
    fn remove(&self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().ok()?;
            runtime.block_on(async {
                let options = bollard::query_parameters::RemoveContainerOptionsBuilder::new()
                    .force(true)
                    .build();
                docker()
                    .await
                    .remove_container(&name, Some(options))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

impl Drop for Stranger {
    fn drop(&mut self) {
        self.remove();
    }
}
