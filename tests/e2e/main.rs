//! The proof, one binary, one module per concern: a real host on a loopback socket, real
//! plugins built from source (`callflow-test-artifacts`), real HTTP; and the sandbox in
//! process (`runtime`). Each case folder under `tests/cases` is a test of its own.

mod support;

/// The operator's admin API: tenants, versions, rollback, status, dry runs, tokens.
mod admin;
/// A plugin's own API (`/v1/tenants/{t}/api/...`): keys, limits, failures, headers.
mod api;
/// The plugin-API request path fuzzed over real HTTP (proptest).
mod api_fuzz;
/// Webhook authentication: Authorization header, source IP, sub-account.
mod auth;
/// Malformed, incomplete, oversized or misaddressed requests: a specific 4xx each.
mod bad_input;
/// Several hosts on one real redis-server share tenant state.
mod cluster;
/// The web console and the dev phone in headless Chromium (`tests/browser`).
mod console;
/// Repeated deliveries of an event make the plugin act once.
mod duplicates;
/// Hostile plugins get the fallback while a well-behaved tenant keeps answering.
mod hostile;
/// Every path of the seed's restaurant IVR, case by case (`tests/cases/ivr`).
mod ivr;
/// The host's log about a webhook: each line in its event's span, no span for a quiet event.
mod logs;
/// Number masking: bookings over the API, calls over webhooks, the pool under races.
mod masking;
/// Python plugins (`sdk/python`, `plugins/ivr-python`): the SDK's tests, and the same
/// case data through a real host as the Rust plugins.
mod polyglot;
/// Storage quotas: a plugin writing without bound fills its own quota, nothing more.
mod quota;
/// Hot reload through the tenants directory, under load.
mod reload;
/// Plugins load on first event; the least recently used are evicted beyond the bound.
mod residency;
/// The sandbox in process, no HTTP: limits, failures, isolation, loading, the cache.
mod runtime;
/// Every webhook sample of the seed and of 8x8's docs (`tests/cases/webhooks`).
mod samples;
/// `callflow-host new`: a fresh plugin crate builds, passes its tests, takes a call.
mod scaffold;
/// `callflow-host simulate`: every path of the IVR as a golden transcript
/// and both directions of a masked call (`tests/cases/simulate`), JSON, exit statuses,
/// `--url`, a pseudo-terminal.
mod simulate;
/// A minute of mixed traffic with hot reloads: every answer as expected, flat.
mod soak;
/// The key-value contract against every backend: redb, memory, a real redis-server.
mod store;
/// A store that cannot write, injected and on a real full filesystem.
mod store_faults;
