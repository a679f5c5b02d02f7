//! The `callflow-host` command's tools, apart from the server (`callflow-server`):
//!
//! - [`simulate`]: 8x8's side of a whole call against a plugin, printed for a terminal;
//! - [`scaffold`]: `new`, a plugin crate that builds and passes its own tests;
//! - [`plugin_build`]: building plugin crates for `wasm32-wasip2`.
//!
//! The binary (`main.rs`, with `demo.rs` and `dev.rs`: tenants directories laid out for
//! the example plugins, or for a plugin crate rebuilt on every save) parses the command
//! line, installs the log subscriber and runs these, or a [`callflow_server::Server`].

pub mod plugin_build;
pub mod scaffold;
pub mod simulate;
