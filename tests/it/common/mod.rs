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
pub mod router;
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
/// A probe still running [`PROBE_GRACE`] past the deadline is cut off, and the test fails
/// naming what the probe before it saw: a probe that hangs must not hang the test.
pub async fn poll_until<T>(
    what: &str,
    timeout: std::time::Duration,
    every: std::time::Duration,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = String::from("nothing yet");
    loop {
        let cut_off = deadline.max(tokio::time::Instant::now()) + PROBE_GRACE;
        seen = match tokio::time::timeout_at(cut_off, probe()).await {
            Ok(Ok(answer)) => return answer,
            Ok(Err(now)) => now,
            Err(_) => panic!(
                "{what}: not within {timeout:?}, a probe still running {PROBE_GRACE:?} \
                 past the deadline; seen before it: {seen}"
            ),
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {timeout:?}; last seen: {seen}"
        );
        tokio::time::sleep(every).await;
    }
}

/// Says that `scenario` reached `phase`, at once and past libtest's capture of the test's
/// output (it captures `eprintln!`, not the stderr handle): when a job is killed for a hang,
/// its log still names the last phase each long scenario reached.
pub fn phase(scenario: &str, phase: &str) {
    use std::io::Write;
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now());
    let _ = writeln!(
        std::io::stderr(),
        "{now} {scenario} ({}): {phase}",
        server().tag
    );
}

/// How long a probe already running at [`poll_until`]'s deadline may still take: a `status`
/// run on a loaded machine takes seconds, and cutting it off at once hid the last state seen.
const PROBE_GRACE: std::time::Duration = std::time::Duration::from_secs(30);
