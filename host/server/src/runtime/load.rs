//! Loading: the checks a component must pass (size, a component, compiles, our world),
//! the on-disk compile cache, and one `InstancePre` per plugin version, shared by tenants
//! running the same bytes.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, Instance, Lift, Lower, TypedFunc,
};
use wasmtime::{Engine, Store};

use super::bindings::PluginPre;
use super::bindings::callflow::plugin::types as wit;
use super::bindings::exports::callflow::plugin::api as wit_api;
use super::bindings::exports::callflow::plugin::handler::PluginError;
use super::host::State;
use super::{LoadError, LoadSource, Runtime};

/// The magic number and the component-model version/layer of a binary component.
const WASM_MAGIC: [u8; 4] = *b"\0asm";
const COMPONENT_LAYER: [u8; 2] = [0x01, 0x00];

/// A loaded plugin version, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct LoadedPlugin(pub(super) Arc<PluginInner>);

pub(super) struct PluginInner {
    pub(super) pre: PluginPre<State>,
    pub(super) exports: Arc<Exports>,
    pub(super) engine: Engine,
    pub(super) digest: String,
    pub(super) size: usize,
    pub(super) source: LoadSource,
    pub(super) load_time: Duration,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("digest", &self.0.digest)
            .field("size", &self.0.size)
            .field("source", &self.0.source)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// The sha256 of the plugin's wasm, in hex: its version.
    pub fn digest(&self) -> &str {
        &self.0.digest
    }

    /// The size of the plugin's wasm, in bytes.
    pub fn size(&self) -> usize {
        self.0.size
    }

    /// Where its compiled code came from (as of when it was first loaded).
    pub fn source(&self) -> LoadSource {
        self.0.source
    }

    /// How long loading took (as of when it was first loaded).
    pub fn load_time(&self) -> Duration {
        self.0.load_time
    }
}

/// Where a compile runs, when one is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CompileOn {
    /// On the compile threads, at their lower priority: nobody is on the line.
    Apart,
    /// On the calling thread, at serving's priority: a call waits for this plugin (its
    /// first event, or its first since an eviction, with nothing in the compile cache).
    Caller,
}

impl Runtime {
    /// Reads and loads a plugin file; compiles apart from serving.
    pub fn load_file(&self, path: &Path) -> Result<LoadedPlugin, LoadError> {
        self.load(&self.read(path)?)
    }

    /// As [`load_file`](Self::load_file), for a call that waits: a compile, if one is
    /// needed, runs on the calling thread at serving's priority rather than queueing for
    /// the compile threads behind uploads (a flood of other work would starve them).
    pub fn load_file_for_call(&self, path: &Path) -> Result<LoadedPlugin, LoadError> {
        self.load_on(&self.read(path)?, CompileOn::Caller)
    }

    /// Reads a plugin file, refusing one over the size limit before reading it.
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, LoadError> {
        let read_err = |message: String| LoadError::Read {
            path: path.to_owned(),
            message,
        };
        let len = std::fs::metadata(path)
            .map_err(|e| read_err(e.to_string()))?
            .len();
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.max_plugin_bytes {
            return Err(LoadError::TooLarge {
                bytes: len,
                max: self.max_plugin_bytes,
            });
        }
        std::fs::read(path).map_err(|e| read_err(e.to_string()))
    }

    /// Checks, compiles (or reads from the cache) and pre-links a plugin; a compile runs
    /// on the compile threads, apart from serving.
    pub fn load(&self, wasm: &[u8]) -> Result<LoadedPlugin, LoadError> {
        self.load_on(wasm, CompileOn::Apart)
    }

    fn load_on(&self, wasm: &[u8], on: CompileOn) -> Result<LoadedPlugin, LoadError> {
        let start = Instant::now();
        if wasm.len() > self.max_plugin_bytes {
            return Err(LoadError::TooLarge {
                bytes: wasm.len(),
                max: self.max_plugin_bytes,
            });
        }
        check_header(wasm)?;
        let digest = super::cache::hex(&Sha256::digest(wasm));
        if let Some(plugin) = self.already_loaded(&digest) {
            return Ok(plugin);
        }
        if let Some(component) = self.cached(&digest) {
            return self.prelink(component, digest, wasm.len(), LoadSource::DiskCache, start);
        }
        let compile = || Component::new(&self.engine, wasm);
        let component = match on {
            CompileOn::Apart => self.compiler.run(compile),
            CompileOn::Caller => compile(),
        }
        .map_err(compile_error)?;
        self.prelink(component, digest, wasm.len(), LoadSource::Compiled, start)
    }

    /// Loads the version with `digest` again, as after an eviction: from memory when a
    /// plugin with that digest is still loaded, else from the compile cache, else from
    /// `path`, whose bytes must still have that digest (a file changed in place since is
    /// refused: its new bytes are the next reload's business, not this version's).
    pub fn load_version(&self, digest: &str, path: &Path) -> Result<LoadedPlugin, LoadError> {
        self.load_version_on(digest, path, CompileOn::Apart)
    }

