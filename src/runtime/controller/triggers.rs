//! What wakes the controller: Docker events about the cluster's own objects, and edits of
//! the files it reads (cluster.toml, the password file), at once.
//!
//! A burst of events (a `docker rm -f` emits kill, die, destroy and network disconnect)
//! collapses into one wake-up, because [`Notify`] keeps at most one pending permit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::docker::blueprint::label;
use crate::runtime::context::Context;
use crate::spec::AuthSpec;

/// Starts watching the events of the context's cluster: one stream per host, each
/// resubscribed on its own, so a host that drops off does not blind the operator to the rest.
pub(crate) fn spawn(ctx: &Context, wake: &Arc<Notify>) -> Vec<tokio::task::JoinHandle<()>> {
    ctx.engines
        .iter()
        .map(|(_, engine)| {
            tokio::spawn(watch_docker_events(
                engine.docker().clone(),
                ctx.spec.name.clone(),
                ctx.spec.network.name.clone(),
                wake.clone(),
            ))
        })
        .collect()
}

/// How often the watched files are looked at: a `stat` each, nothing to a machine, and an
/// edit is in force within it rather than at the next resync or after a backoff of up to
/// 30 s (a stalled pass is what makes people edit the file).
const FILE_POLL: Duration = Duration::from_millis(500);

/// The files whose edits the controller acts on: cluster.toml, and the password file when
/// the password comes from one (a rotation).
pub(crate) fn files(cluster_toml: &std::path::Path, auth: &AuthSpec) -> Vec<PathBuf> {
    let mut files = vec![cluster_toml.to_path_buf()];
    if let AuthSpec::File(password) = auth {
        files.push(password.clone());
    }
    files
}

/// A file's time stamp and length, or nothing while it is missing (an editor's save by
/// rename passes through that). Both, because a file system with coarse time stamps gives
/// two saves within its tick one time.
pub(crate) type Stamp = Option<(Option<SystemTime>, u64)>;

/// `file`'s [`Stamp`] now (a `stat`; blocking).
pub(crate) fn stamp(file: &std::path::Path) -> Stamp {
    let meta = std::fs::metadata(file).ok()?;
    Some((meta.modified().ok(), meta.len()))
}

/// The [`Stamp`]s of `files`, on a blocking thread (a network file system's `stat` can wait).
async fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    let files = files.to_vec();
    tokio::task::spawn_blocking(move || files.iter().map(|f| stamp(f)).collect())
        .await
        .unwrap_or_default()
}

/// Pokes `wake` whenever one of `files` changes. Polled rather than watched with inotify:
/// it sees the edits inotify misses (a bind mount changed from outside a container, a
/// `git checkout` that replaces the file, a network filesystem) for a cost of nothing.
pub(crate) fn watch_files(files: Vec<PathBuf>, wake: &Arc<Notify>) -> tokio::task::JoinHandle<()> {
    let wake = wake.clone();
    tokio::spawn(async move {
        let mut seen = stamps(&files).await;
        let mut every = tokio::time::interval(FILE_POLL);
        loop {
            every.tick().await;
            let now = stamps(&files).await;
            if now != seen {
                seen = now;
                tracing::debug!("a watched file changed");
                wake.notify_one();
            }
        }
    })
}

/// Container events that can mean drift.
const CONTAINER_EVENTS: [&str; 7] = [
    "die",
    "stop",
    "kill",
    "oom",
    "destroy",
    "pause",
    "health_status",
];
/// Network events that can mean drift.
const NETWORK_EVENTS: [&str; 2] = ["disconnect", "destroy"];

fn filters(pairs: [(&str, Vec<String>); 3]) -> HashMap<String, Vec<String>> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Watches Docker's event stream for the cluster's containers (by label) and its network (by
/// name: network events do not carry the network's labels) and pokes `wake` for each;
/// reconnects with backoff when the stream ends (a daemon restart).
pub(crate) async fn watch_docker_events(
    docker: Docker,
    cluster: String,
    network: String,
    wake: Arc<Notify>,
) {
    let containers = filters([
        ("label", vec![format!("{}={cluster}", label::CLUSTER)]),
        ("type", strings(&["container"])),
        ("event", strings(&CONTAINER_EVENTS)),
    ]);
    let networks = filters([
        ("network", vec![network]),
        ("type", strings(&["network"])),
        ("event", strings(&NETWORK_EVENTS)),
    ]);
    let mut retry = crate::runtime::reconcile::error_policy();
    loop {
        let stream = |f: &HashMap<String, Vec<String>>| {
            docker.events(Some(EventsOptionsBuilder::new().filters(f).build()))
        };
        let mut events = futures_util::stream::select(stream(&containers), stream(&networks));
        while let Some(item) = events.next().await {
            match item {
                Ok(event) => {
                    retry = crate::runtime::reconcile::error_policy();
                    tracing::debug!(kind = ?event.typ, action = ?event.action, "docker event");
                    wake.notify_one();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "docker event stream failed");
                    break;
                }
            }
        }
        tokio::time::sleep(retry.next().unwrap_or(Duration::from_secs(2))).await;
        // Whatever happened while the stream was down, the next pass will see.
        wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_edited_or_replaced_file_wakes_the_controller_and_an_untouched_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let (toml, password) = (dir.path().join("cluster.toml"), dir.path().join("pw"));
        std::fs::write(&toml, "one").unwrap();
        std::fs::write(&password, "secret").unwrap();
        let wake = Arc::new(Notify::new());
        let watching = watch_files(files(&toml, &AuthSpec::File(password.clone())), &wake);
        let woken = |within| tokio::time::timeout(within, wake.notified());
        assert!(woken(FILE_POLL * 3).await.is_err(), "no edit, no wake-up");
        std::fs::write(&toml, "two, longer").unwrap();
        assert!(
            woken(Duration::from_secs(10)).await.is_ok(),
            "cluster.toml edited"
        );
        // Replaced by rename, as editors and `git checkout` do.
        std::fs::write(dir.path().join("pw.new"), "rotated!").unwrap();
        std::fs::rename(dir.path().join("pw.new"), &password).unwrap();
        assert!(
            woken(Duration::from_secs(10)).await.is_ok(),
            "password file replaced"
        );
        watching.abort();
    }

    #[test]
    fn the_password_file_is_watched_only_when_the_password_comes_from_one() {
        let toml = std::path::Path::new("cluster.toml");
        assert_eq!(files(toml, &AuthSpec::NoPassword), vec![toml.to_path_buf()]);
        assert_eq!(
            files(toml, &AuthSpec::File("pw".into())),
            vec![toml.to_path_buf(), PathBuf::from("pw")]
        );
    }
}
