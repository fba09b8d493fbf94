//! The operator's own endpoints: liveness and readiness, status and events (also as a
//! server-sent stream), Prometheus metrics, and a pass on demand behind a bearer token.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use super::error;
use crate::controller::Shared;
use crate::status::ConditionType;

/// The process is alive and serving.
pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// 200 only while the cluster is healthy and matches cluster.toml (the Ready condition).
pub(super) async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.status();
    match status.condition(ConditionType::Ready) {
        Some(c) if c.status => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Some(c) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            if c.message.is_empty() {
                c.reason.clone()
            } else {
                format!("{}: {}", c.reason, c.message)
            },
        ),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "starting"),
    }
}

/// Desired against observed per node, the conditions, the last reconcile.
pub(super) async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let spec = shared.spec();
    let operator = shared.status();
    let report = shared
        .observed()
        .map(|o| crate::commands::status::report(&spec, &o));
    Json(serde_json::json!({
        "status": "success",
        "cluster": spec.name,
        "conditions": operator.conditions,
        "last_reconcile": operator.last_reconcile,
        "reconciles": operator.reconciles,
        "report": report,
    }))
    .into_response()
}

pub(super) async fn events(State(shared): State<Arc<Shared>>) -> Response {
    Json(serde_json::json!({
        "status": "success",
        "events": shared.status().events,
    }))
    .into_response()
}

/// Each event as it happens, as server-sent events (`event: repair`, JSON data).
pub(super) async fn event_stream(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stream = BroadcastStream::new(shared.events.subscribe()).filter_map(|item| async move {
        // A client that fell behind skips what it missed; the stream goes on.
        let event = item.ok()?;
        SseEvent::default()
            .event("repair")
            .json_data(event)
            .ok()
            .map(Ok)
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

pub(super) async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let observed = shared.observed();
    let text = shared.metrics.render(&shared.spec(), observed.as_deref());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Starts a pass now. Needs `Authorization: Bearer <token>` with the token `[api]` names.
pub(super) async fn reconcile(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(token) = &shared.token else {
        return error(
            StatusCode::FORBIDDEN,
            "no token is configured: set [api].token_file or token_env in cluster.toml",
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|g| token.matches(g)) {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer <token>)",
        );
    }
    shared.wake.notify_one();
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "status": "accepted" })),
    )
        .into_response()
}
