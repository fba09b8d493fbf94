//! The reference app's endpoints, same paths and field names, so existing scripts
//! (`jq -r '.cluster_info.cluster_state'`) keep working: built from the last observation,
//! as the first declared node that answered sees the cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error;
use crate::observe::{ClusterNode, NodeView};
use crate::runtime::controller::Shared;
use crate::spec::SLOT_COUNT;

#[derive(Serialize, ToSchema)]
pub(super) struct NodesReply {
    status: &'static str,
    total_nodes: usize,
    nodes: Vec<NodeEntry>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct NodeEntry {
    node_id: String,
    host: String,
    port: u16,
    role: &'static str,
    flags: Vec<String>,
    master_id: Option<String>,
    ping_sent: u64,
    pong_recv: u64,
    config_epoch: u64,
    link_state: &'static str,
    slots_count: usize,
    slot_ranges: Vec<Range>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct Range {
    start: u16,
    end: u16,
}

#[derive(Serialize, ToSchema)]
pub(super) struct SlotsReply {
    status: &'static str,
    total_slots: usize,
    max_slots: u16,
    coverage_percentage: f64,
    slot_distribution: Vec<SlotDistribution>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct SlotDistribution {
    start_slot: u16,
    end_slot: u16,
    slots_count: usize,
    master: Endpoint,
    replicas: Vec<Endpoint>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct Endpoint {
    host: String,
    port: u16,
    node_id: String,
}

/// Answers with `reply` built from the view of the first declared node that answered, or
/// with 503 saying why there is none.
fn from_view(shared: &Shared, reply: impl FnOnce(&NodeView) -> Response) -> Response {
    let Some(observed) = shared.observed() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the operator has not observed the cluster yet",
        );
    };
    let spec = shared.spec();
    match spec.nodes.iter().find_map(|n| observed.view(&n.name)) {
        None => error(StatusCode::SERVICE_UNAVAILABLE, "no node answers"),
        Some(view) if view.is_fresh() => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the cluster is not formed yet",
        ),
        Some(view) => reply(view),
    }
}

fn host_port(node: &ClusterNode) -> (String, u16) {
    match node.addr.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), port.parse().unwrap_or(0)),
        None => (node.addr.clone(), 0),
    }
}

fn endpoint(node: &ClusterNode) -> Endpoint {
    let (host, port) = host_port(node);
    Endpoint {
        host,
        port,
        node_id: node.id.clone(),
    }
}

/// Every node as the first answering declared node sees it (CLUSTER NODES).
#[utoipa::path(get, path = "/redis/cluster/nodes", tag = "reference", responses(
    (status = 200, body = NodesReply),
    (status = 503, description = "not observed yet, no node answers, or not formed", body = super::ErrorReply),
))]
pub(super) async fn nodes(State(shared): State<Arc<Shared>>) -> Response {
    from_view(&shared, nodes_reply)
}

fn nodes_reply(view: &NodeView) -> Response {
    let nodes: Vec<NodeEntry> = view
        .nodes
        .iter()
        .map(|n| {
            let (host, port) = host_port(n);
            NodeEntry {
                node_id: n.id.clone(),
                host,
                port,
                role: if n.is_master() { "master" } else { "replica" },
                flags: n.flags.clone(),
                master_id: n.master_id.clone(),
                ping_sent: n.ping_sent,
                pong_recv: n.pong_recv,
                config_epoch: n.config_epoch,
                link_state: if n.link_connected || n.is_myself() {
                    "connected"
                } else {
                    "disconnected"
                },
                slots_count: n.slot_count(),
                slot_ranges: n
                    .slots
                    .iter()
                    .map(|r| Range {
                        start: r.start,
                        end: r.end,
                    })
                    .collect(),
            }
        })
        .collect();
    Json(NodesReply {
        status: "success",
        total_nodes: nodes.len(),
        nodes,
    })
    .into_response()
}

/// Slot ranges per master, coverage and replicas.
#[utoipa::path(get, path = "/redis/cluster/slots", tag = "reference", responses(
    (status = 200, body = SlotsReply),
    (status = 503, description = "not observed yet, no node answers, or not formed", body = super::ErrorReply),
))]
pub(super) async fn slots(State(shared): State<Arc<Shared>>) -> Response {
    from_view(&shared, slots_reply)
}

