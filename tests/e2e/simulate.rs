//! `callflow-host simulate` against the seed's IVR, as a plugin author runs it.
//!
//! Each folder of `tests/cases/simulate/ivr` is one call: `args` holds the command line
//! after the component (what the caller presses, the configuration), `transcript.txt`
//! what `simulate --no-costs` prints for it (`BLESS=1` rewrites it). Together they walk
//! every path of the IVR tree. `tests/cases/simulate/number-masking` holds both
//! directions of a masked call, and a stranger's, through a real host (bookings need the
//! plugin's API). Beside them: the JSON output, the exit statuses of the real binary,
//! `--url` against a real host, and `--interactive` at a pseudo-terminal.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use callflow_host::simulate::{self, Args};
use callflow_server::runtime::{Runtime, RuntimeConfig};
use callflow_test_artifacts::{IVR_WASM, NUMBER_MASKING_WASM};
use serde_json::{Value, json};

use crate::api::TEST_KEY_SHA256;
use crate::support::{Host, IVR_CONFIG, TenantSpec};

/// One runtime for every in-process call, sharing the e2e tests' compile cache.
fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    Arc::clone(RUNTIME.get_or_init(|| {
        Arc::new(
            Runtime::new(RuntimeConfig {
                cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-compiled")),
                ..RuntimeConfig::default()
            })
            .expect("wasm runtime"),
        )
    }))
}

/// Runs `simulate` in process with `words` after the command name; returns what it
/// printed and its exit status.
async fn simulate(words: &[&str]) -> (String, i32) {
    let args = Args::parse_from(words).unwrap_or_else(|e| panic!("{words:?}: {e}"));
    let mut out = Vec::new();
    let report = simulate::run(&args, Some(runtime()), &mut out)
        .await
        .unwrap_or_else(|e| panic!("{words:?}: {e}"));
    (String::from_utf8(out).expect("utf-8"), report.exit_status())
}

/// Compares `actual` with the text file at `path`, or writes it when `BLESS=1`.
fn assert_text_file(path: &Path, actual: &str) {
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(path, actual).expect("bless");
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with BLESS=1 to create it)", path.display()));
    if actual != expected {
        panic!(
            "{} differs (BLESS=1 rewrites it):\n--- actual\n{actual}\n--- expected\n{expected}",
            path.display()
        );
    }
}

const IVR_ARGS: [&str; 4] = [
    "--config",
    "virtual_number=+6512345678",
    "--config",
    "representative_number=+6587654321",
];

/// One call of the IVR tree plays as its folder's golden transcript.
async fn call_plays_as_its_golden_transcript(dir: &Path) {
    let args = std::fs::read_to_string(dir.join("args")).expect("args");
    let mut words = vec![IVR_WASM, "--no-costs"];
    words.extend(args.split_whitespace());
    let (out, status) = simulate(&words).await;
    assert_text_file(&dir.join("transcript.txt"), &out);
    // The transcript's last line names the exit status; hold it to that.
    assert!(
        out.trim_end().ends_with(&format!("(exit status {status})")),
        "{}: {out}",
        dir.display()
    );
}

/// Every path of the IVR tree, one test per case folder (named after it).
mod ivr_cases {
    macro_rules! case {
        ($name:ident, $dir:expr) => {
            #[tokio::test]
            async fn $name() {
                super::call_plays_as_its_golden_transcript(std::path::Path::new($dir)).await;
            }
        };
    }
    callflow_test_artifacts::foreach_simulate_ivr_case!(case);
}

#[test]
fn the_golden_transcripts_walk_every_path_of_the_tree() {
    let mut count = 0;
    macro_rules! count {
        ($name:ident, $dir:expr) => {
            count += 1;
        };
    }
    callflow_test_artifacts::foreach_simulate_ivr_case!(count);
    assert!(count >= 15, "every path of the tree: {count}");
}

