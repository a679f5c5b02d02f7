//! The native baseline of `bench/http/run`: 8x8 webhooks answered by the IVR's own code
//! compiled natively, behind a plain axum handler on a tokio runtime like the host's (no
//! sandbox, no tenant, no checks). The floor the host's cost is measured against.
//!
//! `native-ivr [ADDR]` (default `127.0.0.1:8090`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The demo's `ivr-demo` configuration.
const CONFIG: [(&str, &str); 2] = [
    ("virtual_number", "+6512345678"),
    ("representative_number", "+6587654321"),
];

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let config: Arc<HashMap<String, String>> = Arc::new(
        CONFIG
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    );
    let app = axum::Router::new().route(
        "/v1/tenants/{tenant}/webhooks/voice",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let config = Arc::clone(&config);
            async move { answer(&headers, &body, &config) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("native-ivr listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}

fn answer(
    headers: &axum::http::HeaderMap,
    body: &[u8],
    config: &HashMap<String, String>,
) -> Response {
    if headers.get(header::CONTENT_TYPE).is_none() {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    match callflow_tests::native_answer(body, config) {
        Ok(json) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json,
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}