    /// As [`load_version`](Self::load_version), for a call that waits (see
    /// [`load_file_for_call`](Self::load_file_for_call)).
    pub fn load_version_for_call(
        &self,
        digest: &str,
        path: &Path,
    ) -> Result<LoadedPlugin, LoadError> {
        self.load_version_on(digest, path, CompileOn::Caller)
    }

    fn load_version_on(
        &self,
        digest: &str,
        path: &Path,
        on: CompileOn,
    ) -> Result<LoadedPlugin, LoadError> {
        let start = Instant::now();
        if let Some(plugin) = self.already_loaded(digest) {
            return Ok(plugin);
        }
        if let Some(component) = self.cached(digest) {
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            return self.prelink(
                component,
                digest.to_owned(),
                size,
                LoadSource::DiskCache,
                start,
            );
        }
        let plugin = self.load_on(&self.read(path)?, on)?;
        if plugin.digest() != digest {
            return Err(LoadError::Read {
                path: path.to_owned(),
                message: format!(
                    "the file changed since version {digest} was loaded from it (it is now {})",
                    plugin.digest()
                ),
            });
        }
        Ok(plugin)
    }

    fn cached(&self, digest: &str) -> Option<Component> {
        self.cache.as_ref()?.load(&self.engine, digest)
    }

    /// Pre-links a compiled component against the host's imports (which checks that it
    /// fits the world), caches it on disk if it was just compiled, and shares it with
    /// later loads of the same digest.
    fn prelink(
        &self,
        component: Component,
        digest: String,
        size: usize,
        source: LoadSource,
        start: Instant,
    ) -> Result<LoadedPlugin, LoadError> {
        super::contract::check(&self.engine, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        let pre = PluginPre::new(pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        let exports = Arc::new(Exports::new(&self.engine, &component)?);
        // Only a component that fits the world is worth caching.
        if source == LoadSource::Compiled
            && let Some(cache) = &self.cache
        {
            cache.store(&digest, &component);
        }
        let inner = Arc::new(PluginInner {
            pre,
            exports,
            engine: self.engine.clone(),
            digest: digest.clone(),
            size,
            source,
            load_time: start.elapsed(),
        });
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.retain(|_, p| p.strong_count() > 0);
            loaded.insert(digest, Arc::downgrade(&inner));
        }
        Ok(LoadedPlugin(inner))
    }

    /// Distinct compiled components in memory (held by a tenant, a running event or a
    /// pinned call).
    pub fn components_in_memory(&self) -> usize {
        self.loaded
            .lock()
            .map_or(0, |l| l.values().filter(|p| p.strong_count() > 0).count())
    }

    /// The plugin with `digest` if this runtime holds it already (no I/O).
    pub fn in_memory(&self, digest: &str) -> Option<LoadedPlugin> {
        self.already_loaded(digest)
    }

    fn already_loaded(&self, digest: &str) -> Option<LoadedPlugin> {
        let loaded = self.loaded.lock().ok()?;
        let inner = loaded.get(digest)?.upgrade()?;
        Some(LoadedPlugin(Arc::new(PluginInner {
            pre: inner.pre.clone(),
            exports: Arc::clone(&inner.exports),
            engine: inner.engine.clone(),
            digest: inner.digest.clone(),
            size: inner.size,
            source: LoadSource::Memory,
            load_time: Duration::ZERO,
        })))
    }
}

/// The world's two exported functions in one component: found by name once, at load,
/// and type-checked on the first instance, not on every one.
///
/// wit-bindgen's `PluginPre::instantiate_async` type-checks every export of every
/// instance it makes: the event and callflow types are large variants and records, and
/// walking them was about 4% of the host's CPU per event under load. A component's
/// export types are fixed when it is compiled, so one check per component is enough.
pub(super) struct Exports {
    handle_event: ComponentExportIndex,
    handle_request: ComponentExportIndex,
    /// Set once an instance of this component has passed the full type check, per
    /// export.
    checked: [AtomicBool; 2],
}

/// `handle-event: func(event) -> result<option<callflow>, plugin-error>`.
pub(super) type HandleEvent<'a> =
    TypedFunc<(&'a wit::Event,), (Result<Option<wit::Callflow>, PluginError>,)>;
/// `handle-request: func(api-request) -> api-response`.
pub(super) type HandleRequest<'a> = TypedFunc<(&'a wit_api::ApiRequest,), (wit_api::ApiResponse,)>;

/// One of the world's exported functions.
#[derive(Debug, Clone, Copy)]
enum GuestFn {
    HandleEvent,
    HandleRequest,
}

impl Exports {
    /// Finds the two exports by the names the component gives them: the interface's
    /// name carries the contract version it was built against, which
    /// [`contract::check`](super::contract::check) accepted.
    fn new(engine: &Engine, component: &Component) -> Result<Self, LoadError> {
        let ty = component.component_type();
        let find = |interface: &str, func: &str| {
            let wanted = format!("{}/{interface}", super::contract::PACKAGE);
            let name = ty
                .exports(engine)
                .map(|(name, _)| name)
                .find(|name| name.split('@').next() == Some(wanted.as_str()));
            let instance = name.and_then(|name| component.get_export_index(None, name));
            instance
                .and_then(|instance| component.get_export_index(Some(&instance), func))
                .ok_or_else(|| {
                    LoadError::WrongWorld(format!("the component does not export {wanted}#{func}"))
                })
        };
        Ok(Self {
            handle_event: find("handler", "handle-event")?,
            handle_request: find("api", "handle-request")?,
            checked: [AtomicBool::new(false), AtomicBool::new(false)],
        })
    }