#[tokio::test]
async fn costs_are_shown_against_the_tenants_limits() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("simulate-tenant");
    std::fs::create_dir_all(&dir).expect("dir");
    let toml = dir.join("tenant.toml");
    std::fs::write(
        &toml,
        format!(
            "sub_accounts = [\"acme\"]\n[limits]\nfuel = 2000000\ntimeout_ms = 50\n{IVR_CONFIG}"
        ),
    )
    .expect("tenant.toml");
    let toml = toml.to_str().expect("utf-8 path");
    let (out, status) = simulate(&[IVR_WASM, "--tenant-toml", toml, "--dtmf", "3"]).await;
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("(sub-account acme)"), "{out}");
    assert!(
        out.contains("limits   per event: fuel 2,000,000, time 50 ms"),
        "{out}"
    );
    // Every webhook line carries its fuel and time as a share of those limits.
    let webhooks: Vec<&str> = out.lines().filter(|l| l.contains(" > ")).collect();
    assert_eq!(webhooks.len(), 4, "{out}");
    for line in webhooks {
        assert!(
            line.contains("fuel ") && line.contains("%)") && line.contains(" ms ("),
            "{line}"
        );
    }
    assert!(out.contains("peak     per event: fuel "), "{out}");

    // A sub-account the tenant does not own is refused, as the server would.
    let args = Args::parse_from([IVR_WASM, "--tenant-toml", toml, "--sub-account", "other"])
        .expect("args");
    let err = simulate::run(&args, Some(runtime()), &mut Vec::new())
        .await
        .expect_err("not the tenant's");
    assert!(err.to_string().contains("\"other\""), "{err}");
}

