//! Recovery from losing a node: `redis-keeper run` against the seed's way (compose with
//! `restart: unless-stopped`, plus the init script), measured in the same run, alternating,
//! as medians; then what an idle `run` costs.
//!
//! Each fault hits redis-2 of a healthy cluster:
//! - crash: its redis-server SIGKILLed inside the container, as the OOM killer would;
//! - `docker kill`;
//! - `docker rm -f`, volume kept.
//!
//! Measured from the fault until every node, the lost one included, answers
//! cluster_state:ok. The seed's way gets RECOVERY_LIMIT; if it does not recover by then it is
//! reported so (and not tried again), and restored the way a person would: `docker-compose up
//! -d` and the init script.
//!
//! Idle: `run` on the healthy cluster for IDLE_SECS (default 60): CPU time (utime + stime
//! from /proc), peak RSS, and reconcile passes (from its status file).
//!
//! Run with `cargo bench --bench recovery` (BENCH_ROUNDS, default 5). Needs Docker,
//! docker-compose and redis-cli; uses subnets 172.30.203.0/24 and 172.30.204.0/24.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    InspectContainerOptions, KillContainerOptions, RemoveContainerOptionsBuilder,
};
use redis::AsyncConnectionConfig;
use redis_keeper::docker;
use redis_keeper::runtime::status::OperatorStatus;

use common::{init_script, keeper_toml, line, median, spawn_run, IPS, SEED_PASSWORD};

const KEEPER: &str = "rk-rbench";
const KEEPER_OCTET: u8 = 203;
const SEED_PROJECT: &str = "rk-seedrbench";
const SEED_OCTET: u8 = 204;
const RECOVERY_LIMIT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug)]
enum Fault {
    Crash,
    Kill,
    Remove,
}

impl Fault {
    fn label(self) -> &'static str {
        match self {
            Fault::Crash => "redis-server crashed (SIGKILL inside the container)",
            Fault::Kill => "container killed (docker kill)",
            Fault::Remove => "container removed, volume kept (docker rm -f)",
        }
    }
}

/// One way of running the cluster: its nodes' subnet, password and redis-2's container.
struct Stack {
    octet: u8,
    password: String,
    victim: String,
}

impl Stack {
    async fn inject(&self, fault: Fault) {
        let docker = docker::connect().await.expect("docker");
        match fault {
            Fault::Crash => {
                let pid = docker
                    .inspect_container(&self.victim, None::<InspectContainerOptions>)
                    .await
                    .expect("inspect")
                    .state
                    .and_then(|s| s.pid)
                    .expect("running container's pid");
                common::run(Command::new("kill").args(["-KILL", &pid.to_string()]));
            }
            Fault::Kill => docker
                .kill_container(&self.victim, None::<KillContainerOptions>)
                .await
                .expect("docker kill"),
            Fault::Remove => {
                let options = RemoveContainerOptionsBuilder::new().force(true).build();
                docker
                    .remove_container(&self.victim, Some(options))
                    .await
                    .expect("docker rm");
            }
        }
    }

