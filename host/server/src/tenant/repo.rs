//! The tenants directory on disk: what operators and the admin API write, and what the
//! registry loads.
//!
//! ```text
//! tenants/
//!   acme/
//!     tenant.toml          configuration (see `config`)
//!     plugin.wasm          a component dropped in by hand (used while no version is active)
//!     versions/<sha256>.wasm   every uploaded version, immutable, named by its digest
//!     .served/<sha256>.wasm    a copy of the plugin.wasm being served, so it can be
//!                              loaded again after an eviction even once plugin.wasm
//!                              has been overwritten (only the latest is kept)
//!     active               the digest of the active version
//!     history              every activation, one digest per line, oldest first
//! ```
//!
//! Every write is atomic (write a temporary file, fsync, rename, fsync the directory), so
//! a host killed mid-write comes back with the old file or the new one, never half of
//! one. This module does file I/O only: no compiling, no registry.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

use crate::config::{DEFAULT_PLUGIN_FILE, TENANT_FILE};

const VERSIONS: &str = "versions";
const SERVED: &str = ".served";
const ACTIVE: &str = "active";
const HISTORY: &str = "history";

/// One stored plugin version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Version {
    /// Its sha256, hex: also its name.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was uploaded (seconds since the Unix epoch).
    pub uploaded_at: u64,
}

/// The sha256 of `bytes`, as lowercase hex.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in hash {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

fn is_digest(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per write: two writers of one file (two activations racing) must not share
    // a temporary file.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
    let written = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // A full disk, say: leave nothing half-written behind.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable once the directory entry is.
    fs::File::open(dir)?.sync_all()
}

/// The tenants directory.
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
}

impl Repo {
    /// The repository rooted at `root` (created if missing).
    pub fn open(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root)?;
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A tenant's folder.
    pub fn tenant_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// True when the tenant has a folder.
    pub fn exists(&self, id: &str) -> bool {
        self.tenant_dir(id).join(TENANT_FILE).is_file()
    }

    /// Writes the tenant's configuration.
    pub fn write_config(&self, id: &str, toml: &str) -> io::Result<()> {
        write_atomic(&self.tenant_dir(id).join(TENANT_FILE), toml.as_bytes())
    }

