//! Three real `callflow-host serve --redis` processes on loopback behind a real `nginx`
//! (round-robin, retrying a failed request on the next node) and a real `redis-server`
//! with its AOF on: what an operator runs, on one machine. Skipped when `redis-server`
//! or `nginx` is missing; a failure under `.ci/run`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use callflow_test_servers::{Nginx, RedisServer};
use serde_json::json;

use crate::support::{Server, request};

/// sha256 of `test-key`.
const TEST_KEY_SHA256: &str = "62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef";
const KEY: (&str, &str) = ("Authorization", "Bearer test-key");
const JSON: (&str, &str) = ("Content-Type", "application/json");
const OPERATOR: &str = "operator-secret";

fn dial(n: usize, source: &str, destination: &str) -> Vec<u8> {
    json!({
        "namespace": "VOICE", "eventType": "CALL_ACTION",
        "payload": { "eventId": format!("load-{n}"), "callId": format!("c-{n}"),
            "sessionId": format!("s-{n}"), "subAccountId": "8x8_test",
            "callStatus": "CALL_RECEIVED", "callDirection": "INBOUND", "callType": "PSTN",
            "source": source, "destination": destination, "callDuration": 0, "sipCode": 200,
            "timestamp": "2026-01-06T10:17:19.375Z" }
    })
    .to_string()
    .into_bytes()
}

/// Books `rider` with `driver` through `addr`; the booking's id and number when it was
/// acknowledged.
fn book(addr: SocketAddr, rider: &str, driver: &str) -> Option<(String, String)> {
    let body = json!({ "participants": [rider, driver], "ttlSeconds": 3600 }).to_string();
    let (status, booking) = request(
        addr,
        "POST",
        "/v1/tenants/rides/api/bookings",
        &[KEY, JSON],
        body.as_bytes(),
    );
    (status == 201).then(|| {
        (
            booking["bookingId"].as_str().expect("id").to_owned(),
            booking["virtualNumber"]
                .as_str()
                .expect("number")
                .to_owned(),
        )
    })
}

/// Node A's folder: tenant `rides`, number masking with a pool of `numbers`, which A
/// imports into the empty catalog.
fn seed_rides(root: &Path, numbers: usize) {
    let seed = root.join("a-tenants").join("rides");
    std::fs::create_dir_all(&seed).expect("tenant dir");
    std::fs::write(
        seed.join("tenant.toml"),
        format!(
            "sub_accounts = [\"*\"]\napi_keys_sha256 = [\"{TEST_KEY_SHA256}\"]\n[limits]\nfuel = 100000000\ntimeout_ms = 1000\nmax_concurrency = 256\n[config]\npool = \"{}\"\n",
            pool(numbers)
        ),
    )
    .expect("tenant.toml");
    std::fs::copy(
        callflow_test_artifacts::NUMBER_MASKING_WASM,
        seed.join("plugin.wasm"),
    )
    .expect("plugin");
}

