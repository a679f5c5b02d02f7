//! Many tenants: 1,000 tenants running the IVR component under different ids. Prints the
//! time to load them all from the on-disk compiled cache, resident memory, the first
//! event's latency per tenant and the steady-state latency. Run with
//! `cargo bench -p callflow-tests --bench tenants` (`BENCH_TENANTS` changes the count).
//!
//! Tenants load at start (not lazily on first event), and plugins with the same digest
//! share one compiled copy; there is no LRU eviction of idle tenants yet.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callflow_host::config::HostConfig;
use callflow_host::repo::Repo;
use callflow_host::runtime::{Runtime, RuntimeConfig};
use callflow_host::store::{KvStore, RedbStore};
use callflow_host::tenant::Registry;
use callflow_tests::artifacts::IVR_WASM;

const BODY: &str = r#"{"namespace":"VOICE","eventType":"CALL_ACTION","payload":{"eventId":"EVENT","callId":"c","sessionId":"EVENT-s","subAccountId":"8x8_test","callStatus":"CALL_RECEIVED","callDirection":"INBOUND","callType":"PSTN","source":"+6591178965","destination":"+6568332048","callDuration":0,"sipCode":200,"timestamp":"2026-01-06T10:17:19.375Z"}}"#;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn quantiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index"
        )]
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        v[i].as_secs_f64() * 1e6
    };
    (at(0.5), at(0.99))
}

fn main() {
    let count: usize = std::env::var("BENCH_TENANTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-tenants");
    let _ = std::fs::remove_dir_all(&data);
    let wasm = std::fs::read(IVR_WASM).expect("ivr");
    for i in 0..count {
        let dir = data.join("tenants").join(format!("t{i:04}"));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("plugin.wasm"), &wasm).expect("wasm");
        std::fs::write(
            dir.join("tenant.toml"),
            "sub_accounts = [\"*\"]\n[config]\nvirtual_number = \"+6512345678\"\nrepresentative_number = \"+6587654321\"\n",
        )
        .expect("toml");
    }
    let cache = data.join("compiled");
    let config = || RuntimeConfig {
        cache_dir: Some(cache.clone()),
        ..RuntimeConfig::default()
    };
    // Fill the on-disk compiled cache, as a previous run of the host would have.
    Runtime::new(config())
        .expect("runtime")
        .load(&wasm)
        .expect("compile");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("rt");
    let rss_before = rss_mib();
    let kv: Arc<dyn KvStore> = Arc::new(RedbStore::open(&data.join("kv.redb")).expect("store"));
    let runtime = Arc::new(Runtime::new(config()).expect("runtime"));
    let repo = Repo::open(&data.join("tenants")).expect("repo");
    let registry = Arc::new(Registry::new(runtime, HostConfig::default(), repo));
    let start = Instant::now();
    let problems = registry.load_all().expect("load");
    let load_time = start.elapsed();
    assert!(problems.is_empty(), "{problems:?}");
    let rss_loaded = rss_mib();

    let post = |tenant: Arc<callflow_host::tenant::Tenant>, n: usize| {
        let registry = Arc::clone(&registry);
        let kv = Arc::clone(&kv);
        async move {
            let body = BODY.replace("EVENT", &format!("{}-{n}", tenant.id));
            let start = Instant::now();
            callflow_host::webhook::handle(registry.runtime(), &kv, &tenant, body.as_bytes())
                .await
                .expect("answer");
            start.elapsed()
        }
    };
    let tenants = registry.all();
    let (first, steady) = rt.block_on(async {
        let mut first = Vec::with_capacity(count);
        for t in &tenants {
            first.push(post(Arc::clone(t), 0).await);
        }
        let mut steady = Vec::with_capacity(count * 5);
        for n in 1..=5 {
            for t in &tenants {
                steady.push(post(Arc::clone(t), n).await);
            }
        }
        (first, steady)
    });
    let rss_after = rss_mib();
    let (f50, f99) = quantiles(first);
    let (s50, s99) = quantiles(steady);
    println!("\n## {count} tenants, one IVR component each (same bytes, different ids)\n");
    println!("| what | figure |\n|---|---|");
    println!(
        "| load all tenants at start (from the on-disk compiled cache) | {:.0} ms |",
        load_time.as_secs_f64() * 1e3
    );
    println!(
        "| resident memory: before / after loading / after {} events | {rss_before:.0} / {rss_loaded:.0} / {rss_after:.0} MiB |",
        count * 6
    );
    println!(
        "| first event per tenant (in process, webhook::handle) | p50 {f50:.0} µs, p99 {f99:.0} µs |"
    );
    println!("| steady state | p50 {s50:.0} µs, p99 {s99:.0} µs |");
}
