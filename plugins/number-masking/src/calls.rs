//! What the voice platform sends: call actions to route, events for the call log, number
//! health updates.

use callflow_sdk::wire::number::{mask, same_number};
use callflow_sdk::wire::{NumberState, RecordingStatus, SessionSummary, VirtualNumberUpdate};
use callflow_sdk::{
    Call, CallAction, CallStatus, Callflow, Context, MakeCall, PluginError, Say, debug, info, warn,
};
use serde_json::{Value, json};

use crate::settings::Settings;
use crate::store::{self, Booking, CallLog, Health, MAX_LOG_ENTRIES, Slot, StoreError};

/// The `clientActionId` prefix of a bridged call: `nm.` and the booking id, never a
/// phone number.
pub const BRIDGED_PREFIX: &str = "nm.";

fn unavailable(e: StoreError) -> PluginError {
    PluginError::Unavailable(format!("key-value store: {e}"))
}

/// A call action: bridge a participant to the other one, or turn a stranger away.
pub fn call_action(
    ctx: &Context<'_>,
    settings: &Settings,
    action: &CallAction,
) -> Result<Option<Callflow>, PluginError> {
    let call = &action.call;
    // After the bridged leg ended, 8x8 asks what next: nothing, hang up.
    if action
        .client_action_id
        .as_deref()
        .is_some_and(|id| id.starts_with(BRIDGED_PREFIX))
        || call.status == CallStatus::ActionCompleted
    {
        return Ok(Some(Callflow::new().hangup()));
    }
    let now = ctx.now_ms();
    let found = match settings.pool_number(&call.destination) {
        None => None,
        Some(vn) => {
            let (_, slot) = store::read::<Slot>(&ctx.kv(), &store::slot_key(&vn.number))
                .map_err(unavailable)?;
            slot.live(now).find_map(|entry| {
                let caller = entry
                    .participants
                    .iter()
                    .position(|p| same_number(p, &call.source))?;
                Some((
                    vn.number.clone(),
                    entry.id.clone(),
                    caller,
                    entry.participants[1 - caller].clone(),
                ))
            })
        }
    };
    let Some((virtual_number, booking_id, caller, other)) = found else {
        info!(
            ctx,
            "caller {} has no active booking on {}; turned away",
            mask(&call.source),
            mask(&call.destination)
        );
        return Ok(Some(
            Callflow::new()
                .say(Say::new(
                    settings.stranger_text.clone(),
                    settings.voice_profile.clone(),
                ))
                .hangup(),
        ));
    };
    info!(
        ctx,
        "booking {booking_id}: bridging participant {} ({}) to participant {} ({}) via {virtual_number}",
        caller,
        mask(&call.source),
        1 - caller,
        mask(&other)
    );
    // The call log and the session's booking help reporting; a failure there must not
    // stop the call.
    if let Err(e) = ctx.kv().set(
        &store::session_key(&call.session_id),
        booking_id.as_bytes(),
        Some(std::time::Duration::from_secs(settings.retention_secs)),
    ) {
        warn!(
            ctx,
            "booking {booking_id}: could not remember the session: {e}"
        );
    }
    let entry = json!({
        "eventId": call.event_id,
        "type": "CALL_ACTION",
        "at": call.timestamp,
        "sessionId": call.session_id,
        "callId": call.call_id,
        "status": call.status.as_str(),
        "from": format!("participant:{caller}"),
        "to": format!("participant:{}", 1 - caller),
        "action": "makeCall",
    });
    if let Err(e) = append(ctx, settings, &booking_id, entry) {
        warn!(ctx, "booking {booking_id}: could not log the call: {e}");
    }
    let mut make_call = MakeCall::new(virtual_number, other);
    if settings.call_recording {
        make_call = make_call.call_recording(true);
    }
    Ok(Some(
        Callflow::new()
            .client_action_id(format!("{BRIDGED_PREFIX}{booking_id}"))
            .make_call(make_call),
    ))
}