/// Waits until the node at `addr` serves `rides`: an empty webhook is then refused for
/// what it lacks (4xx), not for an unknown tenant (404).
fn wait_for_rides(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while request(
        addr,
        "POST",
        "/v1/tenants/rides/webhooks/voice",
        &[JSON],
        b"{}",
    )
    .0 == 404
    {
        assert!(Instant::now() < deadline, "{addr} never got the tenant");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pool(n: usize) -> String {
    (0..n)
        .map(|i| format!("+65680{:05}=vn-{i}", 10_000 + i))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn three_nodes_behind_nginx_survive_a_killed_node_and_a_redis_restart() {
    let _heavy = crate::support::heavy();
    let test = "three_nodes_behind_nginx_survive_a_killed_node_and_a_redis_restart";
    let root =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let Some(mut redis) = RedisServer::start(&root.join("redis"), test) else {
        return;
    };
    if !callflow_test_servers::available_at("nginx", &["-v"], test) {
        return;
    }
    // Node A seeds the catalog with the tenant; B and C start empty and get it.
    seed_rides(&root, 60);
    let url = redis.url();
    let start = |name: &str| {
        let tenants = root.join(format!("{name}-tenants"));
        std::fs::create_dir_all(&tenants).expect("tenants");
        Server::start_with(
            &tenants,
            &root.join(format!("{name}-data")),
            Some(OPERATOR),
            &["--redis", &url, "--node-id", name, "--drain-ms", "0"],
        )
    };
    let a = start("a");
    let (b, c) = (start("b"), start("c"));
    // Each node serves the tenant once it has it: an empty webhook is then refused for
    // what it lacks (4xx), not for an unknown tenant (404).
    for node in [&a, &b, &c] {
        wait_for_rides(node.addr);
    }
    let nginx = Nginx::start(&root.join("nginx"), &[a.addr, b.addr, c.addr], test).expect("nginx");
    let lb: SocketAddr = ([127, 0, 0, 1], nginx.port).into();

    // A booking made through node A is honoured by a call answered by node C.
    let (_, vn) = book(a.addr, "+6590000001", "+6590000002").expect("booked on a");
    let (status, answer) = request(
        c.addr,
        "POST",
        "/v1/tenants/rides/webhooks/voice",
        &[JSON],
        &dial(888_888, "+6590000001", &vn),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["callflow"][0]["params"]["destination"], "+6590000002",
        "{answer}"
    );

    // Bookings made through the balancer (so through every node), each honoured by a
    // call through the balancer (so, mostly, by another node).
    let mut bookings = Vec::new();
    for i in 0..30 {
        let rider = format!("+6591{:06}", 100_000 + i);
        let driver = format!("+6592{:06}", 100_000 + i);
        let (_, vn) = book(lb, &rider, &driver).expect("booked");
        bookings.push((rider, driver, vn));
    }
    for (i, (rider, driver, vn)) in bookings.iter().enumerate() {
        let (status, answer) = request(
            lb,
            "POST",
            "/v1/tenants/rides/webhooks/voice",
            &[JSON],
            &dial(i, rider, vn),
        );
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer["callflow"][0]["params"]["destination"],
            json!(driver),
            "{answer}"
        );
    }

    // The same event delivered to B and C at once runs the plugin once: both answer with
    // the one run's callflow, and the call's booking is logged once.
    let (rider, _, vn) = &bookings[0];
    let body = dial(999_999, rider, vn);
    let (on_b, on_c) = std::thread::scope(|s| {
        let on_b = s.spawn(|| {
            request(
                b.addr,
                "POST",
                "/v1/tenants/rides/webhooks/voice",
                &[JSON],
                &body,
            )
        });
        let on_c = s.spawn(|| {
            request(
                c.addr,
                "POST",
                "/v1/tenants/rides/webhooks/voice",
                &[JSON],
                &body,
            )
        });
        (on_b.join().expect("b"), on_c.join().expect("c"))
    });
    assert_eq!((on_b.0, on_c.0), (200, 200));
    assert_eq!(on_b.1, on_c.1);

    // A version uploaded and activated through A serves new calls on B and C: the IVR
    // answers where number masking did.
    let auth = format!("Bearer {OPERATOR}");
    let ivr = std::fs::read(callflow_test_artifacts::IVR_WASM).expect("ivr");
    let sent = Instant::now();
    let (status, v) = request(
        a.addr,
        "POST",
        "/v1/admin/tenants/rides/versions",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/wasm"),
        ],
        &ivr,
    );
    assert_eq!(status, 201, "{v}");
    // It was activated once all three nodes had compiled it.
    assert_eq!(
        v["nodes"],
        json!({ "ready": ["a", "b", "c"], "late": [] }),
        "{v}"
    );
    let uploaded = Instant::now();
    // New calls for polling, in a range of their own: the load below must not reuse
    // their sessions (a session polled while the IVR served is pinned to it).
    let mut polls = 50_000_000..;
    let upload_took = uploaded - sent;
    for node in [&b, &c] {
        loop {
            let (_, answer) = request(
                node.addr,
                "POST",
                "/v1/tenants/rides/webhooks/voice",
                &[JSON],
                &dial(polls.next().expect("endless"), rider, vn),
            );
            if answer["clientActionId"] == "main_menu" {
                break;
            }
            assert!(
                uploaded.elapsed() < Duration::from_secs(10),
                "the IVR never served there: {answer}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    eprintln!(
        "an upload through node a (answered in {upload_took:?}, once every node had compiled it) served new calls on b and c {:?} later",
        uploaded.elapsed()
    );
    // Back to number masking for the rest (the previous version).
    let (status, v) = request(
        a.addr,
        "POST",
        "/v1/admin/tenants/rides/rollback",
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(status, 200, "{v}");
    for node in [&b, &c] {
        loop {
            let (_, answer) = request(
                node.addr,
                "POST",
                "/v1/tenants/rides/webhooks/voice",
                &[JSON],
                &dial(polls.next().expect("endless"), rider, vn),
            );
            if answer["callflow"][0]["action"] == "makeCall" {
                break;
            }
            assert!(
                uploaded.elapsed() < Duration::from_secs(20),
                "the rollback never served there"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    // A bounded load of calls through the balancer; node B is killed (SIGKILL) a third of
    // the way in. Every call is answered 200, by the plugin.
    let stop = Arc::new(AtomicBool::new(false));
    let bookings = Arc::new(bookings);
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, bookings) = (Arc::clone(&stop), Arc::clone(&bookings));
            std::thread::spawn(move || {
                let mut results = Vec::new();
                let mut n = 1000 + w * 100_000;
                while !stop.load(Ordering::Relaxed) && results.len() < 2000 {
                    let (rider, driver, vn) = &bookings[n % bookings.len()];
                    let (status, answer) = request(
                        lb,
                        "POST",
                        "/v1/tenants/rides/webhooks/voice",
                        &[JSON],
                        &dial(n, rider, vn),
                    );
                    let bridged = answer["callflow"][0]["params"]["destination"] == json!(driver);
                    results.push((status, bridged));
                    n += 1;
                }
                results
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let killed_at = Instant::now();
    drop(b.kill());
    std::thread::sleep(Duration::from_millis(1400));
    stop.store(true, Ordering::Relaxed);
    let results: Vec<(u16, bool)> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    let failed: Vec<_> = results
        .iter()
        .filter(|(s, bridged)| *s != 200 || !bridged)
        .collect();
    eprintln!(
        "{} calls through nginx; node b killed, the last call answered {:?} later (a call b had claimed waits for its claim to expire); {} not bridged with a 200",
        results.len(),
        killed_at.elapsed(),
        failed.len()
    );
    assert!(results.len() > 100, "the load ran: {}", results.len());
    assert!(failed.is_empty(), "{failed:?}");

    // Redis killed and restarted from its AOF while bookings are being made: every
    // booking it acknowledged is there afterwards, and the nodes recover by themselves.
    let booking_load = std::thread::spawn(move || {
        let mut acknowledged = Vec::new();
        let started = Instant::now();
        let mut i = 0;
        while started.elapsed() < Duration::from_millis(2500) {
            let rider = format!("+6593{:06}", 100_000 + i);
            let driver = format!("+6594{:06}", 100_000 + i);
            if let Some((id, _)) = book(lb, &rider, &driver) {
                acknowledged.push(id);
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        acknowledged
    });
    std::thread::sleep(Duration::from_millis(500));
    redis.kill();
    std::thread::sleep(Duration::from_millis(500));
    redis.restart();
    let acknowledged = booking_load.join().expect("booking load");
    assert!(!acknowledged.is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    for node in [&a, &c] {
        while request(node.addr, "GET", "/readyz", &[], b"").0 != 200 {
            assert!(Instant::now() < deadline, "a node did not recover");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| {
            request(
                lb,
                "GET",
                &format!("/v1/tenants/rides/api/bookings/{id}"),
                &[KEY],
                b"",
            )
            .0 != 200
        })
        .collect();
    eprintln!(
        "{} bookings acknowledged across the Redis restart, {} lost",
        acknowledged.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "{lost:?}");
}

/// One call through the balancer over HTTPS with `curl` (the test trusts the balancer's
/// self-signed certificate with `-k`); the status, 0 when curl got none.
fn curl_call(lb_port: u16, body: &[u8]) -> u16 {
    let out = std::process::Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args([
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
        ])
        .arg(format!(
            "https://127.0.0.1:{lb_port}/v1/tenants/rides/webhooks/voice"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().expect("stdin").write_all(body)?;
            child.wait_with_output()
        })
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn a_rolling_restart_of_every_node_behind_tls_answers_every_call() {
    let _heavy = crate::support::heavy();
    let test = "a_rolling_restart_of_every_node_behind_tls_answers_every_call";
    let root =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rolling-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let Some(redis) = RedisServer::start(&root.join("redis"), test) else {
        return;
    };
    let Some((cert, key)) = callflow_test_servers::self_signed(&root.join("tls"), test) else {
        return;
    };
    if !callflow_test_servers::available("curl", test) {
        return;
    }
    seed_rides(&root, 10);
    let url = redis.url();
    let listen: Vec<SocketAddr> = (0..3)
        .map(|_| ([127, 0, 0, 1], callflow_test_servers::free_port()).into())
        .collect();
    let start = |i: usize| {
        let name = ["a", "b", "c"][i];
        let tenants = root.join(format!("{name}-tenants"));
        std::fs::create_dir_all(&tenants).expect("tenants");
        let node = Server::start_on(
            &listen[i].to_string(),
            &tenants,
            &root.join(format!("{name}-data")),
            None,
            &["--redis", &url, "--node-id", name, "--drain-ms", "300"],
        );
        wait_for_rides(node.addr);
        node
    };
    let mut nodes: Vec<Option<Server>> = vec![Some(start(0)), Some(start(1)), Some(start(2))];
    let nginx =
        Nginx::start_tls(&root.join("nginx"), &listen, Some((&cert, &key)), test).expect("nginx");
    let lb_port = nginx.port;

    // Calls through TLS for as long as the rolling restart lasts (bounded).
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                let mut n = 5_000_000 + w * 100_000;
                while !stop.load(Ordering::Relaxed) && statuses.len() < 3000 {
                    statuses.push(curl_call(lb_port, &dial(n, "+6595000001", "+6568010000")));
                    n += 1;
                }
                statuses
            })
        })
        .collect();
    // One node after the other: told to stop, gone, started again on its address.
    for (i, slot) in nodes.iter_mut().enumerate() {
        std::thread::sleep(Duration::from_millis(300));
        let mut node = slot.take().expect("running");
        node.terminate();
        let status = node.wait_exit(Duration::from_secs(15)).expect("it exits");
        assert!(status.success(), "node {i}: {status}");
        *slot = Some(start(i));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let statuses: Vec<u16> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    let failed: Vec<_> = statuses.iter().filter(|s| **s != 200).collect();
    eprintln!(
        "rolling restart of 3 nodes behind TLS: {} calls, {} not answered 200",
        statuses.len(),
        failed.len()
    );
    assert!(statuses.len() > 30, "the load ran: {}", statuses.len());
    assert!(failed.is_empty(), "{failed:?}");
}
