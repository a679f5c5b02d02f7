//! A soak: mixed traffic against one host on loopback for a bounded time, as a day of
//! service looks, with what must stay flat measured as it runs.
//!
//! - two tenants' calls walked end to end: the IVR (a menu, a choice, status events and
//!   the summary) and number masking (a booking made over its API, the call bridged, the
//!   summary, the booking released);
//! - bad input sprinkled in (malformed JSON, an unknown tenant, a wrong API key);
//! - a new IVR version uploaded and activated every `reload_every`.
//!
//! Number masking keeps a released booking's record for its `retention_seconds` and its
//! call log for that plus `max_ttl_seconds` (7 days each by default: about three keys and
//! a kilobyte a booking). At the soak's 100-odd bookings a second that fills the default
//! quota (100,000 keys, 64 MiB) in under ten minutes, and the quota then refuses
//! bookings, as it should. So the soak's tenant keeps records a minute and books for two
//! (`max_ttl_seconds` 120), as an operator with that traffic would; the host purges
//! expired entries every minute (`kv_purge_s = 60`, hourly by default), so the store
//! reaches its steady size within the warm-up instead of growing to the quota.
//!
//! Answers to repeated deliveries are kept a minute (`answer_window_s = 60`) rather than
//! the default five: the window fills in the first minute, and memory must be flat after.
//! (At the default window and the soak's 4,000 deliveries a second the answers reach
//! their 128 MiB budget only after about seven minutes.)
//!
//! It prints a table, a row per tenth of the run: requests, p50/p99 latency, the
//! process's resident memory and open descriptors (the host and this load generator
//! share the process: the generator's part is fixed), what the host says it holds (kept
//! answers, pinned calls, compiled components, from `/metrics`) and the size of its
//! `kv.redb`, and the share of CPU time the hypervisor stole from this virtual machine
//! (a slow slice with a high steal is the machine's, not the host's), then the counts by
//! kind. Used by
//! `benches/soak.rs` (10 minutes) and an e2e test (a minute, in CI).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callflow_server::config::{Overrides, ServerConfig};
use serde_json::{Value, json};

/// The API key of the masking tenant (its sha256 is in its `tenant.toml`).
const KEY: &str = "soak-key";
const OPERATOR: &str = "soak-operator";

/// What a soak measured.
#[derive(Debug, Clone, Default)]
pub struct SoakReport {
    /// Requests by kind, answered as expected.
    pub ok: BTreeMap<&'static str, u64>,
    /// Requests by kind, answered otherwise (each is a failure of the soak).
    pub unexpected: BTreeMap<&'static str, u64>,
    /// A row per sample: (seconds in, requests in the slice, p50, p99, RSS KiB, fds).
    pub samples: Vec<Sample>,
    /// The first few unexpected answers, for the reader.
    pub examples: Vec<String>,
    /// IVR versions uploaded and activated during the run.
    pub reloads: u64,
}

/// One slice of the run.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the start.
    pub at: u64,
    /// Requests completed in the slice.
    pub requests: u64,
    /// Median latency in the slice.
    pub p50: Duration,
    /// 99th percentile latency in the slice.
    pub p99: Duration,
    /// Resident memory of the process, KiB.
    pub rss_kib: u64,
    /// Open file descriptors of the process.
    pub fds: u64,
    /// What the host says it holds (`/metrics`): kept answers' bytes, pinned calls and
    /// compiled components, over all tenants.
    pub answers_bytes: u64,
    /// Calls pinned to a version.
    pub pinned: u64,
    /// Distinct compiled components in memory.
    pub components: u64,
    /// The embedded store's file, bytes.
    pub kv_bytes: u64,
    /// Share of the machine's CPU time the hypervisor gave to others during the slice
    /// (`steal` in `/proc/stat`), percent: on a shared virtual machine, what explains a
    /// slice slower than its neighbours.
    pub steal_pct: f64,
}

impl SoakReport {
    /// The table and the counts, as printed.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| at s | requests | p50 ms | p99 ms | RSS MiB | fds | answers MiB | pinned | components | kv.redb MiB | steal % |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        let mib = |b: u64| b as f64 / f64::from(1 << 20);
        for s in &self.samples {
            out.push_str(&format!(
                "| {} | {} | {:.2} | {:.2} | {:.1} | {} | {:.1} | {} | {} | {:.1} | {:.0} |\n",
                s.at,
                s.requests,
                s.p50.as_secs_f64() * 1e3,
                s.p99.as_secs_f64() * 1e3,
                s.rss_kib as f64 / 1024.0,
                s.fds,
                mib(s.answers_bytes),
                s.pinned,
                s.components,
                mib(s.kv_bytes),
                s.steal_pct,
            ));
        }
        out.push_str(&format!("\nanswered as expected: {:?}\n", self.ok));
        out.push_str(&format!("unexpected: {:?}\n", self.unexpected));
        out.push_str(&format!(
            "IVR versions activated during the run: {}\n",
            self.reloads
        ));
        for e in &self.examples {
            out.push_str(&format!("  e.g. {e}\n"));
        }
        out
    }
}

