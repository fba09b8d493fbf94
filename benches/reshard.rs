//! Reshard throughput: redis-keeper moving slots (a cluster.toml edit and `up`), atomically
//! where the server can and by keys, against `redis-cli --cluster reshard` at its default
//! pipeline of 10 and at 1000, on the same data, alternating, in one run; plus the floor of
//! moving by keys: the servers' time for the SETSLOT, GETKEYSINSLOT and MIGRATE commands
//! alone, sent pipelined with nothing around them.
//!
//! Two shapes: (a) 2048 slots holding 50,000 keys of 100 B; (b) one slot holding 200,000
//! keys of 100 B. A writer goes on through a cluster client during every run; its p99
//! latency is reported per way. After every run the keys are counted: none may be lost.
//!
//! `cargo bench --bench reshard` (BENCH_ROUNDS, default 3) runs on the host's Redis;
//! `BENCH_SERVER=valkey-9.1` (or another image `images/build` makes) on that server, with its
//! own `redis-cli` run by `docker exec` in redis-3 (a node the moves do not touch; the
//! exec's own cost is measured and printed beside it). Needs Docker, redis-cli; uses subnet
//! 172.30.205.0/24.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{median, rounds, run, BIN};

const OCTET: u8 = 205;
const VALUE: [u8; 100] = [b'v'; 100];

fn ip(last: &str) -> String {
    format!("172.30.{OCTET}.{last}")
}

/// The server under test: `BENCH_SERVER` names an image `images/build` makes; unset, the
/// host's Redis.
fn server() -> Option<String> {
    std::env::var("BENCH_SERVER").ok().filter(|s| !s.is_empty())
}

/// cluster.toml with redis-1 declared for `first` and redis-2 for `second` (redis-3 keeps
/// 10923-16383), moving slots the `migration` way.
fn layout(first: &str, second: &str, migration: &str) -> String {
    let image = server().map_or_else(String::new, |s| {
        format!(
            "\n[image]\nname = \"redis-keeper/node:{s}\"\npull = \"never\"\nfallback = \"none\"\n"
        )
    });
    let mut text = format!(
        "[cluster]\nname = \"rk-reshard\"\npassword_file = \"pw\"\nslot_migration = \"{migration}\"\n{image}\n[network]\nname = \"rk-reshard-net\"\nsubnet = \"172.30.{OCTET}.0/24\"\n"
    );
    for (name, last, slots) in [
        ("redis-1", "13", first),
        ("redis-2", "16", second),
        ("redis-3", "17", "\"10923-16383\""),
    ] {
        text.push_str(&format!(
            "\n[[nodes]]\nname = \"{name}\"\nip = \"{}\"\nslots = [{slots}]\n",
            ip(last)
        ));
    }
    text
}

struct Bench {
    dir: tempfile::TempDir,
    password: String,
    rt: tokio::runtime::Runtime,
}

impl Bench {
    fn keeper(&self, args: &[&str]) -> Duration {
        let started = Instant::now();
        run(std::process::Command::new(BIN)
            .args(args)
            .arg("-f")
            .arg(self.dir.path().join("cluster.toml"))
            .env("RUST_LOG", "warn"));
        started.elapsed()
    }

    fn declare(&self, text: &str) {
        std::fs::write(self.dir.path().join("cluster.toml"), text).expect("write cluster.toml");
    }

