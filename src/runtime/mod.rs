//! What keeps the cluster as declared while the operator runs: one reconcile pass and the
//! loop around it (`reconcile`), what a pass reports as it goes (`progress`), `run`'s
//! controller (triggers, reload, conditions: [`controller`], [`status`]), its counters
//! (`metrics`), and the status report `status` prints and `/status` serves (`report`).
//!
//! It drives `observe` → `plan` → `actions` and may import every room below it; `api` and
//! `cli` import it. One module is shared downward: [`context`], the desired state and the
//! clients every pass hands to `observe` and `actions` (nothing else here is theirs to use).

pub mod context;
pub mod controller;
pub(crate) mod metrics;
pub(crate) mod progress;
pub(crate) mod reconcile;
pub(crate) mod report;
pub mod status;
