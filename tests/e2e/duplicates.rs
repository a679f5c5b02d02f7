use crate::support::{call_action, event_id, shared};

#[tokio::test]
async fn repeated_call_action_gets_the_same_callflow_and_the_plugin_acts_once() {
    let host = shared();
    let body = call_action(&event_id("dup"), None, None);
    let (_, first) = host.post("counter-a", &body).await;
    let (_, again) = host.post("counter-a", &body).await;
    assert_eq!(first, again, "a redelivery got a different answer");
    let (_, next) = host
        .post("counter-a", &call_action(&event_id("dup"), None, None))
        .await;
    assert_ne!(first, next, "a new event was answered from the cache");
}

#[tokio::test]
async fn concurrent_redeliveries_run_the_plugin_once() {
    let host = shared();
    let body = call_action(&event_id("burst"), None, None);
    let before = host
        .registry
        .get("echo")
        .expect("tenant")
        .state
        .stats
        .invocations();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let body = body.clone();
        set.spawn(async move { host.post("echo", &body).await });
    }
    let mut answers = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (status, answer) = joined.expect("task");
        assert_eq!(status, 200);
        answers.push(answer);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let after = host
        .registry
        .get("echo")
        .expect("tenant")
        .state
        .stats
        .invocations();
    assert_eq!(
        after - before,
        1,
        "the plugin ran more than once for one event"
    );
}

#[tokio::test]
async fn repeated_status_event_reaches_the_plugin_once() {
    let host = shared();
    let body =
        call_action(&event_id("status-dup"), None, None).replace("CALL_ACTION", "CALL_STATUS");
    let before = host
        .registry
        .get("echo")
        .expect("tenant")
        .state
        .stats
        .invocations();
    for _ in 0..3 {
        let (status, answer) = host.post("echo", &body).await;
        assert_eq!((status, answer), (200, serde_json::json!({})));
    }
    let after = host
        .registry
        .get("echo")
        .expect("tenant")
        .state
        .stats
        .invocations();
    assert_eq!(after - before, 1);
}
