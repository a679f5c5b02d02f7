//! The seed's ABC Restaurant IVR through the real host. Each folder under `cases/ivr` is
//! one step: the call action 8x8 posts (`request.json`) and the callflow the caller must
//! get (`response.json`, checked against the seed's tables).

use std::path::Path;

use serde_json::Value;

use crate::support::{assert_json_file, call_action_in, event_id, shared};

/// One step of the tree: the case folder's call action gets the callflow it holds.
async fn step_answers_as_the_seed_says(dir: &Path) {
    let request = std::fs::read_to_string(dir.join("request.json")).expect("request.json");
    let (status, answer) = shared().post("ivr", &request).await;
    assert_eq!(status, 200, "{}: {answer}", dir.display());
    assert_json_file(&dir.join("response.json"), &answer);
}

/// Every step of the tree, one test per case folder (named after it).
mod cases {
    macro_rules! case {
        ($name:ident, $dir:expr) => {
            #[tokio::test]
            async fn $name() {
                super::step_answers_as_the_seed_says(std::path::Path::new($dir)).await;
            }
        };
    }
    callflow_test_artifacts::foreach_ivr_case!(case);
}

/// Follows the IVR as a caller would: each answer's `clientActionId` goes into the next
/// call action with the digits pressed; returns every answer.
async fn walk(presses: &[&str]) -> Vec<Value> {
    let host = shared();
    let session = event_id("walk-session");
    let mut answers = Vec::new();
    let (_, mut answer) = host
        .post(
            "ivr",
            &call_action_in(&session, &event_id("walk"), None, None),
        )
        .await;
    for digit in presses {
        let id = answer["clientActionId"]
            .as_str()
            .expect("a menu carries its clientActionId")
            .to_owned();
        answers.push(answer);
        let next = call_action_in(&session, &event_id("walk"), Some(&id), Some(digit));
        answer = host.post("ivr", &next).await.1;
    }
    answers.push(answer);
    answers
}

fn said(answer: &Value) -> &str {
    let params = &answer["callflow"][0]["params"];
    params["text"]
        .as_str()
        .or(params["promptMessage"].as_str())
        .unwrap_or_default()
}

#[tokio::test]
async fn caller_books_a_table_for_tomorrow() {
    let answers = walk(&["1", "1", "2"]).await;
    assert!(said(&answers[0]).starts_with("Welcome to ABC Restaurant"));
    assert!(said(&answers[1]).starts_with("Press 1 to make a new reservation"));
    assert!(said(&answers[2]).starts_with("Reserving a Table"));
    assert_eq!(
        said(&answers[3]),
        "We have booked your table for tomorrow, thank you."
    );
    assert_eq!(answers[3]["callflow"][1]["action"], "hangup");
}

#[tokio::test]
async fn caller_goes_back_to_the_main_menu_and_asks_for_the_hours() {
    let answers = walk(&["2", "2", "3"]).await;
    assert!(said(&answers[1]).starts_with("Connecting you to the next available representative"));
    assert!(said(&answers[2]).starts_with("Welcome to ABC Restaurant"));
    assert_eq!(
        said(&answers[3]),
        "Our restaurant hours are between 9AM and 9PM every day of the week."
    );
}

#[tokio::test]
async fn caller_is_connected_to_a_representative() {
    let answers = walk(&["2", "1"]).await;
    let call = &answers[2]["callflow"][0];
    assert_eq!(call["action"], "makeCall");
    assert_eq!(call["params"]["source"], "+6512345678");
    assert_eq!(call["params"]["destination"], "+6587654321");
}

#[tokio::test]
async fn invalid_input_at_every_level_apologises_and_hangs_up() {
    for presses in [
        &["9"][..],
        &["1", "7"],
        &["1", "1", "5"],
        &["1", "2", "0"],
        &["2", "4"],
    ] {
        let answers = walk(presses).await;
        let last = answers.last().expect("answer");
        assert_eq!(
            said(last),
            "Invalid input, please call again.",
            "after {presses:?}: {last}"
        );
        assert_eq!(last["callflow"][1]["action"], "hangup");
    }
}
