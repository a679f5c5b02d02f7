//! `/openapi.json`: the OpenAPI 3.1 document of the host's HTTP surface (webhooks, the
//! plugins' own APIs, the admin API), generated from [`ROUTES`].
//!
//! [`ROUTES`] is the one list of what the host serves, with the facts a client needs
//! (method, path, auth, body, answers). Every body's schema is derived from the Rust type
//! that parses or renders it (`schemars`): the webhook bodies and callflows from
//! `callflow_wire`, the admin API's answers from `http/bodies.rs`, so the document
//! cannot say one thing while the handlers do another. The e2e tests call every
//! operation it lists and check that the host answers one of the statuses listed, and
//! `.ci/run` has schemathesis fuzz the running demo against it.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::bodies::{
    Activity, Dial, DryRun, ErrorBody, Logs, PhonePress, Readiness, TenantList, TenantStatus,
    Uploaded, VersionList, WhoAmI,
};
use crate::phone::PhoneView;

/// How an operation is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// None (health, metrics, this document).
    None,
    /// The tenant's webhook authentication (static `Authorization`, IP allowlist), when
    /// the tenant sets one.
    Webhook,
    /// A tenant API key: `Authorization: Bearer <key>`.
    ApiKey,
    /// The operator token or the tenant's admin token: `Authorization: Bearer <token>`.
    Admin,
}

/// Writes a schema into the document's components and answers a reference to it.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// What a response carries.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    /// `{"code", "message"}` (`ErrorBody`).
    Error,
    /// JSON of this schema.
    Json(SchemaFn),
    /// A body of this media type, not described further.
    Media(&'static str),
    /// No body.
    Empty,
}

/// One operation.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method, lower case (`any` for every method).
    pub method: &'static str,
    /// Path with `{parameters}`.
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// How callers authenticate.
    pub auth: Auth,
    /// The request body's media type and schema, if it takes one.
    pub body: Option<(&'static str, Option<SchemaFn>)>,
    /// Query parameters: name, JSON Schema type, what it means.
    pub query: &'static [(&'static str, &'static str, &'static str)],
    /// Statuses it answers with, what each means, and its body.
    pub responses: &'static [(u16, &'static str, Reply)],
}

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The codes an [`ErrorBody`] may carry: every refusal's.
pub(super) fn error_codes(_: &mut SchemaGenerator) -> Schema {
    let codes: Vec<&str> = super::error::CODES
        .iter()
        .copied()
        // Counted, never answered: the connection is closed; and the catch-all label.
        .filter(|c| !matches!(*c, "too_many_connections" | "other"))
        .collect();
    schemars::json_schema!({ "type": "string", "enum": codes })
}

const E400: (u16, &str, Reply) = (400, "the path, query or body cannot be read", Reply::Error);
const E401: (u16, &str, Reply) = (401, "no credential, or not a valid one", Reply::Error);
const E403: (u16, &str, Reply) = (403, "the credential may not do this", Reply::Error);
const E408: (u16, &str, Reply) = (408, "the body did not arrive in time", Reply::Error);
const E413: (u16, &str, Reply) = (413, "the body is too large", Reply::Error);
const E500: (u16, &str, Reply) = (
    500,
    "the host could not read or write its own files",
    Reply::Error,
);
const E503: (u16, &str, Reply) = (
    503,
    "the cluster's shared store is unreachable; retry",
    Reply::Error,
);
const E507: (u16, &str, Reply) = (
    507,
    "the host's disk is full; nothing was changed",
    Reply::Error,
);
const STATUS: Reply = Reply::Json(schema::<TenantStatus>);
const PHONE: Reply = Reply::Json(schema::<PhoneView>);

