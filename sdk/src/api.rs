//! Serving an HTTP-like API from a plugin: [`Request`], [`Response`], a small [`Router`]
//! and JSON helpers.
//!
//! The host routes `/v1/tenants/{tenant}/api/{path}` to the tenant's plugin once the caller
//! has shown one of the tenant's API keys; the plugin sees the part after `/api` as the
//! request's [`path`](Request::path). A plugin serves its API by implementing
//! [`Plugin::api`](crate::Plugin::api), usually with a [`Router`]:
//!
//! ```
//! use callflow_sdk::prelude::*;
//! use callflow_sdk::api::{ApiError, Request, Response, Router};
//!
//! #[derive(serde::Deserialize)]
//! struct NewNote {
//!     text: String,
//! }
//!
//! fn create(req: &Request, ctx: &Context<'_>) -> Result<Response, ApiError> {
//!     let note: NewNote = req.json()?; // 400/422 with a clear code when the body is wrong
//!     if note.text.is_empty() {
//!         return Err(ApiError::new(422, "empty_text", "`text` must not be empty"));
//!     }
//!     ctx.kv().set("note", &note.text, None)?; // a store failure is a 503
//!     Ok(Response::json(201, &serde_json::json!({ "text": note.text })))
//! }
//!
//! fn read(req: &Request, ctx: &Context<'_>) -> Result<Response, ApiError> {
//!     let id = req.param("id").unwrap_or_default();
//!     let text = ctx.kv().get("note")?.ok_or_else(|| {
//!         ApiError::new(404, "unknown_note", format!("no note {id:?}"))
//!     })?;
//!     Ok(Response::json(200, &serde_json::json!({ "id": id, "text": String::from_utf8_lossy(&text) })))
//! }
//!
//! struct Notes;
//!
//! impl Plugin for Notes {
//!     fn handle(_event: Event, _ctx: &Context) -> Result<Option<Callflow>, PluginError> {
//!         Ok(None)
//!     }
//!
//!     fn api(request: Request, ctx: &Context) -> Response {
//!         Router::new()
//!             .post("/notes", create)
//!             .get("/notes/{id}", read)
//!             .handle(request, ctx)
//!     }
//! }
//!
//! // Natively, through the same WIT conversions as in a component:
//! use callflow_sdk::testing::Harness;
//!
//! let harness = Harness::new();
//! let created = harness.api::<Notes>(Request::post("/notes").with_json(&serde_json::json!({"text": "hi"})));
//! assert_eq!(created.status(), 201);
//! let read = harness.api::<Notes>(Request::get("/notes/n1"));
//! assert_eq!(read.json_value()["text"], "hi");
//! let wrong = harness.api::<Notes>(Request::post("/notes").with_body("{"));
//! assert_eq!((wrong.status(), wrong.json_value()["code"].as_str()), (400, Some("malformed_json")));
//! assert_eq!(harness.api::<Notes>(Request::delete("/notes/n1")).status(), 405);
//! ```
//!
//! Every error answer is JSON `{"code": "...", "message": "..."}`, like the host's own.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::PluginError;
use crate::context::{Context, KvError};

/// One API request, as the host received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    params: Vec<(String, String)>,
}

