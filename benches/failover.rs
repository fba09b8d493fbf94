//! A master's death: how long until writes to its slots are accepted again, with the
//! operator's promotion (`redis-keeper run` promotes the in-sync replica the moment Docker
//! reports the death) against Redis's own failover (no operator: node_timeout, a majority's
//! failure reports, then an election), in the same run, alternating, as medians.
//!
//! The cluster is the seed's 3 + 3 layout with node_timeout 5000 ms. Each round `docker
//! kill`s redis-1 and times from the kill to the first `SET` on one of its slots that
//! redis-4, its replica, accepts. Then the declared roles are restored (redis-1 back as
//! master) and the round waits 4 × node_timeout + 1 s: a replica cannot start an election
//! sooner after its last one (Redis's `auth_retry_time`), and both ways are measured from the
//! same start.
//!
//! Run with `cargo bench --bench failover` (BENCH_ROUNDS, default 3). Needs Docker; uses
//! subnet 172.30.205.0/24.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bollard::query_parameters::KillContainerOptions;
use redis::AsyncConnectionConfig;

use common::{keeper, line, median, BIN};

const NAME: &str = "rk-fbench";
const OCTET: u8 = 205;
const LIMIT: Duration = Duration::from_secs(60);
const ELECTION_BAN: Duration = Duration::from_secs(21);

fn toml() -> String {
    let mut text = format!(
        "[cluster]\nname = \"{NAME}\"\npassword_file = \"pw\"\nnode_timeout_ms = 5000\n\n[network]\nname = \"{NAME}-net\"\nsubnet = \"172.30.{OCTET}.0/24\"\n"
    );
    for (name, ip, slots) in [
        ("redis-1", 13, "0-5460"),
        ("redis-2", 16, "5461-10922"),
        ("redis-3", 17, "10923-16383"),
    ] {
        text.push_str(&format!(
            "\n[[nodes]]\nname = \"{name}\"\nip = \"172.30.{OCTET}.{ip}\"\nslots = [\"{slots}\"]\n"
        ));
    }
    for (name, ip, master) in [
        ("redis-4", 14, "redis-1"),
        ("redis-5", 15, "redis-2"),
        ("redis-6", 18, "redis-3"),
    ] {
        text.push_str(&format!(
            "\n[[nodes]]\nname = \"{name}\"\nip = \"172.30.{OCTET}.{ip}\"\nreplica_of = \"{master}\"\n"
        ));
    }
    text
}

/// Times from `docker kill` of redis-1 to the first SET redis-4 accepts for slot 0's key.
async fn kill_and_time(password: &str) -> Duration {
    let client =
        redis::Client::open(format!("redis://:{password}@172.30.{OCTET}.14:6379")).expect("client");
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(200)))
        .set_response_timeout(Some(Duration::from_millis(500)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("connect to redis-4");
    let role: Vec<redis::Value> = redis::cmd("ROLE")
        .query_async(&mut conn)
        .await
        .expect("ROLE of redis-4");
    let role: Option<String> = role
        .into_iter()
        .next()
        .and_then(|v| redis::from_redis_value(v).ok());
    assert_eq!(
        role.as_deref(),
        Some("slave"),
        "redis-4 must be a replica before the kill"
    );
    let docker = redis_keeper::docker::connect().await.expect("Docker");
    let killed = Instant::now();
    docker
        .kill_container(&format!("{NAME}-redis-1"), None::<KillContainerOptions>)
        .await
        .expect("docker kill redis-1");
    // A key of redis-1's slots: a replica answers MOVED until promoted.
    let key = (0u32..)
        .map(|n| format!("t{n}"))
        .find(|k| redis_keeper::spec::keyslot::key_slot(k.as_bytes()) < 5461)
        .unwrap_or_default();
    loop {
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .query_async(&mut conn)
            .await;
        if set.is_ok() {
            return killed.elapsed();
        }
        assert!(
            killed.elapsed() < LIMIT,
            "no promotion within {LIMIT:?}: {set:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A `redis-keeper run`, killed when dropped (a failed round must not leave it running).
struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn operator(dir: &Path) -> Operator {
    Operator(common::spawn_run(dir))
}

/// Brings the declared roles back (redis-1 master again) and waits out the vote ban.
fn restore(dir: &Path) {
    keeper(dir, &["up", "--timeout", "120"]);
    std::thread::sleep(ELECTION_BAN);
}

fn main() {
    let rounds = common::rounds(3);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("cluster.toml"), toml()).expect("cluster.toml");
    keeper(dir.path(), &["down", "--volumes"]);
    keeper(dir.path(), &["up", "--timeout", "120"]);
    std::thread::sleep(ELECTION_BAN);
    let password = std::fs::read_to_string(dir.path().join("pw"))
        .expect("password")
        .trim()
        .to_string();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (mut promoted, mut redis_own) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let run = operator(dir.path());
        // The operator is up and has observed the healthy cluster.
        converged(dir.path());
        let took = rt.block_on(kill_and_time(&password));
        eprintln!(
            "round {round}: operator's promotion {:.3} s",
            took.as_secs_f64()
        );
        promoted.push(took);
        restore_with(run, dir.path());

        let took = rt.block_on(kill_and_time(&password));
        eprintln!(
            "round {round}: Redis's own failover {:.3} s",
            took.as_secs_f64()
        );
        redis_own.push(took);
        restore(dir.path());
    }
    keeper(dir.path(), &["down", "--volumes"]);
    println!(
        "master docker-killed → writes to its slots accepted again (3 + 3, node_timeout 5000 ms):"
    );
    line("redis-keeper run (promotes the in-sync replica)", &promoted);
    line("Redis's own failover (no operator)", &redis_own);
    println!(
        "  speed-up: {:.1}x",
        median(redis_own).as_secs_f64() / median(promoted).as_secs_f64().max(1e-9)
    );
}

/// Waits until `plan` has nothing left to do (the failback included).
fn converged(dir: &Path) {
    let started = Instant::now();
    loop {
        let status = Command::new(BIN)
            .args(["plan", "-f"])
            .arg(dir.join("cluster.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-keeper plan");
        if status.success() {
            return;
        }
        assert!(started.elapsed() < LIMIT, "not converged within {LIMIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Lets the running operator fail back, then stops it.
fn restore_with(run: Operator, dir: &Path) {
    converged(dir);
    let _ = Command::new("kill").arg(run.0.id().to_string()).status();
    drop(run);
    std::thread::sleep(ELECTION_BAN);
}
