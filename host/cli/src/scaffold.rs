//! `callflow-host new <name> [--lang rust|python|js]`: a plugin that builds into a
//! component and passes its own native tests out of the box: a Rust crate (the
//! default), a Python module with pytest tests (`sdk/python`), or a JavaScript module
//! with `node --test` tests (`sdk/js`).
//!
//! Owns: the crate's templates (`scaffold/template/`, embedded in the binary), choosing
//! how the crate reaches the SDK, and writing the files. The crate depends on
//! `callflow-sdk` by path, since the SDK is not published: the SDK of the checkout this
//! binary was built from, or `--sdk`. Inside that checkout the path is relative (the
//! checkout can move); elsewhere it is absolute. The crate is a workspace of its own, so
//! that it builds wherever it lives, even inside another workspace's directory, and its
//! `Cargo.lock` starts as the checkout's, so it builds with the versions the SDK is
//! tested with.
//!
//! Must not: overwrite anything (an existing directory is an error), or build anything.

use std::path::{Component, Path, PathBuf};

/// `callflow-host new`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The crate's name: letters, digits, `-` and `_`, starting with a letter.
    pub name: String,
    /// Where to create it: the crate is `DIR/<name>` [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// The SDK to depend on: the `callflow-sdk` crate, or for `--lang python|js` the
    /// Python or JavaScript SDK's directory [default: the SDK of the checkout this
    /// callflow-host was built from].
    #[arg(long, value_name = "DIR")]
    pub sdk: Option<PathBuf>,
    /// The plugin's language.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
}

/// The languages `new` scaffolds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate on `callflow-sdk`, built with cargo for `wasm32-wasip2`.
    Rust,
    /// A Python module on `sdk/python`, built with componentize-py.
    Python,
    /// A JavaScript module on `sdk/js`, built with componentize-js.
    Js,
}

impl Lang {
    /// The SDK's directory in a checkout, and the line its manifest must hold.
    fn sdk(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Lang::Rust => ("", "Cargo.toml", "name = \"callflow-sdk\""),
            Lang::Python => ("python", "pyproject.toml", "name = \"callflow-sdk\""),
            Lang::Js => ("js", "package.json", "\"name\": \"@callflow/sdk\""),
        }
    }

    fn templates(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::Rust => TEMPLATES,
            Lang::Python => PYTHON_TEMPLATES,
            Lang::Js => JS_TEMPLATES,
        }
    }
}

/// Why the crate was not created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name is not a crate name.
    #[error(
        "{0:?} is not a usable crate name: use letters, digits, `-` and `_`, starting with a letter (at most 64)"
    )]
    InvalidName(String),
    /// Something is already there.
    #[error("{0} already exists; pick another name or --path")]
    Exists(PathBuf),
    /// No SDK where one was expected.
    #[error(
        "no callflow-sdk crate at {0}; pass --sdk with the `sdk` directory of a callflow-host checkout"
    )]
    NoSdk(PathBuf),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ScaffoldError + '_ {
    move |source| ScaffoldError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The files of a new crate: path in the crate, template.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("scaffold/template/Cargo.toml.tmpl"),
    ),
    ("src/lib.rs", include_str!("scaffold/template/lib.rs.tmpl")),
    (
        "rust-toolchain.toml",
        include_str!("scaffold/template/rust-toolchain.toml.tmpl"),
    ),
    (
        "tenant.toml",
        include_str!("scaffold/template/tenant.toml.tmpl"),
    ),
    (
        "README.md",
        include_str!("scaffold/template/README.md.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("scaffold/template/gitignore.tmpl"),
    ),
];

