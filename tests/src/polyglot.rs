//! The Python and JavaScript toolchains the polyglot tests and benchmarks use, set up on
//! first use so that `cargo test --workspace` stays the one command:
//! - Python: a virtual environment with the pinned componentize-py and pytest and the
//!   SDK from this checkout (once; a marker file names python3's version and the pins).
//!   `CALLFLOW_PYTHON` points at another interpreter that has them.
//! - JavaScript: `npm ci` in `sdk/js` (its `package-lock.json` pins componentize-js and
//!   esbuild, with integrity hashes) and in the JavaScript plugins (which link the SDK),
//!   once.
//!
//! Without `python3` or `node` (or without the package registries) a caller skips, and
//! fails under `CALLFLOW_REQUIRE_SERVERS=1`, as `.ci/run` sets. Components are built once
//! per content: kept by the sha256 of everything they are built from (the plugin's
//! sources, the SDK, the WIT, the pins).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Set by `.ci/run`: a missing toolchain fails rather than skips.
const REQUIRE: &str = "CALLFLOW_REQUIRE_SERVERS";

/// What the Python environment is built with: componentize-py as measured for this host,
/// and the pytest the SDK's tests run under.
pub const PINS: &[&str] = &["componentize-py==0.25.1", "pytest==8.3.4"];

/// The workspace's root.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
}

/// Skips (returns `None`) or, in CI, fails.
fn unavailable<T>(why: &str) -> Option<T> {
    assert!(
        std::env::var_os(REQUIRE).is_none(),
        "a plugin toolchain is not available and {REQUIRE} is set: {why}"
    );
    eprintln!("polyglot: skipped: {why}");
    None
}

/// The toolchains, their state under one directory.
#[derive(Debug)]
pub struct Toolchains {
    dir: PathBuf,
    python: OnceLock<Option<PathBuf>>,
    node: OnceLock<Option<()>>,
    /// Held while a component builds: tests asking for the same one wait for it rather
    /// than building it beside each other.
    building: Mutex<()>,
}

