//! Mirrors what crossed the WIT boundary, for the round-trip test in `tests/e2e/runtime.rs`.
//!
//! On every event it stores the event, as the SDK handed it over (`Debug` of the
//! `callflow_wire::Event`), under the key `event`; the test compares it with the `Debug`
//! of the event the host converted. Then it answers with the callflow stored (as 8x8 JSON)
//! under the key `callflow`, through the SDK's conversion back, and the test compares what
//! the host received with what it stored. The two sides' hand-written conversions (host:
//! `runtime/convert.rs`; guest: the SDK's `guest.rs`) are proven equivalent field for
//! field over every case.

use callflow_sdk::prelude::*;

struct Mirror;

callflow_sdk::export_plugin!(Mirror);

impl Plugin for Mirror {
    fn handle(event: Event, ctx: &Context<'_>) -> Result<Option<Callflow>, PluginError> {
        let kv = ctx.kv();
        let unavailable = |e: KvError| PluginError::Unavailable(format!("{e:?}"));
        kv.set("event", format!("{event:?}"), None)
            .map_err(unavailable)?;
        let Some(json) = kv.get("callflow").map_err(unavailable)? else {
            return Ok(None);
        };
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| PluginError::BadEvent(format!("the stored callflow: {e}")))
    }
}