/// Who `number` is in `booking`: `participant:0`, `participant:1`, `virtual_number`, or
/// `unknown`. The log records roles, never numbers.
fn role(booking: &Booking, number: Option<&str>) -> String {
    let Some(number) = number else {
        return "unknown".into();
    };
    if same_number(number, &booking.virtual_number) {
        return "virtual_number".into();
    }
    booking
        .participants
        .iter()
        .position(|p| same_number(p, number))
        .map_or_else(|| "unknown".into(), |i| format!("participant:{i}"))
}

/// The booking an event belongs to: by its session (remembered when the call was
/// bridged), else by its numbers (a participant calling the virtual number, or the
/// virtual number calling a participant).
fn resolve(
    ctx: &Context<'_>,
    settings: &Settings,
    session_id: &str,
    legs: &[(Option<&str>, Option<&str>)],
) -> Result<Option<Booking>, StoreError> {
    let kv = ctx.kv();
    if let Some(id) = kv.get(&store::session_key(session_id))? {
        let id = String::from_utf8_lossy(&id).into_owned();
        return store::booking(&kv, &id);
    }
    let now = ctx.now_ms();
    for (source, destination) in legs {
        let (Some(source), Some(destination)) = (source, destination) else {
            continue;
        };
        let (vn, participant) = match (
            settings.pool_number(destination),
            settings.pool_number(source),
        ) {
            (Some(vn), _) => (vn, *source),
            (None, Some(vn)) => (vn, *destination),
            (None, None) => continue,
        };
        let (_, slot) = store::read::<Slot>(&kv, &store::slot_key(&vn.number))?;
        let id = slot.live(now).find_map(|e| {
            e.participants
                .iter()
                .any(|p| same_number(p, participant))
                .then(|| e.id.clone())
        });
        if let Some(id) = id {
            return store::booking(&kv, &id);
        }
    }
    Ok(None)
}

/// Appends `entry` to the booking's call log unless an entry with its `eventId` is
/// there already: once per event, however often 8x8 delivers it.
fn append(
    ctx: &Context<'_>,
    settings: &Settings,
    booking_id: &str,
    entry: Value,
) -> Result<bool, StoreError> {
    let event_id = entry["eventId"].clone();
    let ttl = std::time::Duration::from_secs(
        settings
            .retention_secs
            .saturating_add(settings.max_ttl_secs),
    );
    store::update::<CallLog, bool>(&ctx.kv(), &store::calls_key(booking_id), Some(ttl), |log| {
        if log.entries.iter().any(|e| e["eventId"] == event_id) {
            return (false, false);
        }
        if log.entries.len() >= MAX_LOG_ENTRIES {
            let changed = !log.truncated;
            log.truncated = true;
            return (changed, false);
        }
        log.entries.push(entry.clone());
        (true, true)
    })
}

fn log_event(
    ctx: &Context<'_>,
    settings: &Settings,
    session_id: &str,
    legs: &[(Option<&str>, Option<&str>)],
    entry: impl FnOnce(&Booking) -> Value,
) -> Result<Option<Callflow>, PluginError> {
    let Some(booking) = resolve(ctx, settings, session_id, legs).map_err(unavailable)? else {
        debug!(ctx, "an event of a session with no booking; not logged");
        return Ok(None);
    };
    let entry = entry(&booking);
    let kind = entry["type"].as_str().unwrap_or_default().to_owned();
    if append(ctx, settings, &booking.id, entry).map_err(unavailable)? {
        debug!(ctx, "booking {}: logged {kind}", booking.id);
    } else {
        debug!(ctx, "booking {}: {kind} already logged", booking.id);
    }
    Ok(None)
}