/// Everything the host serves.
pub const ROUTES: &[Route] = &[
    Route {
        method: "post",
        path: "/v1/tenants/{tenant}/webhooks/voice",
        summary: "An 8x8 voice webhook (CALL_ACTION, CALL_STATUS, SESSION_SUMMARY, CALL_RECORDING_STATUS, VIRTUAL_NUMBER_UPDATE). A call action is answered with a callflow in 8x8's JSON (the tenant's fallback when the plugin fails); other events with {}.",
        auth: Auth::Webhook,
        body: Some(("application/json", Some(callflow_wire::schema::webhook))),
        query: &[],
        responses: &[
            (
                200,
                "the callflow, or {} for events that wait for none",
                Reply::Json(callflow_wire::schema::webhook_answer),
            ),
            (
                400,
                "the path cannot be read, or the body is not JSON of the right shape",
                Reply::Error,
            ),
            (
                401,
                "the tenant requires an Authorization header and it is missing or wrong",
                Reply::Error,
            ),
            (
                403,
                "the source address or the sub-account is not the tenant's",
                Reply::Error,
            ),
            (404, "no such tenant", Reply::Error),
            E408,
            E413,
            (
                415,
                "the body is not sent as application/json",
                Reply::Error,
            ),
            (
                422,
                "a required field is missing, or the eventType is not one of the five",
                Reply::Error,
            ),
        ],
    },
    Route {
        method: "any",
        path: "/v1/tenants/{tenant}/api/{path}",
        summary: "The tenant plugin's own API (for example number masking's bookings): the plugin answers with the status and body it chooses.",
        auth: Auth::ApiKey,
        body: Some(("application/json", None)),
        query: &[],
        responses: &[
            (
                0,
                "whatever the plugin answers",
                Reply::Media("application/json"),
            ),
            E400,
            E401,
            (404, "no such tenant", Reply::Error),
            E408,
            E413,
            (
                429,
                "the tenant is at its concurrency or fuel rate; retry",
                Reply::Error,
            ),
            (
                502,
                "the plugin failed, or answered a status that is not one",
                Reply::Error,
            ),
            (
                503,
                "the plugin is not loaded, or the host cannot run it now; retry",
                Reply::Error,
            ),
            (504, "the plugin ran past its deadline", Reply::Error),
        ],
    },
    Route {
        method: "get",
        path: "/v1/admin/tenants",
        summary: "Every tenant's status (operator).",
        auth: Auth::Admin,
        body: None,
        query: &[],
        responses: &[
            (
                200,
                "every tenant's status",
                Reply::Json(schema::<TenantList>),
            ),
            E401,
            (
                403,
                "a tenant token: only the operator lists every tenant",
                Reply::Error,
            ),
        ],
    },
    Route {
        method: "get",
        path: "/v1/admin/tenants/{tenant}",
        summary: "A tenant's status: active version, loaded at, last load error, invocations, failures by reason, fuel and latency p50/p99, key-value usage.",
        auth: Auth::Admin,
        body: None,
        query: &[],
        responses: &[
            (200, "the tenant's status", STATUS),
            E400,
            E401,
            E403,
            (404, "no such tenant", Reply::Error),
        ],
    },
    Route {
        method: "put",
        path: "/v1/admin/tenants/{tenant}",
        summary: "Create or replace a tenant's configuration (operator): the body is its tenant.toml.",
        auth: Auth::Admin,
        body: Some(("application/toml", None)),
        query: &[],
        responses: &[
            (200, "updated: the tenant's status", STATUS),
            (201, "created: the tenant's status", STATUS),
            (
                400,
                "the path cannot be read, the id is not a safe name, or the body is not UTF-8",
                Reply::Error,
            ),
            E401,
            E403,
            E408,
            E413,
            (
                422,
                "the configuration does not validate: the message names the field",
                Reply::Error,
            ),
            E500,
            E503,
            E507,
        ],
    },
    Route {
        method: "delete",
        path: "/v1/admin/tenants/{tenant}",
        summary: "Delete a tenant and its versions (operator).",
        auth: Auth::Admin,
        body: None,
        query: &[],
        responses: &[
            (204, "deleted", Reply::Empty),
            E400,
            E401,
            E403,
            (404, "no such tenant", Reply::Error),
            E500,
            E503,
        ],
    },
    Route {
        method: "get",
        path: "/v1/admin/tenants/{tenant}/versions",
        summary: "The tenant's stored plugin versions (digest, size, upload time, status).",
        auth: Auth::Admin,
        body: None,
        query: &[],
        responses: &[
            (
                200,
                "the stored versions",
                Reply::Json(schema::<VersionList>),
            ),
            E400,
            E401,
            E403,
            (404, "no such tenant", Reply::Error),
            E500,
        ],
    },
    Route {
        method: "post",
        path: "/v1/admin/tenants/{tenant}/versions",
        summary: "Upload a component; checked (component, world, compiles, size) before it is stored and, unless ?activate=false, activated.",
        auth: Auth::Admin,
        body: Some(("application/wasm", None)),
        query: &[(
            "activate",
            "boolean",
            "activate the version once stored (the default), or store it only",
        )],
        responses: &[
            (
                201,
                "stored (and activated unless ?activate=false)",
                Reply::Json(schema::<Uploaded>),
            ),
            E400,
            E401,
            E403,
            (404, "no such tenant", Reply::Error),
            E408,
            (
                413,
                "the component is larger than the host takes",
                Reply::Error,
            ),
            (
                422,
                "a check failed: the message says which (component, world, compile)",
                Reply::Error,
            ),
            (
                429,
                "the tenant or the host has as many compiles waiting as it may; retry",
                Reply::Error,
            ),
            E500,
            E503,
            E507,
        ],
    },
    Route {
        method: "post",
        path: "/v1/admin/tenants/{tenant}/versions/{digest}/activate",
        summary: "Activate a stored version.",
        auth: Auth::Admin,
        body: None,
        query: &[],
        responses: &[
            (200, "the tenant's status", STATUS),
            E400,
            E401,
            E403,
            (404, "no such tenant or version", Reply::Error),
            E500,
            E503,
            E507,
        ],
    },
    Route {
        method: "post",
        path: "/v1/admin/tenants/{tenant}/versions/{digest}/dry-run",
        summary: "Run a webhook through a stored version without touching the live tenant: the answer, fuel and time.",
        auth: Auth::Admin,
        body: Some(("application/json", Some(callflow_wire::schema::webhook))),
        query: &[],
        responses: &[
            (200, "what the version did", Reply::Json(schema::<DryRun>)),
            (
                400,
                "the path cannot be read, or the body is not JSON of the right shape",
                Reply::Error,
            ),
            E401,
            E403,
            (404, "no such tenant or version", Reply::Error),
            E408,
            E413,
            (
                422,
                "a required field is missing, the eventType is not one of the five, or the version no longer loads",
                Reply::Error,
            ),
            (
                429,
                "the tenant is at its concurrency or fuel rate; retry",
                Reply::Error,
            ),
            E500,
            E503,
        ],
    },
    Route {
        method: "post",
        path: "/v1/admin/tenants/{tenant}/rollback",
        summary: "Activate the previously active version.",
        auth: Auth::Admin,
        body: None,
        query: &[],
        responses: &[
            (200, "the tenant's status", STATUS),
            E400,
            E401,
            E403,
            (404, "no such tenant", Reply::Error),
            (409, "no earlier activated version", Reply::Error),
            E500,
            E503,
            E507,
        ],
    },
    Route {
        method: "get",
        path: "/v1/admin/whoami",
        summary: "Whose the bearer token is: the operator's, or which tenant's (the console asks this at sign-in).",
        auth: Auth::Admin,
        body: None,
        query: &[],
        responses: &[
            (200, "the token's role", Reply::Json(schema::<WhoAmI>)),
            E401,
        ],
    },
    Route {
        method: "get",
        path: "/v1/admin/tenants/{tenant}/activity",
        summary: "A tenant's last ten minutes in five-second steps (events, rate, latency and fuel p50/p99, failures by reason); the last step is the one in progress.",
        auth: Auth::Admin,
        body: None,
        query: &[],
        responses: &[
            (
                200,
                "the steps, oldest first",
                Reply::Json(schema::<Activity>),
            ),
            E400,
            E401,
            E403,
            (404, "no such tenant", Reply::Error),
        ],
    },
    Route {
        method: "get",
        path: "/v1/admin/tenants/{tenant}/logs",
        summary: "The plugin's recent log lines (the last 200 the tenant's log budget let through), phone numbers masked.",
        auth: Auth::Admin,
        body: None,
        query: &[(
            "after",
            "integer",
            "only lines numbered after this one (the last you have; 0 or absent: every line kept)",
        )],
        responses: &[
            (200, "the lines, oldest first", Reply::Json(schema::<Logs>)),
            (400, "the path or the query cannot be read", Reply::Error),
            E401,
            E403,
            (404, "no such tenant", Reply::Error),
        ],
    },
    Route {
        method: "post",
        path: "/v1/admin/tenants/{tenant}/phone/calls",
        summary: "Dev phone: place a simulated call to one of the tenant's versions (the active one by default) against a scratch store; it plays up to the first prompt.",
        auth: Auth::Admin,
        body: Some(("application/json", Some(schema::<Dial>))),
        query: &[],
        responses: &[
            (201, "the call, at its first prompt or ended", PHONE),
            (
                400,
                "the body is not a call to place, or a number is not E.164",
                Reply::Error,
            ),
            E401,
            E403,
            (404, "no such tenant or version", Reply::Error),
            E408,
            E413,
            (422, "the version no longer loads", Reply::Error),
            (
                429,
                "the host or the tenant holds as many phone calls as it may",
                Reply::Error,
            ),
            E500,
            (
                503,
                "the tenant's plugin does not load, or the cluster's store is unreachable",
                Reply::Error,
            ),
        ],
    },
    Route {
        method: "get",
        path: "/v1/admin/tenants/{tenant}/phone/calls/{call}",
        summary: "Dev phone: a call as it stands, with its transcript as `simulate --json` prints it.",
        auth: Auth::Admin,
        body: None,
        query: &[],
        responses: &[
            (200, "the call", PHONE),
            E400,
            E401,
            E403,
            (
                404,
                "no such call on this node (or it was idle too long)",
                Reply::Error,
            ),
        ],
    },
    Route {
        method: "delete",
        path: "/v1/admin/tenants/{tenant}/phone/calls/{call}",
        summary: "Dev phone: hang up and forget a call.",
        auth: Auth::Admin,
        body: None,
        query: &[],
        responses: &[
            (204, "hung up", Reply::Empty),
            E400,
            E401,
            E403,
            (
                404,
                "no such call on this node (or it was idle too long)",
                Reply::Error,
            ),
        ],
    },
    Route {
        method: "post",
        path: "/v1/admin/tenants/{tenant}/phone/calls/{call}/press",
        summary: "Dev phone: what the caller does at the prompt (keys, nothing, or hang up); the call plays on to its next prompt or its end.",
        auth: Auth::Admin,
        body: Some(("application/json", Some(schema::<PhonePress>))),
        query: &[],
        responses: &[
            (200, "the call, at its next prompt or ended", PHONE),
            (400, "the body is not keys or a hangup", Reply::Error),
            E401,
            E403,
            (
                404,
                "no such call on this node (or it was idle too long)",
                Reply::Error,
            ),
            E408,
            (409, "the call is not at a prompt", Reply::Error),
            E413,
        ],
    },
    Route {
        method: "get",
        path: "/console",
        summary: "The web console: tenants live, versions, logs, dry runs and the dev phone (sign in with an admin token).",
        auth: Auth::None,
        body: None,
        query: &[],
        responses: &[(200, "the page", Reply::Media("text/html"))],
    },
    Route {
        method: "get",
        path: "/console/{file}",
        summary: "The console's scripts and styles.",
        auth: Auth::None,
        body: None,
        query: &[],
        responses: &[
            (200, "the file", Reply::Media("text/*")),
            (400, "the path cannot be read", Reply::Error),
            (404, "no such file", Reply::Error),
        ],
    },
    Route {
        method: "get",
        path: "/healthz",
        summary: "Alive.",
        auth: Auth::None,
        body: None,
        query: &[],
        responses: &[(200, "ok", Reply::Media("text/plain"))],
    },
    Route {
        method: "get",
        path: "/readyz",
        summary: "Ready: tenants are configured, the shared store is reachable, the node is not draining.",
        auth: Auth::None,
        body: None,
        query: &[],
        responses: &[
            (200, "ready", Reply::Json(schema::<Readiness>)),
            (
                503,
                "not ready: no tenant, the store unreachable, or draining",
                Reply::Json(schema::<Readiness>),
            ),
        ],
    },
    Route {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics.",
        auth: Auth::None,
        body: None,
        query: &[],
        responses: &[(200, "Prometheus text format", Reply::Media("text/plain"))],
    },
    Route {
        method: "get",
        path: "/openapi.json",
        summary: "This document.",
        auth: Auth::None,
        body: None,
        query: &[],
        responses: &[(200, "OpenAPI 3.1", Reply::Media("application/json"))],
    },
];