/// The files of a new Python plugin.
const PYTHON_TEMPLATES: &[(&str, &str)] = &[
    (
        "app.py",
        include_str!("scaffold/template/python/app.py.tmpl"),
    ),
    (
        "tests/test_app.py",
        include_str!("scaffold/template/python/test_app.py.tmpl"),
    ),
    (
        "tests/conftest.py",
        include_str!("scaffold/template/python/conftest.py.tmpl"),
    ),
    (
        "requirements.txt",
        include_str!("scaffold/template/python/requirements.txt.tmpl"),
    ),
    (
        "tenant.toml",
        include_str!("scaffold/template/tenant.toml.tmpl"),
    ),
    (
        "README.md",
        include_str!("scaffold/template/python/README.md.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("scaffold/template/python/gitignore.tmpl"),
    ),
];

/// The files of a new JavaScript plugin.
const JS_TEMPLATES: &[(&str, &str)] = &[
    ("app.js", include_str!("scaffold/template/js/app.js.tmpl")),
    (
        "test/app.test.js",
        include_str!("scaffold/template/js/app.test.js.tmpl"),
    ),
    (
        "package.json",
        include_str!("scaffold/template/js/package.json.tmpl"),
    ),
    (
        "tenant.toml",
        include_str!("scaffold/template/tenant.toml.tmpl"),
    ),
    (
        "README.md",
        include_str!("scaffold/template/js/README.md.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("scaffold/template/js/gitignore.tmpl"),
    ),
];

/// A crate `new` created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// Its directory.
    pub dir: PathBuf,
    /// Its library's name (the component is `<lib_name>.wasm`).
    pub lib_name: String,
    /// The SDK path as written in its `Cargo.toml`.
    pub sdk_path: String,
}

/// The SDK of the checkout this binary was built from.
pub fn default_sdk() -> PathBuf {
    // This crate is `<checkout>/host/cli`.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap_or(Path::new("."))
        .join("sdk")
}

/// The SDK for `lang` in the checkout this binary was built from.
pub fn default_sdk_for(lang: Lang) -> PathBuf {
    let (sub, _, _) = lang.sdk();
    let sdk = default_sdk();
    if sub.is_empty() { sdk } else { sdk.join(sub) }
}

/// Checks a crate name; returns the library name and the plugin type's name.
fn names(name: &str) -> Result<(String, String), ScaffoldError> {
    const RESERVED: &[&str] = &[
        "alloc",
        "core",
        "crate",
        "proc_macro",
        "self",
        "std",
        "super",
        "test",
    ];
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let lib = name.replace('-', "_");
    if !valid || RESERVED.contains(&lib.as_str()) {
        return Err(ScaffoldError::InvalidName(name.to_owned()));
    }
    let mut ty: String = lib
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    // `Plugin` is the SDK's trait; the plugin's type must not shadow it.
    if ty == "Plugin" {
        ty.push_str("Impl");
    }
    Ok((lib, ty))
}

/// `s` as one POSIX shell word: as is when it is plain, single-quoted otherwise.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `to` relative to the directory `from` (both absolute, without `..`).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

/// Creates the crate `name` in `parent`, depending on the SDK at `sdk` (default
/// [`default_sdk`]).
pub fn create(name: &str, parent: &Path, sdk: Option<&Path>) -> Result<Created, ScaffoldError> {
    create_in(Lang::Rust, name, parent, sdk)
}

/// Creates the plugin `name` in `lang` in `parent`, depending on the SDK at `sdk`
/// (default [`default_sdk_for`]).
pub fn create_in(
    lang: Lang,
    name: &str,
    parent: &Path,
    sdk: Option<&Path>,
) -> Result<Created, ScaffoldError> {
    let (lib_name, mut type_name) = names(name)?;
    // The plugin's class must not shadow what its template imports (`Say`, `Callflow`,
    // the test's `Harness`...), nor be one of Python's capitalised keywords.
    const TAKEN: &[&str] = &[
        "None",
        "True",
        "False",
        "Callflow",
        "CallAction",
        "Say",
        "SayAndCapture",
        "MakeCall",
        "PlayFile",
        "Harness",
        "Context",
        "Event",
    ];
    if lang != Lang::Rust && TAKEN.contains(&type_name.as_str()) {
        type_name.push_str("Plugin");
    }
    let sdk = sdk.map_or_else(|| default_sdk_for(lang), Path::to_owned);
    let sdk = sdk
        .canonicalize()
        .map_err(|_| ScaffoldError::NoSdk(sdk.clone()))?;
    let (sub, manifest, marker) = lang.sdk();
    let sdk_manifest = std::fs::read_to_string(sdk.join(manifest))
        .map_err(|_| ScaffoldError::NoSdk(sdk.clone()))?;
    if !sdk_manifest.contains(marker) {
        return Err(ScaffoldError::NoSdk(sdk));
    }
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    let parent = parent.canonicalize().map_err(io_err(parent))?;
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    // The SDK's checkout: relative inside it (it may move), absolute outside.
    let levels = if sub.is_empty() { 1 } else { 2 };
    let checkout = sdk.ancestors().nth(levels).unwrap_or(&sdk).to_owned();
    let sdk_path = if dir.starts_with(&checkout) {
        relative(&dir, &sdk)
    } else {
        sdk.clone()
    };
    let sdk_path = sdk_path.to_string_lossy().replace('\\', "/");
    let fill = |template: &str| {
        template
            // Escaped for where each lands: inside a JSON string (package.json), as one
            // shell word (the README's commands), as a pip requirement path.
            .replace(
                "{{sdk_path_json}}",
                serde_json::Value::String(format!("file:{sdk_path}"))
                    .to_string()
                    .trim_matches('"'),
            )
            .replace("{{sdk_path_shell}}", &shell_word(&sdk_path))
            .replace("{{sdk_path_raw}}", &sdk_path)
            .replace("{{name}}", name)
            .replace("{{crate_ident}}", &lib_name)
            .replace("{{Type}}", &type_name)
            .replace(
                "{{sdk_path}}",
                &toml::Value::String(sdk_path.clone()).to_string(),
            )
    };
    for (file, template) in lang.templates() {
        let path = dir.join(file);
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(io_err(d))?;
        }
        std::fs::write(&path, fill(template)).map_err(io_err(&path))?;
    }
    let lock = checkout.join("Cargo.lock");
    if lang == Lang::Rust && lock.is_file() {
        let to = dir.join("Cargo.lock");
        std::fs::copy(&lock, &to).map_err(io_err(&to))?;
    }
    Ok(Created {
        dir,
        lib_name,
        sdk_path,
    })
}

