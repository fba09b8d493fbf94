//! Test harness: a cluster of the test's own (unique name and subnet) in a temporary folder,
//! driven through the real binary, and removed with `down --volumes` even when the test fails.

#![allow(dead_code)]

pub mod certs;
pub mod hosts;
pub mod http;
pub mod replicated;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Output;

use bollard::query_parameters::{ListContainersOptionsBuilder, ListVolumesOptionsBuilder};
use bollard::Docker;

pub const BIN: &str = env!("CARGO_BIN_EXE_redis-keeper");

/// Connects to Docker, or fails the test saying why: these tests must not pass without it.
pub async fn docker() -> Docker {
    match redis_keeper::docker::connect().await {
        Ok(d) => d,
        Err(e) => panic!(
            "integration tests need a running Docker Engine and found none: {e}. \
             Start Docker (e.g. `sudo systemctl start docker`) and run the tests again."
        ),
    }
}

/// The server the integration tests run against: `RK_SERVER` names one of the images
/// `images/build` makes (`valkey-8.0`, `redis-8.0`, `valkey-8.1`); unset, or `redis-7.0`, is
/// the host's Redis through redis-keeper's own `host` image fallback. `./dev test` runs the
/// core of the suite once per server (`MATRIX`).
pub struct Server {
    /// The image name, None for the host fallback.
    pub image: Option<String>,
    /// Short tag in cluster names, so runs for different servers never share a container.
    tag: &'static str,
    /// The second octet of every test subnet (172.<n>.<octet>.0/24), one per server, so runs
    /// for different servers can share a machine.
    net: u8,
}

pub fn server() -> Server {
    let name = std::env::var("RK_SERVER").unwrap_or_default();
    let (tag, net) = match name.as_str() {
        "" | "redis-7.0" => {
            return Server {
                image: None,
                tag: "",
                net: 30,
            }
        }
        "valkey-8.0" => ("v80-", 29),
        "redis-8.0" => ("r80-", 28),
        "valkey-8.1" => ("v81-", 27),
        other => panic!(
            "RK_SERVER={other} is not a server of the matrix: use redis-7.0, valkey-8.0, redis-8.0 or valkey-8.1"
        ),
    };
    Server {
        image: Some(format!("redis-keeper/node:{name}")),
        tag,
        net,
    }
}

impl Server {
    /// A local port for a test's listener that no other server's run of the same test takes.
    pub fn port(&self, base: u16, octet: u8) -> u16 {
        base + u16::from(octet) + 256 * u16::from(30 - self.net)
    }

    /// cluster.toml's `[image]` section for this server (empty: the default, host fallback).
    pub fn image_toml(&self) -> String {
        match &self.image {
            None => String::new(),
            Some(image) => {
                format!("\n[image]\nname = \"{image}\"\npull = \"never\"\nfallback = \"none\"\n")
            }
        }
    }
}

/// The reference layout's addresses and slots, on the test's own subnet.
pub const REFERENCE: [(&str, u8, &[&str]); 3] = [
    ("redis-1", 13, &["0-5460"]),
    ("redis-2", 16, &["5461-10922"]),
    ("redis-3", 17, &["10923-16383"]),
];

pub struct TestCluster {
    pub name: String,
    pub octet: u8,
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
    pub server: Server,
    /// Where clients find the cluster (`address:port`): the reference layout's first node,
    /// unless a test places its nodes elsewhere.
    pub seeds: Vec<String>,
    /// Environment for every redis-keeper the test runs (`DOCKER_CONFIG` for contexts).
    pub env: Vec<(String, String)>,
}

