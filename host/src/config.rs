//! Configuration files, parsed in two stages: raw TOML (`deny_unknown_fields`, so a typo
//! is an error that names the field) into a validated [`TenantConfig`] / [`HostConfig`]
//! whose fields need no further checks.
//!
//! This module reads files and checks values; it does not load plugins or touch the
//! registry.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use callflow_wire::{Callflow, Say};
use ipnet::IpNet;
use serde::Deserialize;

use crate::runtime::Limits;

/// The file in a tenant's folder that configures it.
pub const TENANT_FILE: &str = "tenant.toml";
/// The plugin file in a tenant's folder, unless `plugin` names another.
pub const DEFAULT_PLUGIN_FILE: &str = "plugin.wasm";

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown field or a value of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What `toml` said, including the field.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{path}: `{field}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The offending field.
        field: String,
        /// Why.
        message: String,
    },
}

/// Limits as written in TOML; every field optional, defaults come from the host.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Fuel per event (about 1 ms of compute per 10 million).
    pub fuel: Option<u64>,
    /// Wall-clock milliseconds per event.
    pub timeout_ms: Option<u64>,
    /// Linear memory per instance, in MiB.
    pub memory_mib: Option<u64>,
    /// Largest callflow a plugin may return, in KiB.
    pub output_kib: Option<u64>,
    /// Log lines per event.
    pub log_lines: Option<u32>,
    /// Events of this tenant running at once.
    pub max_concurrency: Option<u32>,
    /// Fuel this tenant may burn per second, over all its events (about 10 billion is
    /// one core); beyond it calls get the fallback at once.
    pub fuel_per_second: Option<u64>,
}

/// The host's own configuration file (`--config`): tenant defaults and operator maxima.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHostConfig {
    #[serde(default)]
    defaults: RawLimits,
    #[serde(default)]
    maxima: RawLimits,
    max_body_kib: Option<u64>,
    dedupe_capacity: Option<usize>,
    max_loaded_plugins: Option<usize>,
}

/// Validated host configuration.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Limits a tenant gets unless it asks for others.
    pub defaults: TenantLimits,
    /// The most a tenant may ask for.
    pub maxima: TenantLimits,
    /// Largest webhook body accepted.
    pub max_body_bytes: usize,
    /// Event ids remembered per tenant for duplicate deliveries.
    pub dedupe_capacity: usize,
    /// Distinct plugins (by digest) kept in memory at once; beyond it the least
    /// recently used is dropped and loaded again on its tenants' next event.
    pub max_loaded_plugins: usize,
}

/// A tenant's limits: the sandbox's plus the host's own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TenantLimits {
    /// What the sandbox enforces per event.
    pub sandbox: Limits,
    /// Events of this tenant running at once; beyond it calls get the fallback.
    pub max_concurrency: u32,
    /// Fuel per second over all the tenant's events (a CPU share); beyond it calls get
    /// the fallback.
    pub fuel_per_second: u64,
}

impl Default for HostConfig {
    fn default() -> Self {
        let defaults = TenantLimits {
            sandbox: Limits::default(),
            max_concurrency: 64,
            // About a quarter of a core: 200,000 events a second of a typical IVR
            // (~13k fuel), 250 a second of a plugin that burns its whole budget.
            fuel_per_second: 2_500_000_000,
        };
        let maxima = TenantLimits {
            sandbox: Limits {
                fuel: 100_000_000,
                timeout: Duration::from_secs(1),
                memory_bytes: 64 << 20,
                output_bytes: callflow_wire::rules::MAX_BODY_BYTES,
                log_lines: 1000,
            },
            max_concurrency: 1024,
            fuel_per_second: 20_000_000_000,
        };
        Self {
            defaults,
            maxima,
            max_body_bytes: 64 << 10,
            dedupe_capacity: 4096,
            max_loaded_plugins: 256,
        }
    }
}

impl HostConfig {
    /// Reads the host configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw: RawHostConfig = read_toml(path)?;
        let base = Self::default();
        let maxima = apply(&base.maxima, &raw.maxima, None, path, "maxima")?;
        let defaults = apply(
            &base.defaults,
            &raw.defaults,
            Some(&maxima),
            path,
            "defaults",
        )?;
        Ok(Self {
            defaults,
            maxima,
            max_body_bytes: raw.max_body_kib.map_or(base.max_body_bytes, |k| {
                usize::try_from(k << 10).unwrap_or(usize::MAX)
            }),
            dedupe_capacity: raw.dedupe_capacity.unwrap_or(base.dedupe_capacity),
            max_loaded_plugins: match raw.max_loaded_plugins {
                Some(0) => {
                    return Err(ConfigError::Invalid {
                        path: path.to_owned(),
                        field: "max_loaded_plugins".into(),
                        message: "must be greater than 0".into(),
                    });
                }
                Some(n) => n,
                None => base.max_loaded_plugins,
            },
        })
    }
}

/// `base` overridden by `raw`, each value checked against `maxima` when given.
fn apply(
    base: &TenantLimits,
    raw: &RawLimits,
    maxima: Option<&TenantLimits>,
    path: &Path,
    section: &str,
) -> Result<TenantLimits, ConfigError> {
    let check = |field: &str, value: u64, max: Option<u64>| -> Result<u64, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field: format!("{section}.{field}"),
            message,
        };
        if value == 0 {
            return Err(invalid("must be greater than 0".into()));
        }
        match max {
            Some(max) if value > max => Err(invalid(format!(
                "{value} exceeds the operator maximum of {max}"
            ))),
            _ => Ok(value),
        }
    };
    let m = maxima.map(|m| m.sandbox);
    let s = base.sandbox;
    let output_max = callflow_wire::rules::MAX_BODY_BYTES as u64 >> 10;
    Ok(TenantLimits {
        sandbox: Limits {
            fuel: check("fuel", raw.fuel.unwrap_or(s.fuel), m.map(|m| m.fuel))?,
            timeout: Duration::from_millis(check(
                "timeout_ms",
                raw.timeout_ms.unwrap_or(millis(s.timeout)),
                m.map(|m| millis(m.timeout)),
            )?),
            memory_bytes: check(
                "memory_mib",
                raw.memory_mib.unwrap_or(s.memory_bytes >> 20),
                m.map(|m| m.memory_bytes >> 20),
            )? << 20,
            output_bytes: usize::try_from(
                check(
                    "output_kib",
                    raw.output_kib.unwrap_or(s.output_bytes as u64 >> 10),
                    Some(m.map_or(output_max, |m| m.output_bytes as u64 >> 10)),
                )? << 10,
            )
            .unwrap_or(usize::MAX),
            log_lines: u32::try_from(check(
                "log_lines",
                raw.log_lines.map_or(u64::from(s.log_lines), u64::from),
                m.map(|m| u64::from(m.log_lines)),
            )?)
            .unwrap_or(u32::MAX),
        },
        max_concurrency: u32::try_from(check(
            "max_concurrency",
            raw.max_concurrency
                .map_or(u64::from(base.max_concurrency), u64::from),
            maxima.map(|m| u64::from(m.max_concurrency)),
        )?)
        .unwrap_or(u32::MAX),
        fuel_per_second: check(
            "fuel_per_second",
            raw.fuel_per_second.unwrap_or(base.fuel_per_second),
            maxima.map(|m| m.fuel_per_second),
        )?,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `tenant.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    /// 8x8 sub-accounts this tenant owns; `"*"` accepts any (for demos only).
    sub_accounts: Vec<String>,
    /// The plugin component, relative to the tenant's folder.
    plugin: Option<PathBuf>,
    #[serde(default)]
    webhook_auth: RawWebhookAuth,
    #[serde(default)]
    limits: RawLimits,
    /// Handed to the plugin through the `config` import.
    #[serde(default)]
    config: HashMap<String, String>,
    fallback: Option<RawFallback>,
    /// sha256 (hex) of the token that opens this tenant's admin API.
    admin_token_sha256: Option<String>,
    /// sha256 (hex) of each key that opens the plugin's API (`/v1/tenants/{t}/api/...`).
    #[serde(default)]
    api_keys_sha256: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhookAuth {
    authorization: Option<String>,
    #[serde(default)]
    allowed_ips: Vec<String>,
}