/// Where one answer leads (OpenAPI links, which stateful clients and fuzzers follow):
/// from (method, path, status), a link's name, to (method, path), and each of the target's
/// parameters as a runtime expression.
type Link = (
    (&'static str, &'static str, u16),
    &'static str,
    (&'static str, &'static str),
    &'static [(&'static str, &'static str)],
);

const LINKS: &[Link] = &[
    (
        ("post", "/v1/admin/tenants/{tenant}/phone/calls", 201),
        "press",
        (
            "post",
            "/v1/admin/tenants/{tenant}/phone/calls/{call}/press",
        ),
        &[
            ("tenant", "$response.body#/tenant"),
            ("call", "$response.body#/call"),
        ],
    ),
    (
        ("get", "/v1/admin/tenants", 200),
        "tenant",
        ("get", "/v1/admin/tenants/{tenant}"),
        &[("tenant", "$response.body#/tenants/0/tenant")],
    ),
    (
        ("get", "/v1/admin/tenants/{tenant}", 200),
        "versions",
        ("get", "/v1/admin/tenants/{tenant}/versions"),
        &[("tenant", "$response.body#/tenant")],
    ),
    (
        ("get", "/v1/admin/tenants/{tenant}", 200),
        "rollback",
        ("post", "/v1/admin/tenants/{tenant}/rollback"),
        &[("tenant", "$response.body#/tenant")],
    ),
    (
        ("get", "/v1/admin/tenants/{tenant}/versions", 200),
        "activate",
        (
            "post",
            "/v1/admin/tenants/{tenant}/versions/{digest}/activate",
        ),
        &[
            ("tenant", "$response.body#/tenant"),
            ("digest", "$response.body#/versions/0/digest"),
        ],
    ),
    (
        ("get", "/v1/admin/tenants/{tenant}/versions", 200),
        "dryRun",
        (
            "post",
            "/v1/admin/tenants/{tenant}/versions/{digest}/dry-run",
        ),
        &[
            ("tenant", "$response.body#/tenant"),
            ("digest", "$response.body#/versions/0/digest"),
        ],
    ),
];

