//! Uploads beside serving: a neighbour tenant's webhook latency while another tenant
//! uploads a component as large as an interpreter-based one (`tests/guests/bulky`, 12+ MiB
//! of generated code, built on first use). Run with
//! `cargo bench -p callflow-tests --bench compile`.
//!
//! Three runs, each on a fresh host (so the upload really compiles):
//! - **compile as before**: compile threads = cores at `nice` 0, which is how wasmtime
//!   compiled before (rayon's global pool, one thread per core, serving's priority);
//! - **compile threads (default)**: `[runtime]`'s defaults, half the cores at `nice` 10;
//! - **quiet**: the neighbour alone, the baseline, run last on the same warm machine.
//!
//! The neighbour's callers arrive at a fixed rate (4 connections, one call each per 2 ms),
//! so its latency shows interference rather than queueing behind its own requests.
//! `BULKY_WASM=path` uploads that component instead of building the bulky guest.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callflow_server::config::{Overrides, ServerConfig};
use callflow_test_artifacts::IVR_WASM;
use callflow_tests::load::{self, Report, Target};

const BODY: &str = r#"{"namespace":"VOICE","eventType":"CALL_ACTION","payload":{"eventId":"EVENT","callId":"c","sessionId":"SESSION","subAccountId":"8x8_test","callStatus":"CALL_RECEIVED","callDirection":"INBOUND","callType":"PSTN","source":"+6591178965","destination":"+6568332048","callDuration":0,"sipCode":200,"timestamp":"2026-01-06T10:17:19.375Z"}}"#;
const TOKEN: &str = "bench-operator";
const IVR_TOML: &str = "sub_accounts = [\"*\"]\n[config]\nvirtual_number = \"+6512345678\"\nrepresentative_number = \"+6587654321\"\n";
/// How long one slice of load runs; the upload is polled between slices.
const SLICE: Duration = Duration::from_millis(500);

fn main() {
    let wasm = std::fs::read(bulky_wasm()).expect("read the bulky component");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "\n## A neighbour's webhooks while a {:.1} MiB component compiles\n",
        mib(wasm.len())
    );
    println!("{cores} cores; the neighbour (IVR) gets 2,000 calls a second on 4 connections.\n");
    let runs: [(&str, Option<String>); 3] = [
        (
            "compile as before (all cores, nice 0)",
            Some(format!("compile_threads = {cores}\ncompile_nice = 0\n")),
        ),
        ("compile threads (default)", Some(String::new())),
        // Last, for as long as the longest compile took: the same warm machine.
        ("quiet (no upload)", None),
    ];
    let mut rows = Vec::new();
    let mut compile_seconds = 0.0_f64;
    for (label, runtime) in runs {
        let host = BenchHost::start(label, runtime.as_deref().unwrap_or(""));
        let neighbour = host.target("neighbour");
        // Warm up: the neighbour's plugin is loaded and its slots filled.
        load::run(&[(neighbour.clone(), 4)], SLICE);
        let (report, compile) = match runtime {
            None => {
                let span = Duration::from_secs_f64(compile_seconds.max(5.0));
                (load::run(&[(neighbour, 4)], span).remove(0), None)
            }
            Some(_) => {
                let upload = host.upload("uploader", wasm.clone());
                let mut slices = Vec::new();
                while !upload.is_finished() {
                    slices.push(load::run(&[(neighbour.clone(), 4)], SLICE).remove(0));
                }
                let took = upload.join().expect("upload thread");
                compile_seconds = compile_seconds.max(took.as_secs_f64());
                (merge(&slices), Some(took))
            }
        };
        rows.push((label, compile, report));
        drop(host);
    }
    let quiet = rows
        .last()
        .map(|(_, _, r)| r.quantile(0.99).as_secs_f64())
        .unwrap_or(1.0);
    println!(
        "| run | upload answered s | neighbour req/s | p50 µs | p99 µs | max µs | p99 / quiet |\n|---|---|---|---|---|---|---|"
    );
    for (label, compile, report) in &rows {
        let p99 = report.quantile(0.99);
        println!(
            "| {label} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2}x |",
            compile.map_or("-".to_owned(), |d| format!("{:.1}", d.as_secs_f64())),
            report.rps,
            micros(report.quantile(0.5)),
            micros(p99),
            micros(report.latencies.last().copied().unwrap_or_default()),
            p99.as_secs_f64() / quiet,
        );
    }
}

