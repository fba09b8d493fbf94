//! One operator per cluster: a file lock on one machine ([`lock`]) and a lease kept on the
//! cluster's first Docker host across machines (`lease`).
//!
//! Imports `spec` and `docker`.

pub(crate) mod lease;
pub mod lock;
