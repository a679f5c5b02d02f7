//! The bookings API and the allocation of virtual numbers.
//!
//! | request | answer |
//! |---|---|
//! | `POST /bookings` `{"participants": [a, b], "ttlSeconds": 7200}` | 201 the booking; 409 `pool_exhausted`; 422 `invalid_number`, `same_participant`, `invalid_participants`, `invalid_ttl`, `missing_field`, `invalid_field`; 400 `malformed_json` |
//! | `GET /bookings/{id}` | 200 the booking (`status`: `active`, `expired`, `released`); 404 `unknown_booking` |
//! | `DELETE /bookings/{id}` | 200 the booking, now `released` (the number is free for the pair at once; repeating it is harmless); 404 `unknown_booking` |
//! | `GET /bookings/{id}/calls` | 200 `{"bookingId", "calls": [...], "truncated"}`; 404 `unknown_booking` |
//! | `GET /pool` | 200 every virtual number with its health and active bookings |
//!
//! A misconfigured pool answers 503 `pool_not_configured`; a store failure 503
//! `store_unavailable`.

use callflow_sdk::api::{ApiError, Request, Response, Router};
use callflow_sdk::wire::number::{is_e164, mask, normalize};
use callflow_sdk::{Context, info, warn};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::settings::Settings;
use crate::store::{self, Booking, CallLog, Health, Slot, SlotEntry, StoreError};
use crate::time::rfc3339;

/// The API's routes.
pub fn router() -> Router<'static> {
    Router::new()
        .post("/bookings", create)
        .get("/bookings/{id}", show)
        .delete("/bookings/{id}", release)
        .get("/bookings/{id}/calls", calls)
        .get("/pool", pool)
}

fn settings(ctx: &Context<'_>) -> Result<Settings, ApiError> {
    Settings::load(ctx).map_err(|why| ApiError::new(503, "pool_not_configured", why))
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Kv(e) => e.into(),
            StoreError::Corrupt(_) => ApiError::new(500, "store_corrupt", err.to_string()),
            StoreError::Contended => ApiError::new(503, "contended", err.to_string()),
        }
    }
}

/// `POST /bookings`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewBooking {
    participants: Vec<String>,
    ttl_seconds: Option<u64>,
}

/// The two participants of a new booking, checked and in canonical form.
pub fn check_participants(
    settings: &Settings,
    participants: &[String],
) -> Result<[String; 2], ApiError> {
    let [a, b] = participants else {
        return Err(ApiError::new(
            422,
            "invalid_participants",
            format!(
                "`participants` must list exactly two phone numbers, not {}",
                participants.len()
            ),
        ));
    };
    let mut out = [String::new(), String::new()];
    for (i, p) in [a, b].into_iter().enumerate() {
        if !is_e164(p.trim()) {
            return Err(ApiError::new(
                422,
                "invalid_number",
                format!("participants[{i}] is not an E.164 phone number (`+` and up to 15 digits)"),
            ));
        }
        let p = normalize(p);
        if settings.pool_number(&p).is_some() {
            return Err(ApiError::new(
                422,
                "invalid_number",
                format!("participants[{i}] is one of the pool's virtual numbers"),
            ));
        }
        out[i] = p;
    }
    if out[0] == out[1] {
        return Err(ApiError::new(
            422,
            "same_participant",
            "the two participants are the same number",
        ));
    }
    Ok(out)
}

/// Why no number could be allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocError {
    /// Every healthy number already serves one of the participants (or is full).
    Exhausted {
        /// Numbers left out because 8x8 reported them unhealthy.
        unhealthy: usize,
    },
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for AllocError {
    fn from(e: StoreError) -> Self {
        AllocError::Store(e)
    }
}

impl From<callflow_sdk::KvError> for AllocError {
    fn from(e: callflow_sdk::KvError) -> Self {
        AllocError::Store(e.into())
    }
}