impl Request {
    /// A request with `method` for `path_and_query` (`/bookings?state=active`), no headers
    /// and an empty body. The method is upper-cased.
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (path_and_query, None),
        };
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        Self {
            method: method.to_ascii_uppercase(),
            path,
            query,
            headers: Vec::new(),
            body: Vec::new(),
            params: Vec::new(),
        }
    }

    /// A `GET` request.
    pub fn get(path_and_query: &str) -> Self {
        Self::new("GET", path_and_query)
    }

    /// A `POST` request.
    pub fn post(path_and_query: &str) -> Self {
        Self::new("POST", path_and_query)
    }

    /// A `PUT` request.
    pub fn put(path_and_query: &str) -> Self {
        Self::new("PUT", path_and_query)
    }

    /// A `DELETE` request.
    pub fn delete(path_and_query: &str) -> Self {
        Self::new("DELETE", path_and_query)
    }

    /// Adds a header (the name is lower-cased, as the host hands them over).
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as JSON, with `content-type: application/json`.
    #[must_use]
    pub fn with_json(self, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_default();
        self.with_header("content-type", "application/json")
            .with_body(body)
    }

    /// The method, upper case.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path below `/v1/tenants/{tenant}/api`, starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The first value of query parameter `name`, percent-decoded (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key, true) == name).then(|| decode(value, true))
        })
    }

    /// Every header, names in lower case.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The path parameter `name` of the [`Router`] pattern that matched
    /// (`/bookings/{id}` → `param("id")`), percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON into `T`.
    ///
    /// Errors, as the host's edge words them: 400 `malformed_json` when the body is not
    /// JSON, 422 `missing_field` when a required field is absent, 422 `invalid_field`
    /// when a field has the wrong type or value. The message says which.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|err| {
            use serde_json::error::Category;
            let message = err.to_string();
            match err.classify() {
                Category::Data if message.starts_with("missing field") => {
                    ApiError::new(422, "missing_field", message)
                }
                Category::Data => ApiError::new(422, "invalid_field", message),
                Category::Syntax | Category::Eof | Category::Io => ApiError::new(
                    400,
                    "malformed_json",
                    format!("the body is not valid JSON: {message}"),
                ),
            }
        })
    }

    pub(crate) fn from_parts(
        method: String,
        path: String,
        query: Option<String>,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Self {
        Self {
            method,
            path,
            query,
            headers,
            body,
            params: Vec::new(),
        }
    }

    pub(crate) fn into_parts(self) -> RequestParts {
        (self.method, self.path, self.query, self.headers, self.body)
    }
}

/// A request's method, path, query, headers and body, as the WIT record has them.
pub(crate) type RequestParts = (
    String,
    String,
    Option<String>,
    Vec<(String, String)>,
    Vec<u8>,
);

/// Percent-decodes `s`; with `plus`, `+` is a space (query strings). Invalid escapes and
/// invalid UTF-8 are kept as they are.
fn decode(s: &str, plus: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// A plugin's answer to an API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// A response with `status`, no headers and an empty body.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `value` as JSON with `status` and `content-type: application/json`. A value that
    /// cannot be serialised (a map with non-string keys) is a 500 `internal`.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::empty(status)
                .with_header("content-type", "application/json")
                .with_body(body),
            Err(err) => Self::error(
                500,
                "internal",
                format!("the response could not be serialised: {err}"),
            ),
        }
    }

    /// The error body every API answers with: `{"code": code, "message": message}`.
    pub fn error(status: u16, code: &str, message: impl fmt::Display) -> Self {
        Self::json(
            status,
            &serde_json::json!({ "code": code, "message": message.to_string() }),
        )
    }

    /// 404 `not_found`: what a plugin that serves no API answers (the default of
    /// [`Plugin::api`](crate::Plugin::api)), and a [`Router`] for an unknown path.
    pub fn not_found() -> Self {
        Self::error(404, "not_found", "no such API route")
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Every header, as set.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body parsed as JSON, or `Value::Null` when it is not JSON: for tests.
    pub fn json_value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub(crate) fn from_parts(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        Self {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn into_parts(self) -> (u16, Vec<(String, String)>, Vec<u8>) {
        (self.status, self.headers, self.body)
    }
}

/// An error answer: status, a stable `code` for programs, a `message` for people.
/// Becomes the JSON body `{"code", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// A stable, machine-readable code (`pool_exhausted`, `unknown_booking`, ...).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<ApiError> for Response {
    fn from(err: ApiError) -> Self {
        Response::error(err.status, &err.code, err.message)
    }
}

/// A store failure is a 503 `store_unavailable` (or a 507 `too_large` when a value would
/// exceed the store's limit, a 507 `quota_exceeded` when the tenant's store is full), so
/// that `?` on a [`Kv`](crate::Kv) call answers sensibly.
impl From<KvError> for ApiError {
    fn from(err: KvError) -> Self {
        match err {
            KvError::TooLarge(why) => ApiError::new(507, "too_large", why),
            KvError::QuotaExceeded(why) => ApiError::new(507, "quota_exceeded", why),
            KvError::Unavailable(why) => ApiError::new(503, "store_unavailable", why),
        }
    }
}

/// A plugin error is a 500 `internal`, or a 503 `unavailable` for a missing dependency
/// (configuration, the store).
impl From<PluginError> for ApiError {
    fn from(err: PluginError) -> Self {
        match err {
            PluginError::Unavailable(why) => ApiError::new(503, "unavailable", why),
            PluginError::BadEvent(why) | PluginError::Internal(why) => {
                ApiError::new(500, "internal", why)
            }
        }
    }
}

/// What a route runs: the request (with its path parameters) and the context.
type Handler<'r> = Box<dyn Fn(&Request, &Context<'_>) -> Result<Response, ApiError> + 'r>;

