//! The sandbox, in process: real components built from source, run through
//! `callflow_server::runtime::Runtime` with no HTTP in between.
//!
//! What belongs here: how the runtime treats a plugin (limits, failures, isolation,
//! loading and the compile cache). What the caller hears over HTTP belongs in the other
//! modules.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use callflow_server::event_span::EventSpan;
use callflow_server::runtime::{
    EventAnswer, InvokeContext, Limits, LoadError, LoadSource, LoadedPlugin, PerPlugin,
    PluginFailure, PoolTuning, Runtime, RuntimeConfig,
};
use callflow_server::store::{KvStore, Quota, RedbStore};
use callflow_test_artifacts::{HOSTILE_WASM, IVR_WASM, MIRROR_WASM, OLD_CONTRACT_WASM};
use callflow_wire::{Action, Callflow, Event};

/// A directory for this test binary's files, under cargo's per-target temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("runtime-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// One runtime, store and hostile plugin shared by the tests (as in the server).
struct Shared {
    runtime: Runtime,
    kv: Arc<dyn KvStore>,
    hostile: LoadedPlugin,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = scratch("shared");
        let runtime = Runtime::new(RuntimeConfig {
            // Across test runs, so each component compiles once per engine build.
            cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("runtime-compiled")),
            max_instances: 64,
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        let kv: Arc<dyn KvStore> = Arc::new(
            RedbStore::open(&dir.join("kv.redb"), RedbStore::DEFAULT_CACHE_BYTES).expect("kv"),
        );
        let hostile = runtime
            .load_file(Path::new(HOSTILE_WASM))
            .expect("hostile loads");
        Shared {
            runtime,
            kv,
            hostile,
        }
    })
}

fn ctx(tenant: &str, mode: &str, limits: Limits) -> InvokeContext {
    InvokeContext {
        tenant: tenant.into(),
        config: Arc::new(HashMap::from([("mode".to_owned(), mode.to_owned())])),
        kv: Arc::clone(&shared().kv),
        limits,
        logs: Default::default(),
        span: EventSpan::current(),
    }
}

fn call_action(digits: Option<&str>) -> Event {
    let digits = digits.map_or(String::new(), |d| {
        format!(r#","eventData":{{"dtmf":"{d}"}}"#)
    });
    let body = format!(
        r#"{{"eventType":"CALL_ACTION","payload":{{"eventId":"e1","callId":"c1","sessionId":"s1",
        "subAccountId":"acc","callStatus":"CALL_RECEIVED","callDirection":"INBOUND","callType":"PSTN",
        "source":"+6511111111","destination":"+6522222222","timestamp":"2026-01-01T00:00:00Z"{digits}}}}}"#
    );
    callflow_wire::parse_webhook(body.as_bytes()).expect("event")
}

async fn run(tenant: &str, mode: &str, limits: Limits) -> Result<EventAnswer, PluginFailure> {
    let s = shared();
    s.runtime
        .invoke(&s.hostile, ctx(tenant, mode, limits), &call_action(None))
        .await
}

/// The first `say` text of an outcome's callflow.
fn said(outcome: &EventAnswer) -> String {
    let flow = outcome.callflow.as_ref().expect("a callflow");
    match flow.actions.first() {
        Some(Action::Say(s)) => s.text.clone(),
        other => panic!("expected a say, got {other:?}"),
    }
}

async fn assert_echo_still_works(after: &str) {
    let outcome = run("calm", "echo", Limits::default())
        .await
        .unwrap_or_else(|e| panic!("echo failed after {after}: {e}"));
    assert_eq!(said(&outcome), "call action, digits none", "after {after}");
}

#[tokio::test]
async fn infinite_loop_runs_out_of_fuel() {
    assert_eq!(
        run("t", "loop", Limits::default()).await.err(),
        Some(PluginFailure::OutOfFuel)
    );
    assert_echo_still_works("loop").await;
}