    async fn node(&self, last: &str) -> redis::aio::MultiplexedConnection {
        let url = format!("redis://:{}@{}:6379", self.password, ip(last));
        // The floor's pipelines hold a whole move's MIGRATEs: give them time.
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(Duration::from_secs(120)));
        redis::Client::open(url)
            .expect("client")
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .expect("connect")
    }

    async fn id(&self, last: &str) -> String {
        redis::cmd("CLUSTER")
            .arg("MYID")
            .query_async(&mut self.node(last).await)
            .await
            .expect("MYID")
    }

    /// Writes `total` keys of 100 B spread evenly over `slots` on redis-1, pipelined.
    async fn load(&self, slots: std::ops::Range<u16>, total: usize) {
        let mut conn = self.node("13").await;
        let tags: Vec<String> = slots.map(tag_for_slot).collect();
        let keys: Vec<String> = (0..total)
            .map(|i| format!("{{{}}}:{i}", tags[i % tags.len()]))
            .collect();
        for chunk in keys.chunks(5000) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.cmd("SET").arg(key).arg(&VALUE[..]).ignore();
            }
            let () = pipe.query_async(&mut conn).await.expect("load");
        }
    }

    /// Keys in the cluster (every node's DBSIZE).
    async fn keys(&self) -> u64 {
        let mut total = 0;
        for last in ["13", "16", "17"] {
            let n: u64 = redis::cmd("DBSIZE")
                .query_async(&mut self.node(last).await)
                .await
                .expect("DBSIZE");
            total += n;
        }
        total
    }

    /// `redis-cli`: the host's, or the server image's in redis-3's container (the password
    /// passes by environment, never on a command line).
    fn cli(&self) -> std::process::Command {
        let mut cmd = match server() {
            None => std::process::Command::new("redis-cli"),
            Some(_) => {
                let mut exec = std::process::Command::new("docker");
                exec.args([
                    "exec",
                    "-e",
                    "REDISCLI_AUTH",
                    "rk-reshard-redis-3",
                    "redis-cli",
                ]);
                exec
            }
        };
        cmd.env("REDISCLI_AUTH", &self.password);
        cmd
    }

    fn redis_cli(&self, from: &str, to: &str, slots: usize, pipeline: usize) -> Duration {
        let started = Instant::now();
        run(self
            .cli()
            .args(["--cluster", "reshard", &format!("{}:6379", ip("13"))])
            .args(["--cluster-from", from, "--cluster-to", to])
            .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
            .args(["--cluster-pipeline", &pipeline.to_string()]));
        started.elapsed()
    }

    /// What starting `redis-cli` costs without doing anything (a `docker exec` on a server
    /// image), to read the reshard rows against.
    fn cli_start(&self) -> Duration {
        let started = Instant::now();
        run(self.cli().arg("--version"));
        started.elapsed()
    }

    /// The floor: the move's commands alone, pipelined, no checks and nothing around them.
    async fn floor(&self, slots: std::ops::Range<u16>) -> Duration {
        let (from_id, to_id) = (self.id("13").await, self.id("16").await);
        let (mut source, mut target, mut other) = (
            self.node("13").await,
            self.node("16").await,
            self.node("17").await,
        );
        let slots: Vec<u16> = slots.collect();
        let started = Instant::now();
        let setslot = |args: &[&str]| {
            let mut pipe = redis::pipe();
            for s in &slots {
                pipe.cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(*s)
                    .arg(args)
                    .ignore();
            }
            pipe
        };
        let () = setslot(&["IMPORTING", &from_id])
            .query_async(&mut target)
            .await
            .expect("importing");
        let () = setslot(&["MIGRATING", &to_id])
            .query_async(&mut source)
            .await
            .expect("migrating");
        loop {
            let mut ask = redis::pipe();
            for s in &slots {
                ask.cmd("CLUSTER").arg("GETKEYSINSLOT").arg(*s).arg(20_000);
            }
            let found: Vec<Vec<Vec<u8>>> = ask.query_async(&mut source).await.expect("getkeys");
            if found.iter().all(Vec::is_empty) {
                break;
            }
            let mut migrate = redis::pipe();
            for keys in found.iter().filter(|k| !k.is_empty()) {
                for batch in keys.chunks(2000) {
                    migrate
                        .cmd("MIGRATE")
                        .arg(ip("16"))
                        .arg(6379)
                        .arg("")
                        .arg(0)
                        .arg(60_000)
                        .arg("AUTH")
                        .arg(&self.password)
                        .arg("KEYS")
                        .arg(batch)
                        .ignore();
                }
            }
            let () = migrate.query_async(&mut source).await.expect("migrate");
        }
        for conn in [&mut target, &mut source, &mut other] {
            let () = setslot(&["NODE", &to_id])
                .query_async(conn)
                .await
                .expect("node");
        }
        started.elapsed()
    }
}

fn tag_for_slot(slot: u16) -> String {
    (0u32..)
        .map(|n| format!("t{n}"))
        .find(|t| redis_keeper::spec::keyslot::key_slot(t.as_bytes()) == slot)
        .expect("every slot has a tag")
}

/// A writer through a cluster client, one SET every millisecond, its latencies kept while
/// `recording` is set.
struct Writer {
    stop: Arc<AtomicBool>,
    recording: Arc<AtomicBool>,
    latencies: Arc<Mutex<Vec<Duration>>>,
    errors: Arc<Mutex<u64>>,
}

