//! Writers that record every acknowledged write, and the checks that none was lost.

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
/// Up to [`READS_IN_FLIGHT`] reads at a time on the one multiplexed connection: a scenario
/// reads back tens of thousands of keys, and one round trip each, through the Docker bridge
/// on a loaded machine, was a wake-up of this process and of a server per key.
///
/// A read the cluster client gives up on, or leaves waiting inside it (see [`READ_STALL`]),
/// is no answer, not a lost write: it is read again through a new client, twice at most (a
/// GET after a failover and failback once timed out in redis-rs's routing while every node
/// served; another waited for ever). Still unanswered, the test fails with what each seed
/// sees of the cluster.
pub async fn lost_writes(cluster: &TestCluster, acked: &[(String, u64)]) -> Vec<String> {
    let mut todo: Vec<&(String, u64)> = acked.iter().collect();
    let mut lost = Vec::new();
    for attempt in 1..=3 {
        let conn = cluster.cluster_client().await;
        let (missing, unanswered) = read_back(conn, &todo).await;
        lost.extend(missing);
        let Some((key, error)) = unanswered.first() else {
            return lost;
        };
        // In the job's log whether the test then passes or not: a client that gives up is
        // a harness problem worth counting.
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
    }
    panic!(
        "read back: {} reads unanswered after 3 clients; the seeds' CLUSTER NODES:\n{}",
        todo.len(),
        cluster.seed_views().await
    );
}

/// Reads `acked` through `conn`: the keys missing or wrong, and those whose read failed
/// (with the error).
async fn read_back(
    conn: redis::cluster_async::ClusterConnection,
    acked: &[&(String, u64)],
) -> (Vec<String>, Vec<(String, String)>) {
    use futures_util::StreamExt;
    use redis::AsyncCommands;
    // The client's own response timeout bounds a GET sent to a node, not one waiting inside
    // the client (for a slot map refresh, a reconnect): a GET unanswered after READ_STALL
    // ends the attempt, and the keys from it on are read through the next client.
    let results: Vec<(String, Result<bool, String>)> = futures_util::stream::iter(acked)
        .map(|(key, value)| {
            let mut conn = conn.clone();
            async move {
                let got = tokio::time::timeout(READ_STALL, conn.get::<_, Option<u64>>(key)).await;
                let kept = match got {
                    Ok(got) => got
                        .map(|got| got == Some(*value))
                        .map_err(|e| e.to_string()),
                    Err(_) => return None,
                };
                Some((key.clone(), kept))
            }
        })
        .buffered(READS_IN_FLIGHT)
        .take_while(|read| std::future::ready(read.is_some()))
        .filter_map(std::future::ready)
        .collect()
        .await;
    let (mut lost, mut unanswered) = (Vec::new(), Vec::new());
    for (key, kept) in &results {
        match kept {
            Ok(true) => {}
            Ok(false) => lost.push(key.clone()),
            Err(error) => unanswered.push((key.clone(), error.clone())),
        }
    }
    let stalled = format!("no answer within {READ_STALL:?}, waiting inside the client");
    for (key, _) in &acked[results.len()..] {
        unanswered.push((key.clone(), stalled.clone()));
    }
    (lost, unanswered)
}

/// How long a read-back GET may go unanswered before its client is given up: past the
/// client's own response timeout, it is waiting inside the client, not on a node.
const READ_STALL: std::time::Duration =
    CLUSTER_RESPONSE_TIMEOUT.saturating_add(std::time::Duration::from_secs(5));

const READS_IN_FLIGHT: usize = 64;

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