    /// Removes the tenant's folder and everything in it.
    pub fn delete(&self, id: &str) -> io::Result<()> {
        match fs::remove_dir_all(self.tenant_dir(id)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Stores `wasm` as an immutable version (a no-op when it is already stored).
    pub fn add_version(&self, id: &str, wasm: &[u8]) -> io::Result<Version> {
        let digest = digest(wasm);
        let path = self.version_path(id, &digest);
        if !path.is_file() {
            write_atomic(&path, wasm)?;
        }
        self.version(id, &digest)
            .ok_or_else(|| io::Error::other("version vanished after writing"))
    }

    /// Keeps a copy of the hand-dropped plugin `wasm` (whose digest is `digest`) that
    /// the tenant now serves, and removes the copies of those it served before. Returns
    /// the copy's path.
    pub fn keep_served(&self, id: &str, wasm: &[u8], digest: &str) -> io::Result<PathBuf> {
        let dir = self.tenant_dir(id).join(SERVED);
        let path = dir.join(format!("{digest}.wasm"));
        let intact =
            fs::metadata(&path).is_ok_and(|m| u64::try_from(wasm.len()).ok() == Some(m.len()));
        if !intact {
            write_atomic(&path, wasm)?;
        }
        for entry in fs::read_dir(&dir)?.filter_map(Result::ok) {
            if entry.path() != path {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(path)
    }

    /// Where a version's bytes live.
    pub fn version_path(&self, id: &str, digest: &str) -> PathBuf {
        self.tenant_dir(id)
            .join(VERSIONS)
            .join(format!("{digest}.wasm"))
    }

    /// One stored version.
    pub fn version(&self, id: &str, digest: &str) -> Option<Version> {
        if !is_digest(digest) {
            return None;
        }
        let meta = fs::metadata(self.version_path(id, digest)).ok()?;
        Some(Version {
            digest: digest.to_owned(),
            size: meta.len(),
            uploaded_at: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs()),
        })
    }

    /// Every stored version, oldest first.
    pub fn versions(&self, id: &str) -> io::Result<Vec<Version>> {
        let dir = self.tenant_dir(id).join(VERSIONS);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut versions: Vec<Version> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let digest = name.strip_suffix(".wasm")?;
                self.version(id, digest)
            })
            .collect();
        versions.sort_by(|a, b| (a.uploaded_at, &a.digest).cmp(&(b.uploaded_at, &b.digest)));
        Ok(versions)
    }

    /// Makes `digest` the active version and records it in the history. The pointer is
    /// written first: killed in between, the history lacks the new version, and
    /// rolling back still goes to the one active before it.
    pub fn activate(&self, id: &str, digest: &str) -> io::Result<()> {
        let dir = self.tenant_dir(id);
        let mut history = self.history(id);
        history.push(digest.to_owned());
        // Keep the history bounded; rollback needs only the recent past.
        let start = history.len().saturating_sub(100);
        let mut text = history[start..].join("\n");
        text.push('\n');
        write_atomic(&dir.join(ACTIVE), digest.as_bytes())?;
        write_atomic(&dir.join(HISTORY), text.as_bytes())
    }

    /// Removes the temporary files of writes that never finished (the host was killed
    /// mid-write): they were never renamed into place, so nothing refers to them.
    /// Call it at start, before anything writes.
    pub fn remove_unfinished_writes(&self, id: &str) {
        let dir = self.tenant_dir(id);
        for sub in [dir.clone(), dir.join(VERSIONS), dir.join(SERVED)] {
            let Ok(entries) = fs::read_dir(&sub) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && name.ends_with(".tmp") {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }

    /// The active version's digest, if one was activated and is stored.
    pub fn active(&self, id: &str) -> Option<String> {
        let digest = fs::read_to_string(self.tenant_dir(id).join(ACTIVE)).ok()?;
        let digest = digest.trim();
        self.version(id, digest).map(|v| v.digest)
    }

    /// Every activation, oldest first.
    pub fn history(&self, id: &str) -> Vec<String> {
        fs::read_to_string(self.tenant_dir(id).join(HISTORY))
            .map(|text| {
                text.lines()
                    .map(str::trim)
                    .filter(|l| is_digest(l))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The version active before the current one, if any.
    pub fn previous(&self, id: &str) -> Option<String> {
        let active = self.active(id)?;
        self.history(id)
            .into_iter()
            .rev()
            .find(|d| *d != active && self.version(id, d).is_some())
    }

    /// The component the tenant should run: the active version, else the configured file.
    /// (A configured `plugin` other than `plugin.wasm` is not watched; uploads are.)
    pub fn plugin_path(&self, id: &str, configured: &Path) -> PathBuf {
        match self.active(id) {
            Some(digest) => self.version_path(id, &digest),
            None => configured.to_owned(),
        }
    }

    /// The tenant a changed path belongs to, if it is one the registry cares about
    /// (configuration, the hand-dropped plugin, the active pointer).
    pub fn tenant_of(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let mut parts = rel.components();
        let id = parts.next()?.as_os_str().to_string_lossy().into_owned();
        let file = parts.next()?.as_os_str().to_string_lossy().into_owned();
        let relevant = parts.next().is_none()
            && (file == TENANT_FILE || file == ACTIVE || file == DEFAULT_PLUGIN_FILE);
        relevant.then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(name: &str) -> Repo {
        let dir = std::env::temp_dir().join(format!("callflow-repo-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Repo::open(&dir).expect("repo")
    }

    #[test]
    fn versions_are_named_by_digest_and_activation_keeps_history() {
        let repo = repo("versions");
        let v1 = repo.add_version("t", b"one").expect("v1");
        let v2 = repo.add_version("t", b"two").expect("v2");
        assert_eq!(v1.digest, digest(b"one"));
        assert_eq!(repo.add_version("t", b"one").expect("again"), v1);
        assert_eq!(repo.versions("t").expect("list").len(), 2);
        assert_eq!(repo.active("t"), None);
        repo.activate("t", &v1.digest).expect("activate");
        repo.activate("t", &v2.digest).expect("activate");
        assert_eq!(repo.active("t").as_deref(), Some(v2.digest.as_str()));
        assert_eq!(repo.previous("t").as_deref(), Some(v1.digest.as_str()));
        assert_eq!(
            repo.plugin_path("t", Path::new("x")),
            repo.version_path("t", &v2.digest)
        );
    }

    #[test]
    fn atomic_write_leaves_no_temporary_files() {
        let repo = repo("atomic");
        repo.write_config("t", "sub_accounts = [\"*\"]\n")
            .expect("write");
        let names: Vec<_> = fs::read_dir(repo.tenant_dir("t"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from(TENANT_FILE)]);
    }

    #[test]
    fn changed_paths_map_to_their_tenant() {
        let repo = repo("paths");
        let root = repo.root().to_owned();
        assert_eq!(
            repo.tenant_of(&root.join("acme/tenant.toml")).as_deref(),
            Some("acme")
        );
        assert_eq!(
            repo.tenant_of(&root.join("acme/plugin.wasm")).as_deref(),
            Some("acme")
        );
        assert_eq!(
            repo.tenant_of(&root.join("acme/active")).as_deref(),
            Some("acme")
        );
        assert_eq!(repo.tenant_of(&root.join("acme/.tenant.toml.1.tmp")), None);
        assert_eq!(repo.tenant_of(&root.join("acme/versions/x.wasm")), None);
    }
}
