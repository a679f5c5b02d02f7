//! A real host on a real loopback socket, with real plugins built from source by
//! `build.rs`, and a client to talk to it. Nothing here is mocked.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use callflow_server::Server;
use callflow_server::config::{Overrides, ServerConfig, StoreConfig};
use callflow_server::store::{KvStore, RedbStore};
use callflow_server::tenant::Registry;
use callflow_test_artifacts::{HOSTILE_WASM, IVR_WASM};
use serde_json::Value;

/// A host serving a tenants directory on 127.0.0.1, on its own thread and runtime so
/// that it outlives any one test's runtime.
#[derive(Debug)]
pub struct Host {
    pub addr: SocketAddr,
    pub registry: Arc<Registry>,
    pub dir: PathBuf,
    handle: tokio::runtime::Handle,
}

/// One tenant folder: its id, `tenant.toml`, and the component to copy in (if any).
pub struct TenantSpec<'a> {
    pub id: &'a str,
    pub toml: String,
    pub wasm: Option<&'a Path>,
}

impl Host {
    /// Lays out `tenants` under a fresh directory and serves them. The directory is
    /// this host's alone: tests running at once may each start a host of one name (the
    /// cluster tests each have their node "a").
    pub fn start(name: &str, host_toml: &str, tenants: &[TenantSpec<'_>]) -> Host {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("e2e")
            .join(event_id(name));
        let _ = std::fs::remove_dir_all(&dir);
        Self::start_in(dir, host_toml, tenants)
    }

    /// Serves the tenants already in `dir` (as a restarted host would), after adding
    /// `tenants`.
    pub fn start_in(dir: PathBuf, host_toml: &str, tenants: &[TenantSpec<'_>]) -> Host {
        Self::start_with_kv(dir, host_toml, tenants, None)
    }

    /// As [`start_in`](Self::start_in), on the key-value store `kv` when given.
    pub fn start_with_kv(
        dir: PathBuf,
        host_toml: &str,
        tenants: &[TenantSpec<'_>],
        kv: Option<Arc<dyn KvStore>>,
    ) -> Host {
        let tenants_dir = dir.join("tenants");
        std::fs::create_dir_all(&tenants_dir).expect("tenants dir");
        for spec in tenants {
            let t = tenants_dir.join(spec.id);
            std::fs::create_dir_all(&t).expect("tenant dir");
            std::fs::write(t.join("tenant.toml"), &spec.toml).expect("tenant.toml");
            if let Some(wasm) = spec.wasm {
                std::fs::copy(wasm, t.join("plugin.wasm")).expect("copy plugin");
            }
        }
        std::fs::write(dir.join("host.toml"), host_toml).expect("host.toml");
        let mut config = ServerConfig::load(
            Some(&dir.join("host.toml")),
            Overrides {
                data_dir: Some(dir.clone()),
                tenants_dir: Some(tenants_dir),
                watch: Some(false),
                admin_token: Some(OPERATOR_TOKEN.to_owned()),
                ..Overrides::default()
            },
        )
        .expect("host config");
        // Shared by every test host: a component compiles once per run.
        config.runtime.cache_dir =
            Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-compiled"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("test-host".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    // Each start opens its own database file: the first host of a restart
                    // test still holds its file (redb locks it).
                    let kv_file = format!("kv-{}.redb", event_id("start"));
                    let mut builder = Server::builder(config.clone());
                    if let Some(kv) = kv {
                        builder = builder.kv(kv);
                    } else if config.store == StoreConfig::Embedded {
                        let kv: Arc<dyn KvStore> = Arc::new(
                            RedbStore::open(
                                &config.data_dir.join(kv_file),
                                RedbStore::DEFAULT_CACHE_BYTES,
                            )
                            .expect("store"),
                        );
                        builder = builder.kv(kv);
                    }
                    let server = builder.build().expect("server");
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind");
                    let addr = listener.local_addr().expect("addr");
                    tx.send((
                        addr,
                        Arc::clone(server.registry()),
                        tokio::runtime::Handle::current(),
                    ))
                    .expect("report address");
                    server
                        .run(listener, std::future::pending())
                        .await
                        .expect("serve");
                });
            })
            .expect("host thread");
        let (addr, registry, handle) = rx.recv().expect("host started");
        Host {
            addr,
            registry,
            dir,
            handle,
        }
    }

    /// Starts watching the tenants directory, as `serve` does.
    pub fn watch(&self) {
        let registry = Arc::clone(&self.registry);
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle.spawn(async move {
            let watch = callflow_server::tenant::reload::watch(registry).expect("watch");
            tx.send(()).expect("started");
            // Keep watching for the life of the host.
            std::future::pending::<()>().await;
            drop(watch);
        });
        rx.recv().expect("watch started");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn webhook_url(&self, tenant: &str) -> String {
        self.url(&format!("/v1/tenants/{tenant}/webhooks/voice"))
    }

    /// Posts a webhook body as 8x8 does; returns the status and the JSON answer.
    pub async fn post(&self, tenant: &str, body: &str) -> (u16, Value) {
        self.post_with(tenant, body, &[]).await
    }

    /// Posts with extra headers.
    pub async fn post_with(
        &self,
        tenant: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(self.webhook_url(tenant))
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {text:?}"));
        (status, json)
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }
}

