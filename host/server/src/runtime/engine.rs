//! The wasmtime engine: its settings, the pooling allocator, and the epoch ticker.
//!
//! Owns every `wasmtime::Config` decision. Per-event code never changes engine settings;
//! it only sets a store's fuel, deadline and memory cap (see `invoke.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
    Strategy,
};

use super::{PoolTuning, RuntimeConfig, RuntimeError};

/// Elements per table. A plugin's function table is a few hundred entries.
const TABLE_ELEMENTS: usize = 20_000;
/// Guard region after each linear memory. With memories reserved at their maximum
/// size, compiled code bounds-checks explicitly; the guard lets it fold small
/// constant offsets into that check.
const MEMORY_GUARD_BYTES: u64 = 32 << 20;
/// Wasm stack a plugin may use before it traps with a stack overflow.
const MAX_WASM_STACK: usize = 512 << 10;
/// Host stack (fiber) per running plugin; must exceed the wasm stack plus host frames.
const ASYNC_STACK: usize = 1 << 20;

/// How the engine allocates instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// Pre-reserved slots, reused from event to event.
    Pooling,
    /// Creating the pool failed (usually the address-space reservation); every instance
    /// maps its own memory.
    OnDemand,
}

fn base_config(cfg: &RuntimeConfig) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true)
        .strategy(Strategy::Cranelift)
        .cranelift_opt_level(OptLevel::Speed)
        .consume_fuel(true)
        .epoch_interruption(true)
        .parallel_compilation(true)
        // Reserve exactly the operator's maximum: memories never move, and the pool's
        // slots stay small (64 MiB + guard, not 4 GiB + guard).
        .memory_reservation(cfg.max_memory_bytes)
        .memory_guard_size(MEMORY_GUARD_BYTES)
        .memory_reservation_for_growth(0)
        .memory_may_move(false)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(ASYNC_STACK)
        // Copy-on-write images of the initial memory: instantiation maps, not copies.
        .memory_init_cow(true);
    c
}

fn pooling(cfg: &RuntimeConfig, tuning: &PoolTuning) -> PoolingAllocationConfig {
    let slots = cfg.max_instances.max(1);
    let per = cfg.per_plugin;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(per.core_instances))
        .total_memories(slots.saturating_mul(per.memories))
        .total_tables(slots.saturating_mul(per.tables))
        .total_stacks(slots)
        .max_core_instances_per_component(per.core_instances)
        .max_memories_per_component(per.memories)
        .max_tables_per_component(per.tables)
        // Per core module too (wasmtime's default is 1 each), so that raising the
        // per-plugin setting admits a module with two memories, as QuickJS-based
        // JavaScript builds (componentize-qjs) have.
        .max_memories_per_module(per.memories)
        .max_tables_per_module(per.tables)
        .max_memory_size(usize::try_from(cfg.max_memory_bytes).unwrap_or(usize::MAX))
        .table_elements(TABLE_ELEMENTS)
        // Reset a slot by rewriting only the pages the plugin dirtied (PAGEMAP_SCAN
        // finds them, Linux 6.7+) instead of `madvise`: no syscall that shoots down
        // TLBs on other cores, and no page faults on the slot's next use.
        //
        // Measured (echo guest, release, 2 cores, kernel 6.18; `fresh_instance_cost` in
        // tests/e2e/runtime.rs), p50 µs of store + instantiate + call + drop:
        //   madvise (keep_resident 0)      48.6   (3 madvise per event)
        //   memset 64 KiB, no pagemap      54.2
        //   memset 1 MiB, no pagemap       75.2   (memsets 1 MiB every event)
        //   pagemap, keep 1 / 2 / 8 MiB    21.9 / 22.3 / 22.0   (1 ioctl per event)
        // 2 MiB covers guests that dirty more than the echo's few pages, at a bound of
        // 2 MiB resident per warm slot.
        .linear_memory_keep_resident(tuning.memory_keep_resident)
        .table_keep_resident(tuning.table_keep_resident)
        .pagemap_scan(if tuning.pagemap_scan {
            Enabled::Auto
        } else {
            Enabled::No
        });
    pool
}

