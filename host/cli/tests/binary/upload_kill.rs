//! A host killed (SIGKILL) in the middle of an upload comes back serving the old
//! version or the new one, never a broken plugin, and every version it lists is whole.
//!
//! The real binary takes an upload over loopback and is killed at delays spread over
//! the time an upload takes (checks, compile, write, fsync, rename, activation), then
//! restarted on the same directory. What a killed process cannot show: a power cut
//! (the page cache dies too); the writes' fsyncs are there for that, untested.

use std::path::Path;
use std::time::Instant;

use crate::support::Server;
use serde_json::{Value, json};

const TOKEN: &str = "operator-secret";
const STRANGER_TEXT: &str = "Not a booked number.";

fn admin(server: &Server, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let auth = format!("Bearer {TOKEN}");
    server.request(
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/wasm"),
        ],
        body,
    )
}

fn upload(server: &Server, wasm: &[u8]) -> std::net::TcpStream {
    let auth = format!("Bearer {TOKEN}");
    server.send(
        "POST",
        "/v1/admin/tenants/acme/versions",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/wasm"),
        ],
        wasm,
    )
}

/// Who answers a new call: "ivr", "masking", or what else came back.
fn who_answers(server: &Server, n: usize) -> String {
    let body = json!({
        "namespace": "VOICE", "eventType": "CALL_ACTION",
        "payload": { "eventId": format!("kill-{n}"), "callId": "c", "sessionId": format!("s-{n}"),
            "subAccountId": "8x8_test", "callStatus": "CALL_RECEIVED", "callDirection": "INBOUND",
            "callType": "PSTN", "source": "+6591178965", "destination": "+6568009001",
            "callDuration": 0, "sipCode": 200, "timestamp": "2026-01-06T10:17:19.375Z" }
    });
    let (status, answer) = server.request(
        "POST",
        "/v1/tenants/acme/webhooks/voice",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    if answer["clientActionId"] == "main_menu" {
        "ivr".into()
    } else if answer["callflow"][0]["params"]["text"] == STRANGER_TEXT {
        "masking".into()
    } else {
        answer.to_string()
    }
}

/// Every stored version's bytes have the digest it is named by, and the listing shows
/// exactly those.
fn assert_versions_whole(server: &Server, tenant_dir: &Path) {
    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(tenant_dir.join("versions")).expect("versions dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(digest) = name.strip_suffix(".wasm") else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let bytes = std::fs::read(entry.path()).expect("read version");
        assert_eq!(
            callflow_server::tenant::repo::digest(&bytes),
            digest,
            "version {name} is not whole ({} bytes)",
            bytes.len()
        );
        on_disk.push(digest.to_owned());
    }
    let (status, list) = admin(server, "GET", "/v1/admin/tenants/acme/versions", b"");
    assert_eq!(status, 200, "{list}");
    let mut listed: Vec<String> = list["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["digest"].as_str().expect("digest").to_owned())
        .collect();
    on_disk.sort();
    listed.sort();
    assert_eq!(listed, on_disk);
}

#[test]
fn a_host_killed_mid_upload_serves_the_old_version_or_the_new_one() {
    let ivr = std::fs::read(callflow_test_artifacts::IVR_WASM).expect("ivr");
    let masking = std::fs::read(callflow_test_artifacts::NUMBER_MASKING_WASM).expect("masking");
    let digest = |wasm: &[u8]| callflow_server::tenant::repo::digest(wasm);
    let name_of = |d: &str| if d == digest(&ivr) { "ivr" } else { "masking" };

    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("upload-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tenants = dir.join("tenants");
    let tenant_dir = tenants.join("acme");
    std::fs::create_dir_all(&tenant_dir).expect("tenant dir");
    std::fs::write(
        tenant_dir.join("tenant.toml"),
        format!(
            "sub_accounts = [\"*\"]\n[config]\nvirtual_number = \"+6512345678\"\nrepresentative_number = \"+6587654321\"\npool = \"+6568009001=vn-1\"\nstranger_text = \"{STRANGER_TEXT}\"\n"
        ),
    )
    .expect("tenant.toml");
    let data = dir.join("data");

    // The IVR is active; time a whole upload of the masking plugin (and back), so the
    // kills below land across it. Both compile once here, so later uploads are the
    // checks against the compile cache plus the writes.
    let server = Server::start(&tenants, &data, Some(TOKEN));
    let (status, body) = admin(&server, "POST", "/v1/admin/tenants/acme/versions", &ivr);
    assert_eq!(status, 201, "{body}");
    let (status, body) = admin(&server, "POST", "/v1/admin/tenants/acme/versions", &masking);
    assert_eq!(status, 201, "{body}");
    let start = Instant::now();
    let (status, body) = admin(&server, "POST", "/v1/admin/tenants/acme/versions", &ivr);
    assert_eq!(status, 201, "{body}");
    let took = start.elapsed();
    assert_eq!(who_answers(&server, 0), "ivr");
    drop(server);

    let mut outcomes = Vec::new();
    let mut mid_write = 0;
    let rounds = 16u32;
    for round in 0..=rounds {
        let server = Server::start(&tenants, &data, Some(TOKEN));
        let (_, status) = admin(&server, "GET", "/v1/admin/tenants/acme", b"");
        let before = status["active_version"]
            .as_str()
            .expect("active")
            .to_owned();
        let new = if before == digest(&ivr) {
            &masking
        } else {
            &ivr
        };
        let mut stream = upload(&server, new);
        if round == rounds {
            // The last round lets the upload finish: the new version must then serve.
            let mut answer = String::new();
            std::io::Read::read_to_string(&mut stream, &mut answer).expect("answer");
            assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
        } else {
            // From at once to 1.5 times an upload's time.
            std::thread::sleep(took.mul_f64(1.5 * f64::from(round) / f64::from(rounds)));
        }
        let _ = server.kill();
        drop(stream);
        let unfinished = [tenant_dir.clone(), tenant_dir.join("versions")]
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        mid_write += usize::from(unfinished > 0);

        let server = Server::start(&tenants, &data, Some(TOKEN));
        let (status, after) = admin(&server, "GET", "/v1/admin/tenants/acme", b"");
        assert_eq!(status, 200, "{after}");
        assert_eq!(after["plugin_error"], Value::Null, "{after}");
        let active = after["active_version"].as_str().expect("active").to_owned();
        assert!(
            active == before || active == digest(new),
            "round {round}: serving {active}, neither the old nor the new version"
        );
        assert_eq!(
            who_answers(&server, round as usize + 1),
            name_of(&active),
            "round {round}"
        );
        assert_versions_whole(&server, &tenant_dir);
        let leftovers: Vec<_> = [tenant_dir.clone(), tenant_dir.join("versions")]
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "unfinished writes left: {leftovers:?}"
        );
        outcomes.push(if active == before { "old" } else { "new" });
        drop(server);
    }
    eprintln!(
        "an upload takes {took:?}; after each kill: {outcomes:?}; kills that left an unfinished write: {mid_write}"
    );
    assert!(
        outcomes.contains(&"old"),
        "no kill landed before the switch: {outcomes:?}"
    );
    assert_eq!(outcomes.last(), Some(&"new"));
    let _ = std::fs::remove_dir_all(&dir);
}
