//! The store cannot write (a full disk, an I/O error): the plugin is told, every call
//! action is still answered, an upload is refused and changes nothing, and once the fault
//! clears everything works with nothing stored before lost. First with a fault injected
//! behind the `KvStore` trait, then with a real, small, full filesystem (a tmpfs; skipped
//! where this user cannot mount one).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use callflow_server::store::{KvStore, Quota, RedbStore, StoreError, Usage};
use callflow_test_artifacts::{HOSTILE_WASM, IVR_WASM};
use serde_json::Value;

use crate::support::{
    Host, IVR_CONFIG, OPERATOR_TOKEN, TenantSpec, call_action, default_fallback, event_id,
};

/// The embedded store, whose writes fail while `failing` is set.
struct Faulty {
    inner: RedbStore,
    failing: AtomicBool,
}

impl Faulty {
    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "injected: No space left on device (os error 28)".into(),
            ));
        }
        Ok(())
    }
}

#[callflow_server::store::async_trait]
impl KvStore for Faulty {
    async fn get(&self, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        KvStore::get(&self.inner, tenant, key).await
    }

    async fn set(
        &self,
        tenant: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        quota: Quota,
    ) -> Result<(), StoreError> {
        self.check()?;
        KvStore::set(&self.inner, tenant, key, value, ttl, quota).await
    }

    async fn delete(&self, tenant: &str, key: &str) -> Result<bool, StoreError> {
        self.check()?;
        KvStore::delete(&self.inner, tenant, key).await
    }

    async fn compare_and_swap(
        &self,
        tenant: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
        quota: Quota,
    ) -> Result<bool, StoreError> {
        self.check()?;
        KvStore::compare_and_swap(&self.inner, tenant, key, expected, new, ttl, quota).await
    }

    async fn usage(&self, tenant: &str) -> Result<Usage, StoreError> {
        KvStore::usage(&self.inner, tenant).await
    }
}

fn tenants() -> Vec<TenantSpec<'static>> {
    vec![
        TenantSpec {
            id: "counter",
            toml: "sub_accounts = [\"*\"]\n[config]\nmode = \"kv\"\n".into(),
            wasm: Some(Path::new(HOSTILE_WASM)),
        },
        TenantSpec {
            id: "ivr",
            toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}"),
            wasm: Some(Path::new(IVR_WASM)),
        },
    ]
}

async fn count(host: &Host) -> Value {
    host.post("counter", &call_action(&event_id("count"), None, None))
        .await
        .1
}

fn says(n: u32) -> Value {
    serde_json::json!("count ".to_owned() + &n.to_string())
}

async fn upload(host: &Host, wasm: Vec<u8>) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(host.url("/v1/admin/tenants/ivr/versions"))
        .bearer_auth(OPERATOR_TOKEN)
        .body(wasm)
        .send()
        .await
        .expect("upload");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn while_the_store_cannot_write_calls_are_answered_and_nothing_stored_is_lost() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e")
        .join(format!("store-faults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let faulty = Arc::new(Faulty {
        inner: RedbStore::open(&dir.join("kv.redb"), RedbStore::DEFAULT_CACHE_BYTES).expect("redb"),
        failing: AtomicBool::new(false),
    });
    let host = Host::start_with_kv(dir, "", &tenants(), Some(Arc::clone(&faulty) as _));
    assert_eq!(count(&host).await["callflow"][0]["params"]["text"], says(1));
    assert_eq!(count(&host).await["callflow"][0]["params"]["text"], says(2));

    faulty.failing.store(true, Ordering::Relaxed);
    // The plugin is told (its write fails); it gives up, and the caller hears the
    // fallback, not dead air. A tenant that does not write is not affected.
    for _ in 0..3 {
        assert_eq!(count(&host).await, default_fallback());
    }
    let (_, ivr) = host
        .post("ivr", &call_action(&event_id("ivr"), None, None))
        .await;
    assert_eq!(ivr["clientActionId"], "main_menu", "{ivr}");
    let counter = host.registry.get("counter").expect("tenant");
    assert_eq!(counter.state.stats.failures("plugin_error"), 3);

    faulty.failing.store(false, Ordering::Relaxed);
    // Back: the count goes on from where it was.
    assert_eq!(count(&host).await["callflow"][0]["params"]["text"], says(3));
}

/// A tmpfs of `size` mounted at `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        mounted.then(|| Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem at `dir` with one file until it is full.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0u8; 64 << 10];
    while file.write_all(&chunk).is_ok() {}
    // Down to the last bytes.
    while file.write_all(&[0]).is_ok() {}
    let _ = file.sync_all();
    path
}

#[tokio::test]
async fn a_full_disk_refuses_uploads_changing_nothing_and_the_host_recovers_when_it_clears() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e")
        .join(format!("full-disk-{}", std::process::id()));
    let Some(disk) = Tmpfs::mount(&root, "8m") else {
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    };
    let host = Host::start_in(root.join("host"), "", &tenants());
    assert_eq!(count(&host).await["callflow"][0]["params"]["text"], says(1));
    let versions_dir = root.join("host/tenants/ivr/versions");
    let listed = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let before = listed(&versions_dir);

    let filler = fill(&disk.0);
    // Calls are answered: the IVR as ever, the counter with its fallback.
    let (_, ivr) = host
        .post("ivr", &call_action(&event_id("ivr"), None, None))
        .await;
    assert_eq!(ivr["clientActionId"], "main_menu", "{ivr}");
    let full = count(&host).await;
    assert!(
        full == default_fallback() || full["callflow"][0]["params"]["text"] == says(2),
        "{full}"
    );
    // An upload is refused with a clear code and leaves nothing behind.
    let wasm = std::fs::read(IVR_WASM).expect("ivr");
    let mut other = wasm.clone();
    other.extend_from_slice(&[0, 5, 4, b'f', b'u', b'l', b'l']); // a custom section: a new digest
    let (status, body) = upload(&host, other.clone()).await;
    assert_eq!(
        (status, &body["code"]),
        (507, &serde_json::json!("storage_full")),
        "{body}"
    );
    assert_eq!(
        listed(&versions_dir),
        before,
        "the refused upload left something"
    );

    std::fs::remove_file(filler).expect("free the disk");
    // Everything works again, and the count was not lost.
    let mut n = None;
    for _ in 0..50 {
        let answer = count(&host).await;
        if let Some(text) = answer["callflow"][0]["params"]["text"].as_str()
            && text.starts_with("count")
        {
            n = Some(text.to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let n = n.expect("the counter never answered again");
    assert!(n == "count 2" || n == "count 3", "{n}");
    let (status, body) = upload(&host, other).await;
    assert_eq!(status, 201, "{body}");
}