/// A `CALL_STATUS`: into the call log.
pub fn call_status(
    ctx: &Context<'_>,
    settings: &Settings,
    call: &Call,
) -> Result<Option<Callflow>, PluginError> {
    log_event(
        ctx,
        settings,
        &call.session_id,
        &[(Some(&call.source), Some(&call.destination))],
        |b| {
            json!({
                "eventId": call.event_id,
                "type": "CALL_STATUS",
                "at": call.timestamp,
                "sessionId": call.session_id,
                "callId": call.call_id,
                "status": call.status.as_str(),
                "direction": call.direction.as_str(),
                "from": role(b, Some(&call.source)),
                "to": role(b, Some(&call.destination)),
                "durationSeconds": call.call_duration,
                "sipCode": call.sip_code,
            })
        },
    )
}

/// A `SESSION_SUMMARY`: into the call log.
pub fn session_summary(
    ctx: &Context<'_>,
    settings: &Settings,
    s: &SessionSummary,
) -> Result<Option<Callflow>, PluginError> {
    let legs: Vec<(Option<&str>, Option<&str>)> = s
        .legs
        .iter()
        .map(|l| (l.source.as_deref(), l.destination.as_deref()))
        .collect();
    log_event(ctx, settings, &s.session_id, &legs, |b| {
        json!({
            "eventId": s.event_id.clone().unwrap_or_else(|| format!("summary:{}", s.session_id)),
            "type": "SESSION_SUMMARY",
            "at": s.end_time,
            "sessionId": s.session_id,
            "status": s.status.as_str(),
            "startTime": s.start_time,
            "endTime": s.end_time,
            "lastAction": s.last_action,
            "callCount": s.call_count,
            "error": s.error.as_ref().map(|e| json!({ "code": e.code, "message": e.message })),
            "legs": s.legs.iter().map(|l| json!({
                "name": l.name,
                "callId": l.call_id,
                "direction": l.direction,
                "status": l.status,
                "durationSeconds": l.call_duration,
                "from": role(b, l.source.as_deref()),
                "to": role(b, l.destination.as_deref()),
            })).collect::<Vec<_>>(),
        })
    })
}

/// A `CALL_RECORDING_STATUS`: into the call log (found by its session only).
pub fn recording(
    ctx: &Context<'_>,
    settings: &Settings,
    r: &RecordingStatus,
) -> Result<Option<Callflow>, PluginError> {
    log_event(ctx, settings, &r.session_id, &[], |_| {
        json!({
            "eventId": r.event_id.clone().unwrap_or_else(|| format!("recording:{}:{}", r.recording_id, r.status)),
            "type": "CALL_RECORDING_STATUS",
            "sessionId": r.session_id,
            "recordingId": r.recording_id,
            "status": r.status,
            "durationSeconds": r.duration_seconds,
            "filePath": r.file_path,
        })
    })
}

/// A `VIRTUAL_NUMBER_UPDATE`: numbers not `Active` leave allocation until they are again.
/// Numbers outside the pool are ignored.
pub fn number_update(
    ctx: &Context<'_>,
    settings: &Settings,
    u: &VirtualNumberUpdate,
) -> Result<Option<Callflow>, PluginError> {
    let changes: Vec<(String, Option<String>)> = u
        .numbers
        .iter()
        .filter_map(|n| {
            let vn = settings.pool_number(&n.number)?;
            let state = match &n.state {
                NumberState::Active => None,
                NumberState::Unhealthy => Some("Unhealthy".to_owned()),
                NumberState::Other(s) => Some(s.clone()),
            };
            Some((vn.number.clone(), state))
        })
        .collect();
    if changes.is_empty() {
        return Ok(None);
    }
    store::update::<Health, ()>(&ctx.kv(), store::HEALTH_KEY, None, |health| {
        let before = health.clone();
        for (number, state) in &changes {
            health.down.retain(|(n, _)| n != number);
            if let Some(state) = state {
                health.down.push((number.clone(), state.clone()));
            }
        }
        (*health != before, ())
    })
    .map_err(unavailable)?;
    for (number, state) in &changes {
        info!(
            ctx,
            "virtual number {number} is {}",
            state.as_deref().unwrap_or("Active")
        );
    }
    Ok(None)
}