/// The OpenAPI document for [`ROUTES`].
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        let methods: &[&str] = if route.method == "any" {
            &["get", "post", "put", "patch", "delete"]
        } else {
            std::slice::from_ref(&route.method)
        };
        for method in methods {
            entry[*method] = operation(route, method, &mut generator);
        }
    }
    for ((method, path, status), name, (to_method, to_path), parameters) in LINKS {
        let to = ROUTES
            .iter()
            .find(|r| r.method == *to_method && r.path == *to_path)
            .expect("a link leads to a route");
        let parameters: Map<String, Value> = parameters
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        paths[*path][*method]["responses"][status.to_string()]["links"][*name] =
            json!({ "operationId": operation_id(to, to_method), "parameters": parameters });
    }
    let _ = generator.subschema_for::<ErrorBody>();
    let schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "callflow-host",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "8x8 voice webhooks answered by tenants' sandboxed WebAssembly plugins, the plugins' own APIs, and the operator's admin API.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "webhook": { "type": "apiKey", "in": "header", "name": "Authorization", "description": "the static value configured in 8x8 (httpAuthHeader), when the tenant sets one" },
                "apiKey": { "type": "http", "scheme": "bearer", "description": "a tenant API key" },
                "admin": { "type": "http", "scheme": "bearer", "description": "the operator token, or the tenant's admin token (its own tenant only)" },
            },
            "schemas": schemas,
        },
    })
}

