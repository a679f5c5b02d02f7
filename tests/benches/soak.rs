//! The soak, long: 10 minutes of mixed traffic (both tenants' calls walked end to end,
//! bookings made and released, bad input, a new IVR version every 30 s), printing RSS,
//! descriptors and latency per minute. `SOAK_SECONDS` shortens or lengthens it.
//!
//! `cargo bench -p callflow-tests --bench soak`

use std::path::Path;
use std::time::Duration;

use callflow_test_artifacts::{IVR_WASM, NUMBER_MASKING_WASM};

fn main() {
    let seconds = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let report = callflow_tests::soak::run(
        &Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-soak"),
        Path::new(IVR_WASM),
        Path::new(NUMBER_MASKING_WASM),
        Duration::from_secs(seconds),
        Duration::from_secs(30),
    );
    println!("soak, {seconds} s, one host and its load generator in one process, 2 cores:\n");
    println!("{}", report.table());
    assert!(
        report.unexpected.is_empty(),
        "unexpected answers: {:?}",
        report.unexpected
    );
}
