//! The `callflow-host` command: `serve` a tenants directory, or run the `demo`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use callflow_host::admin::AdminAuth;
use callflow_host::config::HostConfig;
use callflow_host::repo::Repo;
use callflow_host::runtime::{Runtime, RuntimeConfig};
use callflow_host::store::{KvStore, RedbStore};
use callflow_host::tenant::Registry;
use callflow_host::{AppState, app};
use clap::{Args, Parser, Subcommand};
use tracing::{error, info, warn};

#[derive(Parser)]
#[command(
    version,
    about = "Runs telephony tenants' call logic as sandboxed WebAssembly components behind 8x8 voice webhooks."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the tenants in a directory (a folder per tenant: tenant.toml + plugin.wasm).
    Serve {
        /// The tenants directory.
        #[arg(long)]
        tenants: PathBuf,
        /// Host configuration (tenant defaults, operator maxima).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Build the example plugins and serve them on loopback: the IVR as tenant `ivr-demo`,
    /// number masking as `masking-demo` (its API key is `--demo-api-key`).
    Demo {
        /// The API key of `masking-demo`'s bookings API (`Authorization: Bearer <key>`).
        #[arg(long, default_value = "demo-key", env = "CALLFLOW_DEMO_API_KEY")]
        demo_api_key: String,
        #[command(flatten)]
        common: Common,
    },
    /// Serve a plugin crate as tenant `<crate>-dev`, rebuilding and reloading it whenever
    /// its sources change.
    Dev {
        /// The plugin crate's directory.
        crate_dir: PathBuf,
        /// Tenant configuration handed to the plugin, `key=value` (repeatable).
        #[arg(long = "config", value_parser = parse_key_value)]
        config: Vec<(String, String)>,
        #[command(flatten)]
        common: Common,
    },
    /// Play 8x8's side of a call against a plugin (a component here, or a host's URL):
    /// what the caller hears, what they press, each event's cost against the limits.
    Simulate(callflow_host::simulate::Args),
    /// Create a plugin crate that builds for wasm32-wasip2 and passes its own tests.
    New(callflow_host::scaffold::Args),
}