impl TestCluster {
    /// A cluster named `rk-<name>` on 172.30.<octet>.0/24. Each test picks its own octet so
    /// tests run in parallel without sharing anything.
    pub async fn new(name: &str, octet: u8, nodes: &[(&str, u8, &[&str])]) -> TestCluster {
        let docker = docker().await;
        let server = server();
        if let Some(image) = &server.image {
            assert!(
                docker.inspect_image(image).await.is_ok(),
                "image {image} is missing: build it with `images/build {}` (./dev test does)",
                image.trim_start_matches("redis-keeper/node:")
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("cluster.toml");
        let cluster = TestCluster {
            name: format!("rk-{}{name}", server.tag),
            octet,
            dir,
            file,
            seeds: vec![format!("172.{}.{octet}.13:6379", server.net)],
            env: Vec::new(),
            server,
        };
        // A cluster left behind by an earlier, killed run of the same test.
        cluster.write(&cluster.toml(nodes));
        cluster.run(&["down", "--volumes"]).await;
        cluster
    }

    pub fn subnet(&self) -> String {
        format!("172.{}.{}.0/24", self.server.net, self.octet)
    }

    pub fn ip(&self, last: u8) -> String {
        format!("172.{}.{}.{last}", self.server.net, self.octet)
    }

    /// The container of one of the cluster's nodes.
    pub fn container(&self, node: &str) -> String {
        format!("{}-{node}", self.name)
    }

    pub fn toml(&self, nodes: &[(&str, u8, &[&str])]) -> String {
        let mut text = format!(
            "[cluster]\nname = \"{}\"\npassword_file = \"pw\"\nnode_timeout_ms = 5000\n{}\n\
             [network]\nname = \"{}-net\"\nsubnet = \"{}\"\n",
            self.name,
            self.server.image_toml(),
            self.name,
            self.subnet()
        );
        for (name, last, slots) in nodes {
            let slots: Vec<String> = slots.iter().map(|s| format!("\"{s}\"")).collect();
            text.push_str(&format!(
                "\n[[nodes]]\nname = \"{name}\"\nip = \"{}\"\nslots = [{}]\n",
                self.ip(*last),
                slots.join(", ")
            ));
        }
        text
    }

    /// [`TestCluster::toml`] with replicas: (name, last octet, master).
    pub fn toml_with_replicas(
        &self,
        nodes: &[(&str, u8, &[&str])],
        replicas: &[(&str, u8, &str)],
    ) -> String {
        let mut text = self.toml(nodes);
        for (name, last, master) in replicas {
            text.push_str(&format!(
                "\n[[nodes]]\nname = \"{name}\"\nip = \"{}\"\nreplica_of = \"{master}\"\n",
                self.ip(*last)
            ));
        }
        text
    }

    pub fn write(&self, text: &str) {
        std::fs::write(&self.file, text).expect("write cluster.toml");
    }

    pub fn password(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pw"))
            .expect("password file")
            .trim()
            .to_string()
    }

    /// Runs the binary with `-f <this cluster's file>`.
    pub async fn run(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(BIN)
            .args(args)
            .arg("-f")
            .arg(&self.file)
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .await
            .expect("run redis-keeper")
    }

    /// Runs the binary and asserts the exit code, showing its output when it differs.
    pub async fn expect(&self, args: &[&str], code: i32) -> Output {
        let out = self.run(args).await;
        assert_eq!(
            out.status.code(),
            Some(code),
            "redis-keeper {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub async fn up(&self) -> Output {
        self.expect(&["up", "--timeout", "90"], 0).await
    }

    pub async fn status(&self) -> serde_json::Value {
        let out = self.expect(&["status", "-o", "json"], 0).await;
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }

    fn label(&self) -> HashMap<String, Vec<String>> {
        HashMap::from([(
            "label".to_string(),
            vec![format!("io.redis-keeper.cluster={}", self.name)],
        )])
    }

    /// Names of this cluster's containers, running or not.
    pub async fn containers(&self) -> Vec<String> {
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&self.label())
            .build();
        let mut names: Vec<String> = docker()
            .await
            .list_containers(Some(options))
            .await
            .expect("list containers")
            .into_iter()
            .filter_map(|c| c.names?.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_string())
            .collect();
        names.sort();
        names
    }

    pub async fn volumes(&self) -> Vec<String> {
        let options = ListVolumesOptionsBuilder::new()
            .filters(&self.label())
            .build();
        let mut names: Vec<String> = docker()
            .await
            .list_volumes(Some(options))
            .await
            .expect("list volumes")
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect();
        names.sort();
        names
    }

    pub async fn network_exists(&self) -> bool {
        docker()
            .await
            .inspect_network(&format!("{}-net", self.name), None)
            .await
            .is_ok()
    }

    /// A direct connection to one node (no redirects followed).
    pub async fn node(&self, last: u8) -> redis::aio::MultiplexedConnection {
        let url = format!("redis://:{}@{}:6379", self.password(), self.ip(last));
        redis::Client::open(url)
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to node")
    }

    /// A cluster client that follows MOVED/ASK, as applications use.
    pub async fn cluster_client(&self) -> redis::cluster_async::ClusterConnection {
        let seeds = self.seeds.iter().map(|s| format!("redis://{s}"));
        redis::cluster::ClusterClientBuilder::new(seeds.collect::<Vec<_>>())
            .password(self.password())
            .build()
            .expect("cluster client")
            .get_async_connection()
            .await
            .expect("connect to the cluster")
    }
}

impl Drop for TestCluster {
    /// `down --volumes`, again while containers of the cluster are left: the daemon finishes
    /// a create that an operator killed just before sent, after `down` looked.
    fn drop(&mut self) {
        let project = format!("label=com.docker.compose.project={}", self.name);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let _ = std::process::Command::new(BIN)
                .args(["down", "--volumes", "-f"])
                .arg(&self.file)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .output();
            let left = std::process::Command::new("docker")
                .args(["ps", "-aq", "--filter", &project])
                .output();
            let none_left = left.is_ok_and(|o| o.status.success() && o.stdout.is_empty());
            if none_left || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `redis-keeper run` process for a test cluster, killed (and waited for) when dropped so
/// its lock is free before the cluster is torn down.
pub struct Operator {
    child: std::process::Child,
    status_file: PathBuf,
}

impl Operator {
    pub fn start(cluster: &TestCluster) -> Operator {
        Operator::start_with(cluster, &["--resync", "1"])
    }

    /// `run` with these arguments (instead of `--resync 1`).
    pub fn start_with(cluster: &TestCluster, args: &[&str]) -> Operator {
        let log = std::fs::File::create(cluster.dir.path().join("run.log")).expect("log file");
        let child = std::process::Command::new(BIN)
            .arg("run")
            .args(args)
            .arg("-f")
            .arg(&cluster.file)
            .env("RUST_LOG", "info")
            .envs(cluster.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start redis-keeper run");
        Operator {
            child,
            status_file: cluster
                .dir
                .path()
                .join(".redis-keeper")
                .join(format!("{}.status.json", cluster.name)),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {}", self.pid());
    }

    pub fn status(&self) -> Option<redis_keeper::status::OperatorStatus> {
        redis_keeper::status::OperatorStatus::read(&self.status_file)
    }

    /// Waits until the operator reports Ready, having turned Ready at or after `since`;
    /// returns how long after `since` it did. Panics with the operator's last status after
    /// `timeout`.
    pub async fn ready_after(
        &self,
        since: std::time::SystemTime,
        timeout: std::time::Duration,
    ) -> std::time::Duration {
        use redis_keeper::status::ConditionType;
        let every = std::time::Duration::from_millis(25);
        poll_until("Ready", timeout, every, async || {
            let status = self.status();
            let ready = status
                .as_ref()
                .and_then(|s| s.condition(ConditionType::Ready));
            if let Some(c) = ready.filter(|c| c.status) {
                let at = humantime::parse_rfc3339(&c.last_transition_time).expect("timestamp");
                if at >= since {
                    return Ok(at.duration_since(since).unwrap_or_default());
                }
            }
            Err(format!("status {status:#?}"))
        })
        .await
    }

    /// Waits until the operator's status satisfies `holds`; panics with the last status after
    /// `timeout`, saying what was awaited.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: std::time::Duration,
        holds: impl Fn(&redis_keeper::status::OperatorStatus) -> bool,
    ) {
        let every = std::time::Duration::from_millis(25);
        poll_until(what, timeout, every, async || match self.status() {
            Some(status) if holds(&status) => Ok(()),
            status => Err(format!("status {status:#?}")),
        })
        .await
    }

    /// Stops with SIGTERM and returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        self.signal("TERM");
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `key = i` through a cluster client as fast as the cluster acknowledges, recording
/// every acknowledged write, until stopped.
pub struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    acked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<Vec<(String, u64)>>,
}

impl Writer {
    pub async fn start(cluster: &TestCluster, prefix: &str) -> Writer {
        Writer::start_hot(cluster, prefix, &[]).await
    }

    /// Like [`Writer::start`], with every other write in one of `hot`'s slots (by hash tag),
    /// so a scenario that moves those slots is moving keys that are being written.
    pub async fn start_hot(cluster: &TestCluster, prefix: &str, hot: &[u16]) -> Writer {
        use redis::AsyncCommands;
        let client = redis::cluster::ClusterClientBuilder::new(vec![format!(
            "redis://{}:6379",
            cluster.ip(13)
        )])
        .password(cluster.password())
        .connection_timeout(std::time::Duration::from_millis(300))
        .response_timeout(std::time::Duration::from_millis(500))
        .retries(2)
        .build()
        .expect("cluster client");
        let mut conn = client.get_async_connection().await.expect("connect writer");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let acked_count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = acked_count.clone();
        let prefix = prefix.to_string();
        let tags: Vec<String> = hot.iter().map(|s| tag_for_slot(*s)).collect();
        let task = tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i: u64 = 0;
            // Paced, so a run of a few seconds stays a few thousand keys to verify.
            let mut pace = tokio::time::interval(std::time::Duration::from_millis(2));
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                pace.tick().await;
                let key = match tags.get((i / 2) as usize % tags.len().max(1)) {
                    Some(tag) if i.is_multiple_of(2) => format!("{{{tag}}}:{prefix}:{i}"),
                    _ => format!("{prefix}:{i}"),
                };
                let result: redis::RedisResult<()> = conn.set(&key, i).await;
                if result.is_ok() {
                    acked.push((key, i));
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                i += 1;
            }
            acked
        });
        Writer {
            stop,
            acked: acked_count,
            task,
        }
    }

    /// Waits until `n` more writes than now have been acknowledged.
    pub async fn wait_for_writes(&self, n: usize, timeout: std::time::Duration) {
        more_acks(
            &self.acked,
            n,
            timeout,
            "the cluster stopped acknowledging writes",
        )
        .await;
    }

    pub async fn stop(self) -> Vec<(String, u64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.expect("writer task")
    }
}

/// Asks `probe` again every `every` until it answers `Ok`, and returns that answer. After
/// `timeout` the test fails naming `what` and the last thing the probe saw instead (its `Err`).
pub async fn poll_until<T>(
    what: &str,
    timeout: std::time::Duration,
    every: std::time::Duration,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let seen = match probe().await {
            Ok(answer) => return answer,
            Err(seen) => seen,
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {timeout:?}; last seen: {seen}"
        );
        tokio::time::sleep(every).await;
    }
}

/// Waits until `acked` has grown by `n`; panics saying `stalled` after `timeout`.
pub async fn more_acks(
    acked: &std::sync::atomic::AtomicUsize,
    n: usize,
    timeout: std::time::Duration,
    stalled: &str,
) {
    let target = acked.load(std::sync::atomic::Ordering::Relaxed) + n;
    let deadline = tokio::time::Instant::now() + timeout;
    while acked.load(std::sync::atomic::Ordering::Relaxed) < target {
        assert!(tokio::time::Instant::now() < deadline, "{stalled}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Reads every acknowledged write back; returns the keys that are missing or wrong.
pub async fn lost_writes(cluster: &TestCluster, acked: &[(String, u64)]) -> Vec<String> {
    use redis::AsyncCommands;
    let mut conn = cluster.cluster_client().await;
    let mut lost = Vec::new();
    for (key, value) in acked {
        let got: Option<u64> = conn.get(key).await.expect("read back");
        if got != Some(*value) {
            lost.push(key.clone());
        }
    }
    lost
}

/// Reads `written` back and fails naming the first keys missing or wrong, except those
/// `may_lose` allows.
pub async fn assert_kept(
    cluster: &TestCluster,
    what: &str,
    written: &[(String, u64)],
    may_lose: impl Fn(&str) -> bool,
) {
    let lost = lost_writes(cluster, written).await;
    let unexpected: Vec<&String> = lost.iter().filter(|k| !may_lose(k)).collect();
    assert!(
        unexpected.is_empty(),
        "{what}: {} lost: {:?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(10)]
    );
}

/// `docker kill` of a container.
pub async fn kill(container: &str) {
    docker()
        .await
        .kill_container(
            container,
            None::<bollard::query_parameters::KillContainerOptions>,
        )
        .await
        .unwrap_or_else(|e| panic!("docker kill {container}: {e}"));
}

/// A hash tag whose keys all land in `slot`.
pub fn tag_for_slot(slot: u16) -> String {
    (0u32..)
        .map(|n| format!("t{n}"))
        .find(|t| redis_keeper::keyslot::key_slot(t.as_bytes()) == slot)
        .expect("every slot has a tag")
}

/// A hash tag for each slot of `slots`, found in one sweep (asking [`tag_for_slot`] slot by
/// slot would search from the start each time).
pub fn tags_for_slots(slots: std::ops::Range<u16>) -> Vec<String> {
    let mut tags: Vec<Option<String>> = vec![None; slots.len()];
    let mut missing = tags.len();
    for n in 0u32.. {
        if missing == 0 {
            break;
        }
        let tag = format!("t{n}");
        let slot = redis_keeper::keyslot::key_slot(tag.as_bytes());
        if slots.contains(&slot) {
            let place = &mut tags[usize::from(slot - slots.start)];
            if place.is_none() {
                *place = Some(tag);
                missing -= 1;
            }
        }
    }
    tags.into_iter().flatten().collect()
}

/// The node's `CLUSTER NODES`, as it sees the cluster.
pub async fn cluster_nodes(cluster: &TestCluster, last: u8) -> String {
    let mut conn = cluster.node(last).await;
    redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut conn)
        .await
        .expect("CLUSTER NODES")
}

/// The node's own id.
pub async fn node_id(cluster: &TestCluster, last: u8) -> String {
    let mut conn = cluster.node(last).await;
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query_async(&mut conn)
        .await
        .expect("CLUSTER MYID")
}

/// How many keys the node holds in `slot`.
pub async fn keys_in_slot(conn: &mut redis::aio::MultiplexedConnection, slot: u16) -> usize {
    redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query_async(conn)
        .await
        .expect("CLUSTER COUNTKEYSINSLOT")
}

/// Moves `count` slots from one node to another with `redis-cli --cluster reshard`, as a
/// person would (the password goes by environment, not argument).
pub async fn reshard(cluster: &TestCluster, from: &str, to: &str, count: u16) {
    let out = tokio::process::Command::new("redis-cli")
        .args(["--cluster", "reshard", &format!("{}:6379", cluster.ip(13))])
        .args(["--cluster-from", from, "--cluster-to", to])
        .args(["--cluster-slots", &count.to_string(), "--cluster-yes"])
        .env("REDISCLI_AUTH", cluster.password())
        .output()
        .await
        .expect("redis-cli is needed to reshard (./dev installs redis-tools)");
    assert!(
        out.status.success(),
        "redis-cli --cluster reshard failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

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
        let conf = redis_keeper::blueprint::private_conf(
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