/// Runs the soak for `duration` against a fresh host with its state in `dir`, a new IVR
/// version every `reload_every`.
pub fn run(
    dir: &Path,
    ivr_wasm: &Path,
    masking_wasm: &Path,
    duration: Duration,
    reload_every: Duration,
) -> SoakReport {
    let _ = std::fs::remove_dir_all(dir);
    let tenants = dir.join("tenants");
    let key_sha = callflow_server::tenant::repo::digest(KEY.as_bytes());
    for (id, wasm, toml) in [
        (
            "ivr",
            ivr_wasm,
            "sub_accounts = [\"*\"]\n[config]\nvirtual_number = \"+6512345678\"\nrepresentative_number = \"+6587654321\"\n".to_owned(),
        ),
        (
            "rides",
            masking_wasm,
            format!("sub_accounts = [\"*\"]\napi_keys_sha256 = [\"{key_sha}\"]\n[limits]\nfuel = 100000000\ntimeout_ms = 1000\n[config]\npool = \"+6568001001=vn-1,+6568001002=vn-2,+6568001003=vn-3,+6568001004=vn-4\"\nretention_seconds = \"60\"\nmax_ttl_seconds = \"120\"\ndefault_ttl_seconds = \"120\"\n"),
        ),
    ] {
        let t = tenants.join(id);
        std::fs::create_dir_all(&t).expect("tenant dir");
        std::fs::write(t.join("tenant.toml"), toml).expect("toml");
        std::fs::copy(wasm, t.join("plugin.wasm")).expect("plugin");
    }
    // Answers are kept a minute rather than five, and expired entries purged every
    // minute rather than hourly: the warm-up fills both, and what follows must be flat.
    let host_toml = dir.join("host.toml");
    std::fs::write(
        &host_toml,
        "answer_window_s = 60\n[server]\nkv_purge_s = 60\n",
    )
    .expect("host.toml");
    let config = ServerConfig::load(
        Some(&host_toml),
        Overrides {
            data_dir: Some(dir.join("data")),
            tenants_dir: Some(tenants.clone()),
            watch: Some(false),
            admin_token: Some(OPERATOR.to_owned()),
            ..Overrides::default()
        },
    )
    .expect("config");
    let (server, addr) = crate::serve(config);
    let ivr = std::fs::read(ivr_wasm).expect("ivr");
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("load runtime");
    let report = load.block_on(drive(addr, ivr, duration, reload_every, dir.to_owned()));
    drop(server);
    report
}

#[derive(Default)]
struct Tally {
    ok: BTreeMap<&'static str, u64>,
    unexpected: BTreeMap<&'static str, u64>,
    examples: Vec<String>,
    latencies: Vec<Duration>,
}

impl Tally {
    fn record(
        &mut self,
        kind: &'static str,
        good: bool,
        took: Duration,
        what: impl FnOnce() -> String,
    ) {
        self.latencies.push(took);
        if good {
            *self.ok.entry(kind).or_default() += 1;
        } else {
            *self.unexpected.entry(kind).or_default() += 1;
            if self.examples.len() < 10 {
                self.examples.push(format!("{kind}: {}", what()));
            }
        }
    }
}

struct Client {
    http: reqwest::Client,
    addr: SocketAddr,
    tally: Arc<Mutex<Tally>>,
}

impl Client {
    async fn send(
        &self,
        kind: &'static str,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Vec<u8>,
        expect: impl FnOnce(u16, &Value) -> bool,
    ) -> Value {
        let mut req = self
            .http
            .request(
                method.parse().expect("method"),
                format!("http://{}{path}", self.addr),
            )
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(10))
            .body(body);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let start = Instant::now();
        let answer = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                (status, serde_json::from_str(&text).unwrap_or(Value::Null))
            }
            Err(e) => (0, Value::String(e.to_string())),
        };
        let took = start.elapsed();
        let good = expect(answer.0, &answer.1);
        self.tally
            .lock()
            .expect("tally")
            .record(kind, good, took, || format!("{} {}", answer.0, answer.1));
        answer.1
    }
}

fn webhook(event_type: &str, payload: Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({ "namespace": "VOICE", "eventType": event_type, "payload": payload }),
    )
    .expect("json")
}

