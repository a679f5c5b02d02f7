//! Which version of the plugin contract (the WIT package `callflow:plugin`) a component
//! was built against, and whether this host runs it.
//!
//! Every name a component imports from or exports to the contract carries the package's
//! version (`callflow:plugin/handler@0.2.0`). Reading those names before linking turns
//! "built against another version" into one error that names both versions, instead of
//! the linker's first mismatched type or missing export.
//!
//! Must not: link or instantiate anything (`load` does); it reads names only.

use wasmtime::Engine;
use wasmtime::component::Component;

use super::LoadError;

/// The contract's WIT package name.
pub const PACKAGE: &str = "callflow:plugin";

/// The version of the contract this host implements: `wit/callflow.wit`'s package
/// version (a test checks that they agree). Components built against any version
/// semver-compatible with it are run; the linker then checks every type.
pub const VERSION: &str = "0.2.0";

/// The contract as one string, `callflow:plugin@0.2.0`, for messages and status pages.
pub fn name() -> String {
    format!("{PACKAGE}@{VERSION}")
}

/// Checks that `component` was built against a version of the contract this host runs.
pub(super) fn check(engine: &Engine, component: &Component) -> Result<(), LoadError> {
    let ty = component.component_type();
    let names = ty
        .imports(engine)
        .map(|(name, _)| name)
        .chain(ty.exports(engine).map(|(name, _)| name));
    let mut found: Option<&str> = None;
    for name in names {
        let Some(version) = contract_version(name) else {
            continue;
        };
        if !compatible(version, VERSION) {
            return Err(LoadError::ContractVersion {
                found: version.to_owned(),
                accepted: VERSION,
            });
        }
        found.get_or_insert(version);
    }
    if found.is_none() {
        return Err(LoadError::WrongWorld(format!(
            "it neither imports nor exports anything of {PACKAGE}; build it against the \
             `plugin` world of {} (an SDK does this for you)",
            name()
        )));
    }
    Ok(())
}

/// The version in `callflow:plugin/<interface>@<version>`, if `name` is one of the
/// contract's interfaces (an unversioned one reads as version `0.0.0`).
fn contract_version(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    Some(rest.split_once('@').map_or("0.0.0", |(_, version)| version))
}

/// Whether a component built against `found` runs on a host implementing `accepted`, by
/// the component model's semver rule: the same major version, or for `0.x` the same
/// minor one (and for `0.0.x` the same patch), and not newer than the host's.
fn compatible(found: &str, accepted: &str) -> bool {
    let (Some(f), Some(a)) = (parse(found), parse(accepted)) else {
        return found == accepted;
    };
    let same_track = match a {
        (0, 0, _) => f.0 == 0 && f.1 == 0 && f.2 == a.2,
        (0, minor, _) => f.0 == 0 && f.1 == minor,
        (major, _, _) => f.0 == major,
    };
    same_track && f <= a
}

/// `major.minor.patch`; a pre-release or build suffix makes it unparsable (then only an
/// exact match is compatible).
fn parse(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    let v = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wit_package_is_the_version_the_host_implements() {
        let wit = include_str!("../../../../wit/callflow.wit");
        let line = format!("package {}@{};", PACKAGE, VERSION);
        assert!(
            wit.lines().any(|l| l.trim() == line),
            "wit/callflow.wit must declare `{line}`"
        );
    }

    #[test]
    fn names_carry_the_version() {
        assert_eq!(
            contract_version("callflow:plugin/handler@0.2.0"),
            Some("0.2.0")
        );
        assert_eq!(contract_version("callflow:plugin/kv"), Some("0.0.0"));
        assert_eq!(contract_version("wasi:io/streams@0.2.6"), None);
        assert_eq!(contract_version("callflow:pluginx/kv@0.2.0"), None);
    }

    #[test]
    fn semver_compatibility_of_the_contract() {
        assert!(compatible("0.2.0", "0.2.0"));
        assert!(
            compatible("0.2.0", "0.2.3"),
            "an older patch runs on a newer host"
        );
        assert!(
            !compatible("0.2.4", "0.2.3"),
            "a newer patch may use what we lack"
        );
        assert!(!compatible("0.1.0", "0.2.0"));
        assert!(!compatible("0.3.0", "0.2.0"));
        assert!(!compatible("1.0.0", "0.2.0"));
        assert!(compatible("1.0.0", "1.4.0"));
        assert!(!compatible("2.0.0", "1.4.0"));
        assert!(!compatible("0.0.1", "0.0.2"));
        assert!(!compatible("0.2.0-rc1", "0.2.0"));
    }
}