/// The operator token of every test host.
pub const OPERATOR_TOKEN: &str = "operator-secret";

/// The IVR's tenant config used everywhere.
pub const IVR_CONFIG: &str = r#"
[config]
virtual_number = "+6512345678"
representative_number = "+6587654321"
"#;

/// Every hostile mode, with the limits that make it hit the intended wall.
pub const HOSTILE_MODES: &[(&str, &str)] = &[
    ("loop", ""),
    // Fuel raised far beyond the deadline's reach, so the wall clock stops it.
    ("spin", "[limits]\nfuel = 100000000000\ntimeout_ms = 30\n"),
    ("grow", ""),
    ("recurse", ""),
    ("panic", ""),
    ("invalid", ""),
    ("read-file", ""),
    ("read-env", ""),
    ("huge", ""),
    ("error", ""),
];

/// The host most tests share: the IVR beside every hostile plugin, auth variants and a
/// tenant whose plugin does not load.
pub fn shared() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        let ivr = Path::new(IVR_WASM);
        let hostile = Path::new(HOSTILE_WASM);
        let mut tenants = vec![
            TenantSpec {
                id: "ivr",
                toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}"),
                wasm: Some(ivr),
            },
            TenantSpec {
                id: "samples",
                toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}"),
                wasm: Some(ivr),
            },
            TenantSpec {
                id: "ivr-bound",
                toml: format!(
                    "sub_accounts = [\"8x8_test\"]\n[webhook_auth]\nauthorization = \"Basic c2VjcmV0OnNlY3JldA==\"\nallowed_ips = [\"127.0.0.0/8\"]\n{IVR_CONFIG}"
                ),
                wasm: Some(ivr),
            },
            TenantSpec {
                id: "ivr-far-away",
                toml: format!(
                    "sub_accounts = [\"*\"]\n[webhook_auth]\nallowed_ips = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n{IVR_CONFIG}"
                ),
                wasm: Some(ivr),
            },
            TenantSpec {
                id: "no-plugin",
                toml: "sub_accounts = [\"*\"]\n".into(),
                wasm: None,
            },
            TenantSpec {
                id: "custom-fallback",
                toml: "sub_accounts = [\"*\"]\n[config]\nmode = \"error\"\n[fallback]\ntext = \"Our lines are closed.\"\nvoice_profile = \"en-GB-Susan\"\n".into(),
                wasm: Some(hostile),
            },
            TenantSpec {
                id: "greedy",
                toml: "sub_accounts = [\"*\"]\n[limits]\nfuel_per_second = 15000000\n[config]\nmode = \"loop\"\n".into(),
                wasm: Some(hostile),
            },
            TenantSpec {
                id: "counter-a",
                toml: "sub_accounts = [\"*\"]\n[config]\nmode = \"kv\"\n".into(),
                wasm: Some(hostile),
            },
            TenantSpec {
                id: "counter-b",
                toml: "sub_accounts = [\"*\"]\n[config]\nmode = \"kv\"\n".into(),
                wasm: Some(hostile),
            },
            TenantSpec {
                id: "echo",
                toml: "sub_accounts = [\"*\"]\n[config]\nmode = \"echo\"\n".into(),
                wasm: Some(hostile),
            },
        ];
        let hostile_tomls: Vec<(String, String)> = HOSTILE_MODES
            .iter()
            .map(|(mode, extra)| {
                (
                    format!("hostile-{mode}"),
                    format!("sub_accounts = [\"*\"]\n{extra}\n[config]\nmode = \"{mode}\"\n"),
                )
            })
            .collect();
        for (id, toml) in &hostile_tomls {
            tenants.push(TenantSpec {
                id,
                toml: toml.clone(),
                wasm: Some(hostile),
            });
        }
        Host::start(
            "shared",
            "[maxima]\nfuel = 1000000000000\n",
            &tenants,
        )
    })
}

