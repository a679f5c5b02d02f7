//! Property tests of the two configuration parsers operators and tenants write: a
//! `tenant.toml` and a `host.toml`, generated from their real keys with values of every
//! kind. Invariants: every text is answered (a configuration, or an error that names
//! the file); an accepted tenant's limits never exceed the operator's maxima and its
//! fallback obeys 8x8's rules; an error about a field names a key the text has.

use std::path::Path;

use callflow_server::config::{ConfigError, HostConfig, Overrides, ServerConfig, TenantConfig};
use proptest::prelude::*;

/// A TOML value of any kind, mostly of the kinds the keys take.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u64..5_000_000_000).prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        2 => "[a-zA-Z0-9 ./*_+-]{0,20}".prop_map(|s| format!("{s:?}")),
        1 => proptest::collection::vec("[0-9a-f./*:]{0,18}", 0..3)
            .prop_map(|v| format!("{v:?}")),
        1 => any::<bool>().prop_map(|b| b.to_string()),
        1 => Just("1.5".to_owned()),
        1 => Just("{ x = 1 }".to_owned()),
    ]
}

const LIMIT_KEYS: &[&str] = &[
    "fuel",
    "timeout_ms",
    "memory_mib",
    "output_kib",
    "log_lines",
    "log_lines_per_second",
    "max_concurrency",
    "fuel_per_second",
    "kv_keys",
    "kv_mib",
    "kv_ops",
    "not_a_limit",
];

/// `[section]` with a few of `keys`, each with a value.
fn section(name: &'static str, keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::collection::btree_map(proptest::sample::select(keys), value(), 0..5).prop_map(
        move |entries| {
            let mut text = format!("[{name}]\n");
            for (k, v) in entries {
                text.push_str(&format!("{k} = {v}\n"));
            }
            text
        },
    )
}

fn tenant_toml() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            3 => Just("sub_accounts = [\"*\"]\n".to_owned()),
            1 => Just("sub_accounts = []\n".to_owned()),
            1 => Just("sub_accounts = [\"acme_voice\"]\n".to_owned()),
            1 => Just(String::new()),
        ],
        proptest::option::of(value().prop_map(|v| format!("plugin = {v}\n"))),
        proptest::option::of(section(
            "webhook_auth",
            &["authorization", "allowed_ips", "other"],
        )),
        proptest::option::of(section("limits", LIMIT_KEYS)),
        proptest::option::of(section("config", &["virtual_number", "mode", "a"])),
        proptest::option::of(section(
            "fallback",
            &["text", "voice_profile", "callflow", "speed"],
        )),
    )
        .prop_map(|(subs, plugin, auth, limits, config, fallback)| {
            let mut text = subs;
            text.push_str(&plugin.unwrap_or_default());
            for part in [auth, limits, config, fallback].into_iter().flatten() {
                text.push_str(&part);
            }
            text
        })
}

fn host_toml() -> impl Strategy<Value = String> {
    (
        proptest::option::of(section(
            "server",
            &[
                "listen",
                "data",
                "tenants",
                "watch",
                "drain_ms",
                "head_timeout_ms",
                "idle_timeout_ms",
                "body_timeout_ms",
                "max_connections",
            ],
        )),
        proptest::option::of(section(
            "runtime",
            &[
                "max_instances",
                "max_plugin_kib",
                "epoch_tick_us",
                "pagemap_scan",
                "compile_threads",
                "compile_nice",
                "compile_queue",
                "compile_queue_per_tenant",
            ],
        )),
        proptest::option::of(section("defaults", LIMIT_KEYS)),
        proptest::option::of(section("maxima", LIMIT_KEYS)),
        proptest::option::of(section("cluster", &["redis_url", "node_id"])),
    )
        .prop_map(|(server, runtime, defaults, maxima, cluster)| {
            let mut text = String::new();
            for part in [server, runtime, defaults, maxima, cluster]
                .into_iter()
                .flatten()
            {
                text.push_str(&part);
            }
            text
        })
}

/// An error names the file it is about.
fn names_the_file(err: &ConfigError, file: &str) -> bool {
    err.to_string().contains(file)
}

proptest! {
    #[test]
    fn every_tenant_toml_is_answered_and_an_accepted_one_is_within_the_maxima(text in tenant_toml()) {
        let host = HostConfig::default();
        match TenantConfig::parse(&text, Path::new("/tenants/acme"), &host) {
            Ok(tenant) => {
                let (l, m) = (tenant.limits, host.maxima);
                prop_assert!(l.sandbox.fuel <= m.sandbox.fuel);
                prop_assert!(l.sandbox.timeout <= m.sandbox.timeout);
                prop_assert!(l.sandbox.memory_bytes <= m.sandbox.memory_bytes);
                prop_assert!(l.sandbox.output_bytes <= m.sandbox.output_bytes);
                prop_assert!(l.sandbox.log_lines <= m.sandbox.log_lines);
                prop_assert!(l.sandbox.kv_ops <= m.sandbox.kv_ops);
                prop_assert!(l.sandbox.kv_quota.keys <= m.sandbox.kv_quota.keys);
                prop_assert!(l.sandbox.kv_quota.bytes <= m.sandbox.kv_quota.bytes);
                prop_assert!(l.max_concurrency <= m.max_concurrency);
                prop_assert!(l.fuel_per_second <= m.fuel_per_second);
                prop_assert!(callflow_wire::rules::validate(&tenant.fallback).is_ok());
            }
            Err(err) => {
                prop_assert!(names_the_file(&err, "tenant.toml"), "{err}");
                if let ConfigError::Invalid { field, .. } = &err {
                    let key = field.rsplit('.').next().unwrap_or(field);
                    prop_assert!(text.contains(key), "{err} names {key:?}, not in:\n{text}");
                }
            }
        }
    }

    #[test]
    fn every_host_toml_is_answered_and_its_defaults_are_within_its_maxima(text in host_toml()) {
        let overrides = Overrides {
            tenants_dir: Some("/tenants".into()),
            ..Overrides::default()
        };
        match ServerConfig::parse(&text, Path::new("/etc/callflow/host.toml"), overrides) {
            Ok(config) => {
                let (d, m) = (config.host.defaults, config.host.maxima);
                prop_assert!(d.sandbox.fuel <= m.sandbox.fuel);
                prop_assert!(d.sandbox.kv_quota.bytes <= m.sandbox.kv_quota.bytes);
                prop_assert!(d.fuel_per_second <= m.fuel_per_second);
                prop_assert!(config.connections.max > 0);
                let compile = config.runtime.compile;
                prop_assert!(compile.threads > 0 && compile.total > 0 && compile.per_owner > 0);
                prop_assert!((0..=19).contains(&compile.nice));
            }
            Err(err) => prop_assert!(names_the_file(&err, "host.toml"), "{err}"),
        }
    }
}
