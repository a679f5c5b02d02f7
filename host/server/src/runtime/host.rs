//! What a plugin instance's store holds, and the host side of the plugin's imports.
//!
//! Owns: the `log`, `config` and `kv` imports (served from [`HostState`], one per event),
//! the deny-all WASI context, the capture of the plugin's stdout/stderr, and the memory
//! limiter that turns a memory blowup into a typed failure.
//!
//! Must not: block on anything but the tenant's kv store, or let one tenant's state reach
//! another's: the tenant id is fixed when the store is built and the guest cannot name
//! another.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tracing::{debug, error, info, trace, warn};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::PluginLogs;
use super::bindings::callflow::plugin::{config, kv, log, types};
use super::{InvokeContext, Limits};
use crate::event_span::EventSpan;
use crate::store::{KvStore, StoreError};
use crate::throttle::{Throttle, Verdict};

/// Where plugin log lines and output go in `tracing`.
pub const LOG_TARGET: &str = "callflow::plugin";
/// A plugin log line longer than this is cut (on a character boundary).
pub(crate) const MAX_LOG_LINE_BYTES: usize = 1024;
/// Bytes of stdout plus stderr kept per event; the rest is counted and dropped.
pub(crate) const MAX_OUTPUT_BYTES: usize = 4096;

/// A store's data: everything one invocation of one plugin can reach.
pub(crate) struct State {
    pub(crate) host: HostState,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) output: Arc<Output>,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl State {
    pub(crate) fn new(ctx: InvokeContext, memory_cap: usize) -> Self {
        let output = Arc::new(Output::default());
        let mut wasi = WasiCtxBuilder::new();
        // Deny-all: no preopens, environment, arguments or stdin (the builder's defaults),
        // no sockets of any kind, and the plugin's output captured for the log.
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .stdout(OutputStreamHandle {
                output: Arc::clone(&output),
                stream: Stream::Stdout,
            })
            .stderr(OutputStreamHandle {
                output: Arc::clone(&output),
                stream: Stream::Stderr,
            });
        Self {
            limiter: MemoryLimiter {
                cap: memory_cap,
                hit: None,
            },
            host: HostState::new(ctx),
            output,
            wasi: wasi.build(),
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The state behind the `log`, `config` and `kv` imports for one event.
pub struct HostState {
    tenant: Arc<str>,
    config: Arc<HashMap<String, String>>,
    kv: Arc<dyn KvStore>,
    limits: Limits,
    logs: Arc<PluginLogs>,
    span: EventSpan,
    log_lines: u32,
    log_dropped: u32,
    kv_ops: u32,
    kv_refused: u32,
}

impl fmt::Debug for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostState")
            .field("tenant", &self.tenant)
            .field("log_lines", &self.log_lines)
            .field("log_dropped", &self.log_dropped)
            .finish_non_exhaustive()
    }
}

impl HostState {
    /// The host side of one event's imports.
    pub fn new(ctx: InvokeContext) -> Self {
        Self {
            tenant: ctx.tenant,
            config: ctx.config,
            kv: ctx.kv,
            limits: ctx.limits,
            logs: ctx.logs,
            span: ctx.span,
            log_lines: 0,
            log_dropped: 0,
            kv_ops: 0,
            kv_refused: 0,
        }
    }

    /// Key-value operations refused so far (the tenant's quota, or this event's cap).
    pub fn kv_refused(&self) -> u32 {
        self.kv_refused
    }

    /// Counts one key-value operation; refused past the event's cap.
    fn kv_op(&mut self) -> Result<(), kv::KvError> {
        if self.kv_ops >= self.limits.kv_ops {
            self.kv_refused = self.kv_refused.saturating_add(1);
            return Err(kv::KvError::QuotaExceeded(format!(
                "this event used its {} key-value operations",
                self.limits.kv_ops
            )));
        }
        self.kv_ops += 1;
        Ok(())
    }

    /// The guest's view of a store error, counting a quota refusal.
    fn kv_error(&mut self, err: StoreError) -> kv::KvError {
        match err {
            StoreError::TooLarge { .. } => kv::KvError::TooLarge(err.to_string()),
            StoreError::QuotaExceeded { .. } => {
                self.kv_refused = self.kv_refused.saturating_add(1);
                kv::KvError::QuotaExceeded(err.to_string())
            }
            StoreError::Open { .. } | StoreError::Unavailable(_) => {
                kv::KvError::Unavailable(err.to_string())
            }
        }
    }

    /// The tenant this state serves.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Log lines the plugin wrote beyond its budget, and so dropped.
    pub fn log_lines_dropped(&self) -> u32 {
        self.log_dropped
    }

    /// Whether one more of the tenant's lines may be logged now (its rate over all its
    /// events); logs the summary of the lines suppressed before it.
    pub(crate) fn admit_line(&self) -> bool {
        admit_line(
            &self.logs.throttle,
            self.limits.log_lines_per_second,
            &self.tenant,
        )
    }

    /// The span the event's lines are written in.
    pub(crate) fn span(&self) -> &EventSpan {
        &self.span
    }

    /// Keeps a line the budget let through among the tenant's recent ones.
    pub(crate) fn keep_line(&self, level: &'static str, message: &str) {
        self.logs.keep(level, message);
    }
}

/// Whether one more line of `tenant`'s may be logged now, at most `per_second`; logs the
/// summary of the lines suppressed before it.
pub(crate) fn admit_line(logs: &Throttle, per_second: u32, tenant: &str) -> bool {
    match logs.admit(per_second) {
        Verdict::Log { suppressed } => {
            if suppressed > 0 {
                warn!(target: LOG_TARGET, tenant, suppressed, "plugin log lines over the tenant's rate were not logged");
            }
            true
        }
        Verdict::Suppress => false,
    }
}

impl types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        if self.log_lines >= self.limits.log_lines {
            self.log_dropped = self.log_dropped.saturating_add(1);
            return;
        }
        self.log_lines += 1;
        if !self.admit_line() {
            return;
        }
        let message = truncate(&message, MAX_LOG_LINE_BYTES);
        let tenant = &*self.tenant;
        self.keep_line(level_name(level), message);
        // The event's span is made only for a line that is written: a debug line the
        // log's level leaves out is kept for the console and costs no span.
        if !tracing::level_enabled!(tracing_level(level)) {
            return;
        }
        self.span.in_scope(|| match level {
            log::Level::Trace => trace!(target: LOG_TARGET, tenant, "{message}"),
            log::Level::Debug => debug!(target: LOG_TARGET, tenant, "{message}"),
            log::Level::Info => info!(target: LOG_TARGET, tenant, "{message}"),
            log::Level::Warn => warn!(target: LOG_TARGET, tenant, "{message}"),
            log::Level::Error => error!(target: LOG_TARGET, tenant, "{message}"),
        });
    }
}

