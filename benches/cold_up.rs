//! Cold `up` against the seed's way, measured in the same run, alternating, as medians.
//!
//! - redis-keeper: nothing exists → `redis-keeper up` exits with every node cluster_state:ok.
//! - the seed's way: `docker-compose up -d` of three cluster-mode nodes, then the init
//!   script: wait for PING, `redis-cli --cluster create`, wait for cluster_state:ok.
//! - the floor: Docker creating and starting three containers in parallel, plus the 2 s a
//!   fresh master keeps cluster_state:fail (CLUSTER_WRITABLE_DELAY in Redis).
//!
//! Run with `cargo bench --bench cold_up` (BENCH_ROUNDS, default 5). Needs Docker,
//! docker-compose and redis-cli; uses subnets 172.30.200.0/24 and 172.30.201.0/24.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use futures_util::future::join_all;
use redis_keeper::docker;
use redis_keeper::docker::blueprint;
use redis_keeper::spec::ClusterSpec;

use common::{init_script, keeper, keeper_toml, line, median, time, WRITABLE_DELAY};

const SEED_PROJECT: &str = "rk-seedbench";
const SEED_OCTET: u8 = 201;

/// Docker creating and starting the three node containers in parallel, as `up` asks it to.
async fn floor_once(spec: &ClusterSpec, image: &str) -> Duration {
    let docker = docker::connect().await.expect("docker");
    let net = NetworkCreateRequest {
        name: spec.network.name.clone(),
        ipam: Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(spec.network.subnet.to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    remove_floor(&docker, spec).await;
    docker.create_network(net).await.expect("network");
    let started = Instant::now();
    join_all(spec.nodes.iter().map(|node| {
        let docker = &docker;
        async move {
            let name = spec.container_name(node);
            let body = blueprint::container_body(spec, node, image);
            let options = CreateContainerOptionsBuilder::new().name(&name).build();
            docker
                .create_container(Some(options), body)
                .await
                .expect("create");
            docker.start_container(&name, None).await.expect("start");
        }
    }))
    .await;
    let took = started.elapsed();
    remove_floor(&docker, spec).await;
    took
}

/// Removes the floor's containers, volumes and network, and waits until they are gone:
/// Docker may still be tearing a container down when its remove call returns.
async fn remove_floor(docker: &bollard::Docker, spec: &ClusterSpec) {
    for node in &spec.nodes {
        let name = spec.container_name(node);
        for _ in 0..100 {
            let options = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            let _ = docker.remove_container(&name, Some(options)).await;
            if docker.inspect_container(&name, None).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = docker
            .remove_volume(
                &spec.volume_name(node),
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await;
    }
    let _ = docker.remove_network(&spec.network.name).await;
}

fn main() {
    let rounds = common::rounds(5);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let keeper_dir = dir.path().join("keeper");
    let floor_dir = dir.path().join("floor");
    std::fs::create_dir_all(&keeper_dir).unwrap();
    std::fs::create_dir_all(&floor_dir).unwrap();
    std::fs::write(
        keeper_dir.join("cluster.toml"),
        keeper_toml("rk-bench", 200),
    )
    .unwrap();
    let floor_toml = keeper_toml("rk-floor", 202);
    let floor_spec =
        ClusterSpec::parse(&floor_toml, &floor_dir.join("cluster.toml")).expect("spec");

    let image = common::prepare(&rt, dir.path(), SEED_OCTET);
    let compose = |dir: &Path, args: &[&str]| common::compose(SEED_PROJECT, dir, args);

    let clean = |dir: &Path| {
        keeper(&keeper_dir, &["down", "--volumes"]);
        compose(dir, &["down", "-v", "--remove-orphans"]);
    };
    clean(dir.path());
    let (mut ours, mut seed, mut seed_slow, mut floor) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    println!("cold up: nothing exists → every node cluster_state:ok; {rounds} rounds, alternating");
    for round in 0..rounds {
        // Alternate which goes first, so neither always runs on a machine the other warmed.
        let mut measure_ours =
            || ours.push(time(|| keeper(&keeper_dir, &["up", "--timeout", "120"])));
        let seed_way = |poll: &str| {
            let took = time(|| {
                compose(dir.path(), &["up", "-d", "--quiet-pull"]);
                init_script(dir.path(), SEED_OCTET, poll);
            });
            compose(dir.path(), &["down", "-v", "--remove-orphans"]);
            took
        };
        if round % 2 == 0 {
            measure_ours();
            seed.push(seed_way("0.1"));
        } else {
            seed.push(seed_way("0.1"));
            measure_ours();
        }
        seed_slow.push(seed_way("1"));
        clean(dir.path());
        floor.push(rt.block_on(floor_once(&floor_spec, &image)) + WRITABLE_DELAY);
        eprintln!(
            "  round {}: redis-keeper {:.2} s, seed's way {:.2} s (1 s polls: {:.2} s), floor {:.2} s",
            round + 1,
            ours[round].as_secs_f64(),
            seed[round].as_secs_f64(),
            seed_slow[round].as_secs_f64(),
            floor[round].as_secs_f64()
        );
    }
    println!(
        "median of {rounds} on {} cores, image {image}:",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    line("redis-keeper up", &ours);
    line("seed's way (compose + init script, 0.1 s polls)", &seed);
    line("seed's way (compose + init script, 1 s polls)", &seed_slow);
    line("floor (create+start 3 containers + 2 s)", &floor);
    let ratio = median(ours.clone()).as_secs_f64() / median(seed.clone()).as_secs_f64();
    let floor_ratio = median(floor.clone()).as_secs_f64() / median(seed.clone()).as_secs_f64();
    println!(
        "  redis-keeper / seed's way (0.1 s polls) = {ratio:.2}; floor / seed's way = {floor_ratio:.2} (targets: ratio ≤ 0.70, redis-keeper ≤ 3.00 s)"
    );
}
