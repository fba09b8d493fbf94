//! The dashboard at `/`: one page, embedded in the binary (no node toolchain at build time),
//! that draws the nodes, the slot map, the conditions and the events from `/status` and keeps
//! itself current from `/events/stream`.

use axum::response::Html;

const PAGE: &str = include_str!("dashboard.html");

/// The dashboard: nodes, the slot map, conditions and events, live.
#[utoipa::path(get, path = "/", tag = "dashboard", responses(
    (status = 200, description = "the dashboard page", content_type = "text/html", body = String),
))]
pub(super) async fn page() -> Html<&'static str> {
    Html(PAGE)
}