/// A host in this process with two IVR tenants, `neighbour` and `uploader`.
struct BenchHost {
    addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
}

impl BenchHost {
    fn start(label: &str, runtime_toml: &str) -> Self {
        let slug: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-compile-{slug}"));
        let _ = std::fs::remove_dir_all(&data);
        for id in ["neighbour", "uploader"] {
            let dir = data.join("tenants").join(id);
            std::fs::create_dir_all(&dir).expect("tenant dir");
            std::fs::copy(IVR_WASM, dir.join("plugin.wasm")).expect("copy");
            std::fs::write(dir.join("tenant.toml"), IVR_TOML).expect("toml");
        }
        let host_toml = data.join("host.toml");
        std::fs::write(&host_toml, format!("[runtime]\n{runtime_toml}")).expect("host.toml");
        let config = ServerConfig::load(
            Some(&host_toml),
            Overrides {
                data_dir: Some(data.clone()),
                tenants_dir: Some(data.join("tenants")),
                watch: Some(false),
                admin_token: Some(TOKEN.to_owned()),
                ..Overrides::default()
            },
        )
        .expect("config");
        let (runtime, addr) = callflow_tests::serve(config);
        Self { addr, runtime }
    }

    fn target(&self, tenant: &str) -> Target {
        let tag = tenant.to_owned();
        Target {
            addr: self.addr,
            path: format!("/v1/tenants/{tenant}/webhooks/voice"),
            body: Arc::new(move |c, n| {
                BODY.replace("EVENT", &format!("{tag}-{c}-{n}"))
                    .replace("SESSION", &format!("{tag}-s-{c}-{n}"))
            }),
            pace: Some(Duration::from_millis(2)),
        }
    }

    /// Uploads `wasm` for `tenant` on a thread of its own; the thread ends with how long
    /// the upload took to be answered 201 (it panics on anything else).
    fn upload(&self, tenant: &str, wasm: Vec<u8>) -> std::thread::JoinHandle<Duration> {
        let url = format!("http://{}/v1/admin/tenants/{tenant}/versions", self.addr);
        let handle = self.runtime.handle().clone();
        std::thread::spawn(move || {
            handle.block_on(async move {
                let start = Instant::now();
                let resp = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(TOKEN)
                    .body(wasm)
                    .send()
                    .await
                    .expect("upload");
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                assert_eq!(status.as_u16(), 201, "the upload was refused: {body}");
                start.elapsed()
            })
        })
    }
}

/// The slices' latencies as one report.
fn merge(slices: &[Report]) -> Report {
    let mut latencies: Vec<Duration> = slices
        .iter()
        .flat_map(|r| r.latencies.iter().copied())
        .collect();
    latencies.sort_unstable();
    #[allow(clippy::cast_precision_loss, reason = "a mean of a few")]
    let rps = slices.iter().map(|r| r.rps).sum::<f64>() / slices.len().max(1) as f64;
    Report { rps, latencies }
}

/// The bulky guest's component, built (once; cargo keeps it) unless `BULKY_WASM` names
/// one.
fn bulky_wasm() -> PathBuf {
    if let Some(path) = std::env::var_os("BULKY_WASM") {
        return PathBuf::from(path);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/bulky/Cargo.toml");
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bulky-target");
    println!("building tests/guests/bulky (minutes the first time) ...");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the bulky guest failed");
    target_dir.join("wasm32-wasip2/release/bulky.wasm")
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[allow(clippy::cast_precision_loss, reason = "a size to print")]
fn mib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}