/// Gives `entry` (a new booking) a virtual number: the least-loaded healthy number of
/// the pool on which neither participant already holds an active booking, ties to the
/// earlier number in the pool. Returns the chosen number's index in the pool.
///
/// Safe under concurrency: the conflict check and the insertion are one
/// compare-and-swap on the chosen number's slot, against the very bytes the check read.
/// If another writer changed the slot in between, the swap fails and this slot is read
/// again and re-checked. The other slots' loads may be stale, which can only make the
/// spreading less even, never break the rule.
pub fn allocate(
    ctx: &Context<'_>,
    settings: &Settings,
    entry: &SlotEntry,
    now: u64,
) -> Result<usize, AllocError> {
    let kv = ctx.kv();
    let (_, health) = store::read::<Health>(&kv, store::HEALTH_KEY)?;
    let unhealthy = settings
        .pool
        .iter()
        .filter(|vn| health.state(&vn.number).is_some())
        .count();
    // (raw bytes, live slot) of every healthy number, or None once it cannot take this pair.
    let mut view: Vec<Option<(Option<Vec<u8>>, Slot)>> = Vec::with_capacity(settings.pool.len());
    for vn in &settings.pool {
        if health.state(&vn.number).is_some() {
            view.push(None);
            continue;
        }
        let (raw, mut slot) = store::read::<Slot>(&kv, &store::slot_key(&vn.number))?;
        slot.prune(now);
        view.push(Some((raw, slot)));
    }
    for _ in 0..store::MAX_ROUNDS {
        let fits = |slot: &Slot| !entry.participants.iter().any(|p| slot.holds(p, now));
        let best = view
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|(_, slot)| (i, slot)))
            .filter(|(_, slot)| fits(slot))
            .min_by_key(|(i, slot)| (slot.bookings.len(), *i))
            .map(|(i, _)| i);
        let Some(i) = best else {
            return Err(AllocError::Exhausted { unhealthy });
        };
        let key = store::slot_key(&settings.pool[i].number);
        let Some((raw, slot)) = view[i].as_mut() else {
            continue;
        };
        let mut next = slot.clone();
        next.bookings.push(entry.clone());
        let bytes = serde_json::to_vec(&next).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        match kv.compare_and_swap(&key, raw.as_deref(), Some(&bytes), None) {
            Ok(true) => return Ok(i),
            Ok(false) => {
                // Someone else changed this slot: look again.
                let (raw, mut slot) = store::read::<Slot>(&kv, &key)?;
                slot.prune(now);
                view[i] = Some((raw, slot));
            }
            // The slot is at the store's size limit: this number is full.
            Err(callflow_sdk::KvError::TooLarge(_)) => view[i] = None,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Contended.into())
}

/// A fresh booking id: `bk_` and 24 base32 characters (120 random bits).
pub fn new_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 15];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::new(503, "no_randomness", format!("no random source: {e}")))?;
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut id = String::from("bk_");
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            id.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    Ok(id)
}

/// True when `id` could be one of ours (anything else is unknown without a store read).
pub fn valid_id(id: &str) -> bool {
    id.strip_prefix("bk_").is_some_and(|rest| {
        rest.len() == 24
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    })
}

fn create(req: &Request, ctx: &Context<'_>) -> Result<Response, ApiError> {
    let settings = settings(ctx)?;
    let body: NewBooking = req.json()?;
    let participants = check_participants(&settings, &body.participants)?;
    let ttl_secs = body.ttl_seconds.unwrap_or(settings.default_ttl_secs);
    if ttl_secs == 0 || ttl_secs > settings.max_ttl_secs {
        return Err(ApiError::new(
            422,
            "invalid_ttl",
            format!(
                "`ttlSeconds` must be 1 to {} (the tenant's maximum)",
                settings.max_ttl_secs
            ),
        ));
    }
    let now = ctx.now_ms();
    let entry = SlotEntry {
        id: new_id()?,
        participants,
        expires_at: now.saturating_add(ttl_secs.saturating_mul(1000)),
    };
    let index = match allocate(ctx, &settings, &entry, now) {
        Ok(i) => i,
        Err(AllocError::Exhausted { unhealthy }) => {
            warn!(
                ctx,
                "pool exhausted for {} and {} ({} of {} numbers unhealthy)",
                mask(&entry.participants[0]),
                mask(&entry.participants[1]),
                unhealthy,
                settings.pool.len()
            );
            let why = if unhealthy > 0 {
                format!(
                    "no virtual number is free for these participants ({unhealthy} of the pool's {} are unhealthy)",
                    settings.pool.len()
                )
            } else {
                "no virtual number is free for these participants: each already holds every healthy number in another active booking".to_owned()
            };
            return Err(ApiError::new(409, "pool_exhausted", why));
        }
        Err(AllocError::Store(e)) => return Err(e.into()),
    };
    let vn = &settings.pool[index];
    let booking = Booking {
        id: entry.id.clone(),
        participants: entry.participants.clone(),
        virtual_number: vn.number.clone(),
        ref_id: vn.ref_id.clone(),
        created_at: now,
        expires_at: entry.expires_at,
        released_at: None,
    };
    // The slot already holds the booking; the record makes it findable by id. Should this
    // write fail, the booking would route calls but stay unknown to the API, so take it
    // back out of the slot before answering the error.
    if let Err(e) = store::put_booking(&ctx.kv(), &booking, now, settings.retention_secs * 1000) {
        let _ = remove_from_slot(ctx, &booking, now);
        return Err(e.into());
    }
    info!(
        ctx,
        "booking {} created on {} for {} and {}, expires {}",
        booking.id,
        booking.virtual_number,
        mask(&booking.participants[0]),
        mask(&booking.participants[1]),
        rfc3339(booking.expires_at)
    );
    Ok(Response::json(201, &booking_json(&booking, "active", None)))
}

