//! How far the slot moves of the pass in flight have got. Each round of slots reports here;
//! `up`'s terminal line, `status`, the API and the dashboard read it, and `up`'s deadline
//! counts time without progress from it. It also carries the request to stop after the
//! round in flight (SIGTERM), so a long reshard ends with every slot closed and resumable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A snapshot of the moves in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MoveProgress {
    pub slots_total: usize,
    pub slots_done: usize,
    pub keys_moved: usize,
    /// The keys the moved slots held when their moves began (COUNTKEYSINSLOT on each
    /// source); 0 when not counted.
    #[serde(default)]
    pub keys_total: usize,
    pub(crate) seconds: f64,
    pub(crate) keys_per_second: f64,
    /// At the rates so far, of keys and of slots, whichever leaves longer (a slot without
    /// keys still takes a round trip, and a slot with many takes many); None before either
    /// rate is known.
    pub eta_seconds: Option<f64>,
    /// The atomic slot migration jobs in flight, as `<job id>: <state>` in the server's
    /// words (`snapshotting`, `accumulate-buffer`…). Their slots and keys count as done when
    /// each job succeeds: the servers report no count while one runs.
    #[serde(default)]
    pub jobs: Vec<String>,
}

impl std::fmt::Display for MoveProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "moving slots: {}/{} slots, {}",
            self.slots_done, self.slots_total, self.keys_moved
        )?;
        if self.keys_total > 0 {
            write!(f, "/{}", self.keys_total)?;
        }
        write!(f, " keys, {:.0} keys/s", self.keys_per_second)?;
        if let Some(eta) = self.eta_seconds {
            write!(f, ", ETA {eta:.0} s")?;
        }
        if !self.jobs.is_empty() {
            write!(f, "; atomic job {}", self.jobs.join(", "))?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Moves {
    slots_total: usize,
    slots_done: usize,
    keys_moved: usize,
    keys_total: usize,
    started: Option<Instant>,
    /// Atomic jobs in flight: id → state.
    jobs: std::collections::BTreeMap<String, String>,
}

/// When the moves last got somewhere, for `up`'s deadline.
#[derive(Debug)]
struct Clock {
    last_progress: Instant,
    /// A stage of moves began since then. Its start counted as progress (a loaded machine
    /// can take longer than a short `--timeout` to count a move's keys and open its first
    /// round); the next start, with nothing handed over in between, does not, so a move that
    /// fails in every pass still times out.
    began: bool,
}

#[derive(Debug)]
pub(crate) struct MoveTracker {
    moves: Mutex<Moves>,
    clock: Mutex<Clock>,
    stop: AtomicBool,
    /// Failed atomic jobs per (source id, target id).
    atomic_failures: Mutex<std::collections::BTreeMap<(String, String), usize>>,
}

impl Default for MoveTracker {
    fn default() -> Self {
        MoveTracker {
            moves: Mutex::default(),
            clock: Mutex::new(Clock {
                last_progress: Instant::now(),
                began: false,
            }),
            stop: AtomicBool::new(false),
            atomic_failures: Mutex::default(),
        }
    }
}

impl MoveTracker {
    fn moves(&self) -> std::sync::MutexGuard<'_, Moves> {
        self.moves.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, Clock> {
        self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A stage of moves over `slots` slots starts: progress, unless the stage before it
    /// handed nothing over (see [`Clock::began`]).
    pub(crate) fn begin(&self, slots: usize) {
        *self.moves() = Moves {
            slots_total: slots,
            started: Some(Instant::now()),
            ..Moves::default()
        };
        let mut clock = self.clock();
        if !clock.began {
            *clock = Clock {
                last_progress: Instant::now(),
                began: true,
            };
        }
    }

    /// A move counted `keys` keys in its slots before it began.
    pub(crate) fn expect_keys(&self, keys: usize) {
        self.moves().keys_total += keys;
    }

    /// `keys` more keys reached their target.
    pub(crate) fn keys_moved(&self, keys: usize) {
        self.moves().keys_moved += keys;
        self.progressed();
    }

    /// A round of `slots` slots is handed over.
    pub(crate) fn round_done(&self, slots: usize) {
        self.moves().slots_done += slots;
        self.progressed();
    }

    /// An atomic job in flight reports `state` (a new state counts as progress, though
    /// nothing is handed over yet); None once it has ended.
    pub(crate) fn job_state(&self, id: &str, state: Option<&str>) {
        let mut moves = self.moves();
        let changed = match state {
            Some(state) => {
                moves
                    .jobs
                    .insert(id.to_string(), state.to_string())
                    .as_deref()
                    != Some(state)
            }
            None => moves.jobs.remove(id).is_some(),
        };
        drop(moves);
        if changed {
            self.progressed();
        }
    }

    /// A failed atomic job between the nodes with these ids.
    pub(crate) fn atomic_failed(&self, from: &str, to: &str) {
        let mut failures = self
            .atomic_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *failures
            .entry((from.to_string(), to.to_string()))
            .or_default() += 1;
    }

    /// How many atomic jobs between these nodes failed in this process.
    pub(crate) fn atomic_failures(&self, from: &str, to: &str) -> usize {
        let failures = self
            .atomic_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        failures
            .get(&(from.to_string(), to.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Starts counting time without progress from now: for `up`, whose connecting, image
    /// checks and lease come before it converges and are not time its moves stood still.
    pub(crate) fn start_clock(&self) {
        self.progressed();
    }

    fn progressed(&self) {
        *self.clock() = Clock {
            last_progress: Instant::now(),
            began: false,
        };
    }

    pub(crate) fn finish(&self) {
        *self.moves() = Moves::default();
    }

    /// The moves in flight, if any.
    pub(crate) fn snapshot(&self) -> Option<MoveProgress> {
        let m = self.moves();
        let started = m.started?;
        let seconds = started.elapsed().as_secs_f64().max(1e-3);
        let left = |done: usize, total: usize| {
            (done > 0).then(|| seconds * total.saturating_sub(done) as f64 / done as f64)
        };
        let by_slots = left(m.slots_done, m.slots_total);
        let by_keys = left(m.keys_moved, m.keys_total).filter(|_| m.keys_total > 0);
        let eta_seconds = match (by_slots, by_keys) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Some(MoveProgress {
            slots_total: m.slots_total,
            slots_done: m.slots_done,
            keys_moved: m.keys_moved,
            keys_total: m.keys_total,
            seconds,
            keys_per_second: m.keys_moved as f64 / seconds,
            eta_seconds,
            jobs: m
                .jobs
                .iter()
                .map(|(id, state)| format!("{}: {state}", crate::observe::short_id(id)))
                .collect(),
        })
    }

    /// How long since the moves last got somewhere (or since the clock was started).
    pub(crate) fn since_progress(&self) -> Duration {
        self.clock().last_progress.elapsed()
    }

    /// Asks the moves in flight to stop once their current round is handed over.
    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_rounds_and_estimates_the_rest() {
        let t = MoveTracker::default();
        assert_eq!(t.snapshot(), None);
        t.begin(256);
        let first = t.snapshot().unwrap();
        assert_eq!((first.slots_done, first.eta_seconds), (0, None));
        t.keys_moved(1000);
        t.round_done(128);
        let half = t.snapshot().unwrap();
        assert_eq!((half.slots_done, half.keys_moved), (128, 1000));
        let eta = half.eta_seconds.unwrap();
        assert!(
            (eta - half.seconds).abs() < 0.05,
            "half done: as long again ({eta} vs {})",
            half.seconds
        );
        assert!(t.since_progress() < Duration::from_secs(1));
        t.finish();
        assert_eq!(t.snapshot(), None);
        assert!(!t.stopping());
        t.request_stop();
        assert!(t.stopping());
    }

    #[test]
    fn with_keys_counted_the_estimate_follows_the_slower_of_keys_and_slots() {
        let t = MoveTracker::default();
        t.begin(256);
        t.expect_keys(10_000);
        t.keys_moved(1000);
        let early = t.snapshot().unwrap();
        assert_eq!(early.keys_total, 10_000);
        let eta = early.eta_seconds.expect("known from the keys alone");
        assert!(
            (eta - 9.0 * early.seconds).abs() < 0.05 * early.seconds.max(1.0),
            "a tenth of the keys moved: nine times as long again ({eta} vs {})",
            early.seconds
        );
        t.round_done(128);
        let half_slots = t.snapshot().unwrap();
        let eta = half_slots.eta_seconds.unwrap();
        assert!(
            eta > 8.0 * half_slots.seconds,
            "half the slots but a tenth of the keys: the keys bound it ({eta} vs {})",
            half_slots.seconds
        );
        assert!(
            half_slots.to_string().contains("1000/10000 keys"),
            "{half_slots}"
        );
    }

    /// Sets the last progress `ago` back, as if that long had passed without any.
    fn idle_for(t: &MoveTracker, ago: Duration) {
        let mut clock = t.clock();
        clock.last_progress = Instant::now()
            .checked_sub(ago)
            .expect("an instant that far back");
    }

    #[test]
    fn a_moves_start_counts_as_progress_unless_the_one_before_moved_nothing() {
        let (t, ago) = (MoveTracker::default(), Duration::from_secs(60));
        idle_for(&t, ago);
        t.begin(128);
        assert!(t.since_progress() < ago, "the first start is progress");
        idle_for(&t, ago);
        t.finish();
        t.begin(128);
        assert!(
            t.since_progress() >= ago,
            "started again with nothing moved in between: no progress"
        );
        t.keys_moved(10);
        idle_for(&t, ago);
        t.start_clock();
        assert!(t.since_progress() < ago, "the clock starts again");
        idle_for(&t, ago);
        t.finish();
        t.begin(128);
        assert!(t.since_progress() < ago, "keys moved since the last start");
    }

    #[test]
    fn atomic_jobs_in_flight_are_shown_with_their_state_until_they_end() {
        let t = MoveTracker::default();
        t.begin(4096);
        t.job_state(
            "ce9ac4adc737f0f9eda38fd1f14d499cf416f963",
            Some("snapshotting"),
        );
        let shown = t.snapshot().unwrap();
        assert_eq!(shown.jobs.len(), 1);
        assert!(shown.to_string().ends_with(": snapshotting"), "{shown}");
        t.job_state("ce9ac4adc737f0f9eda38fd1f14d499cf416f963", None);
        assert!(t.snapshot().unwrap().jobs.is_empty());
    }
}
