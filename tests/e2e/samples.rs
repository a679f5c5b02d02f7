//! Each case folder holds a webhook body copied from the seed or 8x8's docs (`request.json`,
//! cleaned of the `//` comments and doc typos some carry; `SOURCE` says where it came
//! from) and the answer the IVR tenant must give (`response.json`; `BLESS=1` rewrites it).

use std::path::Path;

use crate::support::{assert_json_file, shared};

/// One sample: accepted, answered as its folder says, by the plugin, without a failure.
async fn sample_is_accepted_and_answered(dir: &Path) {
    let host = shared();
    let tenant = host.registry.get("samples").expect("tenant");
    let invocations = tenant.state.stats.invocations();
    let request = std::fs::read_to_string(dir.join("request.json")).expect("request.json");
    let (status, answer) = host.post("samples", &request).await;
    assert_eq!(status, 200, "{}: {answer}", dir.display());
    assert_json_file(&dir.join("response.json"), &answer);
    // It reached the plugin, and no sample made it fail.
    assert!(tenant.state.stats.invocations() > invocations);
    for reason in callflow_server::metrics::FAILURE_REASONS {
        assert_eq!(
            tenant.state.stats.failures(reason),
            0,
            "a sample failed with {reason}"
        );
    }
}

/// Every documented sample, one test per case folder (named after it).
mod cases {
    macro_rules! case {
        ($name:ident, $dir:expr) => {
            #[tokio::test]
            async fn $name() {
                super::sample_is_accepted_and_answered(std::path::Path::new($dir)).await;
            }
        };
    }
    callflow_test_artifacts::foreach_webhook_case!(case);
}

#[test]
fn the_seeds_and_8x8s_samples_are_all_there() {
    let mut count = 0;
    macro_rules! count {
        ($name:ident, $dir:expr) => {
            count += 1;
        };
    }
    callflow_test_artifacts::foreach_webhook_case!(count);
    assert!(
        count >= 10,
        "expected the seed's and 8x8's samples, found {count}"
    );
}
