//! What the benchmarks share: the reference layout as cluster.toml and as the seed's compose
//! file plus init script, the commands that drive them, and median reporting.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_redis-keeper");
/// How long a fresh master keeps cluster_state:fail (CLUSTER_WRITABLE_DELAY in Redis).
pub const WRITABLE_DELAY: Duration = Duration::from_secs(2);
/// The reference layout's last address octets and slots.
pub const IPS: [&str; 3] = ["13", "16", "17"];
const SLOTS: [&str; 3] = ["0-5460", "5461-10922", "10923-16383"];
/// The seed's password, in its compose file as the seed has it.
pub const SEED_PASSWORD: &str = "benchpw";

/// The reference layout as cluster.toml, on 172.30.<octet>.0/24.
pub fn keeper_toml(name: &str, octet: u8) -> String {
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

/// The seed's compose file: three cluster-mode nodes, restart unless-stopped, a volume each.
pub fn compose_yaml(image: &str, octet: u8) -> String {
    let mut services = String::new();
    let mut volumes = String::new();
    for (i, ip) in IPS.iter().enumerate() {
        let n = i + 1;
        services.push_str(&format!(
            "  redis-{n}:\n    image: {image}\n    command: [\"redis-server\", \"--port\", \"6379\", \"--cluster-enabled\", \"yes\", \"--cluster-config-file\", \"nodes.conf\", \"--cluster-node-timeout\", \"5000\", \"--appendonly\", \"yes\", \"--requirepass\", \"{SEED_PASSWORD}\", \"--masterauth\", \"{SEED_PASSWORD}\", \"--protected-mode\", \"no\", \"--dir\", \"/data\"]\n    restart: unless-stopped\n    volumes: [\"redis-{n}-data:/data\"]\n    networks:\n      data:\n        ipv4_address: 172.30.{octet}.{ip}\n"
        ));
        volumes.push_str(&format!("  redis-{n}-data: {{}}\n"));
    }
    format!(
        "version: \"2.4\"\nservices:\n{services}networks:\n  data:\n    ipam:\n      config:\n        - subnet: 172.30.{octet}.0/24\nvolumes:\n{volumes}"
    )
}

/// Makes the node image both ways use (its making is not part of any measurement) and writes
/// the seed's compose file with it into `dir`; returns the image.
pub fn prepare(rt: &tokio::runtime::Runtime, dir: &Path, seed_octet: u8) -> String {
    let spec = redis_keeper::spec::ClusterSpec::parse(
        &keeper_toml("rk-image", seed_octet),
        Path::new("cluster.toml"),
    )
    .expect("spec");
    let image = rt.block_on(async {
        let docker = redis_keeper::docker::connect()
            .await
            .expect("a running Docker Engine");
        redis_keeper::docker::image::prepare(&docker, &[], &spec.image)
            .await
            .expect("node image")
    });
    std::fs::write(
        dir.join("docker-compose.yml"),
        compose_yaml(&image, seed_octet),
    )
    .expect("write docker-compose.yml");
    image
}

/// The seed's init script: wait for the nodes, create the cluster, wait for ok, polling every
/// `$POLL` seconds (0.1 gives the baseline its best; init scripts commonly sleep 1). The
/// nodes are at `$NET.13`, `$NET.16`, `$NET.17`.
pub const INIT_SCRIPT: &str = r#"set -e
export REDISCLI_AUTH=benchpw
nodes="$NET.13 $NET.16 $NET.17"
for ip in $nodes; do until redis-cli -h $ip ping 2>/dev/null | grep -q PONG; do sleep $POLL; done; done
if ! redis-cli -h $NET.13 cluster info | grep -q cluster_known_nodes:3; then
  redis-cli --cluster create $NET.13:6379 $NET.16:6379 $NET.17:6379 --cluster-yes >/dev/null
fi
for ip in $nodes; do until redis-cli -h $ip cluster info | grep -q cluster_state:ok; do sleep $POLL; done; done
"#;

/// Runs the seed's init script (written into `dir`) for the nodes on 172.30.<octet>.0/24.
pub fn init_script(dir: &Path, octet: u8, poll: &str) {
    let script = dir.join("init.sh");
    if !script.exists() {
        std::fs::write(&script, INIT_SCRIPT).expect("write init.sh");
    }
    run(Command::new("bash")
        .arg(script)
        .env("POLL", poll)
        .env("NET", format!("172.30.{octet}")));
}

/// Runs a command to success, or panics with its stderr.
pub fn run(cmd: &mut Command) {
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

/// Runs redis-keeper with `-f <dir>/cluster.toml`.
pub fn keeper(dir: &Path, args: &[&str]) {
    run(Command::new(BIN)
        .args(args)
        .arg("-f")
        .arg(dir.join("cluster.toml"))
        .env("RUST_LOG", "warn"));
}

/// Runs docker-compose for `project` with `<dir>/docker-compose.yml`.
pub fn compose(project: &str, dir: &Path, args: &[&str]) {
    run(Command::new("docker-compose")
        .arg("-p")
        .arg(project)
        .arg("-f")
        .arg(dir.join("docker-compose.yml"))
        .args(args));
}

pub fn time(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One result row: median, min and max.
pub fn line(label: &str, v: &[Duration]) {
    let (Some(min), Some(max)) = (v.iter().min(), v.iter().max()) else {
        println!("  {label:<58} no measurement");
        return;
    };
    println!(
        "  {label:<58} {:>6.2} s   (min {:.2}, max {:.2}, n={})",
        median(v.to_vec()).as_secs_f64(),
        min.as_secs_f64(),
        max.as_secs_f64(),
        v.len()
    );
}

/// How many rounds to run: `BENCH_ROUNDS`, else `default`.
pub fn rounds(default: usize) -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}

/// Starts `redis-keeper run` on `<dir>/cluster.toml`, its output discarded.
pub fn spawn_run(dir: &Path) -> Child {
    Command::new(BIN)
        .args(["run", "-f"])
        .arg(dir.join("cluster.toml"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-keeper run")
}
