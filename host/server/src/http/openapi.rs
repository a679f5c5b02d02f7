//! `/openapi.json`: the OpenAPI 3.1 document of the host's HTTP surface (webhooks, the
//! plugins' own APIs, the admin API), generated from [`ROUTES`].
//!
//! [`ROUTES`] is the one list of what the host serves, with the facts a client needs
//! (method, path, auth, body, answers). The e2e tests call every operation it lists and
//! check that the host answers it with one of the statuses listed, so the document cannot
//! drift from the router without a test failing.

use serde_json::{Map, Value, json};

/// How an operation is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// None (health, metrics, this document).
    None,
    /// The tenant's webhook authentication (static `Authorization`, IP allowlist).
    Webhook,
    /// A tenant API key: `Authorization: Bearer <key>`.
    ApiKey,
    /// The operator token or the tenant's admin token: `Authorization: Bearer <token>`.
    Admin,
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
    /// The request body's media type, if it takes one.
    pub body: Option<&'static str>,
    /// Statuses it answers with, and what each means.
    pub responses: &'static [(u16, &'static str)],
}

const ERRORS: &str = "an error: {\"code\", \"message\"}";

/// Everything the host serves.
pub const ROUTES: &[Route] = &[
    Route {
        method: "post",
        path: "/v1/tenants/{tenant}/webhooks/voice",
        summary: "An 8x8 voice webhook (CALL_ACTION, CALL_STATUS, SESSION_SUMMARY, CALL_RECORDING_STATUS, VIRTUAL_NUMBER_UPDATE). A call action is answered with a callflow in 8x8's JSON (the tenant's fallback when the plugin fails); other events with {}.",
        auth: Auth::Webhook,
        body: Some("application/json"),
        responses: &[
            (200, "the callflow, or {} for events that wait for none"),
            (400, ERRORS),
            (401, ERRORS),
            (403, ERRORS),
            (404, ERRORS),
            (413, ERRORS),
            (415, ERRORS),
            (422, ERRORS),
        ],
    },
    Route {
        method: "any",
        path: "/v1/tenants/{tenant}/api/{path}",
        summary: "The tenant plugin's own API (for example number masking's bookings).",
        auth: Auth::ApiKey,
        body: Some("application/json"),
        responses: &[
            (200, "whatever the plugin answers"),
            (401, ERRORS),
            (404, ERRORS),
            (429, ERRORS),
            (502, ERRORS),
        ],
    },
    Route {
        method: "get",
        path: "/v1/admin/tenants",
        summary: "Every tenant's status (operator).",
        auth: Auth::Admin,
        body: None,
        responses: &[
            (200, "{\"tenants\": [status]}"),
            (401, ERRORS),
            (403, ERRORS),
        ],
    },
    Route {
        method: "get",
        path: "/v1/admin/tenants/{tenant}",
        summary: "A tenant's status: active version, loaded at, last load error, invocations, failures by reason, fuel and latency p50/p99.",
        auth: Auth::Admin,
        body: None,
        responses: &[(200, "status"), (401, ERRORS), (403, ERRORS), (404, ERRORS)],
    },
    Route {
        method: "put",
        path: "/v1/admin/tenants/{tenant}",
        summary: "Create or replace a tenant's configuration (operator).",
        auth: Auth::Admin,
        body: Some("application/toml"),
        responses: &[
            (200, "updated: status"),
            (201, "created: status"),
            (401, ERRORS),
            (403, ERRORS),
            (422, ERRORS),
        ],
    },
    Route {
        method: "delete",
        path: "/v1/admin/tenants/{tenant}",
        summary: "Delete a tenant and its versions (operator).",
        auth: Auth::Admin,
        body: None,
        responses: &[
            (204, "deleted"),
            (401, ERRORS),
            (403, ERRORS),
            (404, ERRORS),
        ],
    },
    Route {
        method: "get",
        path: "/v1/admin/tenants/{tenant}/versions",
        summary: "The tenant's stored plugin versions (digest, size, upload time, status).",
        auth: Auth::Admin,
        body: None,
        responses: &[
            (200, "{\"versions\": [...]}"),
            (401, ERRORS),
            (403, ERRORS),
            (404, ERRORS),
        ],
    },
    Route {
        method: "post",
        path: "/v1/admin/tenants/{tenant}/versions",
        summary: "Upload a component; checked (component, world, compiles, size) before it is stored and, unless ?activate=false, activated.",
        auth: Auth::Admin,
        body: Some("application/wasm"),
        responses: &[
            (
                201,
                "{\"digest\", \"size\", \"uploaded_at\", \"activated\"}",
            ),
            (401, ERRORS),
            (403, ERRORS),
            (404, ERRORS),
            (413, ERRORS),
            (422, ERRORS),
        ],
    },
    Route {
        method: "post",
        path: "/v1/admin/tenants/{tenant}/versions/{digest}/activate",
        summary: "Activate a stored version.",
        auth: Auth::Admin,
        body: None,
        responses: &[(200, "status"), (401, ERRORS), (403, ERRORS), (404, ERRORS)],
    },
    Route {
        method: "post",
        path: "/v1/admin/tenants/{tenant}/versions/{digest}/dry-run",
        summary: "Run a webhook through a stored version without touching the live tenant: the answer, fuel and time.",
        auth: Auth::Admin,
        body: Some("application/json"),
        responses: &[
            (
                200,
                "{\"version\", \"fuel_used\", \"elapsed_us\", \"result\"}",
            ),
            (401, ERRORS),
            (403, ERRORS),
            (404, ERRORS),
            (422, ERRORS),
        ],
    },
    Route {
        method: "post",
        path: "/v1/admin/tenants/{tenant}/rollback",
        summary: "Activate the previously active version.",
        auth: Auth::Admin,
        body: None,
        responses: &[
            (200, "status"),
            (401, ERRORS),
            (403, ERRORS),
            (404, ERRORS),
            (409, ERRORS),
        ],
    },
    Route {
        method: "get",
        path: "/healthz",
        summary: "Alive.",
        auth: Auth::None,
        body: None,
        responses: &[(200, "ok")],
    },
    Route {
        method: "get",
        path: "/readyz",
        summary: "Ready: tenants are loaded.",
        auth: Auth::None,
        body: None,
        responses: &[
            (200, "{\"tenants\", \"plugins_loaded\"}"),
            (503, "no tenant loaded"),
        ],
    },
    Route {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics.",
        auth: Auth::None,
        body: None,
        responses: &[(200, "Prometheus text format")],
    },
    Route {
        method: "get",
        path: "/openapi.json",
        summary: "This document.",
        auth: Auth::None,
        body: None,
        responses: &[(200, "OpenAPI 3.1")],
    },
];

/// The OpenAPI document for [`ROUTES`].
pub fn document() -> Value {
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
            entry[*method] = operation(route);
        }
    }
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
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": { "code": { "type": "string" }, "message": { "type": "string" } },
                },
            },
        },
    })
}

fn operation(route: &Route) -> Value {
    let parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    let responses: Map<String, Value> = route
        .responses
        .iter()
        .map(|(status, description)| {
            let mut response = json!({ "description": description });
            if *description == ERRORS {
                response["content"] = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } });
            }
            (status.to_string(), response)
        })
        .collect();
    let mut op =
        json!({ "summary": route.summary, "parameters": parameters, "responses": responses });
    let security = match route.auth {
        Auth::None => None,
        Auth::Webhook => Some("webhook"),
        Auth::ApiKey => Some("apiKey"),
        Auth::Admin => Some("admin"),
    };
    if let Some(scheme) = security {
        op["security"] = json!([{ scheme: [] }]);
    }
    if let Some(media) = route.body {
        op["requestBody"] = json!({ "required": true, "content": { media: {} } });
    }
    op
}
