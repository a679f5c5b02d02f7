//! The on-disk cache of compiled components, so a restart does not recompile.
//!
//! One file per (component, engine settings): `<sha256 of the wasm>-<engine hash>.cwasm`,
//! where the engine hash covers everything that makes compiled code incompatible
//! (wasmtime version, target, Cranelift flags, memory tunables, enabled features).
//! Files are written whole or not at all (temporary file, fsync, rename), so a crash or
//! a concurrent writer can never leave a torn file under a final name.
//!
//! Must not: load a file it did not write. Only this module names `.cwasm` paths, and
//! only [`CompileCache::load`] deserialises them.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of precompiled components for one engine configuration.
#[derive(Debug)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_hash: String,
}

/// Feeds `Hash` output into SHA-256, so the engine hash is stable across processes
/// (std's `DefaultHasher` promises no stability).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        // Only the full digest is used; see `engine_hash`.
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// A short, stable digest of the engine settings that compiled code depends on.
pub(crate) fn engine_hash(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex(&hasher.0.finalize()[..8])
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl CompileCache {
    /// Opens (creating if needed) the cache directory for `engine`.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            engine_hash: engine_hash(engine),
        })
    }

    /// Where the compiled form of the component with this digest lives.
    pub(crate) fn path(&self, digest: &str) -> PathBuf {
        self.dir
            .join(format!("{digest}-{}.cwasm", self.engine_hash))
    }

    /// The cached compiled component, if there is one that this engine accepts.
    ///
    /// A file that fails to deserialise (truncated by hand, or written by an engine
    /// whose settings hash the same but differ) is removed so it gets rewritten.
    pub(crate) fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        #[allow(
            unsafe_code,
            reason = "deserialising a precompiled component is unsafe by nature; see SAFETY"
        )]
        // SAFETY: `Component::deserialize_file` trusts the file to be machine code that
        // wasmtime produced. This file is one we wrote ourselves with
        // `Component::serialize` from a component we compiled (see `store`), named by the
        // sha256 of its source and by this engine's compatibility hash, and renamed into
        // place only once complete. Nothing else writes `.cwasm` files into the cache
        // directory; the operator must keep the directory writable only by this service.
        // wasmtime additionally checks the header (version, target, engine flags) and
        // refuses incompatible files.
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        match loaded {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(
                    path = %path.display(),
                    cause = %err,
                    "discarding a compiled component the engine refused"
                );
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores the compiled form of `component`. Failures are logged, not returned: the
    /// cache only saves time.
    pub(crate) fn store(&self, digest: &str, component: &Component) {
        if let Err(err) = self.try_store(digest, component) {
            tracing::warn!(
                dir = %self.dir.display(),
                cause = %err,
                "could not write a compiled component to the cache"
            );
        }
    }

    fn try_store(&self, digest: &str, component: &Component) -> std::io::Result<()> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let bytes = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let tmp = self.dir.join(format!(
            ".{digest}.{}.{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, self.path(digest))?;
            // Make the rename itself durable.
            fs::File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}
