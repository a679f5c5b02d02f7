//! The span a webhook's log lines are written in, made by its first line rather than for
//! every event.
//!
//! Owns: [`EventSpan`]. The lines about one event (the plugin's failure, its log lines and
//! output, a cluster's trouble with it) carry the node, the tenant, the event's type and
//! ids and the plugin version, as the fields of a `webhook` span. Making that span
//! formats every field (escaped, into a string the subscriber keeps) and cost about 4 µs
//! of every webhook (ADR 0012), while at the default level nearly every event writes no
//! line at all. So the span is made when a line is about to be written, which the log's
//! rates bound, and the fields are taken from the parsed event then.
//!
//! When debug lines are enabled the span is made at once and the event is handled inside
//! it: debug lines are written wherever they are, in whatever span is current.
//!
//! Must not: write lines itself, or decide when one is written.

use std::sync::{Arc, OnceLock};

use callflow_wire::Event;
use tracing::{Level, Span};

use crate::runtime::LoadedPlugin;

/// The span of one event's lines; cheap to clone (an `Arc`, or a span handle).
#[derive(Debug, Clone)]
pub struct EventSpan(Repr);

#[derive(Debug, Clone)]
enum Repr {
    /// A span that exists already (debug enabled, or another caller's span).
    Made(Span),
    /// Made by the first line.
    Lazy(Arc<Lazy>),
}

#[derive(Debug)]
struct Lazy {
    node: Arc<str>,
    tenant: Arc<str>,
    event: Arc<Event>,
    /// The plugin that runs the event: its digest is the `version` field (kept as the
    /// plugin, a reference count, so that an event that writes no line copies nothing).
    version: OnceLock<LoadedPlugin>,
    span: OnceLock<Span>,
}

impl Lazy {
    fn make(&self) -> Span {
        let event = &*self.event;
        tracing::info_span!(
            // The handler's own span is not current when a line makes this one: the
            // webhook span stands alone, as it did when it was made at the edge.
            parent: None,
            "webhook",
            node = %self.node,
            tenant = %self.tenant,
            event_type = event.kind().as_str(),
            session_id = event.session_id(),
            call_id = event.call_id(),
            event_id = event.event_id(),
            version = self.version.get().map(LoadedPlugin::digest),
        )
    }
}

impl EventSpan {
    /// The span of `event`, a webhook to `tenant` on `node`: made now if debug lines are
    /// enabled, by the first line otherwise.
    pub fn for_event(node: &Arc<str>, tenant: &Arc<str>, event: &Arc<Event>) -> Self {
        let lazy = Lazy {
            node: Arc::clone(node),
            tenant: Arc::clone(tenant),
            event: Arc::clone(event),
            version: OnceLock::new(),
            span: OnceLock::new(),
        };
        if tracing::level_enabled!(Level::DEBUG) {
            return Self(Repr::Made(lazy.make()));
        }
        Self(Repr::Lazy(Arc::new(lazy)))
    }

    /// The span current here: lines of an invocation that is not a webhook's (a plugin
    /// API request, a dry run, the dev phone) are written in their caller's span.
    pub fn current() -> Self {
        Self(Repr::Made(Span::current()))
    }

    /// Names the plugin version that runs the event (once; later calls are ignored).
    pub fn set_version(&self, plugin: &LoadedPlugin) {
        match &self.0 {
            Repr::Made(span) => {
                span.record("version", plugin.digest());
            }
            Repr::Lazy(lazy) => {
                if lazy.version.set(plugin.clone()).is_ok()
                    && let Some(span) = lazy.span.get()
                {
                    span.record("version", plugin.digest());
                }
            }
        }
    }

    /// The span, made now if no line made it yet.
    pub fn span(&self) -> &Span {
        match &self.0 {
            Repr::Made(span) => span,
            Repr::Lazy(lazy) => lazy.span.get_or_init(|| lazy.make()),
        }
    }

    /// The span if it exists already, to handle the event inside (debug lines enabled,
    /// or a caller's span), wherever it runs.
    pub fn made(&self) -> Option<&Span> {
        match &self.0 {
            Repr::Made(span) => Some(span),
            Repr::Lazy(_) => None,
        }
    }

    /// Writes lines with `f` inside the span, making it if needed.
    pub fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        self.span().in_scope(f)
    }
}
