//! callflow-host: runs telephony tenants' call logic as sandboxed WebAssembly components
//! behind 8x8 voice webhooks.
//!
//! # Layout
//!
//! An event's trip, from socket to response, one module per hop:
//!
//! 1. [`http`]: the axum edge. Routes `POST /v1/tenants/{tenant}/webhooks/voice`, checks
//!    the content type and the body size limit, resolves the tenant, checks its webhook
//!    authentication (static `Authorization` value in constant time, source-IP allowlist),
//!    and turns every failure into a JSON `{"code", "message"}` with a specific 4xx.
//! 2. [`webhook`]: the 8x8 wire format in. Parses the body tolerantly into a typed
//!    [`callflow_wire::Event`], checks the payload's `subAccountId` belongs to the tenant,
//!    and answers repeated deliveries of an `eventId` from a bounded cache so the plugin
//!    acts once.
//! 3. [`tenant`]: the registry. Maps a tenant id to its active plugin version, limits
//!    (host defaults capped by operator maxima), plugin configuration and fallback
//!    callflow; loaded from a directory of tenant folders ([`config`] parses them).
//!    The plugin itself comes from [`residency`]: loaded on the tenant's first event
//!    (from the on-disk compile cache when it can), kept while in use, dropped least
//!    recently used first beyond the operator's bound.
//! 4. [`runtime`]: the sandbox. One wasmtime engine with pooled memory; per event a fresh
//!    `Store` from the plugin's cached `InstancePre`, with a fuel budget, an epoch
//!    deadline, a memory cap and a deny-all WASI context, then the plugin's typed
//!    `handle-event` export. Host imports (log, config, kv) are served from [`store`].
//! 5. [`callflow`]: what leaves. The plugin's callflow is checked against 8x8's rules
//!    ([`callflow_wire::rules`]) and rendered as 8x8 JSON, or replaced by the tenant's
//!    fallback when the plugin failed in any way; the caller never hears dead air.
//!
//! [`metrics`] counts every hop's outcome for `/metrics`.
//!
//! The plugin's own API takes a shorter trip: [`http`] routes
//! `/v1/tenants/{tenant}/api/{*path}` to [`api`], which checks the tenant's API key, the
//! body limit and the concurrency cap, then [`runtime`] runs the plugin's `handle-request`
//! export in the same sandbox; the plugin's response goes back with its headers
//! sanitised. No fallback there: a plugin failure is a 5xx JSON error.
//!
//! Beside the trip: [`repo`] is the tenants directory on disk (configuration, immutable
//! plugin versions named by digest, the active pointer, all written atomically);
//! [`reload`] watches it and swaps changed tenants in; [`admin`] is the operator's API
//! over the same path (upload, activate, roll back, status, dry run).
//!
//! For plugin authors: [`simulate`] plays 8x8's side of a whole call against a plugin,
//! answering each webhook through [`webhook::process`] (hops 2 to 5 above, minus the
//! duplicate cache) or a running host's URL; [`scaffold`] creates a plugin crate.

pub mod admin;
pub mod api;
pub mod callflow;
pub mod config;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod plugin_build;
pub mod reload;
pub mod repo;
pub mod residency;
pub mod runtime;
pub mod scaffold;
pub mod simulate;
pub mod store;
pub mod tenant;
pub mod webhook;

pub use http::{AppState, app};
