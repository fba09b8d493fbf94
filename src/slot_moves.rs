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
    pub seconds: f64,
    pub keys_per_second: f64,
    /// At the rate of slots so far; None before the first round is done.
    pub eta_seconds: Option<f64>,
}

impl std::fmt::Display for MoveProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "moving slots: {}/{} slots, {} keys, {:.0} keys/s",
            self.slots_done, self.slots_total, self.keys_moved, self.keys_per_second
        )?;
        match self.eta_seconds {
            Some(eta) => write!(f, ", ETA {eta:.0} s"),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Default)]
struct Moves {
    slots_total: usize,
    slots_done: usize,
    keys_moved: usize,
    started: Option<Instant>,
}

#[derive(Debug)]
pub struct MoveTracker {
    moves: Mutex<Moves>,
    last_progress: Mutex<Instant>,
    stop: AtomicBool,
}

impl Default for MoveTracker {
    fn default() -> Self {
        MoveTracker {
            moves: Mutex::default(),
            last_progress: Mutex::new(Instant::now()),
            stop: AtomicBool::new(false),
        }
    }
}

impl MoveTracker {
    fn moves(&self) -> std::sync::MutexGuard<'_, Moves> {
        self.moves.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A stage of moves over `slots` slots starts.
    pub fn begin(&self, slots: usize) {
        *self.moves() = Moves {
            slots_total: slots,
            started: Some(Instant::now()),
            ..Moves::default()
        };
    }

    /// `keys` more keys reached their target.
    pub fn keys_moved(&self, keys: usize) {
        self.moves().keys_moved += keys;
        self.progressed();
    }

    /// A round of `slots` slots is handed over.
    pub fn round_done(&self, slots: usize) {
        self.moves().slots_done += slots;
        self.progressed();
    }

    fn progressed(&self) {
        *self.last_progress.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    pub fn finish(&self) {
        *self.moves() = Moves::default();
    }

    /// The moves in flight, if any.
    pub fn snapshot(&self) -> Option<MoveProgress> {
        let m = self.moves();
        let started = m.started?;
        let seconds = started.elapsed().as_secs_f64().max(1e-3);
        let eta_seconds = (m.slots_done > 0).then(|| {
            seconds * (m.slots_total.saturating_sub(m.slots_done)) as f64 / m.slots_done as f64
        });
        Some(MoveProgress {
            slots_total: m.slots_total,
            slots_done: m.slots_done,
            keys_moved: m.keys_moved,
            seconds,
            keys_per_second: m.keys_moved as f64 / seconds,
            eta_seconds,
        })
    }

    /// How long since a round was last handed over (or since the tracker was made).
    pub fn since_progress(&self) -> Duration {
        self.last_progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// Asks the moves in flight to stop once their current round is handed over.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn stopping(&self) -> bool {
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
}