    /// `handle-event` of `instance`, an instance of this component.
    pub(super) fn handle_event<'a>(
        &self,
        store: &mut Store<State>,
        instance: &Instance,
    ) -> wasmtime::Result<HandleEvent<'a>> {
        self.typed(store, instance, GuestFn::HandleEvent)
    }

    /// `handle-request` of `instance`, an instance of this component.
    pub(super) fn handle_request<'a>(
        &self,
        store: &mut Store<State>,
        instance: &Instance,
    ) -> wasmtime::Result<HandleRequest<'a>> {
        self.typed(store, instance, GuestFn::HandleRequest)
    }

    /// `export` of `instance` typed as `P -> R`. Private: the two wrappers above fix
    /// `P` and `R` per export, which is what makes the unchecked path sound.
    fn typed<P, R>(
        &self,
        store: &mut Store<State>,
        instance: &Instance,
        export: GuestFn,
    ) -> wasmtime::Result<TypedFunc<P, R>>
    where
        P: ComponentNamedList + Lower,
        R: ComponentNamedList + Lift,
    {
        let (index, checked) = match export {
            GuestFn::HandleEvent => (&self.handle_event, &self.checked[0]),
            GuestFn::HandleRequest => (&self.handle_request, &self.checked[1]),
        };
        if checked.load(Ordering::Acquire) {
            let func = instance
                .get_func(&mut *store, index)
                .ok_or_else(|| wasmtime::format_err!("the instance lacks {export:?}"))?;
            #[expect(
                unsafe_code,
                reason = "a typed call without wasmtime's per-instance type walk; see SAFETY"
            )]
            // SAFETY: `new_unchecked` requires that `func` has type `P -> R`. An instance
            // of this same component passed `get_typed_func::<P, R>` for this export
            // (`checked` is set only then), and every instance of a component has the
            // export types the component was compiled with; `P` and `R` are fixed per
            // `export` by the only two callers, `handle_event` and `handle_request`.
            return Ok(unsafe { TypedFunc::new_unchecked(func) });
        }
        let func = instance.get_typed_func::<P, R>(&mut *store, index)?;
        checked.store(true, Ordering::Release);
        Ok(func)
    }
}

/// A compile failure, told apart from a pool limit: the pooling allocator refuses, at
/// compile time, a component that needs more of a slot than one plugin may have, and
/// the operator can raise each of those limits.
fn compile_error(err: wasmtime::Error) -> LoadError {
    let message = format!("{err:#}");
    // wasmtime's own wording (48.0.8: `PoolingInstanceAllocator::validate_component`,
    // `MemoryPool::validate_memories`, `TablePool::validate`); the tests in
    // `tests/e2e/runtime.rs` load real components over each limit, so a reworded
    // message fails them.
    let setting = if message.contains("core module instances, which exceeds") {
        Some("runtime.max_core_instances_per_plugin")
    } else if message.contains("linear memories, which exceeds")
        || message.contains("memories count of")
    {
        Some("runtime.max_memories_per_plugin")
    } else if message.contains("tables, which exceeds") || message.contains("tables count of") {
        Some("runtime.max_tables_per_plugin")
    } else if message.contains("memory has a minimum byte size") {
        Some("maxima.memory_mib")
    } else {
        None
    };
    match setting {
        Some(setting) => LoadError::PoolLimit { message, setting },
        None => LoadError::Compile(message),
    }
}

fn check_header(wasm: &[u8]) -> Result<(), LoadError> {
    if wasm.len() < 8 || wasm[..4] != WASM_MAGIC {
        return Err(LoadError::NotAComponent(
            "the file does not start with the WebAssembly magic number".into(),
        ));
    }
    if wasm[6..8] != COMPONENT_LAYER {
        return Err(LoadError::NotAComponent(
            "this is a core WebAssembly module; build for `wasm32-wasip2` (or run \
             `wasm-tools component new`) to make it a component"
                .into(),
        ));
    }
    Ok(())
}
