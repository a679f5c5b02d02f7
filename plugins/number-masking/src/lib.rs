//! 8x8 Number Masking as a callflow-host plugin: the seed's ride-sharing story.
//!
//! When a ride is booked, the business asks this plugin's API for a virtual number for the
//! pair (`POST /bookings`); when either party dials that number, 8x8 posts a call action
//! and the plugin answers `makeCall` from the virtual number to the other party, so
//! neither sees the other's real number; when the ride ends (`DELETE /bookings/{id}`) or
//! the booking's time to live passes, the number goes back to the pool for that pair.
//!
//! - [`bookings`]: the API (create, show, release, call log, pool) and the allocation.
//! - [`calls`]: call actions (bridge or turn away), the call log (`CALL_STATUS`,
//!   `SESSION_SUMMARY`, recordings, once per `eventId`), number health
//!   (`VIRTUAL_NUMBER_UPDATE`).
//! - [`store`]: the key-value layout; [`settings`]: the tenant's configuration.
//!
//! # The rule, and why concurrent bookings cannot break it
//!
//! A caller is routed by the pair (caller, dialled virtual number), so one participant
//! must never hold the same virtual number in two active bookings at once (the seed's
//! conflict rule); one number may serve many other pairs. Each virtual number has one
//! key, its slot (`nm/vn/{number}`), listing its active bookings with both participants
//! and their expiry. Allocation reads the slots, picks the least-loaded healthy number
//! where neither participant appears, and writes the slot with the new booking by
//! compare-and-swap against the exact bytes it checked. A concurrent creation that
//! changed that slot in between makes the swap fail; the slot is read again and checked
//! again. So every booking that lands was checked against the slot as it was at the
//! moment it landed, and the rule holds for every slot at all times: no lock, no luck.
//! Release and expiry pruning go through the same compare-and-swap.
//!
//! The slot is the truth about what is active. The booking's record (`nm/booking/{id}`),
//! written once the slot took the booking, makes it findable by id and outlives it for
//! `retention_seconds` with the call log. If writing the record fails the booking is
//! taken out of the slot again before the error is answered; a host killed between the
//! two writes leaves a booking that no client was told about, which routes its pair until
//! its expiry and harms nothing else.
//!
//! # Privacy
//! Participants' numbers appear in the store and in the API's answers (to the tenant's
//! own, authenticated systems), never in a log line (masked to the last four digits),
//! never in a `clientActionId` (`nm.<booking id>`), never in the call log (which records
//! roles: `participant:0`, `participant:1`, `virtual_number`).
//!
//! # Configuration
//! See [`settings`]: `pool = "+6568001001=vn-ref-1, +6568001002=vn-ref-2"` is required.
#![deny(missing_docs)]

pub mod bookings;
pub mod calls;
pub mod settings;
pub mod store;
pub mod time;

use callflow_sdk::api::{Request, Response};
use callflow_sdk::prelude::*;

/// The plugin.
#[derive(Debug)]
pub struct NumberMasking;

callflow_sdk::export_plugin!(NumberMasking);

impl Plugin for NumberMasking {
    fn handle(event: Event, ctx: &Context<'_>) -> Result<Option<Callflow>, PluginError> {
        let settings = settings::Settings::load(ctx).map_err(PluginError::Unavailable)?;
        match &event {
            Event::CallAction(action) => calls::call_action(ctx, &settings, action),
            Event::CallStatus(call) => calls::call_status(ctx, &settings, call),
            Event::SessionSummary(summary) => calls::session_summary(ctx, &settings, summary),
            Event::RecordingStatus(r) => calls::recording(ctx, &settings, r),
            Event::VirtualNumberUpdate(u) => calls::number_update(ctx, &settings, u),
        }
    }

    fn api(request: Request, ctx: &Context<'_>) -> Response {
        bookings::router().handle(request, ctx)
    }
}

#[cfg(test)]
mod tests;