/// `callflow-host new`: creates the crate, says what to do next, returns the exit status.
pub fn main(args: &Args) -> i32 {
    let parent = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    match create_in(args.lang, &args.name, &parent, args.sdk.as_deref()) {
        Ok(created) => {
            let exe = std::env::current_exe()
                .map_or_else(|_| "callflow-host".to_owned(), |p| p.display().to_string());
            let guide = default_sdk()
                .parent()
                .map(|p| p.join("docs/plugin-guide.md"))
                .unwrap_or_default();
            let dir = created.dir.display();
            let sdk = shell_word(&created.sdk_path);
            match args.lang {
                Lang::Python => println!(
                    "Created the Python plugin {} in {dir} (callflow-sdk from {sdk})\n\nNext:\n  cd {dir}\n  python3 -m venv .venv && . .venv/bin/activate\n  pip install -r requirements.txt                 # the SDK, componentize-py, pytest\n  pytest                                          # its tests, natively\n  callflow-py build app -o plugin.wasm            # the component\n  {exe} simulate plugin.wasm --dtmf 2,1 --tenant-toml tenant.toml\n  {exe} dev .                                     # serve it, rebuilt on every save\n\nThe guide: {}",
                    args.name,
                    guide.display()
                ),
                Lang::Js => println!(
                    "Created the JavaScript plugin {} in {dir} (@callflow/sdk from {sdk})\n\nNext:\n  cd {dir}\n  (cd {sdk} && npm ci)                            # once: the SDK's build tools\n  npm install && npm test                         # its tests, natively\n  npm run build                                   # the component, plugin.wasm\n  {exe} simulate plugin.wasm --dtmf 2,1 --tenant-toml tenant.toml\n  {exe} dev .                                     # serve it, rebuilt on every save\n\nThe guide: {}",
                    args.name,
                    guide.display()
                ),
                Lang::Rust => println!(
                    "Created {} in {} (callflow-sdk from {})\n\nNext:\n  cd {}\n  cargo test                                      # its tests, natively\n  cargo build --target wasm32-wasip2 --release    # the component\n  {exe} simulate target/wasm32-wasip2/release/{}.wasm --dtmf 2,1\n  {exe} dev .                                     # serve it, rebuilt on every save\n\nThe guide: {}",
                    args.name,
                    created.dir.display(),
                    created.sdk_path,
                    created.dir.display(),
                    created.lib_name,
                    guide.display()
                ),
            }
            0
        }
        Err(e) => {
            eprintln!("callflow-host new: {e}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_a_library_and_a_type() {
        assert_eq!(
            names("my-ivr").expect("valid"),
            ("my_ivr".into(), "MyIvr".into())
        );
        assert_eq!(
            names("Front_desk2").expect("valid"),
            ("Front_desk2".into(), "FrontDesk2".into())
        );
        assert_eq!(
            names("plugin").expect("valid"),
            ("plugin".into(), "PluginImpl".into())
        );
        for bad in [
            "",
            "1abc",
            "my plugin",
            "ünï",
            "std",
            "a/b",
            &"x".repeat(65),
        ] {
            assert!(names(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sdk_paths_are_escaped_for_the_shell() {
        assert_eq!(shell_word("../../sdk/js"), "../../sdk/js");
        assert_eq!(shell_word("/home/a b/sdk"), "'/home/a b/sdk'");
        assert_eq!(shell_word("/it's"), "'/it'\\''s'");
    }

    #[test]
    fn a_plugin_class_never_shadows_what_its_template_imports() {
        for lang in [Lang::Python, Lang::Js] {
            let parent = std::env::temp_dir().join(format!(
                "callflow-new-names-{lang:?}-{}",
                std::process::id()
            ));
            let created = create_in(lang, "say", &parent, None).expect("created");
            let file = if lang == Lang::Python {
                "app.py"
            } else {
                "app.js"
            };
            let app = std::fs::read_to_string(created.dir.join(file)).expect("app");
            assert!(app.contains("SayPlugin"), "{app}");
            let _ = std::fs::remove_dir_all(&parent);
        }
    }

    #[test]
    fn relative_paths_climb_then_descend() {
        assert_eq!(
            relative(Path::new("/repo/plugins/mine"), Path::new("/repo/sdk")),
            PathBuf::from("../../sdk")
        );
        assert_eq!(
            relative(Path::new("/repo/mine"), Path::new("/repo/sdk")),
            PathBuf::from("../sdk")
        );
    }

    #[test]
    fn an_existing_directory_is_never_overwritten() {
        let parent = std::env::temp_dir().join(format!("callflow-new-{}", std::process::id()));
        std::fs::create_dir_all(parent.join("taken")).expect("dir");
        let err = create("taken", &parent, None).expect_err("exists");
        assert!(matches!(err, ScaffoldError::Exists(_)), "{err}");
        let err = create("x", &parent, Some(&parent)).expect_err("no sdk there");
        assert!(matches!(err, ScaffoldError::NoSdk(_)), "{err}");
        let _ = std::fs::remove_dir_all(&parent);
    }
}
