//! A writer whose acknowledgement is a replicated write: `SET` then `WAIT 1` on the same
//! connection to the slot's master, counted only when a replica confirmed it. It routes by
//! `CLUSTER SLOTS` itself (a cluster client cannot send WAIT to the node a key went to), and
//! records when each write was acknowledged, so a test can measure the longest write outage.
//!
//! Each hash tag has its own loop, as independent clients would: a shard that cannot
//! acknowledge (no replica left, a master cut off) costs its own keys a `WAIT` timeout per
//! write, and does not hold up the writes of the shards that can.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::router::{Patience, SlotRouter};
use super::TestCluster;

/// One acknowledged write: key, value, and when the acknowledgement came.
pub type Acked = (String, u64, Instant);

pub struct ReplicatedWriter {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Acked>>>,
}

/// The writer's patience with a node: short, as an application's, so a master cut off costs
/// its shard a second, not the test a minute.
const PATIENCE: Patience = Patience {
    connect: Duration::from_millis(200),
    reply: Duration::from_millis(1000),
};

/// SET then WAIT 1 at the slot's master: true once a replica has the write.
async fn write(router: &mut SlotRouter, key: &str, value: u64) -> bool {
    let Some(addr) = router.owner_of_key(key).map(str::to_string) else {
        return false;
    };
    let Some(mut conn) = router.connection(&addr).await else {
        return false;
    };
    let reply: redis::RedisResult<((), u64)> = redis::pipe()
        .set(key, value)
        .cmd("WAIT")
        .arg(1)
        .arg(500)
        .query_async(&mut conn)
        .await;
    match reply {
        Ok((_, replicas)) => replicas >= 1,
        Err(e) => {
            if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                router.forget(&addr);
            }
            false
        }
    }
}

impl ReplicatedWriter {
    /// Writes `{tag}:prefix:i` for 8 tags spread over `slots`, one write every 2 ms in all.
    pub async fn start(
        cluster: &TestCluster,
        prefix: &str,
        slots: std::ops::Range<u16>,
    ) -> ReplicatedWriter {
        let seeds = [13u8, 16, 17, 14, 15, 18]
            .iter()
            .map(|last| format!("{}:6379", cluster.ip(*last)))
            .collect();
        ReplicatedWriter::start_at(seeds, cluster.password(), prefix, slots).await
    }

    /// [`ReplicatedWriter::start`] for a cluster reached at `seeds` (`address:port`).
    pub async fn start_at(
        seeds: Vec<String>,
        password: String,
        prefix: &str,
        slots: std::ops::Range<u16>,
    ) -> ReplicatedWriter {
        const TAGS: usize = 8;
        let step = (slots.len() / TAGS).max(1) as u16;
        let picked: Vec<u16> = slots
            .clone()
            .step_by(usize::from(step))
            .take(TAGS)
            .collect();
        let mut first = SlotRouter::new(seeds, password, PATIENCE);
        first.refresh().await;
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        // One sequence over all loops, so every key is written once.
        let next = Arc::new(AtomicU64::new(0));
        let every = Duration::from_millis(2) * picked.len() as u32;
        let tasks = picked
            .iter()
            .map(|slot| {
                let key_prefix = format!("{{{}}}:{prefix}", super::tag_for_slot(*slot));
                let (stop, acked, next) = (stop.clone(), acked.clone(), next.clone());
                // Connections of its own: a `WAIT` holds up every command behind it on its
                // connection.
                let mut router = first.fork();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    let mut pace = tokio::time::interval(every);
                    while !stop.load(Ordering::Relaxed) {
                        pace.tick().await;
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let key = format!("{key_prefix}:{i}");
                        if write(&mut router, &key, i).await {
                            mine.push((key, i, Instant::now()));
                            acked.fetch_add(1, Ordering::Relaxed);
                        } else {
                            router.refresh().await;
                        }
                    }
                    mine
                })
            })
            .collect();
        ReplicatedWriter { stop, acked, tasks }
    }

    /// Waits until `n` more writes than now have been acknowledged by a replica.
    pub async fn wait_for_writes(&self, n: usize, timeout: Duration) {
        let stalled = format!("no {n} replicated writes within {timeout:?}");
        super::more_acks(&self.acked, n, timeout, &stalled).await;
    }

    /// Stops and returns the acknowledged writes with the longest gap between two of them.
    /// A loop that has not stopped within [`super::WRITER_STOP_LIMIT`] fails the test: each
    /// of its writes and slot-map reads is bounded, so it hung somewhere they are not.
    pub async fn stop(self) -> (Vec<(String, u64)>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let mut acked = Vec::new();
        for task in self.tasks {
            acked.extend(super::stopped(task, "a replicated writer's loop").await);
        }
        acked.sort_by_key(|(_, _, at)| *at);
        let outage = acked
            .windows(2)
            .map(|w| w[1].2.duration_since(w[0].2))
            .max()
            .unwrap_or_default();
        (acked.into_iter().map(|(k, v, _)| (k, v)).collect(), outage)
    }
}
