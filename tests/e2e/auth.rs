use crate::support::{call_action, event_id, shared};

const SECRET: &str = "Basic c2VjcmV0OnNlY3JldA==";

#[tokio::test]
async fn right_credentials_from_an_allowed_address_are_served() {
    let host = shared();
    let (status, body) = host
        .post_with(
            "ivr-bound",
            &call_action(&event_id("auth"), None, None),
            &[("authorization", SECRET)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["callflow"][0]["action"], "sayAndCapture");
}

#[tokio::test]
async fn missing_authorization_is_401() {
    let host = shared();
    let (status, body) = host
        .post("ivr-bound", &call_action(&event_id("auth"), None, None))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("missing_authorization")),
        "{body}"
    );
}

#[tokio::test]
async fn wrong_authorization_is_401_and_the_plugin_is_not_called() {
    let host = shared();
    let before = host
        .registry
        .get("ivr-bound")
        .expect("tenant")
        .state
        .stats
        .invocations();
    for wrong in [
        "Basic c2VjcmV0OnNlY3JldA=",
        "Basic c2VjcmV0OnNlY3JldA==x",
        "Bearer nope",
    ] {
        let (status, body) = host
            .post_with(
                "ivr-bound",
                &call_action(&event_id("auth"), None, None),
                &[("authorization", wrong)],
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("bad_authorization")),
            "{body}"
        );
    }
    let after = host
        .registry
        .get("ivr-bound")
        .expect("tenant")
        .state
        .stats
        .invocations();
    assert_eq!(before, after, "a refused webhook reached the plugin");
}

#[tokio::test]
async fn sub_account_the_tenant_does_not_own_is_403() {
    let host = shared();
    let body = call_action(&event_id("auth"), None, None).replace("8x8_test", "someone_else");
    let (status, answer) = host
        .post_with("ivr-bound", &body, &[("authorization", SECRET)])
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("sub_account_not_allowed")),
        "{answer}"
    );
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("someone_else")
    );
}

#[tokio::test]
async fn source_address_outside_the_allowlist_is_403() {
    let host = shared();
    let (status, body) = host
        .post("ivr-far-away", &call_action(&event_id("ip"), None, None))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("ip_not_allowed")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("127.0.0.1"),
        "{body}"
    );
}