/// The fallback: either a short apology (`text`, `voice_profile`) followed by hangup,
/// or a whole callflow in 8x8's JSON shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFallback {
    text: Option<String>,
    voice_profile: Option<String>,
    callflow: Option<Callflow>,
}

/// Which sub-accounts' webhooks a tenant accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubAccounts {
    /// Any (demo tenants).
    Any,
    /// Only these.
    Only(Vec<String>),
}

impl SubAccounts {
    /// True when `id` is one of the tenant's.
    pub fn owns(&self, id: &str) -> bool {
        match self {
            SubAccounts::Any => true,
            SubAccounts::Only(ids) => ids.iter().any(|own| own == id),
        }
    }
}

/// How a tenant's webhooks prove they come from 8x8.
#[derive(Debug, Clone, Default)]
pub struct WebhookAuth {
    /// The exact `Authorization` header value configured in 8x8 (`httpAuthHeader`).
    pub authorization: Option<String>,
    /// Source networks allowed; empty allows any.
    pub allowed_ips: Vec<IpNet>,
}

impl WebhookAuth {
    /// True when `ip` may send webhooks.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allowed_ips.is_empty() || self.allowed_ips.iter().any(|net| net.contains(&ip))
    }
}

/// A validated `tenant.toml`.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// Sub-accounts whose webhooks the tenant accepts.
    pub sub_accounts: SubAccounts,
    /// Absolute path of the plugin component.
    pub plugin: PathBuf,
    /// Webhook authentication.
    pub auth: WebhookAuth,
    /// Effective limits.
    pub limits: TenantLimits,
    /// Plugin configuration.
    pub config: Arc<HashMap<String, String>>,
    /// What callers hear when the plugin fails.
    pub fallback: Callflow,
    /// sha256 of the tenant's admin token, if it has one.
    pub admin_token_sha256: Option<[u8; 32]>,
    /// sha256 of each key that opens the plugin's API; empty: the API is closed.
    pub api_keys_sha256: Vec<[u8; 32]>,
}

