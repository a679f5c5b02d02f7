//! A plugin as the SDK built it against `callflow:plugin@0.1.0`: `wit/callflow.wit` here
//! is that contract verbatim (from the commit before the `api` export was added). It
//! answers nothing; the host must refuse it before it is ever called.

#[allow(unsafe_code, reason = "the canonical ABI glue wit-bindgen generates")]
mod bindings {
    wit_bindgen::generate!({ path: "wit", world: "plugin" });
}

use bindings::exports::callflow::plugin::handler::{Callflow, Event, Guest, PluginError};

struct OldPlugin;

impl Guest for OldPlugin {
    fn handle_event(_event: Event) -> Result<Option<Callflow>, PluginError> {
        Ok(None)
    }
}

// Only a wasm32 build is a component; natively the export names would fail to link.
#[cfg(target_arch = "wasm32")]
#[allow(
    unsafe_code,
    reason = "the component export glue wit-bindgen generates"
)]
const _: () = {
    bindings::export!(OldPlugin with_types_in bindings);
};
