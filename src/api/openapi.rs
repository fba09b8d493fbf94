//! `/openapi.json`: an OpenAPI 3 document of the API, generated from the handlers'
//! annotations and the reply types, so it cannot drift from the code (and the tests check it
//! against real responses).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{dashboard, operator, reference};

#[derive(OpenApi)]
#[openapi(
    info(title = "redis-keeper", description = "Inspection API of `redis-keeper run`"),
    paths(
        reference::nodes,
        reference::slots,
        reference::info,
        reference::node_info,
        operator::healthz,
        operator::readyz,
        operator::status,
        operator::events,
        operator::event_stream,
        operator::metrics,
        operator::reconcile,
        dashboard::page,
        document,
    ),
    modifiers(&BearerToken)
)]
struct ApiDoc;

/// Declares the bearer scheme `POST /reconcile` asks for.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The top level of an OpenAPI 3 document, as this one has it. Only its schema is used: the
/// reply is utoipa's own document type.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct OpenApiDocument {
    /// The OpenAPI version, e.g. "3.1.0".
    openapi: String,
    /// Title, description and version of the API.
    #[schema(value_type = Object)]
    info: serde_json::Value,
    /// Every path and its operations.
    #[schema(value_type = std::collections::BTreeMap<String, Object>)]
    paths: serde_json::Value,
    /// The schemas the operations refer to, and the security schemes.
    #[schema(value_type = Object)]
    components: serde_json::Value,
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operator", responses(
    (status = 200, description = "OpenAPI 3 document", content_type = "application/json", body = OpenApiDocument),
))]
pub(super) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