fn call_payload(
    n: u64,
    tag: &str,
    source: &str,
    destination: &str,
    action: Option<(&str, &str)>,
) -> Value {
    let mut p = json!({
        "eventId": format!("{tag}-{n}-{}", action.map_or("new", |a| a.0)),
        "callId": format!("call-{tag}-{n}"),
        "sessionId": format!("session-{tag}-{n}"),
        "subAccountId": "soak",
        "callStatus": if action.is_some() { "ACTION_COMPLETED" } else { "CALL_RECEIVED" },
        "callDirection": "INBOUND",
        "callType": "PSTN",
        "source": source,
        "destination": destination,
        "sourceFormat": "MSISDN",
        "destinationFormat": "MSISDN",
        "callDuration": 0,
        "timestamp": "2026-12-03T10:17:19.375Z",
    });
    if let Some((id, digits)) = action {
        p["clientActionId"] = id.into();
        p["eventData"] = json!({ "dtmf": digits });
    }
    p
}

/// 8x8's own session summary sample, for session `n` of `tag`.
fn summary(n: u64, tag: &str) -> Vec<u8> {
    const SAMPLE: &str = include_str!(
        "../cases/webhooks/session-summary-ivr--session_summary--completed/request.json"
    );
    let mut hook: Value = serde_json::from_str(SAMPLE).expect("sample");
    hook["payload"]["sessionId"] = format!("session-{tag}-{n}").into();
    hook["payload"]["eventId"] = format!("{tag}-{n}-summary").into();
    serde_json::to_vec(&hook).expect("json")
}

async fn ivr_calls(c: Arc<Client>, worker: u64, stop: Arc<AtomicBool>) {
    let mut n = worker * 1_000_000_000;
    let url = "/v1/tenants/ivr/webhooks/voice";
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let tag = "ivr";
        c.send(
            "ivr call",
            "POST",
            url,
            None,
            webhook(
                "CALL_ACTION",
                call_payload(n, tag, "+6591000001", "+6512345678", None),
            ),
            |s, v| s == 200 && v["clientActionId"] == "main_menu",
        )
        .await;
        c.send(
            "ivr menu choice",
            "POST",
            url,
            None,
            webhook(
                "CALL_ACTION",
                call_payload(
                    n,
                    tag,
                    "+6591000001",
                    "+6512345678",
                    Some(("main_menu", "3")),
                ),
            ),
            |s, v| s == 200 && v["callflow"].is_array(),
        )
        .await;
        let mut status = call_payload(n, tag, "+6591000001", "+6512345678", None);
        status["eventId"] = format!("{tag}-{n}-status").into();
        status["callStatus"] = "CALL_CONNECTED".into();
        c.send(
            "ivr status",
            "POST",
            url,
            None,
            webhook("CALL_STATUS", status),
            |s, _| s == 200,
        )
        .await;
        c.send("ivr summary", "POST", url, None, summary(n, tag), |s, _| {
            s == 200
        })
        .await;
    }
}

async fn masking_calls(c: Arc<Client>, stop: Arc<AtomicBool>) {
    let mut n = 0u64;
    let auth = format!("Bearer {KEY}");
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let rider = format!("+6592{:07}", n % 10_000_000);
        let driver = format!("+6593{:07}", n % 10_000_000);
        let booking = c
            .send(
                "masking booking",
                "POST",
                "/v1/tenants/rides/api/bookings",
                Some(&auth),
                serde_json::to_vec(&json!({ "participants": [rider, driver], "ttlSeconds": 120 }))
                    .expect("json"),
                |s, v| s == 201 && v["bookingId"].is_string(),
            )
            .await;
        let (Some(id), Some(vn)) = (
            booking["bookingId"].as_str(),
            booking["virtualNumber"].as_str(),
        ) else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let driver_json = json!(driver);
        c.send(
            "masking call",
            "POST",
            "/v1/tenants/rides/webhooks/voice",
            None,
            webhook("CALL_ACTION", call_payload(n, "rides", &rider, vn, None)),
            |s, v| s == 200 && v["callflow"][0]["params"]["destination"] == driver_json,
        )
        .await;
        c.send(
            "masking summary",
            "POST",
            "/v1/tenants/rides/webhooks/voice",
            None,
            summary(n, "rides"),
            |s, _| s == 200,
        )
        .await;
        c.send(
            "masking release",
            "DELETE",
            &format!("/v1/tenants/rides/api/bookings/{id}"),
            Some(&auth),
            Vec::new(),
            |s, _| s == 200 || s == 204,
        )
        .await;
    }
}

