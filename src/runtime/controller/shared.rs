//! What the controller shares with the API: the spec in force, the last observation, the
//! operator's status, the event feed, the metrics, and a way to ask for a pass now.
//!
//! The API serves from here and never reaches Redis itself, so a burst of requests costs
//! the cluster nothing and cannot slow the reconcile loop.

use std::sync::{Arc, RwLock};

use tokio::sync::{broadcast, Notify};

use crate::guard::lock::Holder;
use crate::observe::Observed;
use crate::runtime::metrics::Metrics;
use crate::runtime::status::{Event, OperatorStatus};
use crate::spec::secret::Secret;
use crate::spec::ClusterSpec;

/// How many events a slow `/events/stream` client may fall behind before it skips some.
const EVENT_BACKLOG: usize = 256;

pub struct Shared {
    spec: RwLock<Arc<ClusterSpec>>,
    observed: RwLock<Option<Arc<Observed>>>,
    status: RwLock<OperatorStatus>,
    /// The slot moves of the pass in flight, while there are.
    moves: RwLock<Option<crate::actions::slots::progress::MoveProgress>>,
    pub(crate) events: broadcast::Sender<Event>,
    /// Wakes the controller for a pass now (POST /reconcile, Docker events).
    pub(crate) wake: Arc<Notify>,
    /// The bearer token mutating endpoints need; without one they are refused.
    pub(crate) token: Option<Secret>,
    /// Who holds the cluster's lock: the `run` this controller belongs to.
    pub(crate) holder: Option<Holder>,
    pub(crate) metrics: Metrics,
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn write<T>(lock: &RwLock<T>, value: T) {
    *lock.write().unwrap_or_else(|e| e.into_inner()) = value;
}

impl Shared {
    pub fn new(
        spec: Arc<ClusterSpec>,
        status: OperatorStatus,
        token: Option<Secret>,
        holder: Option<Holder>,
    ) -> Shared {
        Shared {
            spec: RwLock::new(spec),
            observed: RwLock::new(None),
            status: RwLock::new(status),
            moves: RwLock::new(None),
            events: broadcast::channel(EVENT_BACKLOG).0,
            wake: Arc::new(Notify::new()),
            token,
            holder,
            metrics: Metrics::default(),
        }
    }

    pub(crate) fn spec(&self) -> Arc<ClusterSpec> {
        read(&self.spec)
    }

    pub(crate) fn observed(&self) -> Option<Arc<Observed>> {
        read(&self.observed)
    }

    pub(crate) fn status(&self) -> OperatorStatus {
        read(&self.status)
    }

    pub(crate) fn set_spec(&self, spec: Arc<ClusterSpec>) {
        write(&self.spec, spec);
    }

    pub(crate) fn set_observed(&self, observed: Observed) {
        write(&self.observed, Some(Arc::new(observed)));
    }

    pub(crate) fn set_status(&self, status: OperatorStatus) {
        write(&self.status, status);
    }

    pub(crate) fn moves(&self) -> Option<crate::actions::slots::progress::MoveProgress> {
        read(&self.moves)
    }

    pub(crate) fn set_moves(&self, moves: Option<crate::actions::slots::progress::MoveProgress>) {
        write(&self.moves, moves);
    }
}
