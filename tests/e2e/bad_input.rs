use serde_json::Value;

use crate::support::{call_action, event_id, shared};

async fn post_raw(url: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(url).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON error body"))
}

fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{answer:?}");
    assert_eq!(answer.1["code"], code, "{answer:?}");
    let message = answer.1["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "error without a message: {answer:?}");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let host = shared();
    let answer = host.post("ivr", "{\"eventType\": \"CALL_ACTION\", ").await;
    assert_error(&answer, 400, "malformed_json");
}

#[tokio::test]
async fn missing_required_field_is_422_naming_the_field() {
    let host = shared();
    let body =
        call_action(&event_id("missing"), None, None).replace("\"callId\"", "\"callIdentifier\"");
    let answer = host.post("ivr", &body).await;
    assert_error(&answer, 422, "missing_field");
    assert!(
        answer.1["message"]
            .as_str()
            .unwrap_or_default()
            .contains("payload.callId"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn unknown_event_type_is_422() {
    let host = shared();
    let body = call_action(&event_id("type"), None, None).replace("CALL_ACTION", "SMS_INBOUND");
    let answer = host.post("ivr", &body).await;
    assert_error(&answer, 422, "unknown_event_type");
    assert!(
        answer.1["message"]
            .as_str()
            .unwrap_or_default()
            .contains("SMS_INBOUND")
    );
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let host = shared();
    let body = call_action(&event_id("ct"), None, None).into_bytes();
    let answer = post_raw(&host.webhook_url("ivr"), Some("text/plain"), body.clone()).await;
    assert_error(&answer, 415, "unsupported_media_type");
    let answer = post_raw(&host.webhook_url("ivr"), None, body.clone()).await;
    assert_error(&answer, 415, "unsupported_media_type");
    // A charset parameter is fine.
    let answer = post_raw(
        &host.webhook_url("ivr"),
        Some("application/json; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(answer.0, 200, "{answer:?}");
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let host = shared();
    let mut body = call_action(&event_id("big"), None, None);
    body.insert_str(1, &format!("\"padding\":\"{}\",", "x".repeat(70 * 1024)));
    let answer = post_raw(
        &host.webhook_url("ivr"),
        Some("application/json"),
        body.into_bytes(),
    )
    .await;
    assert_error(&answer, 413, "body_too_large");
}

#[tokio::test]
async fn unknown_tenant_is_404() {
    let host = shared();
    let answer = host
        .post("nobody-here", &call_action(&event_id("who"), None, None))
        .await;
    assert_error(&answer, 404, "unknown_tenant");
}

#[tokio::test]
async fn unknown_route_is_404_json() {
    let host = shared();
    let resp = reqwest::get(host.url("/v1/nothing"))
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 404);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn bad_requests_do_not_disturb_good_ones() {
    let host = shared();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        set.spawn(async move {
            if i % 2 == 0 {
                (false, host.post("ivr", "{nope").await)
            } else {
                (
                    true,
                    host.post("ivr", &call_action(&event_id("good"), None, None))
                        .await,
                )
            }
        });
    }
    while let Some(result) = set.join_next().await {
        let (good, (status, body)) = result.expect("task");
        if good {
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["callflow"][0]["action"], "sayAndCapture", "{body}");
        } else {
            assert_eq!(status, 400, "{body}");
        }
    }
}