async fn bad_input(c: Arc<Client>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        c.send(
            "bad: malformed json",
            "POST",
            "/v1/tenants/ivr/webhooks/voice",
            None,
            b"{nope".to_vec(),
            |s, v| s == 400 && v["code"] == "malformed_json",
        )
        .await;
        c.send(
            "bad: unknown tenant",
            "POST",
            "/v1/tenants/nobody/webhooks/voice",
            None,
            b"{}".to_vec(),
            |s, v| s == 404 && v["code"] == "unknown_tenant",
        )
        .await;
        c.send(
            "bad: wrong key",
            "GET",
            "/v1/tenants/rides/api/pool",
            Some("Bearer wrong"),
            Vec::new(),
            |s, v| s == 401 && v["code"].is_string(),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn reloads(
    c: Arc<Client>,
    ivr: Vec<u8>,
    every: Duration,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) {
    let auth = format!("Bearer {OPERATOR}");
    let mut n = 0u8;
    loop {
        let slept = tokio::time::sleep(every);
        tokio::pin!(slept);
        while !stop.load(Ordering::Relaxed) {
            tokio::select! {
                () = &mut slept => break,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        n = n.wrapping_add(1);
        // The same IVR under a digest of its own: a custom section named after `n`.
        let mut wasm = ivr.clone();
        wasm.extend_from_slice(&[0, 3, 2, b'n', n]);
        c.send(
            "reload",
            "POST",
            "/v1/admin/tenants/ivr/versions",
            Some(&auth),
            wasm,
            |s, _| s == 201,
        )
        .await;
        count.fetch_add(1, Ordering::Relaxed);
    }
}

fn process_stats() -> (u64, u64) {
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0);
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    (rss, fds)
}

/// The machine's CPU time so far, all of it and the part stolen by the hypervisor, in
/// ticks (the first line of `/proc/stat`).
fn cpu_times() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice, inside user]
    (
        ticks.iter().take(8).sum(),
        ticks.get(7).copied().unwrap_or(0),
    )
}

/// The sum over every label set of the gauge `name` in a Prometheus text.
fn metric_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let value = match rest.as_bytes().first()? {
                b' ' => rest,
                b'{' => &rest[rest.find('}')? + 1..],
                _ => return None,
            };
            value.trim().parse::<f64>().ok()
        })
        .sum::<f64>() as u64
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index"
    )]
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

async fn drive(
    addr: SocketAddr,
    ivr: Vec<u8>,
    duration: Duration,
    reload_every: Duration,
    dir: PathBuf,
) -> SoakReport {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let client = Arc::new(Client {
        http: reqwest::Client::new(),
        addr,
        tally: Arc::clone(&tally),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let reloaded = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..2 {
        tasks.push(tokio::spawn(ivr_calls(
            Arc::clone(&client),
            w,
            Arc::clone(&stop),
        )));
    }
    tasks.push(tokio::spawn(masking_calls(
        Arc::clone(&client),
        Arc::clone(&stop),
    )));
    tasks.push(tokio::spawn(bad_input(
        Arc::clone(&client),
        Arc::clone(&stop),
    )));
    tasks.push(tokio::spawn(reloads(
        Arc::clone(&client),
        ivr,
        reload_every,
        Arc::clone(&stop),
        Arc::clone(&reloaded),
    )));

    let start = Instant::now();
    let slice = duration / 10;
    let mut samples = Vec::new();
    let mut cpu = cpu_times();
    for i in 1..=10u32 {
        tokio::time::sleep_until(tokio::time::Instant::from_std(start + slice * i)).await;
        let mut latencies = std::mem::take(&mut tally.lock().expect("tally").latencies);
        latencies.sort();
        let (rss_kib, fds) = process_stats();
        let now = cpu_times();
        let (total, steal) = (now.0 - cpu.0, now.1 - cpu.1);
        cpu = now;
        let metrics = client
            .http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        let metrics = match metrics {
            Ok(resp) => resp.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        samples.push(Sample {
            at: (slice * i).as_secs(),
            requests: latencies.len() as u64,
            p50: quantile(&latencies, 0.5),
            p99: quantile(&latencies, 0.99),
            rss_kib,
            fds,
            answers_bytes: metric_sum(&metrics, "callflow_answers_bytes"),
            pinned: metric_sum(&metrics, "callflow_pinned_calls"),
            components: metric_sum(&metrics, "callflow_components_in_memory"),
            kv_bytes: std::fs::metadata(dir.join("data/kv.redb")).map_or(0, |m| m.len()),
            steal_pct: if total == 0 {
                0.0
            } else {
                steal as f64 * 100.0 / total as f64
            },
        });
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let tally = tally.lock().expect("tally");
    SoakReport {
        ok: tally.ok.clone(),
        unexpected: tally.unexpected.clone(),
        samples,
        examples: tally.examples.clone(),
        reloads: reloaded.load(Ordering::Relaxed),
    }
}
