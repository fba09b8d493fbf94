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

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use futures_util::future::join_all;
use redis_keeper::blueprint;
use redis_keeper::docker::{self, image};
use redis_keeper::spec::ClusterSpec;

const BIN: &str = env!("CARGO_BIN_EXE_redis-keeper");
const WRITABLE_DELAY: Duration = Duration::from_secs(2);
const IPS: [&str; 3] = ["13", "16", "17"];
const SLOTS: [&str; 3] = ["0-5460", "5461-10922", "10923-16383"];

fn keeper_toml(name: &str, octet: u8) -> String {
    let mut text = format!(
        "[cluster]\nname = \"{name}\"\npassword_file = \"pw\"\n\n[network]\nname = \"{name}-net\"\nsubnet = \"172.30.{octet}.0/24\"\n"
    );
    for (i, (ip, slots)) in IPS.iter().zip(SLOTS).enumerate() {
        text.push_str(&format!(
            "\n[[nodes]]\nname = \"redis-{}\"\nip = \"172.30.{octet}.{ip}\"\nslots = [\"{slots}\"]\n",
            i + 1
        ));
    }
    text
}

fn compose_yaml(image: &str) -> String {
    let mut services = String::new();
    let mut volumes = String::new();
    for (i, ip) in IPS.iter().enumerate() {
        let n = i + 1;
        services.push_str(&format!(
            "  redis-{n}:\n    image: {image}\n    command: [\"redis-server\", \"--port\", \"6379\", \"--cluster-enabled\", \"yes\", \"--cluster-config-file\", \"nodes.conf\", \"--cluster-node-timeout\", \"5000\", \"--appendonly\", \"yes\", \"--requirepass\", \"benchpw\", \"--masterauth\", \"benchpw\", \"--protected-mode\", \"no\", \"--dir\", \"/data\"]\n    restart: unless-stopped\n    volumes: [\"redis-{n}-data:/data\"]\n    networks:\n      data:\n        ipv4_address: 172.30.201.{ip}\n"
        ));
        volumes.push_str(&format!("  redis-{n}-data: {{}}\n"));
    }
    format!(
        "version: \"2.4\"\nservices:\n{services}networks:\n  data:\n    ipam:\n      config:\n        - subnet: 172.30.201.0/24\nvolumes:\n{volumes}"
    )
}

/// The seed's init script: wait for the nodes, create the cluster, wait for ok, polling every
/// `$POLL` seconds: 0.1 gives the baseline its best; init scripts commonly sleep 1.
const INIT_SCRIPT: &str = r#"set -e
export REDISCLI_AUTH=benchpw
nodes="172.30.201.13 172.30.201.16 172.30.201.17"
for ip in $nodes; do until redis-cli -h $ip ping 2>/dev/null | grep -q PONG; do sleep $POLL; done; done
if ! redis-cli -h 172.30.201.13 cluster info | grep -q cluster_known_nodes:3; then
  redis-cli --cluster create 172.30.201.13:6379 172.30.201.16:6379 172.30.201.17:6379 --cluster-yes >/dev/null
fi
for ip in $nodes; do until redis-cli -h $ip cluster info | grep -q cluster_state:ok; do sleep $POLL; done; done
"#;

fn run(cmd: &mut Command) {
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn keeper(dir: &Path, args: &[&str]) {
    run(Command::new(BIN)
        .args(args)
        .arg("-f")
        .arg(dir.join("cluster.toml"))
        .env("RUST_LOG", "warn"));
}

fn compose(dir: &Path, args: &[&str]) {
    run(Command::new("docker-compose")
        .arg("-p")
        .arg("rk-seedbench")
        .arg("-f")
        .arg(dir.join("docker-compose.yml"))
        .args(args));
}

fn time(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn line(label: &str, v: &[Duration]) {
    let min = v.iter().min().unwrap();
    let max = v.iter().max().unwrap();
    println!(
        "  {label:<50} {:>6.2} s   (min {:.2}, max {:.2})",
        median(v.to_vec()).as_secs_f64(),
        min.as_secs_f64(),
        max.as_secs_f64()
    );
}

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
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

    // Both ways use the same node image; making it is not part of either measurement.
    let spec =
        ClusterSpec::parse(&keeper_toml("rk-bench", 200), Path::new("cluster.toml")).unwrap();
    let image = rt.block_on(async {
        let docker = docker::connect().await.expect("a running Docker Engine");
        image::prepare(&docker, &spec.image)
            .await
            .expect("node image")
    });
    std::fs::write(dir.path().join("docker-compose.yml"), compose_yaml(&image)).unwrap();
    std::fs::write(dir.path().join("init.sh"), INIT_SCRIPT).unwrap();

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
                run(Command::new("bash")
                    .arg(dir.path().join("init.sh"))
                    .env("POLL", poll));
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