    /// Every node answers cluster_state:ok.
    async fn all_ok(&self) -> bool {
        for ip in IPS {
            let url = format!("redis://:{}@172.30.{}.{ip}:6379", self.password, self.octet);
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(Duration::from_millis(200)))
                .set_response_timeout(Some(Duration::from_millis(500)));
            let Ok(client) = redis::Client::open(url) else {
                return false;
            };
            let Ok(mut conn) = client
                .get_multiplexed_async_connection_with_config(&config)
                .await
            else {
                return false;
            };
            let info: redis::RedisResult<String> = redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async(&mut conn)
                .await;
            if !info.is_ok_and(|i| i.contains("cluster_state:ok")) {
                return false;
            }
        }
        true
    }

    /// Time from now until every node answers ok, or None after `limit`.
    async fn recovery(&self, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.all_ok().await {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Injects `fault` and measures the recovery.
    async fn measure(&self, fault: Fault) -> Option<Duration> {
        assert!(self.all_ok().await, "healthy before the fault");
        self.inject(fault).await;
        // The lost node cannot answer until it is back, so a fast "all ok" is not the old state.
        self.recovery(RECOVERY_LIMIT).await
    }
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32, ticks_per_second: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / ticks_per_second
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb / 1024.0
}

fn ticks_per_second() -> f64 {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK")
}

fn main() {
    let rounds = common::rounds(5);
    let idle_secs: u64 = std::env::var("IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let keeper_dir = dir.path().join("keeper");
    std::fs::create_dir_all(&keeper_dir).unwrap();
    std::fs::write(
        keeper_dir.join("cluster.toml"),
        keeper_toml(KEEPER, KEEPER_OCTET),
    )
    .unwrap();
    let image = common::prepare(&rt, dir.path(), SEED_OCTET);
    let compose = |args: &[&str]| common::compose(SEED_PROJECT, dir.path(), args);
    let seed_up = || {
        compose(&["up", "-d", "--quiet-pull"]);
        init_script(dir.path(), SEED_OCTET, "0.1");
    };

    // Both stacks up and healthy before anything is measured.
    common::keeper(&keeper_dir, &["down", "--volumes"]);
    compose(&["down", "-v", "--remove-orphans"]);
    let mut operator = spawn_run(&keeper_dir);
    seed_up();
    // `run` writes the password file as it starts.
    let password = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(p) = std::fs::read_to_string(keeper_dir.join("pw")) {
                return p.trim().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "run never wrote the password file"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let keeper = Stack {
        octet: KEEPER_OCTET,
        password,
        victim: format!("{KEEPER}-redis-2"),
    };
    let seed = Stack {
        octet: SEED_OCTET,
        password: SEED_PASSWORD.into(),
        victim: format!("{SEED_PROJECT}_redis-2_1"),
    };
    rt.block_on(async {
        assert!(
            keeper.recovery(Duration::from_secs(120)).await.is_some(),
            "run never brought the cluster up"
        );
    });

    let faults = [Fault::Crash, Fault::Kill, Fault::Remove];
    let mut ours: Vec<Vec<Duration>> = vec![Vec::new(); faults.len()];
    let mut theirs: Vec<Vec<Duration>> = vec![Vec::new(); faults.len()];
    let mut seed_gave_up: Vec<Option<usize>> = vec![None; faults.len()];
    println!(
        "recovery: fault on redis-2 → every node cluster_state:ok; {rounds} rounds, alternating"
    );
    for round in 0..rounds {
        for (f, fault) in faults.iter().enumerate() {
            let mut measure_ours = || {
                let took = rt.block_on(keeper.measure(*fault));
                ours[f].push(took.expect("redis-keeper recovers"));
            };
            let mut measure_seed = || {
                if seed_gave_up[f].is_some() {
                    return;
                }
                match rt.block_on(seed.measure(*fault)) {
                    Some(took) => theirs[f].push(took),
                    None => {
                        seed_gave_up[f] = Some(round + 1);
                        seed_up();
                    }
                }
            };
            if round % 2 == 0 {
                measure_ours();
                measure_seed();
            } else {
                measure_seed();
                measure_ours();
            }
            eprintln!(
                "  round {}: {}: redis-keeper {:.2} s, seed's way {}",
                round + 1,
                fault.label(),
                ours[f].last().map_or(0.0, Duration::as_secs_f64),
                match (seed_gave_up[f], theirs[f].last()) {
                    (Some(r), _) if r == round + 1 => "did not recover".to_string(),
                    (Some(_), _) => "not repeated".to_string(),
                    (None, Some(t)) => format!("{:.2} s", t.as_secs_f64()),
                    (None, None) => "-".to_string(),
                }
            );
        }
    }
    println!(
        "median on {} cores, image {image}:",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for (f, fault) in faults.iter().enumerate() {
        println!(" {}", fault.label());
        line("redis-keeper run", &ours[f]);
        match seed_gave_up[f] {
            Some(round) => println!(
                "  {:<58} did not recover within {} s (round {round}; not repeated)",
                "seed's way (compose restart policy + init script)",
                RECOVERY_LIMIT.as_secs()
            ),
            None => line(
                "seed's way (compose restart policy + init script)",
                &theirs[f],
            ),
        }
    }
    let targets = [("crash", 3.0), ("kill", 3.0), ("remove", 4.0)];
    for (f, (name, target)) in targets.iter().enumerate() {
        if let Some(m) = (!ours[f].is_empty()).then(|| median(ours[f].clone())) {
            println!(
                "  target {name}: ≤ {target:.1} s median; measured {:.2} s",
                m.as_secs_f64()
            );
        }
    }

    // Idle: the operator on a healthy cluster, after it has settled.
    rt.block_on(async {
        assert!(keeper.recovery(Duration::from_secs(30)).await.is_some());
    });
    std::thread::sleep(Duration::from_secs(5));
    let pid = operator.id();
    let status_file = keeper_dir
        .join(".redis-keeper")
        .join(format!("{KEEPER}.status.json"));
    let passes = || OperatorStatus::read(&status_file).map_or(0, |s| s.reconciles);
    let tck = ticks_per_second();
    let (cpu0, passes0, started) = (cpu_seconds(pid, tck), passes(), Instant::now());
    let mut peak_rss: f64 = rss_mb(pid);
    while started.elapsed() < Duration::from_secs(idle_secs) {
        std::thread::sleep(Duration::from_secs(1));
        peak_rss = peak_rss.max(rss_mb(pid));
    }
    let cpu = cpu_seconds(pid, tck) - cpu0;
    let wall = started.elapsed().as_secs_f64();
    println!("idle `run` on a healthy cluster for {wall:.0} s (resync 5 s):");
    println!(
        "  CPU {:.3} s = {:.2}% of a core (target ≤ 1%); peak RSS {peak_rss:.1} MB (target ≤ 30 MB); {} reconcile passes",
        cpu,
        100.0 * cpu / wall,
        passes() - passes0
    );

    let _ = operator.kill();
    let _ = operator.wait();
    common::keeper(&keeper_dir, &["down", "--volumes"]);
    compose(&["down", "-v", "--remove-orphans"]);
}
