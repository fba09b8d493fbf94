//! A cluster of the test's own (unique name and subnet) in a temporary folder, driven
//! through the real binary, and removed with `down --volumes` even when the test fails.

use super::*;

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

/// How long one run of the binary from a test may take: the longest, an `up` carrying a
/// reshard of a preloaded key set, took under 200 s on a loaded machine.
pub const CLI_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Every test cluster's `node_timeout_ms` (Redis's `cluster-node-timeout`).
pub const NODE_TIMEOUT_MS: u64 = 5000;

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
            "[cluster]\nname = \"{}\"\npassword_file = \"pw\"\nnode_timeout_ms = {NODE_TIMEOUT_MS}\n{}\n\
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

    /// Runs the binary with `-f <this cluster's file>`. A run over [`CLI_LIMIT`] fails the
    /// test naming the command, and is killed: a hung command must cost a test, not the
    /// whole job's time limit with no clue where.
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut command = tokio::process::Command::new(BIN);
        command
            .args(args)
            .arg("-f")
            .arg(&self.file)
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true);
        match tokio::time::timeout(CLI_LIMIT, command.output()).await {
            Ok(out) => out.expect("run redis-keeper"),
            Err(_) => panic!("redis-keeper {args:?} still running after {CLI_LIMIT:?}: killed"),
        }
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

    /// Asks `check` every 250 ms until it passes, within `timeout`; returns how long that
    /// took. `when` says at which point of the scenario, for the failure's message.
    pub async fn check_green_within(
        &self,
        when: &str,
        timeout: std::time::Duration,
    ) -> std::time::Duration {
        let started = std::time::Instant::now();
        let every = std::time::Duration::from_millis(250);
        let what = format!("check green {when}");
        poll_until(&what, timeout, every, async || {
            let out = self.run(&["check"]).await;
            match out.status.code() {
                Some(0) => Ok(started.elapsed()),
                code => Err(format!("exit {code:?}: {}", stdout(&out))),
            }
        })
        .await
    }

    /// `check` after a fault, once the operator has said Ready: green within the node
    /// timeout rather than at once. Ready is one observation, and a bus link whose socket
    /// died in the fault can look alive to it (its ping sent under 500 ms before) until Redis
    /// drops it, node_timeout/2 later, and reconnects. Cold CI runs saw `check` land in such
    /// a gap after the network was removed, and after a killed master came back as a replica
    /// (a peer's ping to it unanswered for 901 ms, a second after its full resync) (2026-12-06).
    pub async fn check_green_after_fault(&self) {
        let timeout = std::time::Duration::from_millis(NODE_TIMEOUT_MS);
        self.check_green_within("after the fault", timeout).await;
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

    /// A direct connection to one node (no redirects followed). Its commands get 3 s, as the
    /// operator's do: redis-rs's default of 500 ms was outlasted by a CLUSTER NODES right
    /// after a scale-in on a loaded machine (a cold run, 2026-12-07).
    pub async fn node(&self, last: u8) -> redis::aio::MultiplexedConnection {
        self.node_patient(last, std::time::Duration::from_secs(3))
            .await
    }

    /// Like [`TestCluster::node`], but its commands may take up to `patience`: bulk loads
    /// and scans of large data sets, which on a loaded machine outlast redis-rs's default
    /// response timeout (a SCAN of 10,000 keys timed out in a cold run).
    pub async fn node_patient(
        &self,
        last: u8,
        patience: std::time::Duration,
    ) -> redis::aio::MultiplexedConnection {
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(patience));
        self.node_with(last, &config).await
    }

    async fn node_with(
        &self,
        last: u8,
        config: &redis::AsyncConnectionConfig,
    ) -> redis::aio::MultiplexedConnection {
        let url = format!("redis://:{}@{}:6379", self.password(), self.ip(last));
        redis::Client::open(url)
            .expect("client")
            .get_multiplexed_async_connection_with_config(config)
            .await
            .expect("connect to node")
    }

    /// A cluster client that follows MOVED/ASK, as applications use. Its requests give up
    /// after [`CLUSTER_RESPONSE_TIMEOUT`].
    pub async fn cluster_client(&self) -> redis::cluster_async::ClusterConnection {
        let seeds = self.seeds.iter().map(|s| format!("redis://{s}"));
        let client = redis::cluster::ClusterClientBuilder::new(seeds.collect::<Vec<_>>())
            .password(self.password())
            .response_timeout(CLUSTER_RESPONSE_TIMEOUT)
            .build()
            .expect("cluster client");
        connect_cluster(&client).await
    }
}

