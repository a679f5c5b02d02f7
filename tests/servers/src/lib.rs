//! Real servers for the tests that need them, started from the machine's own packages:
//! `redis-server` and `nginx`, each on a free loopback port with its own directory,
//! killed on drop.
//!
//! A developer without the package gets a skipped test (a line on stderr says so);
//! with `CALLFLOW_REQUIRE_SERVERS=1` (set by `.ci/run`) a missing server is a failure.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set by `.ci/run`: a server the tests need must be there.
pub const REQUIRE_SERVERS: &str = "CALLFLOW_REQUIRE_SERVERS";

/// Whether `program` can be run; when it cannot, `false` on a laptop and a panic in CI.
pub fn available(program: &str, test: &str) -> bool {
    available_at(program, &["--version"], test)
}

/// As [`available`], asking `program` for its version with `args`.
pub fn available_at(program: &str, args: &[&str], test: &str) -> bool {
    let found = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os(REQUIRE_SERVERS).is_none(),
            "{test}: `{program}` is not installed and {REQUIRE_SERVERS} is set"
        );
        eprintln!("{test}: skipped: `{program}` is not installed");
    }
    found
}

/// A free TCP port on loopback (free when asked; the caller binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its working directory (the AOF lives here).
    pub dir: PathBuf,
}

impl RedisServer {
    /// Starts one under `dir` (`redis-server` from PATH), with the AOF on and fsynced on
    /// every write, and waits until it answers; `None` when it is not installed (see
    /// [`available`]).
    pub fn start(dir: &Path, test: &str) -> Option<RedisServer> {
        if !available("redis-server", test) {
            return None;
        }
        std::fs::create_dir_all(dir).expect("redis dir");
        let port = free_port();
        let child = Self::spawn(port, dir);
        let server = RedisServer {
            child,
            port,
            dir: dir.to_owned(),
        };
        server.wait_ready();
        Some(server)
    }

    /// Kills it (SIGKILL: what an acknowledged write survives is the AOF's to say).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port and directory (so from its AOF) after [`kill`](Self::kill).
    pub fn restart(&mut self) {
        self.child = Self::spawn(self.port, &self.dir);
        self.wait_ready();
    }

    fn spawn(port: u16, dir: &Path) -> Child {
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server")
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Runs `redis-cli` against it; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.cli(&["PING"]) == "PONG" {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `nginx` balancing loopback upstreams round-robin, retrying a request on the
/// next upstream when one fails (webhooks are idempotent by `eventId`). Upstreams are
/// never marked down (`max_fails=0`): a stopped node refuses at once and the next is
/// tried, where marking nodes down during a rolling restart can leave none "up".
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Nginx {
    /// Starts one under `dir` in front of `upstreams`; `None` when it is not installed.
    pub fn start(dir: &Path, upstreams: &[std::net::SocketAddr], test: &str) -> Option<Nginx> {
        Self::start_tls(dir, upstreams, None, test)
    }

    /// As [`start`](Self::start), terminating TLS with `tls` (certificate, key) when given.
    pub fn start_tls(
        dir: &Path,
        upstreams: &[std::net::SocketAddr],
        tls: Option<(&Path, &Path)>,
        test: &str,
    ) -> Option<Nginx> {
        if !available_at("nginx", &["-v"], test) {
            return None;
        }
        let (ssl, tls_lines) = match tls {
            Some((cert, key)) => (
                " ssl",
                format!(
                    "        ssl_certificate {};\n        ssl_certificate_key {};\n",
                    cert.display(),
                    key.display()
                ),
            ),
            None => ("", String::new()),
        };
        std::fs::create_dir_all(dir.join("logs")).expect("nginx dir");
        let port = free_port();
        let servers: String = upstreams
            .iter()
            .map(|a| format!("        server {a} max_fails=0;\n"))
            .collect();
        let d = dir.display();
        let conf = format!(
            "daemon off;\nworker_processes 1;\nuser root root;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n    access_log off;\n    keepalive_requests 1000000;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
             upstream callflow {{\n{servers}        keepalive 16;\n        keepalive_requests 1000000;\n    }}\n\
             server {{\n        listen 127.0.0.1:{port}{ssl};\n{tls_lines}        location / {{\n\
             proxy_pass http://callflow;\n            proxy_http_version 1.1;\n            proxy_set_header Connection \"\";\n\
             proxy_next_upstream error timeout non_idempotent;\n            proxy_next_upstream_tries 3;\n\
             proxy_connect_timeout 1s;\n        }}\n    }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Nginx { child, port })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate and its key for `localhost` under `dir`, made with
/// `openssl`; `None` when it is not installed.
pub fn self_signed(dir: &Path, test: &str) -> Option<(PathBuf, PathBuf)> {
    if !available_at("openssl", &["version"], test) {
        return None;
    }
    std::fs::create_dir_all(dir).expect("tls dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl req failed");
    Some((cert, key))
}
