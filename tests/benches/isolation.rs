//! Isolation under load: a well-behaved tenant (the IVR) alone, then beside a tenant whose
//! plugin burns its whole fuel budget on every event, both under load on one host.
//! Prints latency (p50/p99) and throughput of each, for three runs in a row (`BENCH_RUNS`),
//! and the calm tenant's p99 beside the noisy one over its p99 alone, run by run. Run
//! with `cargo bench -p callflow-tests --bench isolation`.
//!
//! The noisy tenant's caps are what keep it from holding every core: at most one event
//! at a time (`max_concurrency`) and its fuel rate (`fuel_per_second`, default about a
//! quarter of a core); beyond them its calls get the fallback at once.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use callflow_server::config::{Overrides, ServerConfig};
use callflow_test_artifacts::{HOSTILE_WASM, IVR_WASM};
use callflow_tests::load::{self, Report, Target};
use tokio::runtime::Runtime;

const BODY: &str = r#"{"namespace":"VOICE","eventType":"CALL_ACTION","payload":{"eventId":"EVENT","callId":"c","sessionId":"SESSION","subAccountId":"8x8_test","callStatus":"CALL_RECEIVED","callDirection":"INBOUND","callType":"PSTN","source":"+6591178965","destination":"+6568332048","callDuration":0,"sipCode":200,"timestamp":"2026-01-06T10:17:19.375Z"}}"#;

fn target(addr: SocketAddr, tenant: &str, pace: Option<Duration>) -> Target {
    let tag = tenant.to_owned();
    Target {
        addr,
        path: format!("/v1/tenants/{tenant}/webhooks/voice"),
        body: Arc::new(move |c, n| {
            BODY.replace("EVENT", &format!("{tag}-{c}-{n}"))
                .replace("SESSION", &format!("{tag}-s-{c}-{n}"))
        }),
        pace,
    }
}

fn row(run: u32, label: &str, r: &Report) {
    println!(
        "| {run} | {label} | {:.0} | {:.0} | {:.0} |",
        r.rps,
        r.quantile(0.5).as_secs_f64() * 1e6,
        r.quantile(0.99).as_secs_f64() * 1e6
    );
}

/// A counter of `tenant`'s from `/metrics`, such as `callflow_plugin_invocations_total`.
fn counter(server: &Runtime, addr: SocketAddr, name: &str, tenant: &str) -> u64 {
    let text = server
        .block_on(async {
            reqwest::get(format!("http://{addr}/metrics"))
                .await?
                .error_for_status()?
                .text()
                .await
        })
        .expect("/metrics");
    let series = format!("{name}{{tenant=\"{tenant}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series}in /metrics"))
}

/// The calm tenant's plugin invocations so far: each of its requests must be one, or the
/// run measured replies from the duplicate cache.
fn calm_invocations(server: &Runtime, addr: SocketAddr) -> u64 {
    counter(server, addr, "callflow_plugin_invocations_total", "calm")
}

/// Runs `targets` for `duration`, checking that every request of the calm tenant (the
/// first target) ran its plugin.
fn measured(
    server: &Runtime,
    addr: SocketAddr,
    targets: &[(Target, usize)],
    duration: Duration,
) -> Vec<Report> {
    let before = calm_invocations(server, addr);
    let reports = load::run(targets, duration);
    let ran = calm_invocations(server, addr) - before;
    assert_eq!(
        ran,
        reports[0].latencies.len() as u64,
        "each of the calm tenant's requests must run its plugin"
    );
    reports
}

fn main() {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-isolation");
    let _ = std::fs::remove_dir_all(&data);
    for (id, wasm, toml) in [
        (
            "calm",
            IVR_WASM,
            "sub_accounts = [\"*\"]\n[config]\nvirtual_number = \"+6512345678\"\nrepresentative_number = \"+6587654321\"\n",
        ),
        (
            "noisy",
            HOSTILE_WASM,
            "sub_accounts = [\"*\"]\n[limits]\nmax_concurrency = 1\n[config]\nmode = \"loop\"\n",
        ),
    ] {
        let dir = data.join("tenants").join(id);
        std::fs::create_dir_all(&dir).expect("tenant dir");
        std::fs::copy(wasm, dir.join("plugin.wasm")).expect("copy");
        std::fs::write(dir.join("tenant.toml"), toml).expect("toml");
    }
    let config = ServerConfig::load(
        None,
        Overrides {
            data_dir: Some(data.clone()),
            tenants_dir: Some(data.join("tenants")),
            watch: Some(false),
            ..Overrides::default()
        },
    )
    .expect("config");
    let (server, addr) = callflow_tests::serve(config);
    let duration = Duration::from_secs(seconds);
    // The calm tenant's callers arrive at a steady 2,000 calls a second (4 connections,
    // one request each per 2 ms); the noisy tenant floods as fast as the host answers.
    let calm = target(addr, "calm", Some(Duration::from_millis(2)));
    let noisy = target(addr, "noisy", None);
    // Warm up (compiles nothing: both plugins are loaded; fills the pool's slots).
    load::run(
        &[(calm.clone(), 4), (noisy.clone(), 4)],
        Duration::from_millis(500),
    );

    println!(
        "\n## Isolation: the IVR tenant alone, then beside a tenant burning 10M fuel per event\n"
    );
    println!(
        "4 keep-alive connections per tenant, {seconds} s per run; the noisy tenant has max_concurrency = 1.\n"
    );
    let runs = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    println!("| run | load | req/s | p50 µs | p99 µs |\n|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for run in 1..=runs {
        let alone = measured(&server, addr, &[(calm.clone(), 4)], duration);
        row(run, "calm alone", &alone[0]);
        let both = measured(
            &server,
            addr,
            &[(calm.clone(), 4), (noisy.clone(), 4)],
            duration,
        );
        row(run, "calm beside noisy", &both[0]);
        row(run, "noisy (fallbacks once over its cap)", &both[1]);
        ratios.push(both[0].quantile(0.99).as_secs_f64() / alone[0].quantile(0.99).as_secs_f64());
    }
    // Where each tenant's invocations ran: the noisy one's burn on the long lane (below
    // the serving workers' priority), the calm one's never.
    let lane = |tenant| {
        (
            counter(&server, addr, "callflow_plugin_long_lane_total", tenant),
            counter(&server, addr, "callflow_plugin_invocations_total", tenant),
        )
    };
    let ((calm_long, calm_all), (noisy_long, noisy_all)) = (lane("calm"), lane("noisy"));
    println!(
        "\non the long lane: noisy {noisy_long} of {noisy_all} invocations, calm {calm_long} of {calm_all}"
    );
    assert_eq!(calm_long, 0, "the calm tenant's plugin never runs long");
    let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}x")).collect();
    let met = ratios.iter().all(|r| *r <= 2.0);
    println!(
        "\ncalm p99 beside noisy / alone, run by run: {} (target: within 2x in every run: {})",
        shown.join(", "),
        if met { "met" } else { "not met" }
    );
    drop(server);
}
