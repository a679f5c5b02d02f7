//! The real `callflow-host serve` binary (cargo builds it for this crate's integration
//! tests), started on a loopback port and spoken to with a few lines of plain HTTP/1.1;
//! killed with SIGKILL when dropped. Shared by the tests that kill a host.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// A running `callflow-host serve`.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Serves `tenants` with state in `data`, not watching the directory; `admin_token`
    /// is the operator token, if any.
    pub fn start(tenants: &Path, data: &Path, admin_token: Option<&str>) -> Server {
        Self::start_with(tenants, data, admin_token, &[])
    }

    /// As [`start`](Self::start), with more flags.
    pub fn start_with(
        tenants: &Path,
        data: &Path,
        admin_token: Option<&str>,
        flags: &[&str],
    ) -> Server {
        Self::start_on("127.0.0.1:0", tenants, data, admin_token, flags)
    }

    /// As [`start_with`](Self::start_with), listening on `listen`.
    pub fn start_on(
        listen: &str,
        tenants: &Path,
        data: &Path,
        admin_token: Option<&str>,
        flags: &[&str],
    ) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_callflow-host"));
        command
            .arg("serve")
            .arg("--tenants")
            .arg(tenants)
            .arg("--data")
            .arg(data)
            .args(["--listen", listen, "--no-watch", "--log-json"])
            .args(flags)
            .env("RUST_LOG", "info")
            .env_remove("CALLFLOW_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(token) = admin_token {
            command.env("CALLFLOW_ADMIN_TOKEN", token);
        }
        Self::spawn(command)
    }

    /// `callflow-host` with `args` (a serving command, which must log its address as
    /// JSON: pass `--log-json`), once it listens.
    pub fn start_command(args: &[&std::ffi::OsStr]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_callflow-host"));
        command
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("CALLFLOW_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Self::spawn(command)
    }

    fn spawn(mut command: Command) -> Server {
        let mut child = command.spawn().expect("spawn callflow-host");
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

    /// Everything the process has printed so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// File descriptors the process has open now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |d| d.count())
    }

    /// Asks the process to stop (SIGTERM), as an operator's rolling restart does.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }

    /// Waits up to `timeout` for the process to exit; its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Kills the process the hard way: no graceful shutdown, no flush. Returns its log.
    pub fn kill(mut self) -> String {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
        // Give the reader threads the last lines.
        std::thread::sleep(Duration::from_millis(100));
        self.log.lock().expect("log").clone()
    }

    /// Writes one HTTP/1.1 request on a fresh connection and returns the connection
    /// without reading the answer.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> TcpStream {
        send(self.addr, method, path, headers, body)
    }

    /// One request: its status and JSON body (`Null` when the body is not JSON).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Value) {
        request(self.addr, method, path, headers, body)
    }
}

/// Writes one HTTP/1.1 request to `addr` on a fresh connection and returns the
/// connection without reading the answer.
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    stream
}

/// One request to `addr`: its status and JSON body (`Null` when the body is not JSON);
/// status 0 when the connection failed or was cut before an answer.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let mut stream = send(addr, method, path, headers, body);
    let mut raw = String::new();
    if stream.read_to_string(&mut raw).is_err() {
        return (0, Value::Null);
    }
    let Some((head, body)) = raw.split_once("\r\n\r\n") else {
        return (0, Value::Null);
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A call action as 8x8 posts it: a new call, event `{tag}-{n}` in a session of its own.
pub fn call_action(tag: &str, n: usize) -> Vec<u8> {
    serde_json::json!({
        "namespace": "VOICE",
        "eventType": "CALL_ACTION",
        "payload": {
            "eventId": format!("{tag}-{n}"),
            "callId": format!("c-{n}"),
            "sessionId": format!("s-{n}"),
            "subAccountId": "8x8_test",
            "callStatus": "CALL_RECEIVED",
            "callDirection": "INBOUND",
            "callType": "PSTN",
            "source": "+6591178965",
            "destination": "+6568332048",
            "sourceFormat": "MSISDN",
            "destinationFormat": "MSISDN",
            "callDuration": 0,
            "timestamp": "2026-01-06T10:17:19.375Z",
        },
    })
    .to_string()
    .into_bytes()
}

/// Held by the tests that load the machine (a flood, hundreds of connections, three
/// nodes under load): they run one at a time, so that one's flood does not starve
/// another's plugins past their deadlines.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}
