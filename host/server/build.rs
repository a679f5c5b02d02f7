//! Embeds the console (`console/`: HTML, CSS and JavaScript, no build step of their own)
//! in the binary: writes `console_assets.rs` into `OUT_DIR`, a table of every file's name
//! and bytes, so that `cargo build` needs no JavaScript toolchain and the host serves the
//! console with nothing beside it.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("host/server/console is readable")
        .map(|entry| entry.expect("a console file").path())
        // Only the page's own kinds of file: an editor's swap file or a dotfile left in the
        // folder is not served.
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            let kind = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default();
            path.is_file()
                && !name.starts_with('.')
                && matches!(kind, "html" | "css" | "js" | "svg")
        })
        .collect();
    files.sort();
    let mut table = String::from("&[\n");
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("console file names are UTF-8");
        writeln!(
            table,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    table.push(']');
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("console_assets.rs");
    std::fs::write(out, table).expect("writing console_assets.rs");
}