impl TestCluster {
    /// What each seed says of the cluster (`CLUSTER NODES`), or why it said nothing: for a
    /// failure's message. Each seed gets 3 s to connect and to answer.
    pub async fn seed_views(&self) -> String {
        const PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(PATIENCE))
            .set_response_timeout(Some(PATIENCE));
        let mut text = String::new();
        for seed in &self.seeds {
            let url = format!("redis://:{}@{seed}", self.password());
            let view = async {
                let client = redis::Client::open(url).map_err(|e| e.to_string())?;
                let mut conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(|e| e.to_string())?;
                redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async::<String>(&mut conn)
                    .await
                    .map_err(|e| e.to_string())
            };
            match view.await {
                Ok(nodes) => text.push_str(&format!("{seed}:\n{nodes}")),
                Err(e) => text.push_str(&format!("{seed}: no answer: {e}\n")),
            }
        }
        text
    }
}

/// How long the harness's cluster clients wait for a reply: redis-rs's cluster client has no
/// response timeout unless given one, and a read-back once waited on one for 17 minutes.
pub const CLUSTER_RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects `client`, each attempt bounded. redis-rs 1.x's `get_async_connection` can wait
/// forever with every connection open and idle (redis-rs/redis-rs#1953): a cold CI run's
/// multi-host scenario sat in one for 17 minutes (2026-12-07), where a second attempt
/// connects at once.
pub async fn connect_cluster(
    client: &redis::cluster::ClusterClient,
) -> redis::cluster_async::ClusterConnection {
    const ATTEMPT: std::time::Duration = std::time::Duration::from_secs(10);
    let mut last = String::new();
    for _ in 0..3 {
        match tokio::time::timeout(ATTEMPT, client.get_async_connection()).await {
            Ok(Ok(conn)) => return conn,
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = format!("no connection within {ATTEMPT:?}"),
        }
    }
    panic!("cannot connect to the cluster in three attempts: {last}")
}

impl Drop for TestCluster {
    /// `down --volumes`, again while containers of the cluster are left: the daemon finishes
    /// a create that an operator killed just before sent, after `down` looked.
    fn drop(&mut self) {
        let project = format!("label=com.docker.compose.project={}", self.name);
        if std::thread::panicking() {
            self.print_what_went_on(&project);
        }
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

impl TestCluster {
    /// For a failed test: the tail of the operator's log and of every node's server log, so
    /// a failure on CI can be explained without running it again.
    fn print_what_went_on(&self, project: &str) {
        let run_log = std::fs::read_to_string(self.dir.path().join("run.log")).unwrap_or_default();
        eprintln!("--- {}: the operator's last log lines ---", self.name);
        for line in tail(&run_log, 60) {
            eprintln!("{line}");
        }
        let names = std::process::Command::new("docker")
            .args(["ps", "-a", "--format", "{{.Names}}", "--filter", project])
            .output()
            .map(|o| stdout(&o))
            .unwrap_or_default();
        for container in names.lines() {
            // `docker logs` keeps the last lines itself; the server logs to stdout.
            let log = std::process::Command::new("docker")
                .args(["logs", "--tail", "25", "--timestamps", container])
                .output()
                .map(|o| format!("{}{}", stdout(&o), stderr(&o)))
                .unwrap_or_default();
            eprintln!("--- {container}: the server's last log lines ---");
            eprint!("{log}");
        }
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