impl Toolchains {
    /// Toolchains kept under `dir/polyglot` (a test's `CARGO_TARGET_TMPDIR`).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.join("polyglot"),
            python: OnceLock::new(),
            node: OnceLock::new(),
            building: Mutex::new(()),
        }
    }

    /// An interpreter with the SDK, componentize-py and pytest, or `None` (skip).
    pub fn python(&self) -> Option<PathBuf> {
        self.python.get_or_init(|| self.set_up_python()).clone()
    }

    fn set_up_python(&self) -> Option<PathBuf> {
        if let Some(python) = std::env::var_os("CALLFLOW_PYTHON") {
            return Some(PathBuf::from(python));
        }
        let venv = self.dir.join("venv");
        let python = venv.join("bin/python");
        let marker = venv.join("callflow-pins.txt");
        // The interpreter's version too: a venv outlives neither an upgraded python3
        // nor a new pin.
        let version = Command::new("python3")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let want = format!("{version}\n{}", PINS.join("\n"));
        if python.exists()
            && std::fs::read_to_string(&marker).ok().as_deref() == Some(want.as_str())
        {
            return Some(python);
        }
        let _ = std::fs::remove_dir_all(&venv);
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status();
        if !made.is_ok_and(|s| s.success()) {
            return unavailable("`python3 -m venv` failed (install python3-venv)");
        }
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(PINS)
            .arg("-e")
            .arg(workspace().join("sdk/python"))
            .status();
        if !installed.is_ok_and(|s| s.success()) {
            return unavailable("pip could not install the pinned componentize-py and pytest");
        }
        std::fs::write(&marker, want).expect("marker");
        Some(python)
    }

    /// Node with the JavaScript SDK's build tools installed, or `None` (skip).
    pub fn node(&self) -> Option<()> {
        *self.node.get_or_init(|| {
            let has_node = Command::new("node")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            if !has_node {
                return unavailable("`node` is not installed");
            }
            let installed = ["sdk/js", "plugins/ivr-js", "plugins/number-masking-js"]
                .iter()
                .all(|dir| npm_ci(&workspace().join(dir)));
            if !installed {
                return unavailable("npm could not install the pinned componentize-js and esbuild");
            }
            Some(())
        })
    }

    /// `plugins/<plugin>` built with `callflow-py build app`, once per content.
    pub fn python_component(&self, plugin: &str) -> Option<PathBuf> {
        let python = self.python()?;
        let dir = workspace().join("plugins").join(plugin);
        let digest = sources_digest(&[
            dir.clone(),
            workspace().join("sdk/python/src"),
            workspace().join("sdk/python/pyproject.toml"),
            workspace().join("wit"),
        ]);
        self.built(plugin, &digest, |out| {
            Command::new(&python)
                .args(["-m", "callflow_sdk", "build", "app", "-q", "-o"])
                .arg(out)
                .arg("-C")
                .arg(&dir)
                .status()
                .expect("run callflow_sdk build")
        })
    }

    /// `plugins/<plugin>/app.js` built with `callflow-js build`, once per content.
    pub fn js_component(&self, plugin: &str) -> Option<PathBuf> {
        self.node()?;
        let dir = workspace().join("plugins").join(plugin);
        let sdk = workspace().join("sdk/js");
        let digest = sources_digest(&[
            dir.clone(),
            sdk.join("src"),
            sdk.join("package-lock.json"),
            workspace().join("wit"),
        ]);
        self.built(plugin, &digest, |out| {
            Command::new("node")
                .arg(sdk.join("bin/callflow-js.js"))
                .args(["build", "app.js", "-q", "-o"])
                .arg(out)
                .current_dir(&dir)
                .status()
                .expect("run callflow-js build")
        })
    }

    /// The component `<plugin>-<digest>.wasm`, built by `build` into a partial file
    /// first when it is not there (a failed or killed build leaves no component).
    fn built(
        &self,
        plugin: &str,
        digest: &str,
        build: impl FnOnce(&Path) -> std::process::ExitStatus,
    ) -> Option<PathBuf> {
        let wasm = self.dir.join(format!("{plugin}-{digest}.wasm"));
        let _building = self
            .building
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if wasm.exists() {
            return Some(wasm);
        }
        std::fs::create_dir_all(&self.dir).expect("polyglot dir");
        // Another process (a bench beside the tests) may build the same one: a partial
        // file of this process's own, renamed into place whole.
        let partial = wasm.with_extension(format!("{}.partial", std::process::id()));
        let status = build(&partial);
        assert!(status.success(), "building {plugin} failed ({status})");
        std::fs::rename(&partial, &wasm).expect("keep the component");
        Some(wasm)
    }
}

/// `node_modules` in `dir`, from its lock file, unless it was installed from this very
/// lock file already (a marker holds the lock's digest).
pub fn npm_ci(dir: &Path) -> bool {
    let lock = std::fs::read(dir.join("package-lock.json")).unwrap_or_default();
    let want = callflow_server::tenant::repo::digest(&lock);
    let marker = dir.join("node_modules/.callflow-lock-digest");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(want.as_str()) {
        return true;
    }
    let installed = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success());
    installed && std::fs::write(&marker, want).is_ok()
}

/// The files a component is built from, hashed with the tools' pins: a change to any
/// rebuilds it.
fn sources_digest(paths: &[PathBuf]) -> String {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files);
    }
    files.sort();
    let mut all = PINS.join("\n").into_bytes();
    for file in files {
        all.extend_from_slice(file.to_string_lossy().as_bytes());
        all.extend(std::fs::read(&file).expect("source file"));
    }
    callflow_server::tenant::repo::digest(&all)[..24].to_owned()
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_owned());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.')
            || name == "__pycache__"
            || name == "tests"
            || name == "test"
            || name == "node_modules"
        {
            continue;
        }
        collect(&entry.path(), out);
    }
}