/// A call action as 8x8 posts it, in a session of its own.
pub fn call_action(event_id: &str, client_action_id: Option<&str>, digits: Option<&str>) -> String {
    call_action_in(
        &format!("session-{event_id}"),
        event_id,
        client_action_id,
        digits,
    )
}

/// A call action as 8x8 posts it, in session `session`.
pub fn call_action_in(
    session: &str,
    event_id: &str,
    client_action_id: Option<&str>,
    digits: Option<&str>,
) -> String {
    let mut payload = serde_json::json!({
        "eventId": event_id,
        "callId": "e1ff6a14-eae8-11f0-baa6-c93abb37794a",
        "sessionId": session,
        "subAccountId": "8x8_test",
        "callStatus": if client_action_id.is_some() { "ACTION_COMPLETED" } else { "CALL_RECEIVED" },
        "callDirection": "INBOUND",
        "callType": "PSTN",
        "source": "+6591178965",
        "destination": "+6568332048",
        "sourceFormat": "MSISDN",
        "destinationFormat": "MSISDN",
        "sourceCountryCode": "SG",
        "destinationCountryCode": "SG",
        "callDuration": 0,
        "sipCode": 200,
        "timestamp": "2026-01-06T10:17:19.375Z",
    });
    if let Some(id) = client_action_id {
        payload["clientActionId"] = id.into();
    }
    if let Some(d) = digits {
        payload["eventData"] = serde_json::json!({ "dtmf": d });
    }
    serde_json::json!({
        "namespace": "VOICE",
        "eventType": "CALL_ACTION",
        "description": "Action request of a call",
        "payload": payload,
    })
    .to_string()
}

/// A fresh event id per call, so tests never collide in the duplicate cache.
pub fn event_id(tag: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The tenant's fallback as the caller gets it by default.
pub fn default_fallback() -> Value {
    serde_json::from_str(&callflow_server::config::default_fallback().to_json()).expect("json")
}

/// Compares `actual` with the JSON file at `path`, or writes it when `BLESS=1`.
pub fn assert_json_file(path: &Path, actual: &Value) {
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(
            path,
            serde_json::to_string_pretty(actual).expect("json") + "\n",
        )
        .expect("bless");
        return;
    }
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with BLESS=1 to create it)", path.display())),
    )
    .expect("expected JSON");
    assert_eq!(
        actual,
        &expected,
        "{} differs:\nactual:   {actual}\nexpected: {expected}",
        path.display()
    );
}

/// `wasm` with a custom section appended: the same plugin under another digest, so the
/// host compiles it again.
pub fn variant(wasm: &[u8], n: u8) -> Vec<u8> {
    let name = b"callflow-test-variant";
    let payload = [n];
    let mut out = wasm.to_vec();
    out.push(0); // a custom section,
    out.push(u8::try_from(1 + name.len() + payload.len()).expect("short")); // its size,
    out.push(u8::try_from(name.len()).expect("short")); // its name,
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}
