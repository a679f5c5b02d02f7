//! A small HTTP/1.1 load generator for the benchmarks: keep-alive connections on
//! loopback, each posting requests back to back, with per-request latency. Lean on
//! purpose (pre-built request bytes, no HTTP client stack) so that as much CPU as
//! possible goes to the server under test.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One stream of requests: where to send them and how to build each body.
#[derive(Clone)]
#[allow(missing_debug_implementations, reason = "holds a closure")]
pub struct Target {
    /// Server address.
    pub addr: SocketAddr,
    /// Request path.
    pub path: String,
    /// Builds the JSON body of request `n` on connection `c`. `n` is unique among all
    /// the requests this process sends, across runs: a body that repeats an event id
    /// would be answered from the host's duplicate cache, not by the plugin.
    pub body: Arc<dyn Fn(usize, u64) -> String + Send + Sync>,
    /// `None`: each connection sends its next request as soon as the last is answered
    /// (closed loop, as much as the server takes). `Some(gap)`: each connection sends
    /// one request per `gap` (a fixed offered rate, so latency shows interference
    /// rather than queueing behind our own requests).
    pub pace: Option<Duration>,
}

/// What a run measured for one target.
#[derive(Debug, Clone)]
pub struct Report {
    /// Completed requests per second.
    pub rps: f64,
    /// Sorted request latencies.
    pub latencies: Vec<Duration>,
}

impl Report {
    /// The latency at quantile `q` (0..=1).
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index into a Vec"
        )]
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[i]
    }
}

/// The `n` of the next request, in every run of this process.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// Runs `connections[i]` connections against `targets[i]`, all at once, for `duration`;
/// returns one report per target. Each target runs on its own thread and runtime, as
/// separate clients would: a target's responses never wait in line behind another's
/// (a paced tenant's client is not slowed by reading a flood's answers).
pub fn run(targets: &[(Target, usize)], duration: Duration) -> Vec<Report> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let clients: Vec<_> = targets
        .iter()
        .cloned()
        .map(|(target, connections)| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("load runtime");
                rt.block_on(async move {
                    let tasks: Vec<_> = (0..connections)
                        .map(|c| tokio::spawn(connection(target.clone(), c, Arc::clone(&stop))))
                        .collect();
                    let mut latencies = Vec::new();
                    for t in tasks {
                        latencies.extend(t.await.expect("load connection"));
                    }
                    latencies
                })
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed();
    clients
        .into_iter()
        .map(|client| {
            let mut latencies = client.join().expect("load thread");
            latencies.sort();
            #[allow(clippy::cast_precision_loss, reason = "a request count")]
            let rps = latencies.len() as f64 / elapsed.as_secs_f64();
            Report { rps, latencies }
        })
        .collect()
}

async fn connection(target: Target, c: usize, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let mut stream = tokio::net::TcpStream::connect(target.addr)
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut buf = vec![0u8; 64 * 1024];
    let mut latencies = Vec::new();
    let mut next = tokio::time::Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some(gap) = target.pace {
            tokio::time::sleep_until(next).await;
            next += gap;
        }
        let n = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
        let body = (target.body)(c, n);
        let request = format!(
            "POST {} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            target.path,
            body.len()
        );
        let start = Instant::now();
        stream.write_all(request.as_bytes()).await.expect("write");
        read_response(&mut stream, &mut buf).await;
        latencies.push(start.elapsed());
    }
    latencies
}

/// Reads one HTTP/1.1 response with a Content-Length body; panics on anything but 200.
async fn read_response(stream: &mut tokio::net::TcpStream, buf: &mut [u8]) {
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buf[filled..]).await.expect("read");
        assert!(n > 0, "server closed the connection");
        filled += n;
        if let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).expect("head");
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("content-length");
            while filled < end + 4 + length {
                let n = stream.read(&mut buf[filled..]).await.expect("read body");
                assert!(n > 0, "server closed mid-body");
                filled += n;
            }
            return;
        }
    }
}