#[tokio::test]
async fn json_output_has_every_webhook_its_answer_and_its_cost() {
    let mut words = vec![IVR_WASM, "--json", "--dtmf", "2,1"];
    words.extend(IVR_ARGS);
    let (out, status) = simulate(&words).await;
    assert_eq!(status, 0);
    let json: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(json["passed"], true);
    assert_eq!(json["ending"], "hangup");
    assert_eq!(json["limits"]["fuel"], 10_000_000);
    let webhooks: Vec<&Value> = json["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["type"] == "webhook")
        .collect();
    let kinds: Vec<String> = webhooks
        .iter()
        .map(|w| {
            format!(
                "{} {}",
                w["webhook"]["event_type"].as_str().unwrap_or_default(),
                w["webhook"]["status"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "CALL_ACTION CALL_RECEIVED",
            "CALL_ACTION ACTION_COMPLETED",
            "CALL_ACTION ACTION_COMPLETED",
            "CALL_STATUS CALL_INITIATED",
            "CALL_STATUS CALL_CONNECTED",
            "CALL_STATUS CALL_DISCONNECTED",
            "CALL_ACTION ACTION_COMPLETED",
            "CALL_STATUS CALL_DISCONNECTED",
            "SESSION_SUMMARY COMPLETED",
        ]
    );
    // What 8x8 sent: the echoed clientActionId and the digits, as 8x8 writes them.
    let second = &webhooks[1]["webhook"]["body"]["payload"];
    assert_eq!(second["clientActionId"], "main_menu");
    assert_eq!(second["eventData"]["dtmf"], "2");
    // What the host answered, and what it cost.
    assert_eq!(webhooks[2]["answer"]["clientActionId"], "post_call");
    for w in &webhooks {
        let fuel = w["cost"]["fuel"].as_u64().expect("fuel");
        assert!(fuel > 0 && fuel < 10_000_000, "{w}");
        assert_eq!(w["cost"]["fuel_limit"], 10_000_000);
    }
    // The IVR's own log lines come along.
    assert!(
        webhooks[0]["logs"].to_string().contains("new call"),
        "{}",
        webhooks[0]
    );
}

#[tokio::test]
async fn number_masking_bridges_both_directions_and_turns_a_stranger_away() {
    let host = Host::start(
        "simulate-masking",
        "",
        &[TenantSpec {
            id: "rides",
            toml: format!(
                "sub_accounts = [\"*\"]\napi_keys_sha256 = [\"{TEST_KEY_SHA256}\"]\n[limits]\nfuel = 100000000\ntimeout_ms = 1000\n[config]\npool = \"+6568001001=vn-1\"\n"
            ),
            wasm: Some(Path::new(NUMBER_MASKING_WASM)),
        }],
    );
    let (rider, driver) = ("+6591110001", "+6591110002");
    let response = reqwest::Client::new()
        .post(host.url("/v1/tenants/rides/api/bookings"))
        .bearer_auth("test-key")
        .json(&json!({ "participants": [rider, driver], "ttlSeconds": 3600 }))
        .send()
        .await
        .expect("booking");
    assert_eq!(response.status().as_u16(), 201);
    let booking: Value = response.json().await.expect("booking JSON");
    let number = booking["virtualNumber"].as_str().expect("virtual number");
    let id = booking["bookingId"]
        .as_str()
        .expect("booking id")
        .to_owned();
    let url = host.webhook_url("rides");
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/simulate/number-masking");
    for (case, from) in [
        ("rider-calls-driver", rider),
        ("driver-calls-rider", driver),
        ("stranger-calls", "+6599999999"),
    ] {
        let (out, status) =
            simulate(&["--url", &url, "--no-costs", "--from", from, "--to", number]).await;
        assert_eq!(status, 0, "{out}");
        // The header names the host's port; the booking id is new each run.
        let body: String = out
            .lines()
            .skip(3)
            .map(|l| l.replace(&id, "<booking>") + "\n")
            .collect();
        let dir = cases.join(case);
        std::fs::create_dir_all(&dir).expect("case dir");
        assert_text_file(&dir.join("transcript.txt"), &body);
    }
}

/// Builds the `callflow-host` binary (`cargo test -p callflow-tests` builds only this
/// package's) and returns its path.
fn host_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace");
        let out = Command::new(env!("CARGO"))
            .current_dir(workspace)
            .args([
                "build",
                "-p",
                "callflow-host",
                "--bin",
                "callflow-host",
                "--message-format=json-render-diagnostics",
            ])
            .stderr(Stdio::inherit())
            .output()
            .expect("cargo build");
        assert!(out.status.success(), "building callflow-host failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| {
                m["reason"] == "compiler-artifact" && m["target"]["name"] == "callflow-host"
            })
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported the binary")
    })
}