impl Writer {
    fn start(bench: &Bench) -> Writer {
        let writer = Writer {
            stop: Arc::new(AtomicBool::new(false)),
            recording: Arc::new(AtomicBool::new(false)),
            latencies: Arc::new(Mutex::new(Vec::new())),
            errors: Arc::new(Mutex::new(0)),
        };
        let (stop, recording, latencies, errors) = (
            writer.stop.clone(),
            writer.recording.clone(),
            writer.latencies.clone(),
            writer.errors.clone(),
        );
        let password = bench.password.clone();
        bench.rt.spawn(async move {
            use redis::AsyncCommands;
            let client = redis::cluster::ClusterClientBuilder::new(vec![format!(
                "redis://{}:6379",
                ip("13")
            )])
            .password(password)
            .build()
            .expect("cluster client");
            let mut conn = client
                .get_async_connection()
                .await
                .expect("writer connects");
            let mut i: u64 = 0;
            let mut pace = tokio::time::interval(Duration::from_millis(1));
            while !stop.load(Ordering::Relaxed) {
                pace.tick().await;
                // Every other write into the slots being moved (0-2047).
                let key = if i.is_multiple_of(2) {
                    format!("{{{}}}:w{i}", tag_for_slot((i % 2048) as u16))
                } else {
                    format!("w:{i}")
                };
                let started = Instant::now();
                let result: redis::RedisResult<()> = conn.set(&key, i).await;
                if recording.load(Ordering::Relaxed) {
                    match result {
                        Ok(()) => latencies.lock().unwrap().push(started.elapsed()),
                        Err(_) => *errors.lock().unwrap() += 1,
                    }
                }
                i += 1;
            }
        });
        writer
    }

    /// Runs `f` with latencies recorded; returns its time and the writer's p99 meanwhile.
    fn during(&self, f: impl FnOnce() -> Duration) -> (Duration, Duration) {
        self.latencies.lock().unwrap().clear();
        self.recording.store(true, Ordering::Relaxed);
        let took = f();
        self.recording.store(false, Ordering::Relaxed);
        let mut l = self.latencies.lock().unwrap().clone();
        l.sort();
        let p99 = l.get(l.len() * 99 / 100).copied().unwrap_or_default();
        (took, p99)
    }
}

struct Way {
    label: &'static str,
    /// What the way is: one of [`WAYS`].
    kind: WayKind,
    times: Vec<Duration>,
    p99s: Vec<Duration>,
}

#[derive(Clone, Copy, PartialEq)]
enum WayKind {
    KeeperAtomic,
    KeeperKeys,
    Cli10,
    Cli1000,
    CliStart,
    Floor,
}

const WAYS: [(WayKind, &str); 6] = [
    (WayKind::KeeperAtomic, "redis-keeper atomic (edit + up)"),
    (WayKind::KeeperKeys, "redis-keeper by keys (edit + up)"),
    (WayKind::Cli10, "redis-cli reshard, pipeline 10"),
    (WayKind::Cli1000, "redis-cli reshard, pipeline 1000"),
    (WayKind::CliStart, "redis-cli start alone (--version)"),
    (WayKind::Floor, "floor by keys (the commands alone)"),
];

