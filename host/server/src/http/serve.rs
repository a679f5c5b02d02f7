//! Serving connections: HTTP/1.1 on a listener, under the deadlines and the bound that
//! keep a client (or a stranger) from holding connections it does not use.
//!
//! Each connection is in one of three phases, which its own watchdog times:
//!
//! - **idle**: accepted, or its last response sent, and no byte of a new request yet:
//!   closed after [`ConnectionLimits::idle`];
//! - **head**: a request's first byte arrived, its headers are not complete: closed
//!   after [`ConnectionLimits::head`] (a slow trickle of headers does not extend it);
//! - **busy**: a request is being handled. Its body is read under
//!   [`ConnectionLimits::body`] by the handler ([`super::read_body`], 408
//!   `request_timeout`); the handler's own time is the tenant's limits'.
//!
//! At most [`ConnectionLimits::max`] connections are open; one more is closed as soon
//! as it is accepted and counted (`callflow_http_refusals_total{code="too_many_connections"}`),
//! rather than left in the kernel's queue where it would wait behind the others.
//!
//! Only HTTP/1.1 is spoken: 8x8 posts webhooks over HTTP/1.1, and load balancers speak it
//! to their upstreams.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower_service::Service as _;

use super::error::record_refusal;
use crate::config::ConnectionLimits;
use crate::throttle::Verdict;

const IDLE: u8 = 0;
const HEAD: u8 = 1;
const BUSY: u8 = 2;

/// A connection's phase and when it began, shared by its reads, its requests and its
/// watchdog. Requests only stamp it (two atomic stores): the watchdog reads it when its
/// own timer fires, so a busy connection costs no timer and no wake-up per request.
#[derive(Debug)]
struct Phase {
    start: Instant,
    phase: AtomicU8,
    /// Milliseconds after `start` at which the phase began.
    since_ms: AtomicU64,
    /// Requests being handled.
    busy: AtomicU32,
}

impl Phase {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            phase: AtomicU8::new(IDLE),
            since_ms: AtomicU64::new(0),
            busy: AtomicU32::new(0),
        }
    }

    fn stamp(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.since_ms.store(ms, Ordering::Relaxed);
    }

    /// Bytes arrived: an idle connection begins a request head.
    fn read(&self) {
        if self
            .phase
            .compare_exchange(IDLE, HEAD, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.stamp();
        }
    }

    fn begin_request(&self) {
        self.busy.fetch_add(1, Ordering::Relaxed);
        self.phase.store(BUSY, Ordering::Relaxed);
    }

    fn end_request(&self) {
        if self.busy.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.stamp();
            self.phase.store(IDLE, Ordering::Relaxed);
        }
    }

    /// When the current phase runs out, and which phase that is (`None`: busy).
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(u8, Instant)> {
        let phase = self.phase.load(Ordering::Relaxed);
        let limit = match phase {
            IDLE => limits.idle,
            HEAD => limits.head,
            _ => return None,
        };
        let since = Duration::from_millis(self.since_ms.load(Ordering::Relaxed));
        Some((phase, self.start + since + limit))
    }

    /// When the watchdog looks next: the current phase's deadline, but no later than
    /// [`ConnectionLimits::head`] from now. A phase the watchdog has not seen begin (a
    /// request head that started after it last looked) runs out no sooner than that, so
    /// every deadline is met on time without the requests waking the watchdog.
    fn next_look(&self, limits: &ConnectionLimits, now: Instant) -> Instant {
        let soonest = now + limits.head;
        self.deadline(limits)
            .map_or(soonest, |(_, at)| at.min(soonest))
    }
}

/// Counts the request as handled when dropped (the response is ready, or the
/// connection went away mid-request).
struct Handling(Arc<Phase>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.end_request();
    }
}

/// The socket, telling its connection's [`Phase`] when bytes arrive.
struct Watched {
    stream: TcpStream,
    phase: Arc<Phase>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.phase.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets
/// every open connection finish its request in progress, and returns once all are closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max));
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            // Out of file descriptors, or a connection reset before it was accepted:
            // nothing to serve; back off a moment rather than spin.
            Err(e) => {
                tracing::debug!(cause = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            if let Verdict::Log { suppressed } = record_refusal("too_many_connections") {
                tracing::info!(
                    %addr,
                    max = limits.max,
                    suppressed,
                    "connection refused: too many open"
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (router, stopped) = (router.clone(), stopped.clone());
        tokio::spawn(async move {
            connection(stream, addr, router, limits, stopped).await;
            drop(permit);
        });
    }
    let _ = stop.send(true);
    // Every connection holds a permit until it is closed.
    let all = u32::try_from(limits.max).unwrap_or(u32::MAX);
    let _ = open.acquire_many(all).await;
    Ok(())
}

/// One connection, until the client closes it, a deadline passes, or the server stops.
async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stopped: watch::Receiver<bool>,
) {
    let phase = Arc::new(Phase::new());
    let io = TokioIo::new(Watched {
        stream,
        phase: Arc::clone(&phase),
    });
    let on_request = Arc::clone(&phase);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(addr));
        on_request.begin_request();
        let handling = Handling(Arc::clone(&on_request));
        let mut router = router.clone();
        async move {
            let response = router.call(request).await;
            drop(handling);
            response
        }
    });
    // No hyper timer: its header deadline would cost a boxed timer per request head;
    // the watchdog below times heads and idleness for every connection.
    let mut conn = pin!(http1::Builder::new().serve_connection(io, service));
    let mut closing = *stopped.borrow();
    if closing {
        conn.as_mut().graceful_shutdown();
    }
    let watchdog = tokio::time::sleep_until(phase.next_look(&limits, Instant::now()));
    let mut watchdog = pin!(watchdog);
    loop {
        tokio::select! {
            _served = conn.as_mut() => return,
            changed = stopped.changed(), if !closing => {
                if changed.is_err() || *stopped.borrow() {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = watchdog.as_mut(), if !closing => {
                let now = Instant::now();
                match phase.deadline(&limits) {
                    // Busy, or the phase moved on since the timer was set: look again.
                    None => {}
                    Some((_, at)) if now < at => {}
                    // Nothing in progress: a graceful shutdown closes it at once.
                    Some((IDLE, _)) => {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                        continue;
                    }
                    Some(_) => {
                        if let Verdict::Log { suppressed } = record_refusal("request_timeout") {
                            tracing::info!(
                                %addr,
                                suppressed,
                                "closed a connection whose request head did not arrive in time"
                            );
                        }
                        return;
                    }
                }
                watchdog.as_mut().reset(phase.next_look(&limits, now));
            }
        }
    }
}