#[tokio::test]
async fn spinning_past_the_deadline_is_stopped_by_the_clock() {
    let limits = Limits {
        fuel: u64::MAX / 2,
        timeout: Duration::from_millis(30),
        ..Limits::default()
    };
    let start = Instant::now();
    let result = run("t", "spin", limits).await;
    let took = start.elapsed();
    assert_eq!(result.err(), Some(PluginFailure::Deadline));
    assert!(took >= Duration::from_millis(30), "stopped early: {took:?}");
    assert!(took < Duration::from_millis(500), "stopped late: {took:?}");
    assert_echo_still_works("spin").await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_spinning_plugin_yields_so_other_events_on_the_same_thread_run() {
    // One thread: if the spinning plugin never yielded, the echo could only run after the
    // spin's deadline.
    let limits = Limits {
        fuel: u64::MAX / 2,
        timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let start = Instant::now();
    let spin = tokio::spawn(async move { (run("t", "spin", limits).await, start.elapsed()) });
    let echo = tokio::spawn(async move {
        (
            run("calm", "echo", Limits::default()).await,
            start.elapsed(),
        )
    });
    let (spun, spin_took) = spin.await.expect("join");
    let (echoed, echo_took) = echo.await.expect("join");
    assert_eq!(spun.err(), Some(PluginFailure::Deadline));
    assert_eq!(said(&echoed.expect("echo")), "call action, digits none");
    assert!(
        echo_took < Duration::from_millis(100) && echo_took < spin_took,
        "the echo waited for the spin: echo done at {echo_took:?}, spin at {spin_took:?}"
    );
}

#[tokio::test]
async fn unbounded_allocation_hits_the_memory_limit() {
    assert_eq!(
        run("t", "grow", Limits::default()).await.err(),
        Some(PluginFailure::MemoryLimit)
    );
    let small = Limits {
        memory_bytes: 2 << 20,
        ..Limits::default()
    };
    assert_eq!(
        run("t", "grow", small).await.err(),
        Some(PluginFailure::MemoryLimit)
    );
    assert_echo_still_works("grow").await;
}

#[tokio::test]
async fn unbounded_recursion_is_a_stack_overflow_trap() {
    match run("t", "recurse", Limits::default()).await {
        Err(PluginFailure::Trap(message)) => {
            assert!(message.contains("call stack exhausted"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_echo_still_works("recurse").await;
}

#[tokio::test]
async fn a_panic_is_a_trap() {
    match run("t", "panic", Limits::default()).await {
        Err(PluginFailure::Trap(message)) => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_echo_still_works("panic").await;
}

#[tokio::test]
async fn the_filesystem_is_denied() {
    match run("t", "read-file", Limits::default()).await {
        Err(PluginFailure::PluginError { kind, message }) => {
            assert_eq!(kind, "unavailable");
            assert!(message.contains("/etc/passwd"), "{message}");
            assert!(!message.contains("root:"), "{message}");
        }
        other => panic!("the plugin read /etc/passwd: {other:?}"),
    }
    assert_echo_still_works("read-file").await;
}

#[tokio::test]
async fn the_environment_and_arguments_are_empty() {
    match run("t", "read-env", Limits::default()).await {
        Err(PluginFailure::PluginError { kind, message }) => {
            assert_eq!(kind, "unavailable");
            assert!(message.contains("no environment"), "{message}");
        }
        other => panic!("the plugin read the environment: {other:?}"),
    }
    assert_echo_still_works("read-env").await;
}

#[tokio::test]
async fn an_oversized_callflow_is_refused() {
    match run("t", "huge", Limits::default()).await {
        Err(PluginFailure::OutputTooLarge { bytes }) => assert!(bytes > 64 << 10, "{bytes}"),
        other => panic!("expected output too large, got {other:?}"),
    }
    let roomy = Limits {
        output_bytes: 1 << 20,
        ..Limits::default()
    };
    let outcome = run("t", "huge", roomy).await.expect("fits a 1 MiB limit");
    assert_eq!(outcome.callflow.expect("callflow").actions.len(), 30);
    assert_echo_still_works("huge").await;
}

#[tokio::test]
async fn a_plugin_error_is_reported_with_its_kind() {
    assert_eq!(
        run("t", "error", Limits::default()).await.err(),
        Some(PluginFailure::PluginError {
            kind: "internal",
            message: "hostile plugin failing on purpose".into()
        })
    );
    assert_echo_still_works("error").await;
}

#[tokio::test]
async fn an_invalid_callflow_comes_back_for_the_host_to_reject() {
    // The runtime does not judge callflows; 8x8's rules are the callflow module's job.
    let outcome = run("t", "invalid", Limits::default()).await.expect("ran");
    let flow = outcome.callflow.expect("callflow");
    assert!(
        callflow_wire::validate(&flow).is_err(),
        "{}",
        flow.to_json()
    );
}

#[tokio::test]
async fn flooding_the_log_and_stdout_is_capped_not_fatal() {
    let outcome = run("t", "chatty", Limits::default())
        .await
        .expect("chatty runs");
    assert_eq!(said(&outcome), "call action, digits none");
}

#[tokio::test]
async fn every_event_gets_a_fresh_instance() {
    for _ in 0..3 {
        let outcome = run("t", "fresh", Limits::default()).await.expect("fresh");
        assert_eq!(said(&outcome), "count 1");
    }
}

#[tokio::test]
async fn the_kv_store_persists_per_tenant_and_tenants_are_isolated() {
    let a = format!("kv-a-{}", std::process::id());
    let b = format!("kv-b-{}", std::process::id());
    let say = |o: EventAnswer| said(&o);
    assert_eq!(
        say(run(&a, "kv", Limits::default()).await.expect("a1")),
        "count 1"
    );
    assert_eq!(
        say(run(&a, "kv", Limits::default()).await.expect("a2")),
        "count 2"
    );
    assert_eq!(
        say(run(&b, "kv", Limits::default()).await.expect("b1")),
        "count 1"
    );
    assert_eq!(
        shared().kv.get(&a, "count").await.expect("get"),
        Some(b"2".to_vec())
    );
}

#[tokio::test]
async fn echo_reports_fuel_and_stage_timings() {
    let outcome = run("t", "echo", Limits::default()).await.expect("echo");
    assert!(outcome.fuel_used > 0 && outcome.fuel_used < Limits::default().fuel);
    let s = outcome.stages;
    assert!(s.store_new + s.instantiate + s.call + s.drop <= outcome.elapsed);
    assert!(s.instantiate > Duration::ZERO && s.call > Duration::ZERO);
}

#[tokio::test]
async fn many_concurrent_events_all_get_answers() {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..200 {
        let mode = if i % 10 == 0 { "loop" } else { "echo" };
        set.spawn(async move { (mode, run("t", mode, Limits::default()).await) });
    }
    while let Some(joined) = set.join_next().await {
        let (mode, result) = joined.expect("join");
        match mode {
            "loop" => assert_eq!(result.err(), Some(PluginFailure::OutOfFuel)),
            _ => assert_eq!(said(&result.expect("echo")), "call action, digits none"),
        }
    }
}

#[tokio::test]
async fn the_ivr_component_answers_a_new_call_with_the_main_menu() {
    let s = shared();
    let ivr = s.runtime.load_file(Path::new(IVR_WASM)).expect("ivr loads");
    let config = HashMap::from([
        ("virtual_number".to_owned(), "+6512345678".to_owned()),
        ("representative_number".to_owned(), "+6587654321".to_owned()),
    ]);
    let ctx = InvokeContext {
        tenant: "ivr".into(),
        config: Arc::new(config.clone()),
        kv: Arc::clone(&s.kv),
        limits: Limits::default(),
        logs: Default::default(),
        span: EventSpan::current(),
    };
    let outcome = s
        .runtime
        .invoke(&ivr, ctx, &call_action(None))
        .await
        .expect("ivr");
    let flow = outcome.callflow.expect("callflow");
    let native = callflow_tests::native_ivr(call_action(None), &config).expect("native");
    assert_eq!(flow, native);
    assert_eq!(flow.client_action_id.as_deref(), Some("main_menu"));
}

#[test]
fn a_plugin_built_against_an_older_contract_is_refused_naming_both_versions() {
    let err = shared()
        .runtime
        .load_file(Path::new(OLD_CONTRACT_WASM))
        .expect_err("a 0.1.0 plugin must not load");
    assert_eq!(
        err,
        LoadError::ContractVersion {
            found: "0.1.0".into(),
            accepted: "0.2.0",
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("callflow:plugin@0.1.0") && message.contains("callflow:plugin@0.2.0"),
        "{message}"
    );
}

/// A runtime whose slots give one plugin `per`, with the IVR loaded into it.
fn load_ivr_with(per: PerPlugin) -> Result<LoadedPlugin, LoadError> {
    Runtime::new(RuntimeConfig {
        max_instances: 2,
        per_plugin: per,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
    .load_file(Path::new(IVR_WASM))
}

#[test]
fn a_plugin_over_a_pool_limit_is_refused_naming_the_setting_that_raises_it() {
    let defaults = PerPlugin::default();
    load_ivr_with(defaults).expect("the IVR fits the default slot");
    let cases = [
        (
            PerPlugin {
                core_instances: 1,
                ..defaults
            },
            "runtime.max_core_instances_per_plugin",
            "core module instances",
        ),
        (
            PerPlugin {
                memories: 0,
                ..defaults
            },
            "runtime.max_memories_per_plugin",
            "memories",
        ),
        (
            PerPlugin {
                tables: 0,
                ..defaults
            },
            "runtime.max_tables_per_plugin",
            "tables",
        ),
    ];
    for (per, want_setting, want_what) in cases {
        let err = load_ivr_with(per).expect_err("over the limit");
        check(&err, want_setting, want_what);
    }
    // A plugin whose initial memory exceeds the slot's: the operator's memory maximum.
    let err = Runtime::new(RuntimeConfig {
        max_instances: 2,
        max_memory_bytes: 64 << 10,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
    .load_file(Path::new(IVR_WASM))
    .expect_err("the IVR starts with more than 64 KiB of memory");
    check(&err, "maxima.memory_mib", "memory");

    fn check(err: &LoadError, want_setting: &str, want_what: &str) {
        let LoadError::PoolLimit { message, setting } = err else {
            panic!("expected a pool limit ({want_setting}), got {err}");
        };
        assert_eq!(*setting, want_setting, "{err}");
        assert!(message.contains(want_what), "{err}");
        assert!(
            err.to_string().contains(want_setting),
            "the message must say how to raise it: {err}"
        );
    }
}

#[test]
fn a_restart_loads_compiled_components_from_the_disk_cache() {
    let cache = scratch("cache");
    let config = || RuntimeConfig {
        cache_dir: Some(cache.clone()),
        max_instances: 4,
        ..RuntimeConfig::default()
    };
    let wasm = std::fs::read(HOSTILE_WASM).expect("read");

    let first = Runtime::new(config()).expect("runtime");
    let compiled = first.load(&wasm).expect("load");
    assert_eq!(compiled.source(), LoadSource::Compiled);
    let file = first.cache_path(compiled.digest()).expect("caching is on");
    assert!(file.exists(), "{} was not written", file.display());
    // A second load in the same runtime shares the compiled code.
    assert_eq!(
        first.load(&wasm).expect("load").source(),
        LoadSource::Memory
    );
    drop(first);

    let written = std::fs::metadata(&file)
        .expect("cache file")
        .modified()
        .expect("mtime");
    let restarted = Runtime::new(config()).expect("runtime");
    let cached = restarted.load(&wasm).expect("load");
    assert_eq!(cached.source(), LoadSource::DiskCache);
    assert_eq!(cached.digest(), compiled.digest());
    assert_eq!(
        std::fs::metadata(&file)
            .expect("cache file")
            .modified()
            .expect("mtime"),
        written,
        "the cache file was rewritten"
    );
    assert!(
        cached.load_time() < compiled.load_time(),
        "loading from the cache ({:?}) was not faster than compiling ({:?})",
        cached.load_time(),
        compiled.load_time()
    );
}

#[test]
fn a_corrupt_cache_file_is_recompiled_not_trusted() {
    let cache = scratch("cache-corrupt");
    let config = || RuntimeConfig {
        cache_dir: Some(cache.clone()),
        max_instances: 4,
        ..RuntimeConfig::default()
    };
    let wasm = std::fs::read(HOSTILE_WASM).expect("read");
    let digest = {
        let rt = Runtime::new(config()).expect("runtime");
        let plugin = rt.load(&wasm).expect("load");
        let path = rt.cache_path(plugin.digest()).expect("path");
        std::fs::write(&path, b"not a compiled component").expect("corrupt it");
        plugin.digest().to_owned()
    };
    let rt = Runtime::new(config()).expect("runtime");
    let plugin = rt.load(&wasm).expect("load");
    assert_eq!(plugin.source(), LoadSource::Compiled);
    assert_eq!(plugin.digest(), digest);
    let rewritten = std::fs::read(rt.cache_path(&digest).expect("path")).expect("read");
    assert_ne!(rewritten, b"not a compiled component");
}

/// Per-event cost of the echo guest (fresh store + instantiate + call + drop) under a
/// few pool settings. Not a pass/fail test: run it when tuning the pool, in release, with
/// `cargo test -p callflow-tests --release --test runtime -- --ignored --nocapture`
/// (`COST_EVENTS` sets the sample count, `COST_VARIANT` picks variants by name).
#[test]
#[ignore = "a measurement; prints a table"]
fn fresh_instance_cost() {
    let events: usize = std::env::var("COST_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("runtime-compiled");
    let dir = scratch("cost");
    let kv: Arc<dyn KvStore> = Arc::new(
        RedbStore::open(&dir.join("kv.redb"), RedbStore::DEFAULT_CACHE_BYTES).expect("kv"),
    );
    let variants = [
        (
            "madvise (keep_resident 0)",
            PoolTuning {
                memory_keep_resident: 0,
                table_keep_resident: 0,
                pagemap_scan: false,
            },
        ),
        (
            "memset 64 KiB, no pagemap",
            PoolTuning {
                memory_keep_resident: 64 << 10,
                table_keep_resident: 64 << 10,
                pagemap_scan: false,
            },
        ),
        (
            "memset 1 MiB, no pagemap",
            PoolTuning {
                memory_keep_resident: 1 << 20,
                table_keep_resident: 64 << 10,
                pagemap_scan: false,
            },
        ),
        (
            "pagemap, keep 1 MiB",
            PoolTuning {
                memory_keep_resident: 1 << 20,
                table_keep_resident: 64 << 10,
                pagemap_scan: true,
            },
        ),
        ("pagemap, keep 2 MiB (default)", PoolTuning::default()),
        (
            "pagemap, keep 8 MiB",
            PoolTuning {
                memory_keep_resident: 8 << 20,
                table_keep_resident: 64 << 10,
                pagemap_scan: true,
            },
        ),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    // The echo guest under every pool setting; the demo's IVR (what `bench/http/run`
    // loads) under the default one.
    let echo = || {
        let config = HashMap::from([("mode".to_owned(), "echo".to_owned())]);
        (HOSTILE_WASM, config)
    };
    let ivr = || {
        let config = HashMap::from([
            ("virtual_number".to_owned(), "+6512345678".to_owned()),
            ("representative_number".to_owned(), "+6587654321".to_owned()),
        ]);
        (IVR_WASM, config)
    };
    let runs = variants
        .into_iter()
        .map(|(name, pool)| (format!("echo, {name}"), pool, echo()))
        .chain([(
            "ivr, pagemap, keep 2 MiB (default)".to_owned(),
            PoolTuning::default(),
            ivr(),
        )]);
    println!("\n| guest, pool | p50 total µs | p99 | store_new | instantiate | call | drop |");
    println!("|---|---|---|---|---|---|---|");
    let only = std::env::var("COST_VARIANT").ok();
    for (name, pool, (wasm, config)) in runs {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(cache.clone()),
            max_instances: 64,
            pool,
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        let plugin = runtime.load_file(Path::new(wasm)).expect("load");
        let ctx = InvokeContext {
            tenant: "bench".into(),
            config: Arc::new(config),
            kv: Arc::clone(&kv),
            limits: Limits::default(),
            logs: Default::default(),
            span: EventSpan::current(),
        };
        let event = call_action(Some("1"));
        let mut samples: [Vec<Duration>; 5] = Default::default();
        rt.block_on(async {
            for i in 0..events + 1000 {
                let o = runtime
                    .invoke(&plugin, ctx.clone(), &event)
                    .await
                    .expect("the plugin answers");
                if i >= 1000 {
                    let s = o.stages;
                    for (v, d) in samples.iter_mut().zip([
                        o.elapsed,
                        s.store_new,
                        s.instantiate,
                        s.call,
                        s.drop,
                    ]) {
                        v.push(d);
                    }
                }
            }
        });
        let us = |v: &mut Vec<Duration>, p: f64| {
            v.sort();
            let i = ((v.len() - 1) as f64 * p).round() as usize;
            format!("{:.1}", v[i].as_secs_f64() * 1e6)
        };
        let [total, store_new, instantiate, call, drop] = &mut samples;
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            us(total, 0.5),
            us(total, 0.99),
            us(store_new, 0.5),
            us(instantiate, 0.5),
            us(call, 0.5),
            us(drop, 0.5)
        );
    }
}

/// Every webhook body under `tests/cases` (the IVR's steps and the documented samples).
fn case_bodies() -> Vec<(PathBuf, Vec<u8>)> {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut bodies = Vec::new();
    for folder in ["ivr", "webhooks"] {
        for entry in std::fs::read_dir(cases.join(folder)).expect("case folder") {
            let path = entry.expect("entry").path().join("request.json");
            let body = std::fs::read(&path).expect("request.json");
            bodies.push((path, body));
        }
    }
    bodies.sort();
    bodies
}

/// Every callflow the IVR's cases expect, and one with every action and every optional
/// field set.
fn case_callflows() -> Vec<(String, Callflow)> {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/ivr");
    let mut flows: Vec<(String, Callflow)> = std::fs::read_dir(cases)
        .expect("cases/ivr")
        .map(|e| e.expect("entry").path().join("response.json"))
        .map(|path| {
            let json = std::fs::read(&path).expect("response.json");
            let flow = serde_json::from_slice(&json).expect("a callflow");
            (path.display().to_string(), flow)
        })
        .collect();
    let every_field = r#"{"clientActionId":"all","callflow":[
        {"action":"say","params":{"text":"hi","voiceProfile":"en-US-ZiraRUS","repetition":2,"speed":1.5}},
        {"action":"sayAndCapture","params":{"promptMessage":"press","voiceProfile":"en-US-ZiraRUS",
            "successMessage":"ok","failureMessage":"no","speed":0.5,"completeOnHash":false,"minDigits":1,
            "maxDigits":4,"digitTimeout":3000,"overallTimeout":9000,"noOfTries":2}},
        {"action":"playFile","params":{"fileUrl":"https://example.com/a.wav","repetition":3}},
        {"action":"makeCall","params":{"source":"+6511111111","destination":"+6522222222","callRecording":true}},
        {"action":"hangup"}]}"#;
    flows.push((
        "every field".into(),
        serde_json::from_str(every_field).expect("every field"),
    ));
    flows.sort_by(|a, b| a.0.cmp(&b.0));
    flows
}

#[tokio::test]
async fn the_host_and_the_sdk_convert_every_case_across_wit_the_same_way() {
    let s = shared();
    let mirror = s
        .runtime
        .load_file(Path::new(MIRROR_WASM))
        .expect("mirror loads");
    let tenant = format!("mirror-{}", std::process::id());
    let limits = Limits::default();
    let bodies = case_bodies();
    assert!(bodies.len() >= 30, "{} bodies", bodies.len());
    // Events: the host's conversion in, the SDK's out, compared field for field.
    for (path, body) in &bodies {
        let event = callflow_wire::parse_webhook(body).expect("a case parses");
        s.runtime
            .invoke(&mirror, ctx(&tenant, "", limits), &event)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let seen =
            s.kv.get(&tenant, "event")
                .await
                .expect("get")
                .expect("stored");
        assert_eq!(
            String::from_utf8(seen).expect("utf-8"),
            format!("{event:?}"),
            "{} crossed WIT differently",
            path.display()
        );
    }
    // Callflows: the SDK's conversion in, the host's out.
    let event = call_action(None);
    for (name, flow) in case_callflows() {
        let json = serde_json::to_vec(&flow).expect("json");
        s.kv.set(&tenant, "callflow", &json, None, Quota::UNLIMITED)
            .await
            .expect("set");
        let answer = s
            .runtime
            .invoke(&mirror, ctx(&tenant, "", limits), &event)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            answer.callflow.as_ref(),
            Some(&flow),
            "{name} crossed WIT differently"
        );
    }
}
