//! The key-value contract, run against every backend behind `KvStore`: the embedded redb
//! file, the in-memory scratch store, and a real `redis-server` (skipped when it is not
//! installed, a failure under `.ci/run`). Every backend must answer exactly alike.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use callflow_server::store::{
    KvStore, MAX_KEY_BYTES, MAX_VALUE_BYTES, MemoryStore, Quota, RedbStore, RedisStore, StoreError,
    Usage,
};
use callflow_test_servers::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("store-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A backend by name.
type Backend = (&'static str, Arc<dyn KvStore>);

/// Every backend, fresh; the Redis server lives as long as the returned guard.
fn backends(test: &str) -> (Option<RedisServer>, Vec<Backend>) {
    let dir = scratch(test);
    let mut all: Vec<Backend> = vec![
        (
            "redb",
            Arc::new(
                RedbStore::open(&dir.join("kv.redb"), RedbStore::DEFAULT_CACHE_BYTES)
                    .expect("redb"),
            ),
        ),
        ("memory", Arc::new(MemoryStore::new(64 << 20))),
    ];
    let redis = RedisServer::start(&dir.join("redis"), test);
    if let Some(server) = &redis {
        all.push((
            "redis",
            Arc::new(RedisStore::open(&server.url(), "test-node").expect("redis")),
        ));
    }
    (redis, all)
}

async fn get(s: &dyn KvStore, tenant: &str, key: &str) -> Option<Vec<u8>> {
    s.get(tenant, key).await.expect("get")
}

async fn cas(s: &dyn KvStore, key: &str, expected: Option<&[u8]>, new: Option<&[u8]>) -> bool {
    s.compare_and_swap("t", key, expected, new, None, Quota::UNLIMITED)
        .await
        .expect("cas")
}

#[tokio::test]
async fn values_expire_after_their_ttl_and_zero_expires_at_once() {
    let (_redis, backends) = backends("ttl");
    for (name, s) in backends {
        let s = &*s;
        s.set(
            "t",
            "short",
            b"v",
            // Long enough to be read back on a loaded machine.
            Some(Duration::from_millis(400)),
            Quota::UNLIMITED,
        )
        .await
        .expect("set");
        s.set("t", "forever", b"v", None, Quota::UNLIMITED)
            .await
            .expect("set");
        s.set("t", "now", b"v", Some(Duration::ZERO), Quota::UNLIMITED)
            .await
            .expect("set");
        assert_eq!(get(s, "t", "short").await, Some(b"v".to_vec()), "{name}");
        assert_eq!(get(s, "t", "now").await, None, "{name}");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(get(s, "t", "short").await, None, "{name}");
        assert!(!s.delete("t", "short").await.expect("delete"), "{name}");
        assert_eq!(get(s, "t", "forever").await, Some(b"v".to_vec()), "{name}");
        assert!(s.delete("t", "forever").await.expect("delete"), "{name}");
        assert_eq!(get(s, "t", "forever").await, None, "{name}");
    }
}

#[tokio::test]
async fn compare_and_swap_on_absent_stale_and_current_values() {
    let (_redis, backends) = backends("cas");
    for (name, s) in backends {
        let s = &*s;
        // Absent: only `expected: None` matches.
        assert!(!cas(s, "k", Some(b"0"), Some(b"1")).await, "{name}");
        assert!(cas(s, "k", None, Some(b"1")).await, "{name}");
        assert!(!cas(s, "k", None, Some(b"2")).await, "{name}");
        // Stale: a value that was there before is not the value now.
        assert!(!cas(s, "k", Some(b"0"), Some(b"2")).await, "{name}");
        assert_eq!(get(s, "t", "k").await, Some(b"1".to_vec()), "{name}");
        assert!(cas(s, "k", Some(b"1"), Some(b"2")).await, "{name}");
        // `new: None` deletes; the key is then absent to every later call.
        assert!(cas(s, "k", Some(b"2"), None).await, "{name}");
        assert_eq!(get(s, "t", "k").await, None, "{name}");
        assert!(!s.delete("t", "k").await.expect("delete"), "{name}");
        assert!(!cas(s, "k", Some(b"2"), Some(b"3")).await, "{name}");
        assert!(cas(s, "k", None, Some(b"3")).await, "{name}");
        // An expired value is absent too, and a swap's TTL applies.
        s.set(
            "t",
            "lock",
            b"held",
            Some(Duration::from_millis(30)),
            Quota::UNLIMITED,
        )
        .await
        .expect("set");
        assert!(!cas(s, "lock", None, Some(b"mine")).await, "{name}");
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(!cas(s, "lock", Some(b"held"), Some(b"x")).await, "{name}");
        assert!(
            s.compare_and_swap(
                "t",
                "lock",
                None,
                Some(b"mine"),
                Some(Duration::from_millis(30)),
                Quota::UNLIMITED
            )
            .await
            .expect("cas"),
            "{name}"
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(get(s, "t", "lock").await, None, "{name}");
        // Empty values are values.
        assert!(cas(s, "empty", None, Some(b"")).await, "{name}");
        assert_eq!(get(s, "t", "empty").await, Some(Vec::new()), "{name}");
        assert!(!cas(s, "empty", None, Some(b"x")).await, "{name}");
    }
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_keys() {
    let (_redis, backends) = backends("tenants");
    for (name, s) in backends {
        let s = &*s;
        s.set("acme", "counter", b"1", None, Quota::UNLIMITED)
            .await
            .expect("set");
        assert_eq!(get(s, "globex", "counter").await, None, "{name}");
        // A split that would collide if tenant and key were simply concatenated.
        s.set("ac", "mecounter", b"2", None, Quota::UNLIMITED)
            .await
            .expect("set");
        s.set("ac", "me}:kv:counter", b"3", None, Quota::UNLIMITED)
            .await
            .expect("set");
        assert_eq!(
            get(s, "acme", "counter").await,
            Some(b"1".to_vec()),
            "{name}"
        );
        assert!(
            !s.delete("globex", "counter").await.expect("delete"),
            "{name}"
        );
        assert!(
            !s.compare_and_swap(
                "globex",
                "counter",
                Some(b"1"),
                Some(b"x"),
                None,
                Quota::UNLIMITED
            )
            .await
            .expect("cas"),
            "{name}"
        );
        assert_eq!(
            get(s, "acme", "counter").await,
            Some(b"1".to_vec()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn oversized_keys_and_values_are_refused_and_the_limits_accepted() {
    let (_redis, backends) = backends("sizes");
    for (name, s) in backends {
        let s = &*s;
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        let big = vec![0u8; MAX_VALUE_BYTES + 1];
        assert!(
            matches!(
                s.set("t", &long_key, b"v", None, Quota::UNLIMITED).await,
                Err(StoreError::TooLarge { what: "key", .. })
            ),
            "{name}"
        );
        assert!(
            matches!(
                s.compare_and_swap("t", "k", None, Some(&big), None, Quota::UNLIMITED)
                    .await,
                Err(StoreError::TooLarge { what: "value", .. })
            ),
            "{name}"
        );
        let key = "k".repeat(MAX_KEY_BYTES);
        s.set(
            "t",
            &key,
            &vec![1u8; MAX_VALUE_BYTES],
            None,
            Quota::UNLIMITED,
        )
        .await
        .expect("at the limits");
        assert_eq!(
            get(s, "t", &key).await.map(|v| v.len()),
            Some(MAX_VALUE_BYTES),
            "{name}"
        );
    }
}

/// Takes one number from the comma-separated pool under `free`, by compare-and-swap.
async fn allocate(s: Arc<dyn KvStore>) -> u32 {
    loop {
        let current = s.get("t", "free").await.expect("get").expect("a pool");
        let text = String::from_utf8(current.clone()).expect("utf-8");
        let mut numbers: Vec<&str> = text.split(',').filter(|n| !n.is_empty()).collect();
        let taken: u32 = numbers
            .pop()
            .expect("a free number")
            .parse()
            .expect("number");
        let rest = numbers.join(",");
        if s.compare_and_swap(
            "t",
            "free",
            Some(&current),
            Some(rest.as_bytes()),
            None,
            Quota::UNLIMITED,
        )
        .await
        .expect("cas")
        {
            return taken;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_allocations_get_distinct_numbers_and_the_pool_is_conserved() {
    let (_redis, backends) = backends("pool");
    for (name, s) in backends {
        let pool: Vec<String> = (0..80).map(|n| n.to_string()).collect();
        s.set(
            "t",
            "free",
            pool.join(",").as_bytes(),
            None,
            Quota::UNLIMITED,
        )
        .await
        .expect("set");
        let tasks: Vec<_> = (0..64)
            .map(|_| tokio::spawn(allocate(Arc::clone(&s))))
            .collect();
        let mut taken = BTreeSet::new();
        for task in tasks {
            assert!(
                taken.insert(task.await.expect("task")),
                "{name}: a number twice"
            );
        }
        let rest = String::from_utf8(get(&*s, "t", "free").await.expect("pool")).expect("utf-8");
        let rest: BTreeSet<u32> = rest
            .split(',')
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().expect("number"))
            .collect();
        assert_eq!(taken.len(), 64, "{name}");
        assert_eq!(rest.len(), 16, "{name}");
        assert!(taken.is_disjoint(&rest), "{name}");
        let all: BTreeSet<u32> = taken.union(&rest).copied().collect();
        assert_eq!(all, (0..80).collect(), "{name}: the pool is conserved");
    }
}

#[tokio::test]
async fn redis_compare_and_swap_survives_a_script_flush() {
    let dir = scratch("flush");
    let Some(server) = RedisServer::start(&dir, "redis_compare_and_swap_survives_a_script_flush")
    else {
        return;
    };
    let s = RedisStore::open(&server.url(), "test-node").expect("redis");
    assert!(cas(&s, "k", None, Some(b"1")).await);
    // The script cache is emptied (as on a restart or failover): EVALSHA answers
    // NOSCRIPT, and the script is loaded again.
    assert_eq!(server.cli(&["SCRIPT", "FLUSH"]), "OK");
    assert!(!cas(&s, "k", None, Some(b"2")).await);
    assert!(cas(&s, "k", Some(b"1"), Some(b"2")).await);
    assert_eq!(get(&s, "t", "k").await, Some(b"2".to_vec()));
}

/// A loopback proxy in front of Redis that, when told, forwards one request and then
/// drops the connection instead of forwarding the reply: a lost reply.
async fn lossy_proxy(upstream: u16, drop_next_reply: Arc<AtomicBool>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let drop_next_reply = Arc::clone(&drop_next_reply);
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                let (mut buf_c, mut buf_s) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
                loop {
                    tokio::select! {
                        n = client.read(&mut buf_c) => match n {
                            Ok(0) | Err(_) => return,
                            Ok(n) => if server.write_all(&buf_c[..n]).await.is_err() { return },
                        },
                        n = server.read(&mut buf_s) => match n {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if drop_next_reply.swap(false, Ordering::SeqCst) {
                                    // The request was applied; its answer never arrives.
                                    return;
                                }
                                if client.write_all(&buf_s[..n]).await.is_err() { return }
                            }
                        },
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_compare_and_swap_whose_reply_was_lost_is_retried_and_counts_as_done() {
    let dir = scratch("lost-reply");
    let Some(server) = RedisServer::start(
        &dir,
        "a_compare_and_swap_whose_reply_was_lost_is_retried_and_counts_as_done",
    ) else {
        return;
    };
    let drop_next_reply = Arc::new(AtomicBool::new(false));
    let port = lossy_proxy(server.port, Arc::clone(&drop_next_reply)).await;
    let s = RedisStore::open(&format!("redis://127.0.0.1:{port}/"), "test-node").expect("redis");
    // The script is loaded and the value there before the reply goes missing.
    assert!(cas(&s, "k", None, Some(b"a")).await);
    drop_next_reply.store(true, Ordering::SeqCst);
    // Applied, reply lost, retried on a new connection: the retry finds its own write.
    assert!(cas(&s, "k", Some(b"a"), Some(b"b")).await);
    assert!(
        !drop_next_reply.load(Ordering::SeqCst),
        "the reply was dropped"
    );
    assert_eq!(get(&s, "t", "k").await, Some(b"b".to_vec()));
    // A later, different swap is judged on its own.
    assert!(!cas(&s, "k", Some(b"a"), Some(b"c")).await);
}

fn quota(keys: u64, bytes: u64) -> Quota {
    Quota { keys, bytes }
}

#[tokio::test]
async fn a_write_past_the_quota_is_refused_and_changes_nothing() {
    let (_redis, backends) = backends("quota");
    for (name, s) in backends {
        let s = &*s;
        let q = quota(3, 100);
        for key in ["a", "b", "c"] {
            s.set("t", key, b"0123456789", None, q).await.expect("set");
        }
        let full = Usage { keys: 3, bytes: 33 };
        assert_eq!(s.usage("t").await.expect("usage"), full, "{name}");
        // A fourth key: refused, by set and by compare-and-swap alike.
        assert!(
            matches!(
                s.set("t", "d", b"x", None, q).await,
                Err(StoreError::QuotaExceeded {
                    what: "keys",
                    used: 3,
                    limit: 3
                })
            ),
            "{name}"
        );
        assert!(
            matches!(
                s.compare_and_swap("t", "d", None, Some(b"x"), None, q)
                    .await,
                Err(StoreError::QuotaExceeded { what: "keys", .. })
            ),
            "{name}"
        );
        // A swap whose comparison fails is `false`, quota or not.
        assert!(
            !s.compare_and_swap("t", "d", Some(b"y"), Some(b"x"), None, q)
                .await
                .expect("cas"),
            "{name}"
        );
        // Growing a value past the bytes: refused, the old value kept.
        assert!(
            matches!(
                s.set("t", "a", &[b'z'; 90], None, q).await,
                Err(StoreError::QuotaExceeded {
                    what: "bytes",
                    used: 33,
                    limit: 100
                })
            ),
            "{name}"
        );
        assert_eq!(
            get(s, "t", "a").await,
            Some(b"0123456789".to_vec()),
            "{name}"
        );
        assert_eq!(get(s, "t", "d").await, None, "{name}");
        assert_eq!(s.usage("t").await.expect("usage"), full, "{name}");
        // Writes that do not grow are allowed at the quota, even under a lowered one.
        s.set("t", "a", b"short", None, quota(1, 1))
            .await
            .expect("shrink");
        assert!(
            s.compare_and_swap(
                "t",
                "b",
                Some(b"0123456789"),
                Some(b"tiny"),
                None,
                quota(1, 1)
            )
            .await
            .expect("cas"),
            "{name}"
        );
        assert_eq!(
            s.usage("t").await.expect("usage"),
            Usage {
                keys: 3,
                bytes: 6 + 5 + 11
            },
            "{name}"
        );
        // Deleting frees room, by delete and by a swap to nothing.
        assert!(s.delete("t", "a").await.expect("delete"), "{name}");
        assert!(
            s.compare_and_swap("t", "b", Some(b"tiny"), None, None, q)
                .await
                .expect("cas"),
            "{name}"
        );
        assert_eq!(
            s.usage("t").await.expect("usage"),
            Usage { keys: 1, bytes: 11 },
            "{name}"
        );
        s.set("t", "d", b"x", None, q).await.expect("room again");
        s.set("t", "e", b"x", None, q).await.expect("room again");
        // Another tenant's usage is its own.
        assert_eq!(
            s.usage("u").await.expect("usage"),
            Usage::default(),
            "{name}"
        );
        s.set("u", "a", b"x", None, q)
            .await
            .expect("another tenant");
    }
}

#[tokio::test]
async fn expired_values_stop_counting_before_a_write_is_refused() {
    let (_redis, backends) = backends("quota-ttl");
    for (name, s) in backends {
        let s = &*s;
        let q = quota(2, 1000);
        s.set("t", "lease", b"v", Some(Duration::from_millis(40)), q)
            .await
            .expect("set");
        s.set("t", "kept", b"v", None, q).await.expect("set");
        assert!(
            matches!(
                s.set("t", "third", b"v", None, q).await,
                Err(StoreError::QuotaExceeded { .. })
            ),
            "{name}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The lease expired: its room is the third key's.
        s.set("t", "third", b"v", None, q)
            .await
            .expect("room after expiry");
        assert_eq!(
            s.usage("t").await.expect("usage"),
            Usage { keys: 2, bytes: 11 },
            "{name}"
        );
        // A value that expires at once takes no room; a TTL'd overwrite replaces it.
        s.set("t", "kept", b"v", Some(Duration::ZERO), q)
            .await
            .expect("set");
        assert_eq!(
            s.usage("t").await.expect("usage"),
            Usage { keys: 1, bytes: 6 },
            "{name}"
        );
        s.set("t", "kept", b"vv", Some(Duration::from_secs(60)), q)
            .await
            .expect("set");
        s.set("t", "kept", b"vvv", None, q).await.expect("set");
        assert_eq!(
            s.usage("t").await.expect("usage"),
            Usage { keys: 2, bytes: 13 },
            "{name}"
        );
    }
}