fn tracing_level(level: log::Level) -> tracing::Level {
    match level {
        log::Level::Trace => tracing::Level::TRACE,
        log::Level::Debug => tracing::Level::DEBUG,
        log::Level::Info => tracing::Level::INFO,
        log::Level::Warn => tracing::Level::WARN,
        log::Level::Error => tracing::Level::ERROR,
    }
}

fn level_name(level: log::Level) -> &'static str {
    match level {
        log::Level::Trace => "trace",
        log::Level::Debug => "debug",
        log::Level::Info => "info",
        log::Level::Warn => "warn",
        log::Level::Error => "error",
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }
}

// The store decides what may block (see `crate::store`): every call is awaited here.
impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, kv::KvError> {
        self.kv_op()?;
        let got = self.kv.get(&self.tenant, &key).await;
        got.map_err(|e| self.kv_error(e))
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<(), kv::KvError> {
        self.kv_op()?;
        let ttl = ttl_ms.map(Duration::from_millis);
        let set = self
            .kv
            .set(&self.tenant, &key, &value, ttl, self.limits.kv_quota)
            .await;
        set.map_err(|e| self.kv_error(e))
    }

    async fn delete(&mut self, key: String) -> Result<bool, kv::KvError> {
        self.kv_op()?;
        let deleted = self.kv.delete(&self.tenant, &key).await;
        deleted.map_err(|e| self.kv_error(e))
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, kv::KvError> {
        self.kv_op()?;
        let swapped = self
            .kv
            .compare_and_swap(
                &self.tenant,
                &key,
                expected.as_deref(),
                new.as_deref(),
                ttl_ms.map(Duration::from_millis),
                self.limits.kv_quota,
            )
            .await;
        swapped.map_err(|e| self.kv_error(e))
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Memory cap for one store. Refusing a grow traps at once (rather than handing the
/// guest a failed `memory.grow`), so the failure is reported as a memory limit and not
/// as whatever the guest's allocator does next.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    cap: usize,
    /// The size a refused grow asked for.
    pub(crate) hit: Option<usize>,
}

/// The error a refused memory grow traps with.
#[derive(Debug, thiserror::Error)]
#[error("linear memory would grow to {desired} bytes, over the {cap} byte limit")]
pub(crate) struct MemoryLimitExceeded {
    desired: usize,
    cap: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.hit = Some(desired);
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                desired,
                cap: self.cap,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The pool bounds every table; honour the table's own maximum too.
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// What a plugin wrote to stdout and stderr during one event, capped in total.
#[derive(Debug, Default)]
pub(crate) struct Output {
    inner: Mutex<OutputInner>,
}

#[derive(Debug, Default)]
struct OutputInner {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    dropped: usize,
}

impl Output {
    fn write(&self, stream: Stream, bytes: &[u8]) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let room = MAX_OUTPUT_BYTES.saturating_sub(inner.stdout.len() + inner.stderr.len());
        let take = bytes.len().min(room);
        inner.dropped += bytes.len() - take;
        let buf = match stream {
            Stream::Stdout => &mut inner.stdout,
            Stream::Stderr => &mut inner.stderr,
        };
        buf.extend_from_slice(&bytes[..take]);
    }

    /// Writes what the plugin printed to the log, tagged with the tenant, and has `keep`
    /// keep it. Each line within the tenant's rate (`admit`).
    pub(crate) fn log(
        &self,
        tenant: &str,
        span: &EventSpan,
        admit: impl Fn() -> bool,
        keep: impl Fn(&'static str, &str),
    ) {
        let Ok(inner) = self.inner.lock() else {
            return;
        };
        for (stream, buf) in [("stdout", &inner.stdout), ("stderr", &inner.stderr)] {
            if buf.is_empty() || !admit() {
                continue;
            }
            let text = String::from_utf8_lossy(buf);
            let text = text.trim_end();
            let kept = truncate(text, MAX_LOG_LINE_BYTES);
            if stream == "stdout" {
                span.in_scope(|| info!(target: LOG_TARGET, tenant, stream, "{text}"));
                keep("info", kept);
            } else {
                span.in_scope(|| warn!(target: LOG_TARGET, tenant, stream, "{text}"));
                keep("warn", kept);
            }
        }
        if inner.dropped > 0 && admit() {
            span.in_scope(|| {
                warn!(
                    target: LOG_TARGET,
                    tenant,
                    dropped_bytes = inner.dropped,
                    "plugin output over the per-event cap was dropped"
                );
            });
        }
    }

    #[cfg(test)]
    pub(crate) fn captured(&self, stream: Stream) -> String {
        let inner = self.inner.lock().expect("lock");
        let buf = match stream {
            Stream::Stdout => &inner.stdout,
            Stream::Stderr => &inner.stderr,
        };
        String::from_utf8_lossy(buf).into_owned()
    }
}

/// stdout or stderr as WASI sees it: always writable, never blocking, and silently
/// discarding what is over the cap (so `println!` in a plugin never fails or panics).
struct OutputStreamHandle {
    output: Arc<Output>,
    stream: Stream,
}

/// How much a guest may write per `check-write`; any amount is accepted.
const WRITE_BUDGET: usize = 64 * 1024;

impl IsTerminal for OutputStreamHandle {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputStreamHandle {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(Self {
            output: Arc::clone(&self.output),
            stream: self.stream,
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(Self {
            output: Arc::clone(&self.output),
            stream: self.stream,
        })
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for OutputStreamHandle {
    async fn ready(&mut self) {}
}

impl OutputStream for OutputStreamHandle {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.output.write(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

impl tokio::io::AsyncWrite for OutputStreamHandle {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.output.write(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    //! The imports, called through the generated `Host` traits without any wasm.
    use super::*;
    use crate::store::RedbStore;
    use crate::store::test_dir::TempDir;

    fn host(tenant: &str, kv: &Arc<dyn KvStore>, config: &[(&str, &str)]) -> HostState {
        HostState::new(InvokeContext {
            tenant: tenant.into(),
            config: Arc::new(
                config
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            kv: Arc::clone(kv),
            limits: Limits {
                log_lines: 2,
                ..Limits::default()
            },
            logs: Arc::default(),
            span: EventSpan::current(),
        })
    }

    fn kv_store() -> (TempDir, Arc<dyn KvStore>) {
        let dir = TempDir::new("host-kv");
        let kv: Arc<dyn KvStore> = Arc::new(
            RedbStore::open(&dir.0.join("kv.redb"), RedbStore::DEFAULT_CACHE_BYTES).expect("open"),
        );
        (dir, kv)
    }

    #[test]
    fn config_get_reads_only_the_tenants_configuration() {
        let (_dir, kv) = kv_store();
        let mut h = host("acme", &kv, &[("mode", "echo")]);
        assert_eq!(
            config::Host::get(&mut h, "mode".into()),
            Some("echo".into())
        );
        assert_eq!(config::Host::get(&mut h, "HOME".into()), None);
    }

    #[tokio::test]
    async fn kv_calls_are_scoped_to_the_tenant() {
        let (_dir, kv) = kv_store();
        let mut acme = host("acme", &kv, &[]);
        let mut globex = host("globex", &kv, &[]);
        kv::Host::set(&mut acme, "n".into(), b"1".to_vec(), None)
            .await
            .expect("set");
        assert_eq!(
            kv::Host::get(&mut globex, "n".into()).await.expect("get"),
            None
        );
        assert_eq!(
            kv::Host::get(&mut acme, "n".into()).await.expect("get"),
            Some(b"1".to_vec())
        );
        assert!(
            !kv::Host::delete(&mut globex, "n".into())
                .await
                .expect("delete")
        );
        assert!(
            kv::Host::compare_and_swap(&mut acme, "n".into(), Some(b"1".to_vec()), None, None)
                .await
                .expect("cas")
        );
        assert_eq!(
            kv::Host::get(&mut acme, "n".into()).await.expect("get"),
            None
        );
        // The store's own view: the value lived under acme only.
        assert_eq!(kv.get("globex", "n").await.expect("get"), None);
    }

    #[tokio::test]
    async fn kv_ttl_is_passed_in_milliseconds() {
        let (_dir, kv) = kv_store();
        let mut h = host("acme", &kv, &[]);
        kv::Host::set(&mut h, "k".into(), b"v".to_vec(), Some(0))
            .await
            .expect("set");
        assert_eq!(kv::Host::get(&mut h, "k".into()).await.expect("get"), None);
        kv::Host::set(&mut h, "k".into(), b"v".to_vec(), Some(60_000))
            .await
            .expect("set");
        assert_eq!(
            kv::Host::get(&mut h, "k".into()).await.expect("get"),
            Some(b"v".to_vec())
        );
    }

    #[tokio::test]
    async fn kv_store_errors_become_kv_errors() {
        let (_dir, kv) = kv_store();
        let mut h = host("acme", &kv, &[]);
        let err = kv::Host::set(&mut h, "k".repeat(2000), b"v".to_vec(), None)
            .await
            .expect_err("big");
        assert!(matches!(err, kv::KvError::TooLarge(m) if m.contains("key")));
        let err = kv::Host::set(&mut h, "k".into(), vec![0; 70_000], None)
            .await
            .expect_err("big");
        assert!(matches!(err, kv::KvError::TooLarge(m) if m.contains("value")));
    }

    #[test]
    fn log_lines_beyond_the_budget_are_counted_and_dropped() {
        let (_dir, kv) = kv_store();
        let mut h = host("acme", &kv, &[]);
        for _ in 0..5 {
            log::Host::log(&mut h, log::Level::Info, "hello".into());
        }
        assert_eq!(h.log_lines_dropped(), 3);
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("hi", 10), "hi");
    }

    #[test]
    fn output_is_capped_across_both_streams() {
        let out = Output::default();
        out.write(Stream::Stdout, &[b'a'; 3000]);
        out.write(Stream::Stderr, &[b'b'; 3000]);
        assert_eq!(out.captured(Stream::Stdout).len(), 3000);
        assert_eq!(out.captured(Stream::Stderr).len(), MAX_OUTPUT_BYTES - 3000);
        assert_eq!(
            out.inner.lock().expect("lock").dropped,
            6000 - MAX_OUTPUT_BYTES
        );
    }

    #[test]
    fn memory_limiter_refuses_growth_past_the_cap_with_a_typed_error() {
        let mut l = MemoryLimiter {
            cap: 1 << 20,
            hit: None,
        };
        assert!(l.memory_growing(0, 1 << 20, None).expect("at cap"));
        let err = l.memory_growing(1 << 20, 2 << 20, None).expect_err("over");
        assert!(err.downcast_ref::<MemoryLimitExceeded>().is_some());
        assert_eq!(l.hit, Some(2 << 20));
    }
}
