//! The integration tests: real Docker, real Redis, the real binary. One crate (one link
//! step), one module per scenario file; `common` is the harness they share.
//!
//! `./dev test` runs each module as a job, on every server of the matrix (the core of each
//! module on the servers other than the host's Redis).

mod common;

mod api;
mod bad_situations;
mod bring_up;
mod crash_safety;
mod dashboard;
mod hosts;
mod replicas;
mod self_healing;
mod tls;
mod topology;
