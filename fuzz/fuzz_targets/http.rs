//! The API's request path: any method, path, query, headers and body reach the router and
//! get an answer, never a panic and never a 500. The controller's state is the reference
//! layout, not yet observed, with an API token set.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use redis_keeper::runtime::controller::Shared;
use redis_keeper::runtime::status::OperatorStatus;
use redis_keeper::spec::secret::Secret;
use redis_keeper::spec::ClusterSpec;
use tower::ServiceExt;

const SPEC: &str = r#"
[cluster]
name = "fuzz"
no_password = true
[network]
name = "fuzz"
subnet = "172.20.2.0/24"
[[nodes]]
name = "redis-1"
ip = "172.20.2.13"
slots = ["0-16383"]
"#;

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

fn router() -> axum::Router {
    static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| {
        let spec = ClusterSpec::parse(SPEC, std::path::Path::new("/fuzz/cluster.toml"))
            .expect("the fuzz spec is valid");
        let status = OperatorStatus::new(&spec.name);
        Arc::new(Shared::new(
            Arc::new(spec),
            status,
            Some(Secret::new("fuzz-token".into())),
            None,
        ))
    });
    redis_keeper::api::router(shared.clone())
}

fuzz_target!(|data: &[u8]| {
    // method byte, then "path\nheader: value\n...\n\nbody"
    let Some((&method, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let path = lines.next().unwrap_or("/");
    let mut request = Request::builder()
        .method(METHODS[usize::from(method) % METHODS.len()])
        .uri(path);
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            request = request.header(name.trim(), value.trim());
        }
    }
    let Ok(request) = request.body(Body::from(body.to_string())) else {
        return; // not a request an HTTP server would have parsed
    };
    let response = runtime()
        .block_on(router().oneshot(request))
        .expect("the router is infallible");
    assert_ne!(
        response.status(),
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "{path}"
    );
});