/// The voice of the default fallback.
pub const DEFAULT_FALLBACK_VOICE: &str = "en-US-BenjaminRUS";
/// The words of the default fallback.
pub const DEFAULT_FALLBACK_TEXT: &str =
    "We are sorry, we cannot take your call right now. Please try again later.";

/// The fallback a tenant gets unless it configures one: a short apology, then hangup.
pub fn default_fallback() -> Callflow {
    Callflow::new()
        .say(Say::new(DEFAULT_FALLBACK_TEXT, DEFAULT_FALLBACK_VOICE))
        .hangup()
}

impl TenantConfig {
    /// Reads `<dir>/tenant.toml`, checking limits against `host`'s maxima.
    pub fn load(dir: &Path, host: &HostConfig) -> Result<Self, ConfigError> {
        let path = dir.join(TENANT_FILE);
        let raw: RawTenant = read_toml(&path)?;
        Self::validate(raw, dir, &path, host)
    }

    /// Parses the text of a `tenant.toml` that would live in `dir`.
    pub fn parse(text: &str, dir: &Path, host: &HostConfig) -> Result<Self, ConfigError> {
        let path = dir.join(TENANT_FILE);
        let raw: RawTenant = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Self::validate(raw, dir, &path, host)
    }

    fn validate(
        raw: RawTenant,
        dir: &Path,
        path: &Path,
        host: &HostConfig,
    ) -> Result<Self, ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field: field.to_owned(),
            message,
        };
        let sub_accounts = if raw.sub_accounts.iter().any(|s| s == "*") {
            SubAccounts::Any
        } else if raw.sub_accounts.is_empty() {
            return Err(invalid(
                "sub_accounts",
                "list at least one 8x8 sub-account id (or \"*\" to accept any)".into(),
            ));
        } else {
            SubAccounts::Only(raw.sub_accounts)
        };
        let allowed_ips = raw
            .webhook_auth
            .allowed_ips
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        invalid(
                            "webhook_auth.allowed_ips",
                            format!("{s:?} is not an IP address or CIDR network"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if raw
            .webhook_auth
            .authorization
            .as_deref()
            .is_some_and(|a| a.trim().is_empty())
        {
            return Err(invalid(
                "webhook_auth.authorization",
                "must not be empty; leave it out to accept webhooks without it".into(),
            ));
        }
        let limits = apply(
            &host.defaults,
            &raw.limits,
            Some(&host.maxima),
            path,
            "limits",
        )?;
        let fallback = match raw.fallback {
            None => default_fallback(),
            Some(RawFallback {
                callflow: Some(flow),
                text: None,
                voice_profile: None,
            }) => flow,
            Some(RawFallback {
                callflow: Some(_), ..
            }) => {
                return Err(invalid(
                    "fallback",
                    "give either `callflow` or `text`/`voice_profile`, not both".into(),
                ));
            }
            Some(RawFallback {
                text,
                voice_profile,
                ..
            }) => Callflow::new()
                .say(Say::new(
                    text.unwrap_or_else(|| DEFAULT_FALLBACK_TEXT.into()),
                    voice_profile.unwrap_or_else(|| DEFAULT_FALLBACK_VOICE.into()),
                ))
                .hangup(),
        };
        callflow_wire::rules::validate(&fallback)
            .map_err(|v| invalid("fallback", v.to_string()))?;
        let admin_token_sha256 = raw
            .admin_token_sha256
            .map(|hex| {
                parse_sha256(&hex).ok_or_else(|| {
                    invalid(
                        "admin_token_sha256",
                        "must be 64 hex digits: the sha256 of the token (sha256sum)".into(),
                    )
                })
            })
            .transpose()?;
        let api_keys_sha256 = raw
            .api_keys_sha256
            .iter()
            .map(|hex| {
                parse_sha256(hex).ok_or_else(|| {
                    invalid(
                        "api_keys_sha256",
                        "each key must be 64 hex digits: the sha256 of the key (sha256sum)".into(),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            sub_accounts,
            plugin: dir.join(raw.plugin.unwrap_or_else(|| DEFAULT_PLUGIN_FILE.into())),
            auth: WebhookAuth {
                authorization: raw.webhook_auth.authorization,
                allowed_ips,
            },
            limits,
            config: Arc::new(raw.config),
            fallback,
            admin_token_sha256,
            api_keys_sha256,
        })
    }
}

/// 64 hex digits → 32 bytes.
fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Result<TenantConfig, ConfigError> {
        let dir = std::env::temp_dir().join(format!(
            "callflow-config-test-{}-{}",
            std::process::id(),
            toml.len()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join(TENANT_FILE), toml).expect("write");
        let result = TenantConfig::load(&dir, &HostConfig::default());
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    #[test]
    fn minimal_tenant_gets_host_defaults_and_default_fallback() {
        let t = load("sub_accounts = [\"acc\"]\n").expect("valid");
        assert_eq!(t.limits, HostConfig::default().defaults);
        assert_eq!(t.fallback, default_fallback());
        assert!(t.sub_accounts.owns("acc") && !t.sub_accounts.owns("other"));
        assert!(t.plugin.ends_with(DEFAULT_PLUGIN_FILE));
    }

    #[test]
    fn unknown_field_is_named_with_the_file() {
        let err = load("sub_accounts = [\"a\"]\n[limits]\nfuell = 5\n").expect_err("typo");
        let msg = err.to_string();
        assert!(msg.contains("fuell") && msg.contains(TENANT_FILE), "{msg}");
    }

    #[test]
    fn limits_above_operator_maximum_are_refused() {
        let err =
            load("sub_accounts = [\"a\"]\n[limits]\nmemory_mib = 4096\n").expect_err("too big");
        let msg = err.to_string();
        assert!(
            msg.contains("limits.memory_mib") && msg.contains("maximum"),
            "{msg}"
        );
    }

    #[test]
    fn bad_ip_and_invalid_fallback_are_refused() {
        let err = load("sub_accounts = [\"a\"]\n[webhook_auth]\nallowed_ips = [\"nope\"]\n")
            .expect_err("bad ip");
        assert!(
            err.to_string().contains("webhook_auth.allowed_ips"),
            "{err}"
        );
        let err = load(
            "sub_accounts = [\"a\"]\n[fallback]\ncallflow = { callflow = [{ action = \"hangup\" }, { action = \"hangup\" }] }\n",
        )
        .expect_err("invalid fallback");
        assert!(err.to_string().contains("fallback"), "{err}");
    }

    #[test]
    fn api_keys_are_sha256_digests() {
        let t = load("sub_accounts = [\"a\"]\n").expect("valid");
        assert!(t.api_keys_sha256.is_empty());
        let digest = "2f".repeat(32);
        let t = load(&format!(
            "sub_accounts = [\"a\"]\napi_keys_sha256 = [\"{digest}\", \"{}\"]\n",
            "AB".repeat(32)
        ))
        .expect("valid");
        assert_eq!(t.api_keys_sha256, vec![[0x2f; 32], [0xab; 32]]);
        let err = load("sub_accounts = [\"a\"]\napi_keys_sha256 = [\"demo-key\"]\n")
            .expect_err("not a digest");
        assert!(err.to_string().contains("api_keys_sha256"), "{err}");
    }

    #[test]
    fn ip_allowlist_matches_networks_and_mapped_v4() {
        let auth = WebhookAuth {
            authorization: None,
            allowed_ips: vec!["10.0.0.0/8".parse().expect("net")],
        };
        assert!(auth.allows_ip("10.1.2.3".parse().expect("ip")));
        assert!(auth.allows_ip("::ffff:10.1.2.3".parse().expect("ip")));
        assert!(!auth.allows_ip("192.168.0.1".parse().expect("ip")));
    }
}
