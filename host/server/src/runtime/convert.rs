//! Conversions between the 8x8 wire types ([`callflow_wire`]) and the generated WIT types,
//! and between the host's API request/response and theirs.
//!
//! Events go in as WIT values, callflows come out as wire values. Field for field; no
//! validation here (the host checks callflows against 8x8's rules after the plugin ran).

use callflow_wire as wire;

use super::bindings::callflow::plugin::types as wit;
use super::bindings::exports::callflow::plugin::api as wit_api;

/// The WIT value of an event.
pub(crate) fn event(e: &wire::Event) -> wit::Event {
    match e {
        wire::Event::CallAction(a) => wit::Event::CallAction(wit::CallAction {
            call: call(&a.call),
            client_action_id: a.client_action_id.clone(),
            digits: a.digits.clone(),
        }),
        wire::Event::CallStatus(c) => wit::Event::CallStatus(call(c)),
        wire::Event::SessionSummary(s) => wit::Event::SessionSummary(summary(s)),
        wire::Event::RecordingStatus(r) => wit::Event::RecordingStatus(wit::RecordingStatus {
            event_id: r.event_id.clone(),
            session_id: r.session_id.clone(),
            sub_account_id: r.sub_account_id.clone(),
            recording_id: r.recording_id.clone(),
            duration_seconds: r.duration_seconds,
            file_path: r.file_path.clone(),
            status: r.status.clone(),
        }),
        wire::Event::VirtualNumberUpdate(u) => {
            wit::Event::VirtualNumberUpdate(wit::VirtualNumberUpdate {
                event_id: u.event_id.clone(),
                sub_account_id: u.sub_account_id.clone(),
                numbers: u
                    .numbers
                    .iter()
                    .map(|n| wit::VirtualNumber {
                        number: n.number.clone(),
                        ref_id: n.ref_id.clone(),
                        country_code: n.country_code.clone(),
                        state: match &n.state {
                            wire::NumberState::Active => wit::NumberState::Active,
                            wire::NumberState::Unhealthy => wit::NumberState::Unhealthy,
                            wire::NumberState::Other(s) => wit::NumberState::Other(s.clone()),
                        },
                    })
                    .collect(),
            })
        }
    }
}

fn call(c: &wire::Call) -> wit::Call {
    wit::Call {
        event_id: c.event_id.clone(),
        call_id: c.call_id.clone(),
        session_id: c.session_id.clone(),
        sub_account_id: c.sub_account_id.clone(),
        status: match &c.status {
            wire::CallStatus::CallInitiated => wit::CallStatus::CallInitiated,
            wire::CallStatus::CallReceived => wit::CallStatus::CallReceived,
            wire::CallStatus::CallConnected => wit::CallStatus::CallConnected,
            wire::CallStatus::CallDisconnected => wit::CallStatus::CallDisconnected,
            wire::CallStatus::CallUpdated => wit::CallStatus::CallUpdated,
            wire::CallStatus::DtmfReceived => wit::CallStatus::DtmfReceived,
            wire::CallStatus::ActionCompleted => wit::CallStatus::ActionCompleted,
            wire::CallStatus::Other(s) => wit::CallStatus::Other(s.clone()),
        },
        direction: match &c.direction {
            wire::CallDirection::Inbound => wit::CallDirection::Inbound,
            wire::CallDirection::Outbound => wit::CallDirection::Outbound,
            wire::CallDirection::Other(s) => wit::CallDirection::Other(s.clone()),
        },
        call_type: c.call_type.clone(),
        source: c.source.clone(),
        destination: c.destination.clone(),
        source_country_code: c.source_country_code.clone(),
        destination_country_code: c.destination_country_code.clone(),
        source_ref_id: c.source_ref_id.clone(),
        destination_ref_id: c.destination_ref_id.clone(),
        call_duration: c.call_duration,
        sip_code: c.sip_code,
        timestamp: c.timestamp.clone(),
    }
}

fn summary(s: &wire::SessionSummary) -> wit::SessionSummary {
    wit::SessionSummary {
        event_id: s.event_id.clone(),
        session_id: s.session_id.clone(),
        sub_account_id: s.sub_account_id.clone(),
        status: match &s.status {
            wire::SessionStatus::Completed => wit::SessionStatus::Completed,
            wire::SessionStatus::Busy => wit::SessionStatus::Busy,
            wire::SessionStatus::NoAnswer => wit::SessionStatus::NoAnswer,
            wire::SessionStatus::Failed => wit::SessionStatus::Failed,
            wire::SessionStatus::Canceled => wit::SessionStatus::Canceled,
            wire::SessionStatus::Error => wit::SessionStatus::Error,
            wire::SessionStatus::Other(o) => wit::SessionStatus::Other(o.clone()),
        },
        start_time: s.start_time.clone(),
        end_time: s.end_time.clone(),
        last_action: s.last_action.clone(),
        call_count: s.call_count,
        client_request_id: s.client_request_id.clone(),
        error: s.error.as_ref().map(|e| wit::ErrorDetails {
            code: e.code,
            message: e.message.clone(),
        }),
        legs: s
            .legs
            .iter()
            .map(|l| wit::SessionLeg {
                name: l.name.clone(),
                call_id: l.call_id.clone(),
                direction: l.direction.clone(),
                call_type: l.call_type.clone(),
                source: l.source.clone(),
                destination: l.destination.clone(),
                source_ref_id: l.source_ref_id.clone(),
                destination_ref_id: l.destination_ref_id.clone(),
                status: l.status.clone(),
                call_duration: l.call_duration,
                sip_code: l.sip_code,
                initiated_at: l.initiated_at.clone(),
                connected_at: l.connected_at.clone(),
                disconnected_at: l.disconnected_at.clone(),
                quality: l.quality.as_ref().map(|q| wit::CallQuality {
                    mos: q.mos,
                    packet_loss_rate: q.packet_loss_rate,
                    jitter: q.jitter,
                }),
            })
            .collect(),
    }
}

