//! `/console`: the operators' web console and the plugin authors' dev phone, served from
//! files embedded in the binary (`host/server/console/`, by `build.rs`).
//!
//! Owns: serving those files with their content type and a strict Content-Security-Policy
//! (scripts and styles from this origin only, no inline script or style, no HTML sinks
//! under Trusted Types, no framing, no other origin to connect to), so that the page runs
//! only its own scripts whatever a plugin logs or answers. (The plugin API's answers,
//! which share the origin, are sandboxed by `api`.) Must not: hold credentials. The pages keep the token in the tab's
//! session storage and send it as a bearer header to the admin API, like any client.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{AppState, HttpError, Params};

/// Every console file: name, bytes.
static ASSETS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// What the pages may load and reach.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
require-trusted-types-for 'script'; trusted-types 'none'";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { asset("index.html") }))
        .route(
            "/console/{file}",
            get(|Params(file): Params<String>| async move { asset(&file) }),
        )
}

/// The file `name`, or 404.
fn asset(name: &str) -> Result<Response, HttpError> {
    let (_, bytes) = ASSETS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or(HttpError::NotFound)?;
    let content_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // The files change with the binary: a browser asks again rather than keep stale
        // ones after an upgrade.
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_load_no_inline_script_and_every_file_they_name_is_served() {
        let index = ASSETS
            .iter()
            .find(|(n, _)| *n == "index.html")
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .expect("index.html is embedded");
        assert!(!index.contains("<script>"), "inline script in index.html");
        for (name, bytes) in ASSETS {
            let text = String::from_utf8_lossy(bytes);
            // Tenants' strings (log lines, config, callflows) reach the page as text only.
            for sink in [
                " style=\"",
                "javascript:",
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "setAttribute('style'",
                " onclick=",
                "eval(",
            ] {
                assert!(!text.contains(sink), "{name} uses {sink}");
            }
            for import in text.match_indices("from './").map(|(i, _)| &text[i + 8..]) {
                let file = import.split('\'').next().unwrap_or_default();
                assert!(
                    asset(file).is_ok(),
                    "{name} imports {file}, which is not embedded"
                );
            }
        }
        let response = asset("index.html").expect("served");
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_SECURITY_POLICY)
                .map(|v| v.as_bytes()),
            Some(CONTENT_SECURITY_POLICY.as_bytes())
        );
        assert!(asset("../Cargo.toml").is_err());
    }
}
