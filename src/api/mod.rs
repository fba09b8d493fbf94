//! The HTTP API `run --listen` serves (axum): the reference app's `/redis/*` endpoints with
//! their paths and field names, the operator's own (`/healthz`, `/readyz`, `/status`,
//! `/events`, `/events/stream`, `/metrics`, `POST /reconcile`) and the dashboard at `/`.
//!
//! Everything is served from [`Shared`], the state the controller keeps; no request opens a
//! Redis connection. Errors are real HTTP errors with a JSON body `{status:"error", error}`.
//!
//! Imports every room below `cli`.

mod dashboard;
mod https;
mod openapi;
mod operator;
mod reference;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::runtime::controller::Shared;
use crate::spec::secret::Secret;
use crate::spec::{ClusterSpec, TokenSource};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot listen on {addr}: {source} (pass another address with --listen)")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("[api].token_env names {0}, which is not set or empty: export it, or use token_file")]
    TokenEnvMissing(String),
    #[error("cannot read or create [api].token_file {}: {source}", path.display())]
    TokenFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("[api].token_file {} is empty: put the bearer token in it", .0.display())]
    TokenEmpty(std::path::PathBuf),
    #[error("HTTPS for the API: {0}")]
    Https(String),
}

impl ApiError {
    pub(crate) fn is_invalid_input(&self) -> bool {
        !matches!(self, ApiError::Listen { .. })
    }
}

/// The bearer token `[api]` names, if any.
pub(crate) fn token(spec: &ClusterSpec) -> Result<Option<Secret>, ApiError> {
    let text = match &spec.api_token {
        None => return Ok(None),
        Some(TokenSource::Env(var)) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => v,
            _ => return Err(ApiError::TokenEnvMissing(var.clone())),
        },
        Some(TokenSource::File(path)) => match std::fs::read_to_string(path) {
            Ok(text) => text,
            // Made for the user (0600), as the password file is: read it to use the API.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => crate::spec::secret::create(path)
                .map(|s| s.expose().to_string())
                .map_err(|source| ApiError::TokenFile {
                    path: path.clone(),
                    source,
                })?,
            Err(source) => {
                return Err(ApiError::TokenFile {
                    path: path.clone(),
                    source,
                })
            }
        },
    };
    let token = text.trim();
    match &spec.api_token {
        Some(TokenSource::File(path)) if token.is_empty() => {
            Err(ApiError::TokenEmpty(path.clone()))
        }
        _ => Ok(Some(Secret::new(token.to_string()))),
    }
}

/// Every route, over the shared state.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/redis/cluster/nodes", get(reference::nodes))
        .route("/redis/cluster/slots", get(reference::slots))
        .route("/redis/cluster/info", get(reference::info))
        .route("/redis/nodes/{name}/info", get(reference::node_info))
        .route("/healthz", get(operator::healthz))
        .route("/readyz", get(operator::readyz))
        .route("/status", get(operator::status))
        .route("/events", get(operator::events))
        .route("/events/stream", get(operator::event_stream))
        .route("/metrics", get(operator::metrics))
        .route("/reconcile", post(operator::reconcile))
        .route("/openapi.json", get(openapi::document))
        .with_state(shared)
}

/// Binds `addr` (an error at once if it is taken) and serves in the background; with
/// `[tls]`, HTTPS too on `https` (a certificate from the cluster's CA).
pub(crate) async fn serve(
    addr: SocketAddr,
    https: Option<SocketAddr>,
    shared: Arc<Shared>,
) -> Result<(), ApiError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ApiError::Listen { addr, source })?;
    let spec = shared.spec();
    if let (Some(tls_addr), Some(tls)) = (https, &spec.tls) {
        let (cert, key) = crate::tls::issue::api_certificate(
            tls,
            &spec.name,
            tls_addr.ip(),
            std::time::SystemTime::now(),
        )
        .map_err(|p| ApiError::Https(p.to_string()))?;
        let tcp = tokio::net::TcpListener::bind(tls_addr)
            .await
            .map_err(|source| ApiError::Listen {
                addr: tls_addr,
                source,
            })?;
        let tls_listener = https::TlsListener::new(tcp, &cert, &key).map_err(ApiError::Https)?;
        let router = router(shared.clone());
        tracing::info!(addr = %tls_addr, "serving the API over HTTPS");
        tokio::spawn(async move {
            if let Err(e) = axum::serve(tls_listener, router).await {
                tracing::error!(error = %e, "the HTTPS API server stopped");
            }
        });
    }
    if !addr.ip().is_loopback() && shared.token.is_none() {
        tracing::warn!(%addr, "the API listens beyond loopback; POST /reconcile stays refused without [api] token");
    }
    tracing::info!(%addr, "serving the API and dashboard");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(shared)).await {
            tracing::error!(error = %e, "the API server stopped");
        }
    });
    Ok(())
}

/// The body of every error: `{status:"error", error}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorReply {
    status: &'static str,
    error: String,
}

/// An error response: the status code and an [`ErrorReply`].
pub(crate) fn error(code: StatusCode, message: impl Into<String>) -> Response {
    let body = ErrorReply {
        status: "error",
        error: message.into(),
    };
    (code, Json(body)).into_response()
}