/// The wire value of a plugin's callflow.
pub(crate) fn callflow(flow: wit::Callflow) -> wire::Callflow {
    wire::Callflow {
        client_action_id: flow.client_action_id,
        actions: flow.actions.into_iter().map(action).collect(),
    }
}

fn action(a: wit::Action) -> wire::Action {
    match a {
        wit::Action::MakeCall(m) => wire::Action::MakeCall(wire::MakeCall {
            source: m.source,
            destination: m.destination,
            call_recording: m.call_recording,
        }),
        wit::Action::Say(s) => wire::Action::Say(wire::Say {
            text: s.text,
            voice_profile: s.voice_profile,
            repetition: s.repetition,
            speed: s.speed,
        }),
        wit::Action::SayAndCapture(c) => wire::Action::SayAndCapture(wire::SayAndCapture {
            prompt_message: c.prompt_message,
            voice_profile: c.voice_profile,
            success_message: c.success_message,
            failure_message: c.failure_message,
            speed: c.speed,
            complete_on_hash: c.complete_on_hash,
            min_digits: c.min_digits,
            max_digits: c.max_digits,
            digit_timeout: c.digit_timeout,
            overall_timeout: c.overall_timeout,
            no_of_tries: c.no_of_tries,
        }),
        wit::Action::PlayFile(p) => wire::Action::PlayFile(wire::PlayFile {
            file_url: p.file_url,
            repetition: p.repetition,
        }),
        wit::Action::Hangup => wire::Action::Hangup,
    }
}

/// The WIT value of an API request.
pub(crate) fn api_request(r: super::ApiRequest) -> wit_api::ApiRequest {
    wit_api::ApiRequest {
        method: r.method,
        path: r.path,
        query: r.query,
        headers: r.headers,
        body: r.body,
    }
}

/// The host's value of a plugin's API response.
pub(crate) fn api_response(r: wit_api::ApiResponse) -> super::ApiResponse {
    super::ApiResponse {
        status: r.status,
        headers: r.headers,
        body: r.body,
    }
}

/// The size of `flow` rendered as 8x8 JSON, counted without building the JSON.
pub(crate) fn rendered_len(flow: &wire::Callflow) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Serialising these plain structs to a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, flow);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_converts_field_for_field() {
        let flow = wit::Callflow {
            client_action_id: Some("menu".into()),
            actions: vec![
                wit::Action::Say(wit::Say {
                    text: "Hi".into(),
                    voice_profile: "en-US-ZiraRUS".into(),
                    repetition: Some(2),
                    speed: Some(1.5),
                }),
                wit::Action::SayAndCapture(wit::SayAndCapture {
                    prompt_message: "Press 1".into(),
                    voice_profile: "v".into(),
                    success_message: Some("ok".into()),
                    failure_message: None,
                    speed: None,
                    complete_on_hash: Some(false),
                    min_digits: Some(1),
                    max_digits: Some(1),
                    digit_timeout: Some(5000),
                    overall_timeout: Some(10000),
                    no_of_tries: Some(2),
                }),
                wit::Action::MakeCall(wit::MakeCall {
                    source: "+6512345678".into(),
                    destination: "+6587654321".into(),
                    call_recording: Some(true),
                }),
                wit::Action::PlayFile(wit::PlayFile {
                    file_url: "https://example.com/a.mp3".into(),
                    repetition: None,
                }),
                wit::Action::Hangup,
            ],
        };
        let expected = wire::Callflow::new()
            .client_action_id("menu")
            .say(
                wire::Say::new("Hi", "en-US-ZiraRUS")
                    .repetition(2)
                    .speed(1.5),
            )
            .say_and_capture(
                wire::SayAndCapture::new("Press 1", "v")
                    .success_message("ok")
                    .complete_on_hash(false)
                    .digits(1, 1)
                    .timeouts(5000, 10000)
                    .tries(2),
            )
            .make_call(wire::MakeCall::new("+6512345678", "+6587654321").call_recording(true))
            .play_file(wire::PlayFile::new("https://example.com/a.mp3"))
            .hangup();
        let got = callflow(flow);
        assert_eq!(got, expected);
        assert_eq!(rendered_len(&got), got.to_json().len());
    }

    #[test]
    fn events_keep_their_fields() {
        let body = br#"{"eventType":"CALL_ACTION","payload":{"eventId":"e1","callId":"c1",
            "sessionId":"s1","subAccountId":"acc","callStatus":"SOMETHING_NEW","callDirection":"INBOUND",
            "callType":"PSTN","source":"6511","destination":"+6522","sipCode":200,
            "eventData":{"dtmf":"12"},"clientActionId":"menu","timestamp":"t"}}"#;
        let e = wire::parse_webhook(body).expect("parses");
        let wit::Event::CallAction(a) = event(&e) else {
            panic!("not a call action")
        };
        assert_eq!(a.digits.as_deref(), Some("12"));
        assert_eq!(a.client_action_id.as_deref(), Some("menu"));
        assert_eq!(a.call.source, "+6511");
        assert_eq!(a.call.sip_code, Some(200));
        assert!(matches!(a.call.status, wit::CallStatus::Other(s) if s == "SOMETHING_NEW"));
        assert!(matches!(a.call.direction, wit::CallDirection::Inbound));
    }
}
