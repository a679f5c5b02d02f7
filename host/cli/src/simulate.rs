//! `callflow-host simulate`: 8x8's side of a call, played against a plugin on a laptop.
//!
//! Owns: the command's arguments, the two ways a webhook gets answered (a component in
//! this process, or a running host's webhook URL), the caller at the keyboard, and
//! printing the transcript with each event's cost against the tenant's limits.
//!
//! Must not: decide anything about an answer itself. The walk (which webhook comes next,
//! what the caller hears, what 8x8 accepts) is [`callflow_wire::platform`], shared with
//! the SDK's native harness; in process, every webhook is answered by
//! [`webhook::process`] on a tenant (from [`TenantConfig`]) installed in a [`Server`] of
//! the simulator's own, so the sandbox, the admission, the limits, the validation and the
//! fallback are the server's own code.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use callflow_wire::platform::{
    self, CallSetup, Cost, Ending, Failure, Next, Press, Prompt, Reply, ReplyLog, Script,
    SimulatedCall, Style, Transcript, Webhook,
};
use serde_json::{Value, json};
use tracing::instrument::WithSubscriber as _;
use tracing_subscriber::layer::SubscriberExt as _;

use callflow_server::config::{HostConfig, Overrides, ServerConfig, SubAccounts, TenantConfig};
use callflow_server::runtime::{Limits, Runtime};
use callflow_server::store::MemoryStore;
use callflow_server::tenant::Tenant;
use callflow_server::{Server, phone, webhook};

/// `callflow-host simulate`'s arguments.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Exit status: 0 the call went through; 1 a call action got the \
tenant's fallback, the plugin failed on an event, or 8x8 would have rejected an answer; \
2 the call could not be simulated (bad arguments, a plugin that does not load, a host \
that cannot be reached)."
)]
pub struct Args {
    /// The plugin component (`.wasm`) to run in this process, under the host's sandbox.
    #[arg(required_unless_present = "url", conflicts_with = "url")]
    pub plugin: Option<PathBuf>,
    /// Post the webhooks to a running host instead: the tenant's webhook URL,
    /// `http://HOST/v1/tenants/TENANT/webhooks/voice`.
    #[arg(long)]
    pub url: Option<String>,
    /// The `Authorization` header value to send with --url, when the tenant requires one.
    #[arg(long, requires = "url")]
    pub authorization: Option<String>,
    /// The caller's number.
    #[arg(long, default_value = "+6591178965")]
    pub from: String,
    /// The virtual number the caller dials.
    #[arg(long, default_value = "+6568332048")]
    pub to: String,
    /// The 8x8 sub-account [default: the tenant's first, else 8x8_test].
    #[arg(long)]
    pub sub_account: Option<String>,
    /// What the caller presses at each sayAndCapture, in order: `1,1,2`. `-` (or nothing)
    /// presses nothing; `/` separates an item's tries (`-/1`: nothing, then 1). When the
    /// list runs out, the caller hangs up at the next prompt.
    #[arg(long, allow_hyphen_values = true, conflicts_with = "interactive")]
    pub dtmf: Option<String>,
    /// Ask at the keyboard what to press at each prompt.
    #[arg(long, short)]
    pub interactive: bool,
    /// Plugin configuration, `key=value` (repeatable; over --tenant-toml's `[config]`).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub config: Vec<(String, String)>,
    /// The tenant's `tenant.toml`: its limits, `[config]`, `[fallback]` and sub-accounts.
    #[arg(long)]
    pub tenant_toml: Option<PathBuf>,
    /// Print the whole call as JSON (webhooks sent, answers, costs, what the caller
    /// heard) instead of the transcript.
    #[arg(long)]
    pub json: bool,
    /// Leave each event's fuel and time and the plugin's version out (output that stays
    /// the same from build to build, for golden files).
    #[arg(long)]
    pub no_costs: bool,
    /// Show every line the plugin logs, not only warnings and errors.
    #[arg(long, short)]
    pub verbose: bool,
    /// Keep the plugin's key-value store and the compiled component here between runs
    /// [default: a fresh store, removed at the end].
    #[arg(long)]
    pub data: Option<PathBuf>,
}

