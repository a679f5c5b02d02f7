//! The demo: builds the example plugins from this workspace and lays them out as a
//! tenants directory under the data directory.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use callflow_host::plugin_build;
use callflow_server::tenant::repo::{self, write_atomic};

/// Stands for the sha256 of the demo's API key in a tenant.toml below.
const API_KEY_SHA256: &str = "@API_KEY_SHA256@";

/// The example plugins: crate name, tenant id, tenant.toml.
const EXAMPLES: &[(&str, &str, &str)] = &[
    (
        "ivr",
        "ivr-demo",
        r#"# ABC Restaurant's IVR from 8x8's advanced IVR guide. Demo: no webhook auth, any sub-account.
sub_accounts = ["*"]

[config]
# makeCall source when connecting to a representative: one of your 8x8 virtual numbers.
virtual_number = "+6512345678"
# Who "press 1 to connect now" reaches.
representative_number = "+6587654321"
"#,
    ),
    (
        "number-masking",
        "masking-demo",
        r#"# 8x8 Number Masking: bookings over /v1/tenants/masking-demo/api, calls over webhooks.
# Demo: no webhook auth, any sub-account, the API key given to `demo` (default `demo-key`).
sub_accounts = ["*"]
api_keys_sha256 = ["@API_KEY_SHA256@"]

[limits]
# A creation reads every number's slot: room for a busy pool.
fuel = 100000000
timeout_ms = 1000

[config]
# The virtual numbers, with 8x8's reference ids. +6568332048 is the one 8x8's samples dial.
pool = "+6568332048=PSTN1, +6568332049=PSTN2, +6568332050=PSTN3, +6568332051=PSTN4, +6568332052=PSTN5"
stranger_text = "Sorry, this number is not assigned to you right now. Please check your booking. Goodbye."
"#,
    ),
];

/// Where the demo notes the version it activated last, per tenant.
const DEMO_ACTIVATED: &str = ".demo-activated";

/// Stores the example as one of `tenant`'s versions (as an upload would, so that the
/// console lists it and a later upload can be rolled back to it) and activates it, unless
/// an operator has activated another version since the demo last did.
fn store_example(store: &repo::Repo, tenant: &str, wasm: &[u8]) -> std::io::Result<()> {
    let version = store.add_version(tenant, wasm)?;
    let marker = store.tenant_dir(tenant).join(DEMO_ACTIVATED);
    let ours = std::fs::read_to_string(&marker).ok();
    match store.active(tenant) {
        Some(active) if active == version.digest => {}
        Some(active) if ours.as_deref() != Some(active.as_str()) => {
            tracing::info!(
                tenant,
                active = %active,
                example = %version.digest,
                "keeping the version activated through the admin API; the example just built is stored beside it"
            );
        }
        _ => {
            // The note first: a demo killed between the two still knows the activation
            // for its own next time.
            write_atomic(&marker, version.digest.as_bytes())?;
            store.activate(tenant, &version.digest)?;
        }
    }
    Ok(())
}

/// Builds the example plugins (cargo does nothing when they are fresh) and writes the
/// demo tenants directory; returns its path.
pub fn prepare(data: &Path, api_key: &str) -> anyhow::Result<PathBuf> {
    // This crate is `<workspace>/host/cli`.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .context("locating the workspace")?;
    tracing::info!("building the example plugins for {}", plugin_build::TARGET);
    let crates: Vec<&str> = EXAMPLES.iter().map(|(krate, _, _)| *krate).collect();
    let built = plugin_build::build(workspace, &crates, "plugin", &workspace.join("target"))?;
    let tenants = data.join("demo-tenants");
    let store =
        repo::Repo::open(&tenants).with_context(|| format!("opening {}", tenants.display()))?;
    for ((_, tenant, toml), wasm) in EXAMPLES.iter().zip(built) {
        let dir = tenants.join(tenant);
        let bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let digest = repo::digest(api_key.as_bytes());
        let toml = toml.replace(API_KEY_SHA256, &digest);
        write_atomic(&dir.join("tenant.toml"), toml.as_bytes())
            .with_context(|| format!("writing {}", dir.display()))?;
        store_example(&store, tenant, &bytes)
            .with_context(|| format!("writing {}", dir.display()))?;
    }
    tracing::info!(
        "number masking: POST /v1/tenants/masking-demo/api/bookings with `Authorization: Bearer <--demo-api-key>`"
    );
    Ok(tenants)
}