struct Route<'r> {
    method: String,
    segments: Vec<Segment>,
    handler: Handler<'r>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// Routes requests by method and path pattern to handlers.
///
/// Patterns are `/`-separated literals and `{name}` parameters (one whole segment each):
/// `/bookings/{id}/calls`. Empty segments are ignored, so a trailing `/` does not matter.
/// Routes are tried in the order added. A path no pattern matches is a 404 `not_found`;
/// a path that matches only under other methods is a 405 `method_not_allowed` with an
/// `allow` header.
pub struct Router<'r> {
    routes: Vec<Route<'r>>,
}

impl fmt::Debug for Router<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<String> = self
            .routes
            .iter()
            .map(|r| format!("{} {:?}", r.method, r.segments))
            .collect();
        f.debug_struct("Router").field("routes", &routes).finish()
    }
}

impl Default for Router<'_> {
    fn default() -> Self {
        Self::new()
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

impl<'r> Router<'r> {
    /// A router with no routes.
    pub fn new() -> Self {
        Self { routes: Vec::new() }
    }

    /// Routes `method` requests for `pattern` to `handler`.
    #[must_use]
    pub fn route(
        mut self,
        method: &str,
        pattern: &str,
        handler: impl Fn(&Request, &Context<'_>) -> Result<Response, ApiError> + 'r,
    ) -> Self {
        let segments = segments(pattern)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name.to_owned()),
                    None => Segment::Literal(s.to_owned()),
                },
            )
            .collect();
        self.routes.push(Route {
            method: method.to_ascii_uppercase(),
            segments,
            handler: Box::new(handler),
        });
        self
    }

    /// Routes `GET` requests for `pattern`.
    #[must_use]
    pub fn get(
        self,
        pattern: &str,
        handler: impl Fn(&Request, &Context<'_>) -> Result<Response, ApiError> + 'r,
    ) -> Self {
        self.route("GET", pattern, handler)
    }

    /// Routes `POST` requests for `pattern`.
    #[must_use]
    pub fn post(
        self,
        pattern: &str,
        handler: impl Fn(&Request, &Context<'_>) -> Result<Response, ApiError> + 'r,
    ) -> Self {
        self.route("POST", pattern, handler)
    }

    /// Routes `PUT` requests for `pattern`.
    #[must_use]
    pub fn put(
        self,
        pattern: &str,
        handler: impl Fn(&Request, &Context<'_>) -> Result<Response, ApiError> + 'r,
    ) -> Self {
        self.route("PUT", pattern, handler)
    }

    /// Routes `PATCH` requests for `pattern`.
    #[must_use]
    pub fn patch(
        self,
        pattern: &str,
        handler: impl Fn(&Request, &Context<'_>) -> Result<Response, ApiError> + 'r,
    ) -> Self {
        self.route("PATCH", pattern, handler)
    }

    /// Routes `DELETE` requests for `pattern`.
    #[must_use]
    pub fn delete(
        self,
        pattern: &str,
        handler: impl Fn(&Request, &Context<'_>) -> Result<Response, ApiError> + 'r,
    ) -> Self {
        self.route("DELETE", pattern, handler)
    }

    /// Runs the first route that matches `request`; its error becomes the JSON error
    /// answer.
    pub fn handle(&self, mut request: Request, ctx: &Context<'_>) -> Response {
        let path: Vec<&str> = segments(&request.path).collect();
        let mut allowed: Vec<&str> = Vec::new();
        for route in &self.routes {
            let Some(params) = match_segments(&route.segments, &path) else {
                continue;
            };
            if route.method != request.method {
                if !allowed.contains(&route.method.as_str()) {
                    allowed.push(&route.method);
                }
                continue;
            }
            request.params = params;
            return match (route.handler)(&request, ctx) {
                Ok(response) => response,
                Err(err) => err.into(),
            };
        }
        if allowed.is_empty() {
            Response::not_found()
        } else {
            Response::error(
                405,
                "method_not_allowed",
                format!(
                    "{} is not allowed here; use {}",
                    request.method,
                    allowed.join(", ")
                ),
            )
            .with_header("allow", allowed.join(", "))
        }
    }
}

fn match_segments(pattern: &[Segment], path: &[&str]) -> Option<Vec<(String, String)>> {
    if pattern.len() != path.len() {
        return None;
    }
    let mut params = Vec::new();
    for (seg, part) in pattern.iter().zip(path) {
        match seg {
            Segment::Literal(lit) if lit == part => {}
            Segment::Literal(_) => return None,
            Segment::Param(name) => params.push((name.clone(), decode(part, false))),
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;

    fn echo(req: &Request, _ctx: &Context<'_>) -> Result<Response, ApiError> {
        Ok(Response::json(
            200,
            &serde_json::json!({ "id": req.param("id"), "q": req.query_param("q") }),
        ))
    }

    fn router() -> Router<'static> {
        Router::new()
            .get("/things/{id}", echo)
            .delete("/things/{id}", |_req: &Request, _ctx: &Context<'_>| {
                Ok(Response::empty(204))
            })
            .get("/fail", |_req: &Request, _ctx: &Context<'_>| {
                Err(ApiError::new(409, "conflict", "no"))
            })
    }

    fn run(req: Request) -> Response {
        let h = Harness::new();
        router().handle(req, &h.context())
    }

    #[test]
    fn params_and_query_are_decoded() {
        let r = run(Request::get("/things/%2B65%20x/?q=a+b%21"));
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.json_value(),
            serde_json::json!({ "id": "+65 x", "q": "a b!" })
        );
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405() {
        let r = run(Request::get("/nothing"));
        assert_eq!(
            (r.status(), r.json_value()["code"].as_str()),
            (404, Some("not_found"))
        );
        let r = run(Request::post("/things/1"));
        assert_eq!(r.status(), 405);
        assert_eq!(r.header("allow"), Some("GET, DELETE"));
        assert_eq!(run(Request::delete("/things/1")).status(), 204);
    }

    #[test]
    fn handler_errors_become_json_errors() {
        let r = run(Request::get("/fail"));
        assert_eq!(r.status(), 409);
        assert_eq!(
            r.json_value(),
            serde_json::json!({ "code": "conflict", "message": "no" })
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "only parsed")]
    struct Body {
        name: String,
        n: u32,
    }

    #[test]
    fn json_bodies_fail_with_clear_codes() {
        let parse = |body: &str| Request::post("/").with_body(body).json::<Body>();
        assert!(parse(r#"{"name":"a","n":1}"#).is_ok());
        assert_eq!(parse("{").expect_err("syntax").code, "malformed_json");
        let missing = parse(r#"{"name":"a"}"#).expect_err("missing");
        assert_eq!(
            (missing.status, missing.code.as_str()),
            (422, "missing_field")
        );
        assert!(missing.message.contains("`n`"), "{}", missing.message);
        let wrong = parse(r#"{"name":"a","n":"x"}"#).expect_err("type");
        assert_eq!((wrong.status, wrong.code.as_str()), (422, "invalid_field"));
    }

    #[test]
    fn decoding_keeps_invalid_escapes() {
        assert_eq!(decode("100%", false), "100%");
        assert_eq!(decode("%zz%41", false), "%zzA");
        assert_eq!(decode("a+b", false), "a+b");
        assert_eq!(decode("a+b", true), "a b");
    }
}
