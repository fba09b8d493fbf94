//! Writers that record every acknowledged write, and the checks that none was lost.

use super::router::{Patience, SlotRouter};
use super::*;

/// `[redis]` for scenarios that SIGKILL a master with no replica and then count every
/// acknowledged write. Under the default `appendfsync everysec` a server whose background
/// fsync is still running postpones writing its AOF buffer for up to 2 s while it goes on
/// acknowledging writes (aof.c, flushAppendOnlyFile): a SIGKILLed master with no replica may
/// lose its last ones whatever the operator does. `always` writes and syncs before replying,
/// so such a scenario measures the operator's part alone.
pub const DURABLE: &str = "\n[redis]\nappendfsync = \"always\"\n";

/// Writes `key = i` through a cluster client as fast as the cluster acknowledges, recording
/// every acknowledged write, until stopped.
pub struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    acked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<Vec<(String, u64)>>,
}

impl Writer {
    /// Starts writing, every other write in one of `hot`'s slots (by hash tag), so a
    /// scenario that moves those slots is moving keys that are being written.
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
        let mut conn = connect_cluster(&client).await;
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
        stopped(self.task, "the writer's loop").await
    }
}

/// How long a writer's loop may take to stop once asked: its writes give up within a
/// second or two, so a loop still running after this hung where nothing bounds it.
pub const WRITER_STOP_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the writer task `task` returns once it stopped; fails the test naming `what` when
/// it has not within [`WRITER_STOP_LIMIT`].
pub async fn stopped<T>(task: tokio::task::JoinHandle<T>, what: &str) -> T {
    match tokio::time::timeout(WRITER_STOP_LIMIT, task).await {
        Ok(joined) => joined.expect("writer task"),
        Err(_) => panic!("{what} did not stop within {WRITER_STOP_LIMIT:?} of being asked"),
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
///
/// Each key is read at the master its slot's map names (following one `ASK` or `MOVED`),
/// through [`SlotRouter`]: every connect and every reply is bounded, where a
/// cluster client left read-backs waiting inside it for minutes. Up to [`READS_IN_FLIGHT`]
/// reads at a time per attempt: a scenario reads back tens of thousands of keys.
///
/// A read that gets no answer (a timeout, a redirect to a node not in the map, a node
/// restarting) is no answer, not a lost write: it is read again on new connections after the
/// slot map is read again, up to [`READ_ATTEMPTS`] times with a pause doubling from 250 ms
/// between (7.75 s in all). Still unanswered, the test fails with what each seed sees of
/// the cluster.
pub async fn lost_writes(cluster: &TestCluster, acked: &[(String, u64)]) -> Vec<String> {
    let mut router = SlotRouter::new(cluster.seeds.clone(), cluster.password(), READ_PATIENCE);
    let mut todo: Vec<&(String, u64)> = acked.iter().collect();
    let mut lost = Vec::new();
    let mut pause = std::time::Duration::from_millis(250);
    for attempt in 1..=READ_ATTEMPTS {
        let (missing, unanswered) = read_back(&mut router, &todo).await;
        lost.extend(missing);
        let Some((key, error)) = unanswered.first() else {
            return lost;
        };
        // In the job's log whether the test then passes or not: reads that go unanswered
        // are a harness problem worth counting.
        super::phase(
            "read back",
            &format!(
                "attempt {attempt}: {} reads unanswered, the first {key}: {error}",
                unanswered.len()
            ),
        );
        let again: std::collections::HashSet<&str> =
            unanswered.iter().map(|(k, _)| k.as_str()).collect();
        todo.retain(|(k, _)| again.contains(k.as_str()));
        if attempt == READ_ATTEMPTS {
            break;
        }
        // A connection a read got no answer on may be to a node that restarted: the next
        // attempt connects afresh (to a handful of nodes).
        router.forget_all();
        // A backoff between attempts, not a wait for a condition: what an unanswered read
        // waits for (a failover's end, a node's restart) has no one signal to await.
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
    panic!(
        "read back: {} reads unanswered after {READ_ATTEMPTS} attempts; the seeds' CLUSTER NODES:\n{}",
        todo.len(),
        cluster.seed_views().await
    );
}

/// Reads `acked` at their slots' masters, after reading the slot map again: the keys
/// missing or wrong, and those whose read got no answer (with why).
async fn read_back(
    router: &mut SlotRouter,
    acked: &[&(String, u64)],
) -> (Vec<String>, Vec<(String, String)>) {
    use futures_util::StreamExt;
    if !router.refresh().await {
        let why = "no node answered CLUSTER SLOTS".to_string();
        return (
            Vec::new(),
            acked
                .iter()
                .map(|(k, _)| (k.clone(), why.clone()))
                .collect(),
        );
    }
    let mut masters = std::collections::HashMap::new();
    for addr in router.masters() {
        if let Some(conn) = router.connection(&addr).await {
            masters.insert(addr, conn);
        }
    }
    let masters = &masters;
    let results: Vec<(String, Result<bool, String>)> = futures_util::stream::iter(acked)
        .map(|(key, value)| {
            let owner = router.owner_of_key(key).map(str::to_string);
            async move {
                let got = read_at(masters, owner.as_deref(), key).await;
                (key.clone(), got.map(|got| got == Some(*value)))
            }
        })
        .buffer_unordered(READS_IN_FLIGHT)
        .collect()
        .await;
    let (mut lost, mut unanswered) = (Vec::new(), Vec::new());
    for (key, kept) in results {
        match kept {
            Ok(true) => {}
            Ok(false) => lost.push(key),
            Err(error) => unanswered.push((key, error)),
        }
    }
    (lost, unanswered)
}

/// GETs `key` at `owner`, following one redirect to a node in `masters` (an `ASK` for a
/// slot being imported, a `MOVED` where the map read was behind); an `Err` says why there
/// was no answer, naming the node.
async fn read_at(
    masters: &std::collections::HashMap<String, redis::aio::MultiplexedConnection>,
    owner: Option<&str>,
    key: &str,
) -> Result<Option<u64>, String> {
    let owner = owner.ok_or("its slot has no master in the map")?;
    let mut conn = masters
        .get(owner)
        .cloned()
        .ok_or_else(|| format!("{owner} did not accept a connection"))?;
    let mut get = redis::cmd("GET");
    get.arg(key);
    let error = match bounded(get.query_async::<Option<u64>>(&mut conn)).await {
        Ok(got) => return Ok(got),
        Err(e) => e,
    };
    let Some((target, _)) = error.redirect_node() else {
        return Err(format!("{owner}: {error}"));
    };
    let mut redirected = masters
        .get(target)
        .cloned()
        .ok_or_else(|| format!("{owner} sent {target}, not a master in the map: {error}"))?;
    let mut again = redis::pipe();
    if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::Ask) {
        again.cmd("ASKING").ignore();
    }
    again.cmd("GET").arg(key);
    bounded(again.query_async::<(Option<u64>,)>(&mut redirected))
        .await
        .map(|(got,)| got)
        .map_err(|e| format!("{target} (sent by {owner}): {e}"))
}

/// `reply`, or a timeout error past [`READ_PATIENCE`]'s reply time and a second: the
/// connection's own response timeout should come first, this holds if it does not.
async fn bounded<T>(
    reply: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    let limit = READ_PATIENCE.reply + std::time::Duration::from_secs(1);
    tokio::time::timeout(limit, reply)
        .await
        .unwrap_or_else(|_| {
            Err(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no reply within {limit:?}"),
            )))
        })
}

/// The read-back's patience with a node: generous, as the cluster has converged by then,
/// but bounded.
const READ_PATIENCE: Patience = Patience {
    connect: std::time::Duration::from_secs(2),
    reply: std::time::Duration::from_secs(5),
};

const READ_ATTEMPTS: u32 = 6;

const READS_IN_FLIGHT: usize = 64;

/// Reads `written` back and fails naming the first keys missing or wrong, except those
/// `may_lose` allows; returns those, the losses allowed.
pub async fn assert_kept(
    cluster: &TestCluster,
    what: &str,
    written: &[(String, u64)],
    may_lose: impl Fn(&str) -> bool,
) -> Vec<String> {
    let lost = lost_writes(cluster, written).await;
    let unexpected: Vec<&String> = lost.iter().filter(|k| !may_lose(k)).collect();
    assert!(
        unexpected.is_empty(),
        "{what}: {} lost: {:?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(10)]
    );
    lost
}
