//! The cluster's cost, in one run: the IVR under a closed-loop load (8 connections, a
//! fresh `eventId` and `sessionId` per call) on one node with the embedded store, one
//! node on Redis (the per-event Redis round trips: the delivery claim, the pin, the
//! answer), one node behind nginx, and three nodes behind nginx, all on this machine.
//! Prints one table. Needs `redis-server` and `nginx`; run with
//! `cargo bench -p callflow-tests --bench cluster` (`BENCH_SECONDS`, default 3).
//!
//! On a 2-core machine the three nodes, nginx, Redis and the load generator share the
//! same two cores: the table shows what a node's Redis work costs, not how far three
//! machines would scale.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use callflow_server::Server;
use callflow_server::config::{Overrides, ServerConfig};
use callflow_test_artifacts::IVR_WASM;
use callflow_test_servers::{Nginx, RedisServer};
use callflow_tests::load::{self, Report, Target};

const BODY: &str = r#"{"namespace":"VOICE","eventType":"CALL_ACTION","payload":{"eventId":"EVENT","callId":"c","sessionId":"SESSION","subAccountId":"8x8_test","callStatus":"CALL_RECEIVED","callDirection":"INBOUND","callType":"PSTN","source":"+6591178965","destination":"+6568332048","callDuration":0,"sipCode":200,"timestamp":"2026-01-06T10:17:19.375Z"}}"#;

const TENANT: &str = "sub_accounts = [\"*\"]\n[config]\nvirtual_number = \"+6512345678\"\nrepresentative_number = \"+6587654321\"\n";

fn target(addr: SocketAddr, tag: &'static str) -> Target {
    Target {
        addr,
        path: "/v1/tenants/ivr/webhooks/voice".into(),
        body: Arc::new(move |c, n| {
            BODY.replace("EVENT", &format!("{tag}-{c}-{n}"))
                .replace("SESSION", &format!("{tag}-s-{c}-{n}"))
        }),
        pace: None,
    }
}

/// A node on its own thread and runtime, serving until the process ends; its address.
fn node(dir: PathBuf, redis: Option<String>, seed: bool, name: &str) -> SocketAddr {
    let tenants = dir.join("tenants");
    std::fs::create_dir_all(&tenants).expect("tenants");
    if seed {
        let t = tenants.join("ivr");
        std::fs::create_dir_all(&t).expect("tenant");
        std::fs::copy(IVR_WASM, t.join("plugin.wasm")).expect("plugin");
        std::fs::write(t.join("tenant.toml"), TENANT).expect("toml");
    }
    let config = ServerConfig::load(
        None,
        Overrides {
            data_dir: Some(dir.clone()),
            tenants_dir: Some(tenants),
            watch: Some(false),
            redis_url: redis,
            node_id: Some(name.to_owned()),
            ..Overrides::default()
        },
    )
    .expect("config");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let server = Server::new(config).expect("server");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("addr");
            server
                .run(listener, std::future::pending())
                .await
                .expect("serve");
        });
    });
    let addr = rx.recv().expect("node started");
    // Serving the tenant (a cluster node gets it from the catalog): an empty webhook is
    // then refused for what it lacks, not for an unknown tenant.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while status_of_empty_webhook(addr) == 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never served the tenant"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    addr
}

fn status_of_empty_webhook(addr: SocketAddr) -> u16 {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let request = format!(
        "POST /v1/tenants/ivr/webhooks/voice HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let duration = Duration::from_secs(seconds);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-cluster");
    let _ = std::fs::remove_dir_all(&root);
    let Some(redis) = RedisServer::start(&root.join("redis"), "bench cluster") else {
        return;
    };
    let url = redis.url();
    let embedded = node(root.join("embedded"), None, true, "embedded");
    let one = node(root.join("r1"), Some(url.clone()), true, "r1");
    let two = node(root.join("r2"), Some(url.clone()), false, "r2");
    let three = node(root.join("r3"), Some(url), false, "r3");
    let Some(lb1) = Nginx::start(&root.join("nginx1"), &[one], "bench cluster") else {
        return;
    };
    let lb3 =
        Nginx::start(&root.join("nginx3"), &[one, two, three], "bench cluster").expect("nginx");
    let lb = |port: u16| -> SocketAddr { ([127, 0, 0, 1], port).into() };
    let variants: [(&str, SocketAddr, &'static str); 4] = [
        ("1 node, embedded store (baseline)", embedded, "emb"),
        ("1 node, Redis", one, "r1"),
        ("1 node, Redis, through nginx", lb(lb1.port), "n1"),
        ("3 nodes, Redis, through nginx", lb(lb3.port), "n3"),
    ];
    // Warm every path (plugins compiled, connections open).
    for (_, addr, tag) in &variants {
        load::run(&[(target(*addr, tag), 8)], Duration::from_millis(500));
    }
    println!("\n## Cluster: the IVR, 8 connections, {seconds} s per run, 2 interleaved rounds\n");
    let mut reports: Vec<Vec<Report>> = vec![Vec::new(); variants.len()];
    for _round in 0..2 {
        for (i, (_, addr, tag)) in variants.iter().enumerate() {
            reports[i].extend(load::run(&[(target(*addr, tag), 8)], duration));
        }
    }
    let best = |rs: &Vec<Report>| {
        rs.iter()
            .max_by(|a, b| a.rps.total_cmp(&b.rps))
            .expect("a run")
            .clone()
    };
    let baseline = best(&reports[0]).rps;
    println!("| variant | req/s | x baseline | p50 us | p99 us |\n|---|---|---|---|---|");
    for ((label, _, _), rs) in variants.iter().zip(&reports) {
        let r = best(rs);
        println!(
            "| {label} | {:.0} | {:.2} | {:.0} | {:.0} |",
            r.rps,
            r.rps / baseline,
            r.quantile(0.5).as_secs_f64() * 1e6,
            r.quantile(0.99).as_secs_f64() * 1e6
        );
    }
}
