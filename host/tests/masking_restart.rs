//! A host killed with SIGKILL and started again keeps every number-masking booking.
//!
//! This runs the real `callflow-host serve` binary (cargo builds it for this crate's
//! integration tests) with `plugins/number-masking` built from source, talks to it over
//! loopback with a few lines of plain HTTP/1.1, and reads its log to prove that no
//! participant's number reached it. The rest of number masking is proven in
//! `tests/e2e/masking.rs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// sha256 of `test-key`.
const TEST_KEY_SHA256: &str = "62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef";
const POOL: &str = "+6568009001=vn-1,+6568009002=vn-2,+6568009003=vn-3";

/// A running `callflow-host serve`, killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(tenants: &Path, data: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_callflow-host"))
            .arg("serve")
            .arg("--tenants")
            .arg(tenants)
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0", "--no-watch", "--log-json"])
            .env("RUST_LOG", "info")
            .env_remove("CALLFLOW_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn callflow-host");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let log = Arc::clone(&log);
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str::<Value>(&line)
                        && let Some(addr) = v["fields"]["addr"].as_str()
                        && let Ok(addr) = addr.parse::<SocketAddr>()
                    {
                        let _ = tx.send(addr);
                    }
                    let mut log = log.lock().expect("log");
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let addr = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "the host did not start listening:\n{}",
                    log.lock().expect("log")
                )
            });
        Server { child, addr, log }
    }

    /// Kills the process the hard way: no graceful shutdown, no flush.
    fn kill(mut self) -> String {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
        // Give the reader threads the last lines.
        std::thread::sleep(Duration::from_millis(100));
        self.log.lock().expect("log").clone()
    }

    /// One HTTP/1.1 request on a fresh connection: status and JSON body.
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let auth = if path.contains("/api/") {
            "Authorization: Bearer test-key\r\n"
        } else {
            ""
        };
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .expect("write");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn api(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.request(method, &format!("/v1/tenants/masking/api{path}"), body)
    }

    fn webhook(&self, body: &Value) -> Value {
        let (status, answer) =
            self.request("POST", "/v1/tenants/masking/webhooks/voice", Some(body));
        assert_eq!(status, 200, "{answer}");
        answer
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call_action(event: &str, session: &str, source: &str, destination: &str) -> Value {
    json!({
        "namespace": "VOICE", "eventType": "CALL_ACTION", "description": "Action request of a call",
        "payload": { "eventId": event, "callId": format!("c-{event}"), "sessionId": session,
            "subAccountId": "8x8_test", "callStatus": "CALL_RECEIVED", "callDirection": "INBOUND",
            "callType": "PSTN", "source": source, "destination": destination, "callDuration": 0,
            "sipCode": 200, "timestamp": "2026-01-06T10:17:19.375Z" }
    })
}

fn call_status(event: &str, session: &str, source: &str, destination: &str) -> Value {
    json!({
        "namespace": "VOICE", "eventType": "CALL_STATUS", "description": "Status update of a call",
        "payload": { "eventId": event, "callId": "c-out", "sessionId": session,
            "subAccountId": "8x8_test", "callStatus": "CALL_CONNECTED", "callDirection": "OUTBOUND",
            "callType": "PSTN", "source": source, "destination": destination, "callDuration": 0,
            "sipCode": 200, "timestamp": "2026-01-06T10:17:25.000Z" }
    })
}

/// The plugin, built from source into this test's own target directory (so it never
/// waits on the outer build's lock).
fn plugin() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("restart-plugins");
    callflow_host::plugin_build::build(workspace, &["number-masking"], "plugin", &target)
        .expect("building plugins/number-masking")
        .pop()
        .expect("a component")
}

fn participant(i: usize) -> String {
    format!("+659812{i:04}")
}

#[test]
fn a_killed_host_restarts_with_every_booking_and_no_number_in_its_log() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("masking-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tenant = dir.join("tenants/masking");
    std::fs::create_dir_all(&tenant).expect("tenant dir");
    std::fs::copy(plugin(), tenant.join("plugin.wasm")).expect("plugin");
    std::fs::write(
        tenant.join("tenant.toml"),
        format!(
            "sub_accounts = [\"*\"]\napi_keys_sha256 = [\"{TEST_KEY_SHA256}\"]\n[limits]\nfuel = 100000000\ntimeout_ms = 1000\n[config]\npool = \"{POOL}\"\n"
        ),
    )
    .expect("tenant.toml");
    let data = dir.join("data");

    let first = Server::start(&dir.join("tenants"), &data);
    let mut bookings = Vec::new();
    for i in 0..12 {
        let (status, b) = first.api(
            "POST",
            "/bookings",
            Some(&json!({ "participants": [participant(2 * i), participant(2 * i + 1)], "ttlSeconds": 3600 })),
        );
        assert_eq!(status, 201, "{b}");
        bookings.push(b);
    }
    let vn0 = bookings[0]["virtualNumber"]
        .as_str()
        .expect("vn")
        .to_owned();
    let id0 = bookings[0]["bookingId"].as_str().expect("id").to_owned();
    let bridged = first.webhook(&call_action("e-1", "s-1", &participant(0), &vn0));
    assert_eq!(
        bridged["callflow"][0]["params"]["destination"],
        participant(1)
    );
    first.webhook(&call_status("st-1", "s-1", &vn0, &participant(1)));
    let released = bookings[1]["bookingId"].as_str().expect("id").to_owned();
    assert_eq!(
        first
            .api("DELETE", &format!("/bookings/{released}"), None)
            .0,
        200
    );
    let started = Instant::now();
    let log_before = first.kill();

    let second = Server::start(&dir.join("tenants"), &data);
    eprintln!(
        "killed and restarted in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    for (i, b) in bookings.iter().enumerate() {
        let id = b["bookingId"].as_str().expect("id");
        let (status, shown) = second.api("GET", &format!("/bookings/{id}"), None);
        assert_eq!(status, 200, "{shown}");
        let expected = if id == released { "released" } else { "active" };
        assert_eq!(shown["status"], expected, "booking {i}: {shown}");
        assert_eq!(shown["virtualNumber"], b["virtualNumber"]);
        assert_eq!(shown["participants"], b["participants"]);
    }
    // Still routed, both ways.
    let back = second.webhook(&call_action("e-2", "s-2", &participant(1), &vn0));
    assert_eq!(back["callflow"][0]["params"]["destination"], participant(0));
    // The in-memory duplicate cache died with the process; the call log still takes a
    // redelivered event once.
    second.webhook(&call_status("st-1", "s-1", &vn0, &participant(1)));
    let (_, calls) = second.api("GET", &format!("/bookings/{id0}/calls"), None);
    let statuses = calls["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["type"] == "CALL_STATUS")
        .count();
    assert_eq!(statuses, 1, "{calls}");
    // The conflict rule survives too: participant 0 gets another number.
    let (status, more) = second.api(
        "POST",
        "/bookings",
        Some(&json!({ "participants": [participant(0), participant(99)] })),
    );
    assert_eq!(status, 201, "{more}");
    assert_ne!(more["virtualNumber"], vn0);
    let log_after = second.kill();

    let log = format!("{log_before}{log_after}");
    assert!(
        log.contains("bridging participant"),
        "the plugin's log lines are missing:\n{log}"
    );
    for i in (0..24).chain([99]) {
        let number = participant(i);
        assert!(
            !log.contains(&number[1..]),
            "{number} appears in the host's log:\n{log}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
