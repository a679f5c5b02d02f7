//! The `callflow-host` command: `serve` a tenants directory, or run the `demo`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use callflow_host::config::HostConfig;
use callflow_host::runtime::{Runtime, RuntimeConfig};
use callflow_host::store::{KvStore, RedbStore};
use callflow_host::tenant::Registry;
use callflow_host::{AppState, app};
use clap::{Args, Parser, Subcommand};
use tracing::{error, info, warn};

#[derive(Parser)]
#[command(version, about = "Runs telephony tenants' call logic as sandboxed WebAssembly components behind 8x8 voice webhooks.")]
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
    /// Build the example plugins and serve them: the IVR as tenant `ivr-demo`.
    Demo {
        #[command(flatten)]
        common: Common,
    },
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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let common = match &cli.command {
        Command::Serve { common, .. } | Command::Demo { common } => common,
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
            Command::Demo { common } => {
                let tenants = demo::prepare(&common.data)?;
                serve(&tenants, HostConfig::default(), &common).await
            }
        }
    })
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
    let kv: Arc<dyn KvStore> = Arc::new(
        RedbStore::open(&common.data.join("kv.redb")).context("opening the key-value store")?,
    );
    let runtime = Arc::new(
        Runtime::new(RuntimeConfig {
            cache_dir: Some(common.data.join("compiled")),
            ..RuntimeConfig::default()
        })
        .context("starting the WebAssembly runtime")?,
    );
    let registry = Arc::new(Registry::new(runtime, host));
    let problems = registry
        .load_dir(tenants_dir)
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
            version = tenant.plugin.as_ref().map_or("none", |p| p.digest()),
            "tenant loaded"
        );
    }
    let listener = tokio::net::TcpListener::bind(common.listen)
        .await
        .with_context(|| format!("listening on {}", common.listen))?;
    info!(addr = %listener.local_addr()?, "serving webhooks at /v1/tenants/{{tenant}}/webhooks/voice");
    axum::serve(
        listener,
        app(AppState { registry, kv }).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving")?;
    info!("stopped: in-flight webhooks completed");
    Ok(())
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
    use std::process::Command;

    use anyhow::{Context as _, bail};

    /// The example plugins: crate name, tenant id, tenant.toml.
    const EXAMPLES: &[(&str, &str, &str)] = &[(
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
    )];

    /// Builds the example plugins (cargo does nothing when they are fresh) and writes the
    /// demo tenants directory; returns its path.
    pub fn prepare(data: &Path) -> anyhow::Result<PathBuf> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("locating the workspace")?;
        let target = workspace.join("target");
        ensure_wasm_target()?;
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(workspace)
            .args(["build", "--target", "wasm32-wasip2", "--profile", "plugin"])
            .arg("--target-dir")
            .arg(&target);
        for (krate, _, _) in EXAMPLES {
            cmd.args(["-p", krate]);
        }
        tracing::info!("building the example plugins for wasm32-wasip2");
        let status = cmd.status().context("running cargo to build the example plugins")?;
        if !status.success() {
            bail!("building the example plugins failed ({status}); is the wasm32-wasip2 target installed? (rustup target add wasm32-wasip2)");
        }
        let tenants = data.join("demo-tenants");
        for (krate, tenant, toml) in EXAMPLES {
            let dir = tenants.join(tenant);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let wasm = target
                .join("wasm32-wasip2/plugin")
                .join(format!("{}.wasm", krate.replace('-', "_")));
            std::fs::copy(&wasm, dir.join("plugin.wasm"))
                .with_context(|| format!("copying {}", wasm.display()))?;
            std::fs::write(dir.join("tenant.toml"), toml)
                .with_context(|| format!("writing {}", dir.join("tenant.toml").display()))?;
        }
        Ok(tenants)
    }

    /// Installs the wasm32-wasip2 target when the toolchain lacks it: these machines set
    /// `RUSTUP_AUTO_INSTALL=0`, so `rust-toolchain.toml` alone does not fetch it.
    fn ensure_wasm_target() -> anyhow::Result<()> {
        let sysroot = Command::new("rustc")
            .args(["--print", "sysroot"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
            .output()
            .context("running rustc")?;
        let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
        if sysroot.join("lib/rustlib/wasm32-wasip2").is_dir() {
            return Ok(());
        }
        tracing::info!("installing the wasm32-wasip2 target");
        let status = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
            .status()
            .context("running rustup")?;
        if !status.success() {
            bail!("rustup target add wasm32-wasip2 failed ({status})");
        }
        Ok(())
    }
}
