//! The dashboard at `/`: one page, embedded in the binary (no node toolchain at build time),
//! that draws the nodes, the slot map, the conditions and the events from `/status` and keeps
//! itself current from `/events/stream`.

use axum::response::Html;

const PAGE: &str = include_str!("dashboard.html");

pub(super) async fn page() -> Html<&'static str> {
    Html(PAGE)
}
