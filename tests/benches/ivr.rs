//! The IVR plugin's per-event cost, in process and over HTTP, beside the same decision
//! made natively. Run with `cargo bench -p callflow-tests --bench ivr`; prints tables.
//!
//! 1. In process: a fresh store + instantiate + call per event, split into stages
//!    (p50 / p99 over many events), through the host's `Runtime`.
//! 2. Natively: the same webhook parsed, decided by the same IVR code through the SDK's
//!    native harness, and rendered as 8x8 JSON.
//! 3. HTTP on loopback: requests per second of the host serving the IVR component (fresh
//!    instance per event) and of a native axum handler doing the same work, measured in
//!    the same run by the same load generator, alternating rounds.
//!
//! `BENCH_SECONDS` (default 3) sets each HTTP round's length, `BENCH_EVENTS` (default
//! 20000) the in-process sample count.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use callflow_server::Server;
use callflow_server::config::{Overrides, ServerConfig};
use callflow_server::event_span::EventSpan;
use callflow_server::runtime::{InvokeContext, Limits, Runtime, RuntimeConfig};
use callflow_server::store::{KvStore, RedbStore};
use callflow_test_artifacts::IVR_WASM;
use callflow_tests::load;

const BODY: &str = r#"{"namespace":"VOICE","eventType":"CALL_ACTION","description":"Action request of a call","payload":{"eventId":"EVENT","callId":"e1ff6a14-eae8-11f0-baa6-c93abb37794a","sessionId":"e1ff6a15-eae8-11f0-baa6-c147150ab00e","subAccountId":"8x8_test","callStatus":"ACTION_COMPLETED","callDirection":"INBOUND","callType":"PSTN","source":"+6591178965","destination":"+6568332048","sourceFormat":"MSISDN","destinationFormat":"MSISDN","sourceCountryCode":"SG","destinationCountryCode":"SG","callDuration":0,"sipCode":200,"timestamp":"2026-01-06T10:17:19.375Z","clientActionId":"main_menu","eventData":{"dtmf":"1"}}}"#;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn main() {
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-ivr");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).expect("bench dir");
    let kv: Arc<dyn KvStore> = Arc::new(
        RedbStore::open(&data.join("kv.redb"), RedbStore::DEFAULT_CACHE_BYTES).expect("store"),
    );
    let runtime = Arc::new(
        Runtime::new(RuntimeConfig {
            cache_dir: Some(data.join("compiled")),
            ..RuntimeConfig::default()
        })
        .expect("runtime"),
    );
    let plugin = runtime.load_file(Path::new(IVR_WASM)).expect("IVR loads");
    let config: Arc<std::collections::HashMap<String, String>> = Arc::new(
        [
            ("virtual_number", "+6512345678"),
            ("representative_number", "+6587654321"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    );
    let events = env_or("BENCH_EVENTS", 20_000) as usize;
    let event = callflow_wire::parse_webhook(BODY.as_bytes()).expect("event");

    // 1. In process.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let mut totals = Vec::with_capacity(events);
    let mut stages: Vec<Vec<Duration>> = (0..4).map(|_| Vec::with_capacity(events)).collect();
    let mut fuel = 0;
    rt.block_on(async {
        for i in 0..events + 1000 {
            let ctx = InvokeContext {
                tenant: Arc::from("bench"),
                config: Arc::clone(&config),
                kv: Arc::clone(&kv),
                limits: Limits::default(),
                logs: Default::default(),
                span: EventSpan::current(),
            };
            let start = Instant::now();
            let outcome = runtime.invoke(&plugin, ctx, &event).await.expect("invoke");
            let total = start.elapsed();
            if i >= 1000 {
                totals.push(total);
                let s = outcome.stages;
                for (v, d) in stages
                    .iter_mut()
                    .zip([s.store_new, s.instantiate, s.call, s.drop])
                {
                    v.push(d);
                }
                fuel = outcome.fuel_used;
            }
        }
    });
    totals.sort();
    for v in &mut stages {
        v.sort();
    }
    println!(
        "\n## IVR plugin, in process: fresh store + instantiate + call, {events} events (µs)\n"
    );
    println!("| stage | p50 | p99 |\n|---|---|---|");
    for (name, v) in ["Store::new", "instantiate", "call", "drop"]
        .iter()
        .zip(&stages)
    {
        println!(
            "| {name} | {} | {} |",
            us(percentile(v, 0.5)),
            us(percentile(v, 0.99))
        );
    }
    println!(
        "| **total** | **{}** | **{}** |",
        us(percentile(&totals, 0.5)),
        us(percentile(&totals, 0.99))
    );
    println!("\nfuel per event: {fuel}");

    // 2. Natively.
    let mut native = Vec::with_capacity(events);
    for _ in 0..events + 1000 {
        let start = Instant::now();
        let body = native_decision(BODY.as_bytes(), &config);
        native.push(start.elapsed());
        std::hint::black_box(body);
    }
    native.drain(..1000);
    native.sort();
    let wasm_like = {
        let mut v = Vec::with_capacity(events);
        rt.block_on(async {
            for _ in 0..events {
                let ctx = InvokeContext {
                    tenant: Arc::from("bench"),
                    config: Arc::clone(&config),
                    kv: Arc::clone(&kv),
                    limits: Limits::default(),
                    logs: Default::default(),
                    span: EventSpan::current(),
                };
                let start = Instant::now();
                let event = callflow_wire::parse_webhook(BODY.as_bytes()).expect("event");
                let outcome = runtime.invoke(&plugin, ctx, &event).await.expect("invoke");
                let body = callflow_server::callflow::answer(outcome.callflow).expect("valid");
                v.push(start.elapsed());
                std::hint::black_box(body);
            }
        });
        v.sort();
        v
    };
    println!("\n## The same decision: parse webhook + decide + render 8x8 JSON (µs)\n");
    println!("| path | p50 | p99 |\n|---|---|---|");
    println!(
        "| native (SDK harness) | {} | {} |",
        us(percentile(&native, 0.5)),
        us(percentile(&native, 0.99))
    );
    println!(
        "| wasm (fresh instance) | {} | {} |",
        us(percentile(&wasm_like, 0.5)),
        us(percentile(&wasm_like, 0.99))
    );
    drop(rt);

    // 3. HTTP on loopback.
    let seconds = env_or("BENCH_SECONDS", 3);
    let connections = env_or("BENCH_CONNECTIONS", 8) as usize;
    let tenants = data.join("tenants").join("ivr");
    std::fs::create_dir_all(&tenants).expect("tenant dir");
    std::fs::copy(IVR_WASM, tenants.join("plugin.wasm")).expect("copy");
    std::fs::write(
        tenants.join("tenant.toml"),
        "sub_accounts = [\"*\"]\n[config]\nvirtual_number = \"+6512345678\"\nrepresentative_number = \"+6587654321\"\n",
    )
    .expect("toml");
    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("server rt");
    let server_config = ServerConfig::load(
        None,
        Overrides {
            data_dir: Some(data.to_owned()),
            tenants_dir: Some(data.join("tenants")),
            watch: Some(false),
            ..Overrides::default()
        },
    )
    .expect("config");
    let host = Server::builder(server_config)
        .runtime(Arc::clone(&runtime))
        .kv(Arc::clone(&kv))
        .build()
        .expect("server");
    let (wasm_addr, native_addr) = server.block_on(async {
        let wasm = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let native = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addrs = (
            wasm.local_addr().expect("addr"),
            native.local_addr().expect("addr"),
        );
        tokio::spawn(host.run(wasm, std::future::pending()));
        let config = Arc::clone(&config);
        let native_app = axum::Router::new().route(
            "/v1/tenants/{tenant}/webhooks/voice",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
                let config = Arc::clone(&config);
                async move {
                    if headers.get(header::CONTENT_TYPE).is_none() {
                        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
                    }
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        native_decision(&body, &config),
                    )
                        .into_response()
                }
            }),
        );
        tokio::spawn(async move { axum::serve(native, native_app).await });
        addrs
    });
    println!(
        "\n## HTTP on loopback: {connections} keep-alive connections, {seconds} s rounds, server and load generator share the machine\n"
    );
    println!("| round | native req/s | wasm req/s | ratio |\n|---|---|---|---|");
    let mut ratios = Vec::new();
    for round in 1..=3 {
        let native = http_rps(native_addr, connections, Duration::from_secs(seconds));
        let wasm = http_rps(wasm_addr, connections, Duration::from_secs(seconds));
        let ratio = wasm / native;
        ratios.push(ratio);
        println!("| {round} | {native:.0} | {wasm:.0} | {ratio:.3} |");
    }
    ratios.sort_by(f64::total_cmp);
    println!("\nmedian wasm/native throughput ratio: {:.3}", ratios[1]);
    drop(server);
}

/// What a native handler does for the same webhook: parse, decide with the IVR's own
/// code through the SDK harness, render.
fn native_decision(body: &[u8], config: &Arc<std::collections::HashMap<String, String>>) -> Bytes {
    let event = callflow_wire::parse_webhook(body).expect("event");
    let flow = callflow_tests::native_ivr(event, config).expect("decision");
    Bytes::from(callflow_wire::rules::render(&flow).expect("valid"))
}

/// Requests per second of `connections` keep-alive connections posting the webhook
/// (a fresh eventId each time) for `duration`.
fn http_rps(addr: SocketAddr, connections: usize, duration: Duration) -> f64 {
    let target = load::Target {
        addr,
        path: "/v1/tenants/ivr/webhooks/voice".into(),
        body: Arc::new(|c, n| BODY.replace("EVENT", &format!("bench-{c}-{n}"))),
        pace: None,
    };
    load::run(&[(target, connections)], duration)[0].rps
}