/// Builds the engine: pooled if the pool can be reserved, on demand otherwise.
pub(crate) fn build(cfg: &RuntimeConfig) -> Result<(Engine, Allocation), RuntimeError> {
    let mut pooled = base_config(cfg);
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(cfg, &cfg.pool)));
    match Engine::new(&pooled) {
        Ok(engine) => return Ok((engine, Allocation::Pooling)),
        Err(err) => tracing::warn!(
            cause = %err,
            slots = cfg.max_instances,
            "cannot create the instance pool; falling back to on-demand allocation"
        ),
    }
    let mut on_demand = base_config(cfg);
    on_demand.allocation_strategy(InstanceAllocationStrategy::OnDemand);
    Engine::new(&on_demand)
        .map(|engine| (engine, Allocation::OnDemand))
        .map_err(|e| RuntimeError::Engine(format!("{e:#}")))
}

/// How often the epoch advances while no running plugin has needed to yield: the
/// granularity of deadlines then. A plugin's first yield comes within two ticks.
const COARSE_TICK: Duration = Duration::from_millis(1);

/// How long the ticker keeps the fine tick after a plugin last yielded.
const FINE_FOR: Duration = Duration::from_millis(20);

/// Advances the engine's epoch while a plugin runs, until dropped.
///
/// The epoch is what interrupts a plugin: at its deadline, and at every tick on the way
/// to yield its worker thread to the other tasks (see `invoke.rs`). Fine ticks keep a
/// fuel-burning plugin from holding a worker (and the I/O it would poll) for long, but
/// ticking costs a wake-up each, and nearly every invocation ends within microseconds.
/// So the ticker runs at two speeds: every [`COARSE_TICK`] (or `tick`, if longer) while
/// no plugin needs to yield, every `tick` for [`FINE_FOR`] after any plugin yielded
/// ([`Slices`]);
/// and it parks while nothing runs, the first plugin to start waking it. Deadlines are
/// kept by the wall clock, not by counting ticks, so the two speeds do not move them.
#[derive(Debug)]
pub(crate) struct EpochTicker {
    shared: Arc<TickerShared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct TickerShared {
    /// Invocations running now.
    running: AtomicUsize,
    /// The ticker is parked (or about to), waiting for an invocation.
    parked: AtomicBool,
    /// A plugin yielded since the ticker last looked.
    yielded: AtomicBool,
    stop: AtomicBool,
}

/// Counts one running invocation while it lives; see [`EpochTicker::running`].
pub(crate) struct Running<'a> {
    shared: &'a TickerShared,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.shared.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Tells the ticker that a plugin yields, so that it ticks finely for a while: given to
/// each store's epoch callback.
#[derive(Debug, Clone)]
pub(crate) struct Slices(Arc<TickerShared>);

impl Slices {
    /// A plugin is yielding its worker.
    pub(crate) fn yielding(&self) {
        self.0.yielded.store(true, Ordering::Relaxed);
    }
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine, tick: Duration) -> Result<Self, RuntimeError> {
        let shared = Arc::new(TickerShared::default());
        let ticker = Arc::clone(&shared);
        let coarse = COARSE_TICK.max(tick);
        let thread = std::thread::Builder::new()
            .name("callflow-epoch".into())
            .spawn(move || {
                let mut fine_until = Instant::now();
                while !ticker.stop.load(Ordering::SeqCst) {
                    if ticker.yielded.swap(false, Ordering::Relaxed) {
                        fine_until = Instant::now() + FINE_FOR;
                    }
                    std::thread::sleep(if Instant::now() < fine_until {
                        tick
                    } else {
                        coarse
                    });
                    if ticker.running.load(Ordering::SeqCst) > 0 {
                        engine.increment_epoch();
                        continue;
                    }
                    // SeqCst on both sides: either the invocation starting now sees
                    // `parked` and unparks this thread, or this thread sees it running.
                    ticker.parked.store(true, Ordering::SeqCst);
                    if ticker.running.load(Ordering::SeqCst) == 0
                        && !ticker.stop.load(Ordering::SeqCst)
                    {
                        std::thread::park();
                    }
                    ticker.parked.store(false, Ordering::SeqCst);
                }
            })
            .map_err(|e| RuntimeError::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Marks an invocation as running until the guard drops, waking the ticker if it
    /// is parked. Its first tick comes a whole tick after it wakes.
    pub(crate) fn running(&self) -> Running<'_> {
        let shared = &*self.shared;
        if shared.running.fetch_add(1, Ordering::SeqCst) == 0
            && shared.parked.load(Ordering::SeqCst)
            && let Some(thread) = &self.thread
        {
            thread.thread().unpark();
        }
        Running { shared }
    }

    /// What a store's epoch callback tells the ticker when its plugin yields.
    pub(crate) fn slices(&self) -> Slices {
        Slices(Arc::clone(&self.shared))
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