#[derive(Args)]
struct Common {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where state lives: the key-value database and the compiled-component cache.
    #[arg(long, default_value = "./data")]
    data: PathBuf,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
    /// The operator token for the admin API (`/v1/admin`); without it only tenant tokens work.
    #[arg(long, env = "CALLFLOW_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Do not watch the tenants directory for changes.
    #[arg(long)]
    no_watch: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let common = match &cli.command {
        Command::Serve { common, .. }
        | Command::Demo { common, .. }
        | Command::Dev { common, .. } => common,
        // Plugin authors' tools: their own output and exit status, no server logging.
        Command::Simulate(args) => std::process::exit(callflow_host::simulate::main(args)),
        Command::New(args) => std::process::exit(callflow_host::scaffold::main(args)),
    };
    init_logging(common.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve {
                tenants,
                config,
                common,
            } => {
                let host = match config {
                    Some(path) => HostConfig::load(&path)?,
                    None => HostConfig::default(),
                };
                serve(&tenants, host, &common).await
            }
            Command::Demo {
                demo_api_key,
                common,
            } => {
                // The demo's tenants take any sub-account and a well-known API key.
                if !common.listen.ip().is_loopback() {
                    bail!(
                        "the demo listens on loopback only (127.0.0.1 or [::1]), not {}: its tenants accept any sub-account and a well-known API key; use `serve` for anything reachable",
                        common.listen
                    );
                }
                let tenants = demo::prepare(&common.data, &demo_api_key)?;
                serve(&tenants, HostConfig::default(), &common).await
            }
            Command::Dev {
                crate_dir,
                config,
                mut common,
            } => {
                common.no_watch = false;
                let (tenants, tenant) = dev::prepare(&crate_dir, &common.data, &config)?;
                dev::watch_sources(crate_dir, tenants.join(&tenant), common.data.clone())?;
                eprintln!(
                    "callflow-host dev: serving {tenant} at http://{}/v1/tenants/{tenant}/webhooks/voice",
                    common.listen
                );
                serve(&tenants, HostConfig::default(), &common).await
            }
            Command::Simulate(_) | Command::New(_) => unreachable!("run before the server starts"),
        }
    })
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(tenants_dir: &Path, host: HostConfig, common: &Common) -> anyhow::Result<()> {
    std::fs::create_dir_all(&common.data)
        .with_context(|| format!("creating the data directory {}", common.data.display()))?;
    let store = Arc::new(
        RedbStore::open(&common.data.join("kv.redb")).context("opening the key-value store")?,
    );
    tokio::spawn(purge_expired(Arc::clone(&store)));
    let kv: Arc<dyn KvStore> = store;
    let runtime = Arc::new(
        Runtime::new(RuntimeConfig {
            cache_dir: Some(common.data.join("compiled")),
            ..RuntimeConfig::default()
        })
        .context("starting the WebAssembly runtime")?,
    );
    let repo = Repo::open(tenants_dir)
        .with_context(|| format!("opening the tenants directory {}", tenants_dir.display()))?;
    let registry = Arc::new(Registry::new(runtime, host, repo));
    let problems = registry
        .load_all()
        .with_context(|| format!("reading the tenants directory {}", tenants_dir.display()))?;
    for (tenant, problem) in &problems {
        error!(tenant, problem, "tenant not fully loaded");
    }
    let loaded = registry.all();
    if loaded.is_empty() {
        bail!("no tenant could be loaded from {}", tenants_dir.display());
    }
    for tenant in &loaded {
        info!(
            tenant = %tenant.id,
            version = tenant.plugin.digest().unwrap_or("(loads on first event)"),
            "tenant ready"
        );
    }
    let _watch = if common.no_watch {
        None
    } else {
        Some(callflow_host::reload::watch(Arc::clone(&registry))?)
    };
    let admin = AdminAuth::new(common.admin_token.as_deref());
    let listener = tokio::net::TcpListener::bind(common.listen)
        .await
        .with_context(|| format!("listening on {}", common.listen))?;
    info!(addr = %listener.local_addr()?, "serving webhooks at /v1/tenants/{{tenant}}/webhooks/voice");
    axum::serve(
        listener,
        app(AppState {
            registry,
            kv,
            admin,
        })
        .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving")?;
    info!("stopped: in-flight webhooks completed");
    Ok(())
}

/// Expired values read as absent at once; this reclaims their space, hourly.
async fn purge_expired(store: Arc<RedbStore>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        let store = Arc::clone(&store);
        match tokio::task::spawn_blocking(move || store.purge_expired()).await {
            Ok(Ok(n)) if n > 0 => info!(purged = n, "expired key-value entries removed"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(cause = %e, "purging expired key-value entries failed"),
            Err(e) => warn!(cause = %e, "the purge task failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(cause = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(cause = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    info!("shutting down: finishing in-flight webhooks");
}

mod demo {
    //! The demo: builds the example plugins from this workspace and lays them out as a
    //! tenants directory under the data directory.

    use std::path::{Path, PathBuf};

    use anyhow::Context as _;
    use callflow_host::plugin_build;
    use callflow_host::repo::write_atomic;

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

    /// Builds the example plugins (cargo does nothing when they are fresh) and writes the
    /// demo tenants directory; returns its path.
    pub fn prepare(data: &Path, api_key: &str) -> anyhow::Result<PathBuf> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("locating the workspace")?;
        tracing::info!("building the example plugins for {}", plugin_build::TARGET);
        let crates: Vec<&str> = EXAMPLES.iter().map(|(krate, _, _)| *krate).collect();
        let built = plugin_build::build(workspace, &crates, "plugin", &workspace.join("target"))?;
        let tenants = data.join("demo-tenants");
        for ((_, tenant, toml), wasm) in EXAMPLES.iter().zip(built) {
            let dir = tenants.join(tenant);
            let bytes =
                std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
            write_atomic(&dir.join("plugin.wasm"), &bytes)
                .with_context(|| format!("writing {}", dir.display()))?;
            let digest = callflow_host::repo::digest(api_key.as_bytes());
            let toml = toml.replace(API_KEY_SHA256, &digest);
            write_atomic(&dir.join("tenant.toml"), toml.as_bytes())
                .with_context(|| format!("writing {}", dir.display()))?;
        }
        tracing::info!(
            "number masking: POST /v1/tenants/masking-demo/api/bookings with `Authorization: Bearer <--demo-api-key>`"
        );
        Ok(tenants)
    }
}

mod dev {
    //! `dev <crate>`: the plugin author's inner loop. Serves the crate as a tenant,
    //! rebuilds it on every source change and drops the new component into the tenant's
    //! folder, where the tenants watcher picks it up.

    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use anyhow::Context as _;
    use callflow_host::plugin_build;
    use callflow_host::repo::write_atomic;
    use notify::Watcher as _;

    /// Builds the crate once and lays out its tenant; returns the tenants directory and
    /// the tenant id.
    pub fn prepare(
        crate_dir: &Path,
        data: &Path,
        config: &[(String, String)],
    ) -> anyhow::Result<(PathBuf, String)> {
        let name = plugin_build::package_name(crate_dir)?;
        let tenant = format!("{name}-dev");
        let tenants = data.join("dev-tenants");
        let mut toml =
            String::from("# Written by `callflow-host dev`.\nsub_accounts = [\"*\"]\n\n[config]\n");
        for (k, v) in config {
            toml.push_str(&format!("{k} = {}\n", toml::Value::String(v.clone())));
        }
        write_atomic(&tenants.join(&tenant).join("tenant.toml"), toml.as_bytes())?;
        if let Err(e) = rebuild(crate_dir, &name, &tenants.join(&tenant), data) {
            eprintln!("callflow-host dev: {e}; fix it and save, the host keeps watching");
        }
        Ok((tenants, tenant))
    }

    fn rebuild(crate_dir: &Path, name: &str, tenant_dir: &Path, data: &Path) -> anyhow::Result<()> {
        let start = Instant::now();
        let target = data.join("dev-target");
        let wasm = plugin_build::build(crate_dir, &[name], "release", &target)?
            .pop()
            .context("cargo built nothing")?;
        let bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
        write_atomic(&tenant_dir.join("plugin.wasm"), &bytes)?;
        eprintln!(
            "callflow-host dev: built {name} ({} bytes, version {}) in {:.1} s; reloading",
            bytes.len(),
            &callflow_host::repo::digest(&bytes)[..12],
            start.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Rebuilds on every change under `src/` or to `Cargo.toml`, until the process ends.
    pub fn watch_sources(
        crate_dir: PathBuf,
        tenant_dir: PathBuf,
        data: PathBuf,
    ) -> anyhow::Result<()> {
        let name = plugin_build::package_name(&crate_dir)?;
        let (tx, rx) = std::sync::mpsc::channel();
        let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            if let Ok(e) = e
                && !e.kind.is_access()
            {
                let _ = tx.send(());
            }
        })?;
        watcher.watch(&crate_dir.join("src"), notify::RecursiveMode::Recursive)?;
        watcher.watch(
            &crate_dir.join("Cargo.toml"),
            notify::RecursiveMode::NonRecursive,
        )?;
        std::thread::Builder::new()
            .name("dev-rebuild".into())
            .spawn(move || {
                let _watcher = watcher;
                while rx.recv().is_ok() {
                    // Editors save in several steps: wait for quiet.
                    while rx.recv_timeout(Duration::from_millis(150)).is_ok() {}
                    if let Err(e) = rebuild(&crate_dir, &name, &tenant_dir, &data) {
                        eprintln!("callflow-host dev: {e}; still serving the last good build");
                    }
                }
            })?;
        Ok(())
    }
}
