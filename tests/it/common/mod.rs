//! The test harness, one file per concern: the server under test, the test's own cluster,
//! the operator in the background, writers, keys, single nodes, strangers; and, for some
//! scenarios, certificates, simulated hosts, HTTP and replicated writes.

pub mod certs;
mod cluster;
pub mod hosts;
pub mod http;
mod keys;
mod nodes;
mod operator;
pub mod replicated;
mod server;
mod stranger;
mod writes;

pub use cluster::*;
pub use keys::*;
pub use nodes::*;
pub use operator::*;
pub use server::*;
pub use stranger::*;
pub use writes::*;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Output;

use bollard::query_parameters::{ListContainersOptionsBuilder, ListVolumesOptionsBuilder};
use bollard::Docker;

pub const BIN: &str = env!("CARGO_BIN_EXE_redis-keeper");

/// Asks `probe` again every `every` until it answers `Ok`, and returns that answer. After
/// `timeout` the test fails naming `what` and the last thing the probe saw instead (its `Err`).
pub async fn poll_until<T>(
    what: &str,
    timeout: std::time::Duration,
    every: std::time::Duration,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let seen = match probe().await {
            Ok(answer) => return answer,
            Err(seen) => seen,
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {timeout:?}; last seen: {seen}"
        );
        tokio::time::sleep(every).await;
    }
}
