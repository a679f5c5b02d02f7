//! The guest components every test and benchmark of the workspace runs, built from source
//! by `build.rs` (once per build, into one target directory inside `OUT_DIR`), and the
//! case folders under `tests/cases`, one macro per folder of cases.
//!
//! - [`IVR_WASM`]: the restaurant IVR from `plugins/ivr`;
//! - [`NUMBER_MASKING_WASM`]: number masking from `plugins/number-masking`;
//! - [`HOSTILE_WASM`]: the misbehaving plugin from `tests/guests/hostile`;
//! - [`MIRROR_WASM`]: `tests/guests/mirror`, which mirrors what crossed the WIT boundary;
//! - [`OLD_CONTRACT_WASM`]: `tests/guests/old-contract`, built against `callflow:plugin@0.1.0`.
//!
//! `foreach_ivr_case!(m)`, `foreach_webhook_case!(m)` and `foreach_simulate_ivr_case!(m)`
//! call `m!(test_name, "path")` for each case folder, so each case is a test that names
//! itself when it fails.

include!(concat!(env!("OUT_DIR"), "/gen.rs"));
