//! callflow-server: runs telephony tenants' call logic as sandboxed WebAssembly components
//! behind 8x8 voice webhooks. The binary (`callflow-host`) parses the command line and
//! runs a [`Server`]; this crate has no command line, HTTP client or log subscriber.
//!
//! # Layout
//!
//! [`config`] turns `host.toml` and the flags into one validated [`ServerConfig`];
//! [`server`] builds a [`Server`] from it (store, runtime, tenants directory) and runs it
//! on a listener until shutdown.
//!
//! An event's trip, from socket to response, one room per hop:
//!
//! 1. [`http`]: the axum edge. Routes `POST /v1/tenants/{tenant}/webhooks/voice`, checks
//!    the tenant, its webhook authentication (static `Authorization` value in constant
//!    time, source-IP allowlist), the content type and the body size, and turns every
//!    refusal into an [`http::HttpError`]: a JSON `{"code", "message"}` with a specific
//!    4xx.
//! 2. [`webhook`]: the 8x8 wire format in. Parses the body tolerantly into a typed
//!    [`callflow_wire::Event`], checks the payload's `subAccountId` belongs to the tenant,
//!    answers repeated deliveries of an `eventId` from the tenant's cache so the plugin
//!    acts once, and keeps a call on the plugin version that answered its first event.
//! 3. [`tenant`]: the registry (a tenant id to its configuration, active plugin and
//!    fallback) and [`tenant::admission`], the one way into the sandbox: the tenant's
//!    fuel rate and concurrency cap checked, the invocation's context built, the fuel it
//!    burned charged. Its plugin comes from [`tenant::residency`]: loaded on first event
//!    (from the on-disk compile cache when it can), dropped least recently used first
//!    beyond the operator's bound.
//! 4. [`runtime`]: the sandbox. One wasmtime engine with pooled memory; per event a fresh
//!    `Store` from the plugin's `InstancePre`, with a fuel budget, an epoch deadline, a
//!    memory cap and a deny-all WASI context, then the plugin's typed `handle-event`
//!    export. Host imports (log, config, kv) are served from [`store`].
//! 5. [`callflow`]: what leaves. The plugin's callflow is checked against 8x8's rules
//!    ([`callflow_wire::rules`]) and rendered as 8x8 JSON, or replaced by the tenant's
//!    fallback when the plugin failed in any way; the caller never hears dead air.
//!
//! [`metrics`] counts every hop's outcome for `/metrics`. In a cluster, [`cluster`] is
//! where nodes agree on who answers a delivery (hop 2) and learn whether Redis is up.
//!
//! The plugin's own API takes a shorter trip: [`http`] routes
//! `/v1/tenants/{tenant}/api/{*path}`, checks the tenant's API key and the body limit,
//! then the same [admission](tenant::admission) and [`runtime`] run the plugin's
//! `handle-request` export; its response goes back with its headers sanitised. No
//! fallback there: a plugin failure is a 5xx JSON error, a tenant over its limits 429.
//!
//! Beside the trip: [`tenant::repo`] is the tenants directory on disk (configuration,
//! immutable plugin versions named by digest, the active pointer, all written
//! atomically); [`tenant::reload`] watches it and swaps changed tenants in; the admin
//! routes of [`http`] are the operator's API over the same path (upload, activate, roll
//! back, status, and dry runs, which go through admission against a scratch store).
//!
//! The web console (`/console`, [`http`]'s embedded pages) reads the same admin routes,
//! plus each tenant's recent activity ([`tenant::activity`], marked from the counters
//! every five seconds) and its plugin's recent log lines ([`runtime::PluginLogs`]). Its
//! dev phone is [`phone`]: a call played a prompt at a time against any stored version,
//! each webhook answered by [`webhook::process_version`] (hops 3 to 5, no pins) against
//! a scratch store.
//!
//! For plugin authors, the binary's `simulate` plays 8x8's side of a whole call
//! ([`callflow_wire::platform`]) against a plugin through [`webhook::process`] (hops 2 to
//! 5, minus the duplicate cache) on a [`Server`] of its own.

pub mod callflow;
pub mod cluster;
pub mod config;
pub mod event_span;
pub mod http;
pub mod metrics;
pub mod phone;
pub mod runtime;
pub mod server;
pub mod store;
pub mod tenant;
pub mod throttle;
pub mod webhook;

pub use config::ServerConfig;
pub use server::{Server, ServerError};
