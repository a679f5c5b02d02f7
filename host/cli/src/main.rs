//! The `callflow-host` command: `serve` a tenants directory, or run the `demo`.

mod demo;
mod dev;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use callflow_server::config::{Overrides, StoreConfig};
use callflow_server::{Server, ServerConfig};
use clap::{Args, Parser, Subcommand};
use tracing::{info, warn};

#[derive(Parser)]
#[command(
    version,
    long_version = concat!(
        env!("CARGO_PKG_VERSION"),
        "\nruns plugins built against callflow:plugin@0.2.0 (semver-compatible versions load)"
    ),
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
        /// The tenants directory (or `tenants` under `[server]` in the configuration).
        #[arg(long)]
        tenants: Option<PathBuf>,
        /// Host configuration (`host.toml`: listen address, data directory, runtime,
        /// tenant defaults, operator maxima); flags override it.
        #[arg(long, env = "CALLFLOW_CONFIG")]
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
    /// Serve a plugin as tenant `<name>-dev`, rebuilding and reloading it whenever its
    /// sources change: a Rust crate, or a Python (`app.py`) or JavaScript (`app.js`)
    /// plugin's directory.
    Dev {
        /// The plugin's directory.
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
    /// Create a plugin (a Rust crate, or with --lang a Python or JavaScript module) that
    /// builds into a component and passes its own tests.
    New(callflow_host::scaffold::Args),
}

/// The flags every serving command takes; each overrides the configuration file.
#[derive(Args)]
struct Common {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Where state lives: the key-value database and the compiled-component cache
    /// [default: ./data].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
    /// The operator token for the admin API (`/v1/admin`); without it only tenant tokens work.
    #[arg(long, env = "CALLFLOW_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Do not watch the tenants directory for changes.
    #[arg(long)]
    no_watch: bool,
    /// Keep tenant state in this Redis (`redis://host:port/db`), shared with the other
    /// nodes of a cluster, instead of the embedded store under --data.
    #[arg(long = "redis", env = "CALLFLOW_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// On SIGTERM or Ctrl-C, say not ready and keep serving this long before stopping, so
    /// a load balancer moves calls away first [default: 2000 with --redis, else 0].
    #[arg(long)]
    drain_ms: Option<u64>,
    /// This node's name in its logs, /metrics and /readyz [default: hostname-pid].
    #[arg(long)]
    node_id: Option<String>,
}

impl Common {
    /// The validated configuration: `file` (if any), then these flags over it, with the
    /// tenants directory `tenants` when the command chose it.
    fn config(
        &self,
        file: Option<&Path>,
        tenants: Option<PathBuf>,
        watch: Option<bool>,
    ) -> anyhow::Result<ServerConfig> {
        let overrides = Overrides {
            listen: self.listen,
            data_dir: self.data.clone(),
            tenants_dir: tenants,
            watch: watch.or(self.no_watch.then_some(false)),
            drain_ms: self.drain_ms,
            admin_token: self.admin_token.clone(),
            redis_url: self.redis_url.clone(),
            node_id: self.node_id.clone(),
        };
        Ok(ServerConfig::load(file, overrides)?)
    }
}

/// The demo's and dev's configuration with an operator token for the console: the one
/// given, else a new random one; says where the console is and how to sign in.
fn with_console(command: &str, mut config: ServerConfig) -> anyhow::Result<ServerConfig> {
    let how = match &config.admin_token {
        Some(_) => "the operator token given (--admin-token)".to_owned(),
        None => {
            let mut bytes = [0u8; 16];
            std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)
                .context("reading /dev/urandom for the console's operator token")?;
            let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let how =
                format!("the operator token {token} (new at every start; --admin-token sets one)");
            config.admin_token = Some(token);
            how
        }
    };
    eprintln!(
        "callflow-host {command}: console at http://{}/console: sign in with {how}",
        config.listen
    );
    Ok(config)
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
        let config = match cli.command {
            Command::Serve {
                tenants,
                config,
                common,
            } => common.config(config.as_deref(), tenants, None)?,
            Command::Demo {
                demo_api_key,
                common,
            } => {
                // The tenants directory is the demo's own, under the data directory.
                let config = common.config(None, Some(PathBuf::new()), None)?;
                // The demo's tenants take any sub-account and a well-known API key.
                if !config.listen.ip().is_loopback() {
                    bail!(
                        "the demo listens on loopback only (127.0.0.1 or [::1]), not {}: its tenants accept any sub-account and a well-known API key; use `serve` for anything reachable",
                        config.listen
                    );
                }
                let tenants_dir = demo::prepare(&config.data_dir, &demo_api_key)?;
                with_console(
                    "demo",
                    ServerConfig {
                        tenants_dir,
                        ..config
                    },
                )?
            }
            Command::Dev {
                crate_dir,
                config,
                common,
            } => {
                // The inner loop is the tenants watcher picking up each rebuild.
                let server = common.config(None, Some(PathBuf::new()), Some(true))?;
                let (tenants_dir, tenant) = dev::prepare(&crate_dir, &server.data_dir, &config)?;
                dev::watch_sources(crate_dir, tenants_dir.join(&tenant), server.data_dir.clone())?;
                eprintln!(
                    "callflow-host dev: serving {tenant} at http://{}/v1/tenants/{tenant}/webhooks/voice",
                    server.listen
                );
                with_console(
                    "dev",
                    ServerConfig {
                        tenants_dir,
                        ..server
                    },
                )?
            }
            Command::Simulate(_) | Command::New(_) => unreachable!("run before the server starts"),
        };
        serve(config).await
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
    // Colours for a person at a terminal; a file or a pipe gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let listen = config.listen;
    let tenants_dir = config.tenants_dir.clone();
    // A cluster node may start with an empty folder: its tenants come from the catalog.
    let cluster = config.store != StoreConfig::Embedded;
    let server = Server::new(config)?;
    if !cluster && server.registry().all().is_empty() {
        bail!("no tenant could be loaded from {}", tenants_dir.display());
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    server.run(listener, shutdown_signal()).await?;
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn the_long_version_names_the_plugin_contract_this_host_runs() {
        let version = super::Cli::command().render_long_version();
        assert!(
            version.contains(&callflow_server::runtime::contract::name()),
            "{version}"
        );
    }
}