/// A path parameter's schema: what the router takes there.
fn parameter(name: &str) -> Value {
    let schema = match name {
        "tenant" => json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$" }),
        "digest" => {
            json!({ "type": "string", "pattern": "^[0-9a-f]{64}$", "description": "a version's sha256, hex" })
        }
        _ => json!({ "type": "string" }),
    };
    json!({ "name": name, "in": "path", "required": true, "schema": schema })
}

fn operation(route: &Route, method: &str, generator: &mut SchemaGenerator) -> Value {
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(parameter)
        .collect();
    for (name, ty, description) in route.query {
        let schema = match *ty {
            "integer" => json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX }),
            ty => json!({ "type": ty }),
        };
        parameters.push(json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema }));
    }
    let responses: Map<String, Value> = route
        .responses
        .iter()
        .map(|(status, description, reply)| {
            let mut response = json!({ "description": description });
            let content = match reply {
                Reply::Error => Some(("application/json", schema::<ErrorBody>(generator).to_value())),
                Reply::Json(schema) => Some(("application/json", schema(generator).to_value())),
                Reply::Media(media) => Some((*media, json!({}))),
                Reply::Empty => None,
            };
            if let Some((media, schema)) = content {
                response["content"] = json!({ media: { "schema": schema } });
            }
            if matches!(status, 429 | 503) {
                response["headers"] = json!({ "Retry-After": { "description": "seconds", "schema": { "type": "string" } } });
            }
            let status = if *status == 0 { "default".to_owned() } else { status.to_string() };
            (status, response)
        })
        .collect();
    let mut op = json!({
        "operationId": operation_id(route, method),
        "summary": route.summary,
        "parameters": parameters,
        "responses": responses,
    });
    match route.auth {
        Auth::None => {}
        // Each tenant chooses: a header, an allowlist, or neither.
        Auth::Webhook => op["security"] = json!([{ "webhook": [] }, {}]),
        Auth::ApiKey => op["security"] = json!([{ "apiKey": [] }]),
        Auth::Admin => op["security"] = json!([{ "admin": [] }]),
    }
    if let Some((media, body)) = route.body {
        let schema = body.map_or(json!({}), |f| f(generator).to_value());
        op["requestBody"] = json!({ "required": true, "content": { media: { "schema": schema } } });
    }
    op
}

/// `post_v1_admin_tenants_tenant_versions`: unique, and stable as long as the route is.
fn operation_id(route: &Route, method: &str) -> String {
    let mut id = method.to_owned();
    for part in route.path.split('/').filter(|p| !p.is_empty()) {
        id.push('_');
        id.extend(
            part.chars()
                .filter(|c| *c != '{' && *c != '}')
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves_and_operation_ids_are_unique() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for reference in text.split("\"$ref\":\"").skip(1) {
            let target = reference.split('"').next().expect("a reference");
            let name = target
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("a reference outside the components: {target}"));
            assert!(schemas.contains_key(name), "{name} is not defined");
        }
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|ops| ops.as_object().expect("operations").values())
            .map(|op| op["operationId"].as_str().expect("operationId"))
            .collect();
        let all = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all);
        for name in [
            "TenantStatus",
            "Callflow",
            "WebhookPayload",
            "ErrorBody",
            "DryRun",
        ] {
            assert!(schemas.contains_key(name), "no schema {name}");
        }
    }
}
