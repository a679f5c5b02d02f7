//! Write callflow-host plugins in Rust: one trait, one macro, and a native test harness.
//!
//! A plugin answers 8x8 voice webhooks. The host parses each webhook into an [`Event`],
//! hands it to the plugin, checks the [`Callflow`] the plugin answers with against 8x8's
//! rules and sends it to the platform. A plugin is a pure function of the event and of
//! what [`Context`] gives it: the tenant's configuration, a key-value store and a log.
//!
//! ```
//! use callflow_sdk::prelude::*;
//!
//! /// Greets every caller with the tenant's greeting, then hangs up.
//! struct Greeter;
//!
//! impl Plugin for Greeter {
//!     fn handle(event: Event, ctx: &Context) -> Result<Option<Callflow>, PluginError> {
//!         let Event::CallAction(_) = event else {
//!             return Ok(None); // Status updates and summaries need no answer.
//!         };
//!         let greeting = ctx.require_config("greeting")?;
//!         info!(ctx, "greeting a caller");
//!         Ok(Some(
//!             Callflow::new()
//!                 .say(Say::new(greeting, "en-US-BenjaminRUS").speed(1.0))
//!                 .hangup(),
//!         ))
//!     }
//! }
//!
//! callflow_sdk::export_plugin!(Greeter);
//!
//! // The same code under plain `cargo test`, no wasm involved:
//! use callflow_sdk::testing::{Harness, call_action};
//!
//! let harness = Harness::new().config("greeting", "Welcome to ABC Restaurant.");
//! let flow = harness.handle::<Greeter>(call_action())?.expect("a callflow");
//! assert_eq!(
//!     flow.to_json(),
//!     r#"{"callflow":[{"action":"say","params":{"text":"Welcome to ABC Restaurant.","voiceProfile":"en-US-BenjaminRUS","speed":1}},{"action":"hangup"}]}"#,
//! );
//! # Ok::<(), PluginError>(())
//! ```
//!
//! Build the component with `cargo build --target wasm32-wasip2 --profile plugin`; the
//! plugin's crate needs `crate-type = ["cdylib", "rlib"]` (the `rlib` for its tests).
//!
//! # Where things are
//! - [`Plugin`] and [`export_plugin!`]: what a plugin implements and how it becomes a
//!   component. The generated WIT bindings stay inside the SDK.
//! - [`Context`], [`Kv`], [`Level`] and the log macros ([`info!`] ...): the host's imports.
//! - [`Event`], [`Callflow`] and the action builders ([`Say`], [`SayAndCapture`],
//!   [`MakeCall`], [`PlayFile`]): `callflow_wire`'s types, re-exported, so the plugin,
//!   the host and the harness share one definition of 8x8's wire format.
//! - [`api`]: serving an HTTP-like API from the plugin ([`Plugin::api`]): requests,
//!   responses, JSON helpers and a small router.
//! - [`testing`]: the native harness with an in-memory host and event builders.
#![deny(missing_docs)]

pub mod api;
mod context;
mod guest;
pub mod testing;

use std::fmt;

pub use callflow_wire as wire;
pub use callflow_wire::{
    Action, Call, CallAction, CallDirection, CallStatus, Callflow, Event, MakeCall, PlayFile,
    RecordingStatus, Say, SayAndCapture, SessionStatus, SessionSummary, VirtualNumberUpdate,
};
pub use context::{Context, Host, Kv, KvError, Level};

/// What a plugin implements: one event in, maybe a callflow out.
///
/// For a `CALL_ACTION`, `Ok(Some(callflow))` is what the caller gets next; `Ok(None)` or
/// an error gives the caller the tenant's fallback callflow. For every other event the
/// returned callflow is ignored: return `Ok(None)`.
///
/// Every event runs in a fresh instance, so `handle` takes no `self`: keep what must
/// outlive an event in [`Context::kv`], and put where the caller is in your flow into
/// the callflow's `clientActionId`, which 8x8 echoes back in the next call action.
pub trait Plugin {
    /// Handles one webhook.
    fn handle(event: Event, ctx: &Context<'_>) -> Result<Option<Callflow>, PluginError>;

    /// Serves one request to the tenant's API (`/v1/tenants/{tenant}/api/{path}`); see
    /// [`api`]. The default serves no API: every request gets a 404 `not_found` JSON
    /// error.
    fn api(request: api::Request, ctx: &Context<'_>) -> api::Response {
        let _ = (request, ctx);
        api::Response::not_found()
    }
}

/// A failure the plugin reports itself; the caller gets the tenant's fallback callflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// The event lacks something the plugin needs.
    BadEvent(String),
    /// A dependency (configuration, the store) was unavailable.
    Unavailable(String),
    /// Anything else.
    Internal(String),
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginError::BadEvent(why) => write!(f, "bad event: {why}"),
            PluginError::Unavailable(why) => write!(f, "unavailable: {why}"),
            PluginError::Internal(why) => write!(f, "internal: {why}"),
        }
    }
}

impl std::error::Error for PluginError {}

/// A store failure is a dependency being unavailable, whatever its cause, so that `?`
/// on a [`Kv`] call gives the caller the fallback.
impl From<KvError> for PluginError {
    fn from(err: KvError) -> Self {
        PluginError::Unavailable(format!("key-value store: {err}"))
    }
}

/// Makes a [`Plugin`] the component's `handler` and `api` exports: call it once, at the root of the
/// plugin's crate, with the plugin's type name.
///
/// On `wasm32` targets it expands to the component glue wit-bindgen generates for the
/// `plugin` world. Elsewhere (native tests) it only checks that the type implements
/// [`Plugin`], so that several plugin crates can link into one test binary.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ident) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code, reason = "component exports generated by wit-bindgen")]
        const _: () = {
            $crate::__private::bindings::__export_plugin_world!(
                $plugin with_types_in $crate::__private::bindings
            );
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            const fn assert_plugin<P: $crate::Plugin>() {}
            assert_plugin::<$plugin>();
        };
    };
}

/// Everything a plugin usually needs: `use callflow_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Action, Call, CallAction, CallDirection, CallStatus, Callflow, Context, Event, Kv, KvError,
        Level, MakeCall, PlayFile, Plugin, PluginError, Say, SayAndCapture, SessionStatus,
        SessionSummary, debug, error, export_plugin, info, trace, warn,
    };
}

#[doc(hidden)]
pub mod __private {
    //! Used by `export_plugin!` only; not part of the API.
    pub use crate::guest::bindings;
}