impl Args {
    /// Parses `simulate`'s command line, the words after `callflow-host simulate`.
    pub fn parse_from<I, S>(words: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            args: Args,
        }
        let words = std::iter::once(std::ffi::OsString::from("simulate"))
            .chain(words.into_iter().map(Into::into));
        <Command as clap::Parser>::try_parse_from(words)
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

/// Why a call could not be simulated.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// An argument is wrong.
    #[error("{0}")]
    Usage(String),
    /// The caller script is malformed.
    #[error(transparent)]
    Script(#[from] platform::ScriptError),
    /// The tenant configuration was refused.
    #[error(transparent)]
    Config(#[from] callflow_server::config::ConfigError),
    /// The plugin does not load.
    #[error("the plugin does not load: {0}")]
    Load(#[from] callflow_server::runtime::LoadError),
    /// The sandbox could not start.
    #[error(transparent)]
    Runtime(#[from] callflow_server::runtime::RuntimeError),
    /// The in-process server could not start (its store, its runtime).
    #[error(transparent)]
    Server(#[from] callflow_server::ServerError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The host at --url could not be reached or answered something that is not HTTP.
    #[error("posting to {url}: {message}")]
    Remote {
        /// Where.
        url: String,
        /// What went wrong.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SimulateError + '_ {
    move |source| SimulateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What the caller does at a prompt.
pub trait Caller {
    /// The caller's answer to `prompt` (heard just now).
    fn press(&mut self, prompt: &Prompt) -> Press;
}

impl Caller for Script {
    fn press(&mut self, prompt: &Prompt) -> Press {
        Script::press(self, prompt)
    }
}

/// A person at a keyboard: each prompt asks for keys on `output` and reads a line from
/// `input`. An empty line presses nothing; `q` or the end of the input hangs up.
#[derive(Debug)]
pub struct Keyboard<R, W> {
    input: R,
    output: W,
}

impl<R: BufRead, W: Write> Keyboard<R, W> {
    /// Reads from `input`, asks on `output`.
    pub fn new(input: R, output: W) -> Self {
        Self { input, output }
    }
}

impl<R: BufRead, W: Write> Caller for Keyboard<R, W> {
    fn press(&mut self, prompt: &Prompt) -> Press {
        loop {
            let digits = if prompt.min_digits == prompt.max_digits {
                format!("{} digit{}", prompt.max_digits, plural(prompt.max_digits))
            } else {
                format!("{} to {} digits", prompt.min_digits, prompt.max_digits)
            };
            let hash = if prompt.complete_on_hash {
                ", # ends"
            } else {
                ""
            };
            let _ = write!(
                self.output,
                "     keys? try {} of {}: {digits}{hash}; Enter: none; q: hang up> ",
                prompt.attempt, prompt.tries
            );
            let _ = self.output.flush();
            let mut line = String::new();
            match self.input.read_line(&mut line) {
                Ok(0) | Err(_) => return Press::HangUp,
                Ok(_) => {}
            }
            let line = line.trim();
            if line.eq_ignore_ascii_case("q") {
                return Press::HangUp;
            }
            match Press::parse(line) {
                Ok(press) => return press,
                Err(e) => {
                    let _ = writeln!(self.output, "     {e}");
                }
            }
        }
    }
}

fn plural(n: u8) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Where the webhooks go.
enum Target {
    /// A component in this process.
    InProcess {
        /// A server of its own (not listening): the sandbox, the store, the tenant's
        /// state, wired as `serve` wires them.
        server: Box<Server>,
        tenant: Arc<Tenant>,
        /// Its tenants directory, empty (the tenant is installed from memory), removed
        /// at the end.
        scratch: PathBuf,
    },
    /// A running host.
    Remote {
        client: reqwest::Client,
        url: String,
        authorization: Option<String>,
        /// `/metrics` of that host and the tenant's id there, to learn each event's cost
        /// and failure reason.
        metrics: Option<(String, String)>,
        /// The tenant's fallback as JSON, to recognise it in an answer.
        fallback: Value,
    },
}

/// One call's simulator: what answers the webhooks, and under which limits.
pub struct Simulator {
    target: Target,
    limits: Limits,
    /// The sub-accounts the tenant accepts.
    sub_accounts: SubAccounts,
    label: String,
    version: Option<(String, usize)>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("label", &self.label)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Target::InProcess { scratch, .. } = &self.target {
            let _ = std::fs::remove_dir_all(scratch);
        }
    }
}

/// The tenant as the arguments describe it.
fn tenant_config(args: &Args, host: &HostConfig) -> Result<TenantConfig, SimulateError> {
    let (text, dir) = match &args.tenant_toml {
        Some(path) => (
            std::fs::read_to_string(path).map_err(io_err(path))?,
            path.parent().unwrap_or(Path::new(".")).to_owned(),
        ),
        None => ("sub_accounts = [\"*\"]\n".to_owned(), PathBuf::from(".")),
    };
    let mut config = TenantConfig::parse(&text, &dir, host)?;
    if !args.config.is_empty() {
        let mut map: HashMap<String, String> = (*config.config).clone();
        map.extend(args.config.iter().cloned());
        config.config = Arc::new(map);
    }
    Ok(config)
}

impl Simulator {
    /// The simulator the arguments ask for. In process, plugins load into `runtime` when
    /// given (tests share one), else into a runtime of the server's defaults.
    pub fn new(args: &Args, runtime: Option<Arc<Runtime>>) -> Result<Self, SimulateError> {
        let host = HostConfig::default();
        let config = tenant_config(args, &host)?;
        let limits = config.limits.sandbox;
        let sub_accounts = config.sub_accounts.clone();
        if let Some(url) = &args.url {
            let fallback = serde_json::from_str(&config.fallback.to_json()).unwrap_or(Value::Null);
            let metrics = metrics_of(url);
            return Ok(Self {
                target: Target::Remote {
                    client: reqwest::Client::new(),
                    url: url.clone(),
                    authorization: args.authorization.clone(),
                    metrics,
                    fallback,
                },
                limits,
                sub_accounts,
                label: url.clone(),
                version: None,
            });
        }
        let Some(path) = &args.plugin else {
            return Err(SimulateError::Usage(
                "give a plugin component (.wasm) or --url".into(),
            ));
        };
        let scratch = scratch_path("tenants");
        std::fs::create_dir_all(&scratch).map_err(io_err(&scratch))?;
        let mut server_config = ServerConfig::load(
            None,
            Overrides {
                data_dir: Some(args.data.clone().unwrap_or_else(|| scratch.clone())),
                tenants_dir: Some(scratch.clone()),
                watch: Some(false),
                ..Overrides::default()
            },
        )?;
        // Compiled components are kept only in a data directory the author chose.
        server_config.runtime.cache_dir = args.data.as_ref().map(|d| d.join("compiled"));
        let mut builder = Server::builder(server_config);
        if let Some(runtime) = runtime {
            builder = builder.runtime(runtime);
        }
        if args.data.is_none() {
            // Nothing outlives the run: the store is in memory.
            builder = builder.kv(Arc::new(MemoryStore::new(SCRATCH_STORE_BYTES)));
        }
        let server = builder.build()?;
        let plugin = server.registry().runtime().load_file(path)?;
        let version = Some((plugin.digest().to_owned(), plugin.size()));
        let tenant = server.registry().install("simulate", config, Ok(plugin));
        let label = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(Self {
            target: Target::InProcess {
                server: Box::new(server),
                tenant,
                scratch,
            },
            limits,
            sub_accounts,
            label,
            version,
        })
    }

    /// The limits each event runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A sub-account the tenant accepts, unless `given`; refuses one it does not.
    fn sub_account(&self, given: Option<&str>) -> Result<String, SimulateError> {
        match (given, &self.sub_accounts) {
            (Some(id), accounts) if !accounts.owns(id) => Err(SimulateError::Usage(format!(
                "the tenant does not accept sub-account {id:?} (its tenant.toml lists {accounts:?})"
            ))),
            (Some(id), _) => Ok(id.to_owned()),
            (None, SubAccounts::Only(ids)) if !ids.is_empty() => Ok(ids[0].clone()),
            (None, _) => Ok("8x8_test".to_owned()),
        }
    }

    /// What the transcript starts with: the plugin, its limits, the call.
    pub fn header(&self, setup: &CallSetup, style: &Style) -> String {
        let mut out = String::new();
        match (&self.target, &self.version) {
            (Target::InProcess { .. }, Some((digest, size))) if style.costs => {
                let _ = writeln!(
                    out,
                    "plugin   {} (version {}, {} KiB), in this process under the host's sandbox",
                    self.label,
                    &digest[..12.min(digest.len())],
                    size.div_ceil(1024)
                );
            }
            (Target::InProcess { .. }, _) => {
                let _ = writeln!(
                    out,
                    "plugin   {}, in this process under the host's sandbox",
                    self.label
                );
            }
            (Target::Remote { .. }, _) => {
                let _ = writeln!(out, "host     {}", self.label);
            }
        }
        let l = &self.limits;
        let _ = writeln!(
            out,
            "limits   per event: fuel {}, time {} ms, memory {} MiB, callflow {} KiB{}",
            platform::thousands(l.fuel),
            l.timeout.as_millis(),
            l.memory_bytes >> 20,
            l.output_bytes >> 10,
            if matches!(self.target, Target::Remote { .. }) {
                " (from the tenant.toml given, else the defaults)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "call     {} dials {} (sub-account {})\n",
            setup.caller, setup.virtual_number, setup.sub_account_id
        );
        out
    }

    /// Plays one call. Each entry of the transcript is written to `out` as it happens,
    /// when `out` is given.
    pub async fn call<W: Write + ?Sized>(
        &self,
        setup: CallSetup,
        caller: &mut dyn Caller,
        mut out: Option<&mut W>,
        style: &Style,
    ) -> Result<Transcript, SimulateError> {
        let mut call = SimulatedCall::new(setup);
        let mut shown = 0;
        loop {
            let next = call.next_step();
            if let Some(out) = out.as_deref_mut() {
                let entries = &call.transcript().entries;
                for entry in &entries[shown..] {
                    let _ = out.write_all(platform::render_entry(entry, style).as_bytes());
                }
                shown = entries.len();
                let _ = out.flush();
            }
            match next {
                Next::Send(webhook) => {
                    let reply = self.answer(&webhook).await?;
                    call.reply(reply);
                }
                Next::Press(prompt) => call.press(caller.press(&prompt)),
                Next::Done => return Ok(call.into_transcript()),
            }
        }
    }

    /// Posts one webhook to wherever the plugin runs.
    async fn answer(&self, webhook: &Webhook) -> Result<Reply, SimulateError> {
        match &self.target {
            Target::InProcess { server, tenant, .. } => {
                Ok(self.answer_in_process(server, tenant, webhook).await)
            }
            Target::Remote {
                client,
                url,
                authorization,
                metrics,
                fallback,
            } => {
                let before = match metrics {
                    Some((m, t)) => scrape(client, m, t).await,
                    None => None,
                };
                let mut request = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(webhook.to_json());
                if let Some(auth) = authorization {
                    request = request.header("authorization", auth);
                }
                let remote = |e: reqwest::Error| SimulateError::Remote {
                    url: url.clone(),
                    message: e.to_string(),
                };
                let response = request.send().await.map_err(remote)?;
                let status = response.status().as_u16();
                let body = response.bytes().await.map_err(remote)?.to_vec();
                let after = match metrics {
                    Some((m, t)) => scrape(client, m, t).await,
                    None => None,
                };
                let mut reply = Reply {
                    status,
                    body,
                    ..Reply::default()
                };
                if let (Some(before), Some(after)) = (before, after) {
                    reply.failure = after.failure_since(&before);
                    reply.cost = after.cost_since(&before, &self.limits);
                }
                let is_fallback = webhook.is_call_action()
                    && serde_json::from_slice::<Value>(&reply.body).is_ok_and(|v| v == *fallback);
                if is_fallback && reply.failure.is_none() {
                    reply.failure = Some(Failure {
                        reason: "fallback".into(),
                        message: "the host answered with the tenant's fallback; its log says why"
                            .into(),
                    });
                }
                Ok(reply)
            }
        }
    }

    async fn answer_in_process(
        &self,
        server: &Server,
        tenant: &Arc<Tenant>,
        webhook: &Webhook,
    ) -> Reply {
        // The server's parser, then the server's answer.
        let event = match callflow_wire::parse_webhook(webhook.to_json().as_bytes()) {
            Ok(event) => event,
            Err(e) => return phone::unparsable(&e),
        };
        let logs = Arc::new(Mutex::new(Vec::new()));
        let capture = tracing_subscriber::registry().with(PluginLogs(Arc::clone(&logs)));
        let handled = webhook::process(server.registry(), server.kv(), tenant, &event)
            .with_subscriber(capture)
            .await;
        let logs = std::mem::take(&mut *logs.lock().unwrap_or_else(|e| e.into_inner()));
        phone::reply(handled, &self.limits, logs)
    }
}

/// Bytes of keys and values the in-memory store of a run without `--data` holds.
const SCRATCH_STORE_BYTES: usize = 64 << 20;

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A fresh file name in the temporary directory.
fn scratch_path(ext: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!(
        "callflow-simulate-{}-{nanos}.{ext}",
        std::process::id()
    ))
}

/// Collects the plugin's log lines (the runtime logs them under
/// `callflow::plugin`) while one event runs.
struct PluginLogs(Arc<Mutex<Vec<ReplyLog>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PluginLogs {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let meta = event.metadata();
        if meta.target() != "callflow::plugin" {
            return;
        }
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "message" {
                    value.clone_into(&mut self.0);
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let level = meta.level().as_str().to_ascii_lowercase();
        if let Ok(mut logs) = self.0.lock() {
            logs.push(ReplyLog {
                level,
                message: message.0,
            });
        }
    }
}

/// `http://h:p/v1/tenants/T/webhooks/voice` → (`http://h:p/metrics`, `T`).
fn metrics_of(url: &str) -> Option<(String, String)> {
    let at = url.find("/v1/tenants/")?;
    let rest = &url[at + "/v1/tenants/".len()..];
    let tenant = rest.split('/').next()?.to_owned();
    Some((format!("{}/metrics", &url[..at]), tenant))
}

/// One tenant's counters, read from a host's `/metrics`.
#[derive(Debug, Default)]
struct Counters {
    invocations: u64,
    fuel: u64,
    latency_us: u64,
    failures: HashMap<String, u64>,
}

impl Counters {
    fn failure_since(&self, before: &Counters) -> Option<Failure> {
        let reason = self
            .failures
            .iter()
            .find(|(r, n)| **n > before.failures.get(*r).copied().unwrap_or(0))?
            .0;
        Some(Failure {
            reason: reason.clone(),
            message: "counted by the host's /metrics; its log says why".into(),
        })
    }

    fn cost_since(&self, before: &Counters, limits: &Limits) -> Option<Cost> {
        (self.invocations == before.invocations + 1 && self.fuel >= before.fuel).then(|| Cost {
            fuel: self.fuel - before.fuel,
            fuel_limit: Some(limits.fuel),
            elapsed_us: self.latency_us.saturating_sub(before.latency_us),
            time_limit_us: Some(micros(limits.timeout)),
        })
    }
}

async fn scrape(client: &reqwest::Client, url: &str, tenant: &str) -> Option<Counters> {
    let text = client.get(url).send().await.ok()?.text().await.ok()?;
    let label = format!("tenant=\"{tenant}\"");
    let mut c = Counters::default();
    for line in text.lines() {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        if !name.contains(&label) {
            continue;
        }
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        if name.starts_with("callflow_plugin_invocations_total{") {
            c.invocations = value;
        } else if name.starts_with("callflow_plugin_fuel_sum{") {
            c.fuel = value;
        } else if name.starts_with("callflow_plugin_latency_microseconds_sum{") {
            c.latency_us = value;
        } else if let Some(rest) = name.strip_prefix("callflow_plugin_failures_total{")
            && let Some(reason) = rest.split("reason=\"").nth(1)
        {
            let reason = reason.split('"').next().unwrap_or_default();
            c.failures.insert(reason.to_owned(), value);
        }
    }
    Some(c)
}

/// How a simulated call went, for the exit status.
#[derive(Debug)]
pub struct Report {
    /// The call.
    pub transcript: Transcript,
    /// Caller-script items no capture reached.
    pub unused_script_items: usize,
}

impl Report {
    /// True when no call action got the fallback, no event failed and 8x8 accepted every
    /// answer: exit status 0.
    pub fn passed(&self) -> bool {
        phone::passed(&self.transcript)
    }

    /// The exit status: 0 passed, 1 not.
    pub fn exit_status(&self) -> i32 {
        i32::from(!self.passed())
    }

    /// The transcript's closing lines.
    pub fn footer(&self, limits: &Limits, style: &Style) -> String {
        let t = &self.transcript;
        let mut out = String::from("\n");
        let webhooks = t.exchanges().count();
        let ending = match t.ending {
            Some(Ending::Hangup) => "the callflow hung up".to_owned(),
            Some(Ending::CallerHungUp) => "the caller hung up".to_owned(),
            Some(Ending::TooManyCallActions) => "the caller gave up (the call never ended)".into(),
            Some(Ending::Rejected) => "8x8 ended the session on an answer it rejects".into(),
            None => "unfinished".into(),
        };
        let _ = writeln!(out, "ended    {ending}; {webhooks} webhooks");
        if self.unused_script_items > 0 {
            let _ = writeln!(
                out,
                "note     {} item{} of --dtmf not used: the call ended first",
                self.unused_script_items,
                if self.unused_script_items == 1 {
                    ""
                } else {
                    "s"
                }
            );
        }
        if style.costs {
            let costs: Vec<&Cost> = t.exchanges().filter_map(|x| x.cost.as_ref()).collect();
            if let (Some(fuel), Some(time)) = (
                costs.iter().map(|c| c.fuel).max(),
                costs.iter().map(|c| c.elapsed_us).max(),
            ) {
                let _ = writeln!(
                    out,
                    "peak     per event: fuel {} of {} ({}), time {} of {} ms ({})",
                    platform::thousands(fuel),
                    platform::thousands(limits.fuel),
                    platform::percent(fuel, limits.fuel),
                    platform::millis(time),
                    limits.timeout.as_millis(),
                    platform::percent(time, micros(limits.timeout)),
                );
            }
        }
        let failures = t.failures();
        if self.passed() {
            let _ = writeln!(out, "result   ok: no fallback, no failure (exit status 0)");
        } else {
            let list: Vec<String> = failures
                .iter()
                .map(|(w, f)| format!("#{} {}", w.n, f.reason))
                .collect();
            let mut what = Vec::new();
            if t.fallbacks() > 0 {
                what.push(format!(
                    "{} call action{} got the tenant's fallback",
                    t.fallbacks(),
                    if t.fallbacks() == 1 { "" } else { "s" }
                ));
            }
            let others = failures.len() - t.fallbacks();
            if others > 0 {
                what.push(format!(
                    "the plugin failed on {others} other event{}",
                    if others == 1 { "" } else { "s" }
                ));
            }
            if t.ending == Some(Ending::Rejected) {
                what.push("8x8 rejected an answer".into());
            }
            let detail = if list.is_empty() {
                String::new()
            } else {
                format!(" ({})", list.join(", "))
            };
            let _ = writeln!(
                out,
                "result   FAILED: {}{detail} (exit status 1)",
                what.join("; ")
            );
        }
        out
    }

    /// The call as JSON.
    pub fn to_json(&self, sim: &Simulator, setup: &CallSetup) -> Value {
        let plugin = match &sim.target {
            Target::InProcess { .. } => json!({
                "file": sim.label,
                "version": sim.version.as_ref().map(|(d, _)| d),
                "bytes": sim.version.as_ref().map(|(_, s)| s),
            }),
            Target::Remote { .. } => json!({ "url": sim.label }),
        };
        phone::transcript_json(plugin, &sim.limits, setup, &self.transcript)
    }
}

/// Runs the command: one call as the arguments say, the transcript (or JSON) on `out`.
/// Plugins load into `runtime` when given.
pub async fn run(
    args: &Args,
    runtime: Option<Arc<Runtime>>,
    out: &mut dyn Write,
) -> Result<Report, SimulateError> {
    let style = Style {
        costs: !args.no_costs,
        all_logs: args.verbose,
    };
    let mut script = match &args.dtmf {
        Some(text) => Script::parse(text)?,
        None => Script::new(),
    };
    let sim = Simulator::new(args, runtime)?;
    let started_at_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    let setup = CallSetup {
        caller: callflow_wire::number::normalize(&args.from),
        virtual_number: callflow_wire::number::normalize(&args.to),
        sub_account_id: sim.sub_account(args.sub_account.as_deref())?,
        // Unique per run: a host answers a repeated eventId from its cache.
        run_id: format!(
            "{:x}",
            started_at_ms ^ (u64::from(std::process::id()) << 40)
        ),
        started_at_ms,
        ..CallSetup::default()
    };
    let streaming = !args.json;
    if streaming {
        let _ = out.write_all(sim.header(&setup, &style).as_bytes());
    }
    let transcript = if args.interactive {
        let stdin = std::io::stdin();
        let mut keyboard = Keyboard::new(stdin.lock(), std::io::stderr());
        let out = streaming.then_some(&mut *out);
        sim.call(setup.clone(), &mut keyboard, out, &style).await?
    } else {
        let out = streaming.then_some(&mut *out);
        sim.call(setup.clone(), &mut script, out, &style).await?
    };
    let report = Report {
        transcript,
        unused_script_items: script.unused(),
    };
    if streaming {
        let _ = out.write_all(report.footer(&sim.limits, &style).as_bytes());
    } else {
        let json = serde_json::to_string_pretty(&report.to_json(&sim, &setup)).unwrap_or_default();
        let _ = writeln!(out, "{json}");
    }
    let _ = out.flush();
    Ok(report)
}

/// `callflow-host simulate`: runs the call and returns the process's exit status.
pub fn main(args: &Args) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("callflow-host simulate: cannot start the async runtime: {e}");
            return 2;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match rt.block_on(run(args, None, &mut out)) {
        Ok(report) => report.exit_status(),
        Err(e) => {
            drop(out);
            eprintln!("callflow-host simulate: {e}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_url_and_tenant_come_from_the_webhook_url() {
        assert_eq!(
            metrics_of("http://127.0.0.1:8080/v1/tenants/acme-dev/webhooks/voice"),
            Some(("http://127.0.0.1:8080/metrics".into(), "acme-dev".into()))
        );
        assert_eq!(metrics_of("http://example.test/hook"), None);
    }

    #[test]
    fn a_keyboard_reads_keys_nothing_and_hang_ups() {
        let prompt = Prompt {
            text: "p".into(),
            attempt: 1,
            tries: 2,
            min_digits: 1,
            max_digits: 1,
            complete_on_hash: true,
            capture: 0,
            digit_timeout_ms: 5000,
            overall_timeout_ms: 10000,
        };
        let mut asked = Vec::new();
        let mut k = Keyboard::new(&b"x\n1\n\nq\n"[..], &mut asked);
        assert_eq!(k.press(&prompt), Press::Keys("1".into()));
        assert_eq!(k.press(&prompt), Press::Nothing);
        assert_eq!(k.press(&prompt), Press::HangUp);
        assert_eq!(k.press(&prompt), Press::HangUp);
        let asked = String::from_utf8(asked).expect("utf-8");
        assert!(asked.contains("not a phone key"), "{asked}");
        assert!(asked.contains("try 1 of 2: 1 digit, # ends"), "{asked}");
    }
}
