//! The seed's IVR in Rust, Python and JavaScript, side by side in one run, in process
//! (no HTTP): what each language's plugin costs the host.
//!
//! Per language: the component's size; its first load (a compile), with the process's
//! resident memory before and after and the compiled artifact's size; a load from the
//! compile cache (a restart); the first event after loading; then `BENCH_EVENTS` warm
//! events (a new call, then the reservations menu), each in a fresh instance as in
//! production: fuel and wall time per event, p50 and p99, and the ratio to the Rust
//! component in the same run. Last, the smallest per-event memory limit (`memory_mib`)
//! under which the plugin still answers.
//!
//! Run with `cargo bench -p callflow-tests --bench languages`. Python and JavaScript
//! need the toolchains `callflow_tests::polyglot` sets up (a venv, `npm ci`); without
//! them those rows are skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callflow_server::event_span::EventSpan;
use callflow_server::runtime::{InvokeContext, Limits, LoadedPlugin, Runtime, RuntimeConfig};
use callflow_server::store::{KvStore, MemoryStore};
use callflow_test_artifacts::IVR_WASM;
use callflow_tests::polyglot::Toolchains;
use callflow_wire::Event;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "an index into a sorted sample"
)]
fn quantile<T: Copy + Ord>(v: &mut [T], q: f64) -> T {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn event(n: usize, client_action_id: Option<&str>, digits: Option<&str>) -> Event {
    let mut payload = serde_json::json!({
        "eventId": format!("bench-{n}"), "callId": "c1", "sessionId": format!("s-{n}"),
        "subAccountId": "8x8_test",
        "callStatus": if client_action_id.is_some() { "ACTION_COMPLETED" } else { "CALL_RECEIVED" },
        "callDirection": "INBOUND", "callType": "PSTN", "source": "+6591178965",
        "destination": "+6568332048", "callDuration": 0, "sipCode": 200,
        "timestamp": "2026-01-06T10:17:19.375Z",
    });
    if let Some(id) = client_action_id {
        payload["clientActionId"] = id.into();
    }
    if let Some(d) = digits {
        payload["eventData"] = serde_json::json!({ "dtmf": d });
    }
    let body =
        serde_json::json!({ "namespace": "VOICE", "eventType": "CALL_ACTION", "payload": payload });
    callflow_wire::parse_webhook(body.to_string().as_bytes()).expect("event")
}

fn ctx(kv: &Arc<dyn KvStore>, memory_bytes: u64) -> InvokeContext {
    InvokeContext {
        tenant: "bench".into(),
        config: Arc::new(HashMap::from([
            ("virtual_number".to_owned(), "+6512345678".to_owned()),
            ("representative_number".to_owned(), "+6587654321".to_owned()),
        ])),
        kv: Arc::clone(kv),
        limits: Limits {
            memory_bytes,
            ..Limits::default()
        },
        logs: Default::default(),
        span: EventSpan::current(),
    }
}

struct Row {
    lang: &'static str,
    size_mib: f64,
    compile: Duration,
    rss_growth_mib: f64,
    compiled_mib: f64,
    cached_load: Duration,
    first_event: Duration,
    fuel: (u64, u64),
    micros: (u64, u64),
    min_memory_mib: Option<u64>,
}

fn measure(
    rt_runtime: &tokio::runtime::Runtime,
    lang: &'static str,
    wasm: &Path,
    scratch: &Path,
    events: usize,
) -> Row {
    let cache = scratch.join(format!("cache-{lang}"));
    let _ = std::fs::remove_dir_all(&cache);
    let config = || RuntimeConfig {
        cache_dir: Some(cache.clone()),
        max_instances: 8,
        ..RuntimeConfig::default()
    };
    let size = std::fs::metadata(wasm).expect("wasm").len();
    let rss_before = rss_mib();
    let rt = Runtime::new(config()).expect("runtime");
    let started = Instant::now();
    let plugin = rt.load_file(wasm).expect("loads");
    let compile = started.elapsed();
    let rss_growth = rss_mib() - rss_before;
    let compiled = rt
        .cache_path(plugin.digest())
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len());
    drop(plugin);
    drop(rt);

    let rt = Runtime::new(config()).expect("runtime");
    let started = Instant::now();
    let plugin: LoadedPlugin = rt.load_file(wasm).expect("loads from the cache");
    let cached_load = started.elapsed();

    let kv: Arc<dyn KvStore> = Arc::new(MemoryStore::new(64 << 20));
    let default_memory = Limits::default().memory_bytes;
    let (first_event, fuel, micros) = rt_runtime.block_on(async {
        let started = Instant::now();
        rt.invoke(&plugin, ctx(&kv, default_memory), &event(0, None, None))
            .await
            .expect("first event");
        let first_event = started.elapsed();
        let mut fuel = Vec::with_capacity(events);
        let mut micros = Vec::with_capacity(events);
        for n in 1..=events {
            let ev = if n % 2 == 0 {
                event(n, Some("main_menu"), Some("1"))
            } else {
                event(n, None, None)
            };
            let answer = rt
                .invoke(&plugin, ctx(&kv, default_memory), &ev)
                .await
                .expect("warm event");
            assert!(answer.callflow.is_some(), "{lang}: no callflow");
            fuel.push(answer.fuel_used);
            micros.push(u64::try_from(answer.elapsed.as_micros()).unwrap_or(u64::MAX));
        }
        let fuel = (quantile(&mut fuel, 0.5), quantile(&mut fuel, 0.99));
        let micros = (quantile(&mut micros, 0.5), quantile(&mut micros, 0.99));
        (first_event, fuel, micros)
    });
    let min_memory_mib = rt_runtime.block_on(async {
        for mib in [1, 2, 4, 8, 12, 16, 20, 24, 32, 48, 64] {
            let answered = rt
                .invoke(&plugin, ctx(&kv, mib << 20), &event(9_999, None, None))
                .await
                .is_ok_and(|a| a.callflow.is_some());
            if answered {
                return Some(mib);
            }
        }
        None
    });
    #[allow(clippy::cast_precision_loss, reason = "sizes for display")]
    Row {
        lang,
        size_mib: size as f64 / f64::from(1 << 20),
        compile,
        rss_growth_mib: rss_growth,
        compiled_mib: compiled as f64 / f64::from(1 << 20),
        cached_load,
        first_event,
        fuel,
        micros,
        min_memory_mib,
    }
}

