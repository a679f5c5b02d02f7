//! The soak, short (a minute; `SOAK_SECONDS` to change it): mixed traffic with a hot
//! reload every 10 s answers every request as expected, and memory and descriptors stay
//! flat after the first slice. The long run is `benches/soak.rs`.

use std::path::Path;
use std::time::Duration;

use callflow_test_artifacts::{IVR_WASM, NUMBER_MASKING_WASM};

#[test]
fn a_minute_of_mixed_traffic_with_hot_reloads_is_answered_as_expected_and_stays_flat() {
    let seconds = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let report = callflow_tests::soak::run(
        &Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("soak-{}", std::process::id())),
        Path::new(IVR_WASM),
        Path::new(NUMBER_MASKING_WASM),
        Duration::from_secs(seconds),
        Duration::from_secs(10),
    );
    eprintln!("{}", report.table());
    assert!(report.unexpected.is_empty(), "{}", report.table());
    for kind in [
        "ivr call",
        "ivr menu choice",
        "ivr status",
        "ivr summary",
        "masking booking",
        "masking call",
        "masking summary",
        "masking release",
        "bad: malformed json",
        "bad: unknown tenant",
        "bad: wrong key",
        "reload",
    ] {
        assert!(
            report.ok.get(kind).copied().unwrap_or(0) > 0,
            "no {kind:?}: {}",
            report.table()
        );
    }
    assert!(report.reloads >= 4, "{}", report.table());
    // Flat after the first slice (warm-up: plugins loaded, pools filled): the
    // descriptors within a few, the memory within a generous margin (a leak of a request's
    // worth per request would be far outside it).
    let (warm, last) = (report.samples[1], report.samples[report.samples.len() - 1]);
    assert!(
        last.fds <= warm.fds + 16,
        "descriptors grew: {}",
        report.table()
    );
    assert!(
        last.rss_kib <= warm.rss_kib + warm.rss_kib / 2 + 64 * 1024,
        "memory grew: {}",
        report.table()
    );
}
