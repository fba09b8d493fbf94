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
use crate::runtime::controller::Shared;
use crate::runtime::status::{Condition, ConditionType, Event, LastReconcile};
use serde::Serialize;
use utoipa::ToSchema;

/// `{status}`: "ok", "ready", "accepted".
#[derive(Serialize, ToSchema)]
pub(super) struct StatusWord {
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub(super) struct StatusReply {
    status: &'static str,
    cluster: String,
    conditions: Vec<Condition>,
    last_reconcile: Option<LastReconcile>,
    reconciles: u64,
    /// The slot moves of the pass in flight (slots, keys, rate, ETA); null when none run.
    moving: Option<crate::actions::slots::progress::MoveProgress>,
    /// Desired against observed per node, the slot map and the findings (as `status -o
    /// json`); null before the first observation.
    report: Option<crate::runtime::report::StatusReport>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct EventsReply {
    status: &'static str,
    events: Vec<Event>,
}

/// The process is alive and serving.
#[utoipa::path(get, path = "/healthz", tag = "operator", responses((status = 200, body = StatusWord)))]
pub(super) async fn healthz() -> Json<StatusWord> {
    Json(StatusWord { status: "ok" })
}

/// 200 only while the cluster is healthy and matches cluster.toml (the Ready condition).
#[utoipa::path(get, path = "/readyz", tag = "operator", responses(
    (status = 200, body = StatusWord),
    (status = 503, description = "not Ready, with the reason", body = super::ErrorReply),
))]
pub(super) async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.status();
    match status.condition(ConditionType::Ready) {
        Some(c) if c.status => Json(StatusWord { status: "ready" }).into_response(),
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
#[utoipa::path(get, path = "/status", tag = "operator", responses((status = 200, body = StatusReply)))]
pub(super) async fn status(State(shared): State<Arc<Shared>>) -> Json<StatusReply> {
    let spec = shared.spec();
    let operator = shared.status();
    let report = shared.observed().map(|o| {
        // From memory: the controller's own status is this reply's top level.
        let operator = crate::runtime::report::OperatorView {
            holder: shared.holder.clone(),
            status: None,
        };
        crate::runtime::report::report(&spec, &o, Some(operator))
    });
    Json(StatusReply {
        status: "success",
        cluster: spec.name.clone(),
        conditions: operator.conditions,
        last_reconcile: operator.last_reconcile,
        reconciles: operator.reconciles,
        moving: shared.moves(),
        report,
    })
}

/// The recent events, oldest first.
#[utoipa::path(get, path = "/events", tag = "operator", responses((status = 200, body = EventsReply)))]
pub(super) async fn events(State(shared): State<Arc<Shared>>) -> Json<EventsReply> {
    Json(EventsReply {
        status: "success",
        events: shared.status().events.into(),
    })
}

/// Each event as it happens, as server-sent events (`event: repair`, an Event as JSON data).
#[utoipa::path(get, path = "/events/stream", tag = "operator", responses(
    (status = 200, description = "server-sent events", content_type = "text/event-stream", body = String),
))]
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

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operator", responses(
    (status = 200, description = "Prometheus exposition", content_type = "text/plain", body = String),
))]
pub(super) async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let observed = shared.observed();
    let text = shared.metrics.render(&shared.spec(), observed.as_deref());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Starts a pass now. Needs `Authorization: Bearer <token>` with the token `[api]` names.
#[utoipa::path(post, path = "/reconcile", tag = "operator",
    security(("bearer" = [])),
    responses(
        (status = 202, body = StatusWord),
        (status = 401, description = "missing or wrong bearer token", body = super::ErrorReply),
        (status = 403, description = "no token configured in cluster.toml", body = super::ErrorReply),
))]
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
        Json(StatusWord { status: "accepted" }),
    )
        .into_response()
}