fn slots_reply(view: &NodeView) -> Response {
    let mut spans: Vec<SlotDistribution> = view
        .nodes
        .iter()
        .filter(|n| n.is_master())
        .flat_map(|master| {
            let replicas = || {
                view.nodes
                    .iter()
                    .filter(|r| r.master_id.as_deref() == Some(master.id.as_str()))
                    .map(endpoint)
                    .collect::<Vec<_>>()
            };
            master.slots.iter().map(move |r| SlotDistribution {
                start_slot: r.start,
                end_slot: r.end,
                slots_count: r.len(),
                master: endpoint(master),
                replicas: replicas(),
            })
        })
        .collect();
    spans.sort_by_key(|s| s.start_slot);
    let total: usize = spans.iter().map(|s| s.slots_count).sum();
    let coverage = (total as f64 * 10_000.0 / f64::from(SLOT_COUNT)).round() / 100.0;
    Json(SlotsReply {
        status: "success",
        total_slots: total,
        max_slots: SLOT_COUNT,
        coverage_percentage: coverage,
        slot_distribution: spans,
    })
    .into_response()
}

#[derive(Serialize, ToSchema)]
pub(super) struct ClusterInfoReply {
    status: &'static str,
    /// CLUSTER INFO's fields; numbers are JSON numbers.
    cluster_info: BTreeMap<String, InfoValue>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct NodeInfoReply {
    status: &'static str,
    node: String,
    /// INFO's fields; numbers are JSON numbers.
    info: BTreeMap<String, InfoValue>,
}

/// One INFO-style field: a JSON number where Redis wrote one (integers stay integers), its
/// text otherwise.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum InfoValue {
    Number(serde_json::Number),
    Text(String),
}

/// A number or a string: JSON Schema's `number` already takes integers, so the two options
/// never both match (`oneOf` needs exactly one).
impl utoipa::PartialSchema for InfoValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .description(Some("A number where Redis wrote one, the text otherwise"))
            .into()
    }
}

impl ToSchema for InfoValue {}

/// INFO-style fields with numbers as JSON numbers.
fn typed(fields: &BTreeMap<String, String>) -> BTreeMap<String, InfoValue> {
    fields
        .iter()
        .map(|(k, v)| {
            let number = v
                .parse::<i64>()
                .map(serde_json::Number::from)
                .ok()
                .or_else(|| v.parse::<f64>().ok().and_then(serde_json::Number::from_f64));
            let value = number.map_or_else(|| InfoValue::Text(v.clone()), InfoValue::Number);
            (k.clone(), value)
        })
        .collect()
}

/// CLUSTER INFO, numbers as numbers.
#[utoipa::path(get, path = "/redis/cluster/info", tag = "reference", responses(
    (status = 200, body = ClusterInfoReply),
    (status = 503, description = "not observed yet, no node answers, or not formed", body = super::ErrorReply),
))]
pub(super) async fn info(State(shared): State<Arc<Shared>>) -> Response {
    from_view(&shared, |view| {
        Json(ClusterInfoReply {
            status: "success",
            cluster_info: typed(&view.info.fields),
        })
        .into_response()
    })
}

/// One node's INFO, numbers as numbers.
#[utoipa::path(get, path = "/redis/nodes/{name}/info", tag = "reference",
    params(("name" = String, Path, description = "a node name from cluster.toml")),
    responses(
        (status = 200, body = NodeInfoReply),
        (status = 404, description = "no such node in cluster.toml", body = super::ErrorReply),
        (status = 503, description = "the node does not answer", body = super::ErrorReply),
))]
pub(super) async fn node_info(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Response {
    let spec = shared.spec();
    if spec.node(&name).is_none() {
        let names: Vec<&str> = spec.nodes.iter().map(|n| n.name.as_str()).collect();
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no node {name} in cluster.toml (nodes: {})",
                names.join(", ")
            ),
        );
    }
    let view = shared.observed().and_then(|o| o.view(&name).cloned());
    match view {
        Some(view) => Json(NodeInfoReply {
            status: "success",
            node: name,
            info: typed(&view.server),
        })
        .into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{name} does not answer"),
        ),
    }
}