#[test]
fn the_binary_exits_1_on_a_fallback_and_2_when_it_cannot_run() {
    let run = |words: &[&str]| {
        let out = Command::new(host_binary())
            .arg("simulate")
            .args(words)
            .output()
            .expect("run simulate");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let mut words = vec![IVR_WASM, "--dtmf", "1,1,1"];
    words.extend(IVR_ARGS);
    let (code, stdout, _) = run(&words);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("We have booked your table for today"),
        "{stdout}"
    );

    // No numbers configured: connecting gets the fallback, and CI sees it.
    let (code, stdout, _) = run(&[IVR_WASM, "--dtmf", "2,1"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("!! FALLBACK plugin_error: the plugin reported unavailable: tenant configuration has no `virtual_number`"),
        "{stdout}"
    );

    let (code, _, stderr) = run(&["/nonexistent/plugin.wasm"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("the plugin does not load"), "{stderr}");
    let (code, _, stderr) = run(&[IVR_WASM, "--dtmf", "1,x"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("not a phone key"), "{stderr}");
}

#[tokio::test]
async fn against_a_running_host_the_call_goes_the_same_way_with_costs_from_its_metrics() {
    let host = Host::start(
        "simulate-url",
        "",
        &[TenantSpec {
            id: "ivr",
            toml: format!("sub_accounts = [\"8x8_test\"]\n{IVR_CONFIG}"),
            wasm: Some(Path::new(IVR_WASM)),
        }],
    );
    let url = host.webhook_url("ivr");
    let (remote, status) = simulate(&["--url", &url, "--no-costs", "--dtmf", "1,3,2,1"]).await;
    assert_eq!(status, 0, "{remote}");
    let mut words = vec![IVR_WASM, "--no-costs", "--dtmf", "1,3,2,1"];
    words.extend(IVR_ARGS);
    let (local, _) = simulate(&words).await;
    // The same call, webhook for webhook; only the header differs.
    let body = |t: &str| t.lines().skip(3).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&remote), body(&local));
    assert!(remote.starts_with(&format!("host     {url}")), "{remote}");

    let args = Args::parse_from(["--url", url.as_str(), "--json", "--dtmf", "3"]).expect("args");
    let mut out = Vec::new();
    let report = simulate::run(&args, None, &mut out).await.expect("run");
    assert!(report.passed());
    // The host's /metrics gives each event's fuel.
    let costs = report
        .transcript
        .exchanges()
        .filter(|x| x.cost.is_some_and(|c| c.fuel > 0))
        .count();
    assert_eq!(costs, report.transcript.exchanges().count());
}

/// Reads a child's output on a thread, so the test can wait for text with a deadline.
struct Screen {
    text: Arc<std::sync::Mutex<String>>,
}

impl Screen {
    fn new(mut from: impl Read + Send + 'static) -> Self {
        let text = Arc::new(std::sync::Mutex::new(String::new()));
        let sink = Arc::clone(&text);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let chunk = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().expect("screen").push_str(&chunk);
            }
        });
        Self { text }
    }

    fn text(&self) -> String {
        self.text.lock().expect("screen").clone()
    }

    /// Waits until `needle` has appeared `times` times.
    fn wait_for(&self, needle: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.text().matches(needle).count() < times {
            assert!(
                Instant::now() < deadline,
                "waited for {needle:?} x{times}; the screen:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn interactive_mode_takes_keys_typed_at_a_terminal() {
    // `script` (util-linux) runs the command on a new pseudo-terminal and relays our
    // pipe to it, as a person's keyboard would be; no terminal of our own is needed.
    let command = format!(
        "'{}' simulate '{IVR_WASM}' --interactive --no-costs --config virtual_number=+6512345678 --config representative_number=+6587654321",
        host_binary().display()
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-f", "-c", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("script (util-linux) runs the command on a pseudo-terminal");
    let screen = Screen::new(child.stdout.take().expect("stdout"));
    let mut keyboard = child.stdin.take().expect("stdin");
    let mut type_line = |line: &str| {
        keyboard
            .write_all(format!("{line}\n").as_bytes())
            .expect("type");
        keyboard.flush().expect("flush");
    };
    // Main menu: 2. Connect menu, first try: Enter (nothing). Second try: 1.
    screen.wait_for("keys? try 1 of 2", 1);
    assert!(screen.text().contains("Welcome to ABC Restaurant"));
    type_line("2");
    screen.wait_for("keys? try 1 of 2", 2);
    assert!(
        screen
            .text()
            .contains("Connecting you to the next available representative")
    );
    type_line("");
    screen.wait_for("keys? try 2 of 2", 1);
    type_line("1");
    let status = child.wait().expect("exit");
    let screen = screen.text();
    assert_eq!(status.code(), Some(0), "{screen}");
    for expected in [
        "presses  2",
        "presses  nothing  (no input before the timeout)",
        "dials    +6587654321  (showing +6512345678)",
        "7 > CALL_ACTION ACTION_COMPLETED post_call",
        "result   ok",
    ] {
        assert!(
            screen.contains(expected),
            "{expected:?} not on the screen:\n{screen}"
        );
    }
    // The terminal echoed what was typed, as it does for a person.
    assert!(BufReader::new(screen.as_bytes()).lines().count() > 10);
}