fn main() {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let scratch = target_tmp.join("bench-languages");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let tools = Toolchains::new(target_tmp);
    let mut plugins: Vec<(&'static str, PathBuf)> = vec![("Rust", PathBuf::from(IVR_WASM))];
    if let Some(p) = tools.python_component("ivr-python") {
        plugins.push(("Python", p));
    }
    if let Some(p) = tools.js_component("ivr-js") {
        plugins.push(("JavaScript", p));
    }
    let rt_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let rows: Vec<Row> = plugins
        .iter()
        .map(|(lang, wasm)| measure(&rt_runtime, lang, wasm, &scratch, events))
        .collect();
    let base = &rows[0];
    #[allow(clippy::cast_precision_loss, reason = "ratios for display")]
    let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
    println!(
        "\nThe IVR in three languages, in process, {events} warm events each (fresh instance per event)\n"
    );
    println!(
        "| language | component | first load (compile) | RSS growth | compiled | load from cache | first event | fuel p50 / p99 | x Rust | time p50 / p99 | x Rust | smallest memory_mib |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.1} MiB | {:.2} s | {:.0} MiB | {:.1} MiB | {:.1} ms | {:.2} ms | {} / {} | {:.0}x | {} / {} µs | {:.0}x | {} |",
            r.lang,
            r.size_mib,
            r.compile.as_secs_f64(),
            r.rss_growth_mib,
            r.compiled_mib,
            r.cached_load.as_secs_f64() * 1e3,
            r.first_event.as_secs_f64() * 1e3,
            r.fuel.0,
            r.fuel.1,
            ratio(r.fuel.0, base.fuel.0),
            r.micros.0,
            r.micros.1,
            ratio(r.micros.0, base.micros.0),
            r.min_memory_mib
                .map_or_else(|| "over 64".to_owned(), |m| m.to_string()),
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