impl Way {
    fn new((kind, label): (WayKind, &'static str)) -> Way {
        Way {
            kind,
            label,
            times: Vec::new(),
            p99s: Vec::new(),
        }
    }

    /// Median, min and max, the writer's median p99, and how this way's median compares
    /// with redis-keeper's (its first way).
    fn print(&self, keeper: Duration) {
        let m = median(self.times.clone());
        let (Some(min), Some(max)) = (self.times.iter().min(), self.times.iter().max()) else {
            return;
        };
        println!(
            "  {:<34} {:>6.2} s  (min {:.2}, max {:.2})  = {:>5.2}× redis-keeper's time   writer p99 {:>5.1} ms",
            self.label,
            m.as_secs_f64(),
            min.as_secs_f64(),
            max.as_secs_f64(),
            m.as_secs_f64() / keeper.as_secs_f64(),
            median(self.p99s.clone()).as_secs_f64() * 1000.0,
        );
    }
}

/// One shape's runs; `atomic`: the server moves slots atomically, so redis-keeper is
/// measured both ways.
fn shape(
    bench: &Bench,
    writer: &Writer,
    label: &str,
    (slots, keys): (std::ops::Range<u16>, usize),
    n: usize,
    atomic: bool,
) {
    let (first_moved, last_moved) = (slots.start, slots.end - 1);
    bench.rt.block_on(bench.load(slots.clone(), keys));
    let home = layout("\"0-5460\"", "\"5461-10922\"", "auto");
    let moved = |migration| {
        layout(
            &format!("\"{}-5460\"", last_moved + 1),
            &format!("\"{first_moved}-{last_moved}\", \"5461-10922\""),
            migration,
        )
    };
    let (one, two) = bench
        .rt
        .block_on(async { (bench.id("13").await, bench.id("16").await) });
    let count = slots.len();
    let mut ways: Vec<Way> = WAYS
        .into_iter()
        .filter(|(kind, _)| match kind {
            WayKind::KeeperAtomic => atomic,
            WayKind::CliStart => server().is_some(),
            _ => true,
        })
        .map(Way::new)
        .collect();
    println!("({label}) {count} slot(s) holding {keys} keys of 100 B, {n} round(s), alternating, medians:");
    for round in 0..n {
        for k in 0..ways.len() {
            let w = (k + round) % ways.len();
            let before = bench.rt.block_on(bench.keys());
            let (took, p99) = writer.during(|| match ways[w].kind {
                WayKind::KeeperAtomic => {
                    bench.declare(&moved("atomic"));
                    bench.keeper(&["up", "--timeout", "300"])
                }
                WayKind::KeeperKeys => {
                    bench.declare(&moved("keys"));
                    bench.keeper(&["up", "--timeout", "300"])
                }
                WayKind::Cli10 => bench.redis_cli(&one, &two, count, 10),
                WayKind::Cli1000 => bench.redis_cli(&one, &two, count, 1000),
                WayKind::CliStart => bench.cli_start(),
                WayKind::Floor => bench.rt.block_on(bench.floor(slots.clone())),
            });
            let after = bench.rt.block_on(bench.keys());
            // The writer adds keys meanwhile: none may have gone.
            assert!(
                after >= before,
                "{}: {} keys lost",
                ways[w].label,
                before - after
            );
            ways[w].times.push(took);
            ways[w].p99s.push(p99);
            // Home again, unmeasured (nothing moved by `--version`).
            if ways[w].kind != WayKind::CliStart {
                bench.declare(&home);
                bench.keeper(&["up", "--timeout", "300"]);
            }
        }
    }
    let keeper = median(ways[0].times.clone());
    for way in &ways {
        way.print(keeper);
    }
    bench.rt.block_on(async {
        for last in ["13", "16", "17"] {
            let () = redis::cmd("FLUSHALL")
                .query_async(&mut bench.node(last).await)
                .await
                .expect("FLUSHALL");
        }
    });
}

fn main() {
    let n = rounds(3);
    let dir = tempfile::tempdir().expect("temp dir");
    let bench = Bench {
        rt: tokio::runtime::Runtime::new().expect("runtime"),
        password: String::new(),
        dir,
    };
    bench.declare(&layout("\"0-5460\"", "\"5461-10922\"", "auto"));
    let _ = std::process::Command::new(BIN)
        .args(["down", "--volumes", "-f"])
        .arg(bench.dir.path().join("cluster.toml"))
        .output();
    bench.keeper(&["up", "--timeout", "120"]);
    let password = std::fs::read_to_string(bench.dir.path().join("pw"))
        .expect("password")
        .trim()
        .to_string();
    let bench = Bench { password, ..bench };
    let atomic = matches!(server().as_deref(), Some("valkey-9.1" | "redis-8.6"));
    println!(
        "server: {}",
        server().unwrap_or_else(|| "the host's redis-server".into())
    );
    let writer = Writer::start(&bench);
    shape(&bench, &writer, "a", (0..2048, 50_000), n, atomic);
    shape(&bench, &writer, "b", (0..1, 200_000), n, atomic);
    writer.stop.store(true, Ordering::Relaxed);
    println!(
        "writer errors while recording: {}",
        writer.errors.lock().unwrap()
    );
    bench.keeper(&["down", "--volumes"]);
}