/// The booking as the API shows it.
fn booking_json(b: &Booking, status: &str, health: Option<&str>) -> Value {
    let mut v = json!({
        "bookingId": b.id,
        "status": status,
        "participants": b.participants,
        "virtualNumber": b.virtual_number,
        "virtualNumberRefId": b.ref_id,
        "createdAt": rfc3339(b.created_at),
        "expiresAt": rfc3339(b.expires_at),
    });
    if let Some(at) = b.released_at {
        v["releasedAt"] = rfc3339(at).into();
    }
    if status == "active" {
        v["virtualNumberHealth"] = health.map_or("active", |s| s).to_ascii_lowercase().into();
    }
    v
}

fn unknown(id: &str) -> ApiError {
    ApiError::new(404, "unknown_booking", format!("no booking {id:?}"))
}

/// The record of the booking named in the path, or 404.
fn find(req: &Request, ctx: &Context<'_>) -> Result<Booking, ApiError> {
    let id = req.param("id").unwrap_or_default();
    if !valid_id(id) {
        return Err(unknown(id));
    }
    store::booking(&ctx.kv(), id)?.ok_or_else(|| unknown(id))
}

/// `active`, `expired` or `released`, from the slot (the truth) and the record.
fn status(ctx: &Context<'_>, b: &Booking, now: u64) -> Result<&'static str, ApiError> {
    if b.released_at.is_some() {
        return Ok("released");
    }
    if b.expires_at <= now {
        return Ok("expired");
    }
    let (_, slot) = store::read::<Slot>(&ctx.kv(), &store::slot_key(&b.virtual_number))?;
    // Not in its slot yet not released: a release whose record update did not happen.
    Ok(if slot.live(now).any(|e| e.id == b.id) {
        "active"
    } else {
        "released"
    })
}

fn show(req: &Request, ctx: &Context<'_>) -> Result<Response, ApiError> {
    let booking = find(req, ctx)?;
    let now = ctx.now_ms();
    let status = status(ctx, &booking, now)?;
    let (_, health) = store::read::<Health>(&ctx.kv(), store::HEALTH_KEY)?;
    Ok(Response::json(
        200,
        &booking_json(&booking, status, health.state(&booking.virtual_number)),
    ))
}

/// Takes booking `b` out of its number's slot (and prunes the expired while there);
/// true when it was there.
fn remove_from_slot(ctx: &Context<'_>, b: &Booking, now: u64) -> Result<bool, StoreError> {
    store::update::<Slot, bool>(
        &ctx.kv(),
        &store::slot_key(&b.virtual_number),
        None,
        |slot| {
            let before = slot.bookings.len();
            let had = slot.live(now).any(|e| e.id == b.id);
            slot.bookings.retain(|e| e.id != b.id);
            slot.prune(now);
            (slot.bookings.len() != before, had)
        },
    )
}

fn release(req: &Request, ctx: &Context<'_>) -> Result<Response, ApiError> {
    let settings = settings(ctx)?;
    let mut booking = find(req, ctx)?;
    let now = ctx.now_ms();
    let was_active = remove_from_slot(ctx, &booking, now)?;
    if was_active && booking.released_at.is_none() {
        booking.released_at = Some(now);
        store::put_booking(&ctx.kv(), &booking, now, settings.retention_secs * 1000)?;
        info!(
            ctx,
            "booking {} released; {} is free for its participants",
            booking.id,
            booking.virtual_number
        );
    }
    let status = if booking.released_at.is_some() {
        "released"
    } else if booking.expires_at <= now {
        "expired"
    } else {
        // Not in the slot, not expired, never marked: a release that stopped half way.
        "released"
    };
    Ok(Response::json(200, &booking_json(&booking, status, None)))
}

fn calls(req: &Request, ctx: &Context<'_>) -> Result<Response, ApiError> {
    let booking = find(req, ctx)?;
    let (_, log) = store::read::<CallLog>(&ctx.kv(), &store::calls_key(&booking.id))?;
    Ok(Response::json(
        200,
        &json!({ "bookingId": booking.id, "calls": log.entries, "truncated": log.truncated }),
    ))
}

fn pool(_req: &Request, ctx: &Context<'_>) -> Result<Response, ApiError> {
    let settings = settings(ctx)?;
    let kv = ctx.kv();
    let now = ctx.now_ms();
    let (_, health) = store::read::<Health>(&kv, store::HEALTH_KEY)?;
    let mut numbers = Vec::with_capacity(settings.pool.len());
    for vn in &settings.pool {
        let (_, slot) = store::read::<Slot>(&kv, &store::slot_key(&vn.number))?;
        numbers.push(json!({
            "number": vn.number,
            "refId": vn.ref_id,
            "health": health.state(&vn.number).unwrap_or("active").to_ascii_lowercase(),
            "activeBookings": slot.live(now).count(),
        }));
    }
    Ok(Response::json(200, &json!({ "numbers": numbers })))
}
