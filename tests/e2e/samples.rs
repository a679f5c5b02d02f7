//! Each case folder holds a webhook body copied from the seed or 8x8's docs (`request.json`,
//! cleaned of the `//` comments and doc typos some carry; `SOURCE` says where it came
//! from) and the answer the IVR tenant must give (`response.json`; `BLESS=1` rewrites it).

use std::path::Path;

use crate::support::{assert_json_file, shared};

#[tokio::test]
async fn every_documented_webhook_sample_is_accepted_and_answered() {
    let host = shared();
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/webhooks");
    let mut dirs: Vec<_> = std::fs::read_dir(&cases)
        .expect("cases dir")
        .map(|e| e.expect("entry").path())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 10,
        "expected the seed's and 8x8's samples, found {}",
        dirs.len()
    );
    let tenant = host.registry.get("samples").expect("tenant");
    let invocations = tenant.state.stats.invocations();
    for dir in &dirs {
        let request = std::fs::read_to_string(dir.join("request.json")).expect("request.json");
        let (status, answer) = host.post("samples", &request).await;
        assert_eq!(status, 200, "{}: {answer}", dir.display());
        assert_json_file(&dir.join("response.json"), &answer);
    }
    // Every sample reached the plugin once, and none made it fail.
    assert_eq!(
        tenant.state.stats.invocations() - invocations,
        dirs.len() as u64
    );
    for reason in callflow_host::metrics::FAILURE_REASONS {
        assert_eq!(
            tenant.state.stats.failures(reason),
            0,
            "a sample failed with {reason}"
        );
    }
}
