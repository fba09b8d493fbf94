//! What wakes the controller: Docker events about the cluster's own objects, at once.
//!
//! A burst of events (a `docker rm -f` emits kill, die, destroy and network disconnect)
//! collapses into one wake-up, because [`Notify`] keeps at most one pending permit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::docker::blueprint::label;
use crate::runtime::context::Context;

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
