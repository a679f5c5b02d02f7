//! The long lane: threads of their own, below the serving workers' scheduling priority,
//! for the invocations of plugins that run long.
//!
//! Owns: [`LongLane`], a small tokio runtime started on first use, whose threads are
//! niced to [`LONG_LANE_NICE`]. Which invocations go there is the caller's choice (the
//! tenant's admission: a tenant whose recent invocations burned more than a slice).
//!
//! Why: a plugin that burns its fuel, even within its tenant's fuel rate, runs on a serving
//! worker in 250 µs slices, and the worker shares the cores with the other worker at equal
//! priority: every other tenant's short events wait behind its slices and for the CPU it
//! holds, which doubled a calm tenant's p99 beside it (ADR 0012). On the long lane the
//! kernel hands a core to a serving worker as soon as it has work, and the long plugins
//! run on what is left; alone on the host they still get every core.
//!
//! Must not: choose what runs here, or change what an invocation may do: the same
//! sandbox, limits and deadline apply on either lane.

use std::future::Future;
use std::sync::OnceLock;

use super::PluginFailure;
use super::compile::lower_priority;

/// The long lane's default niceness (`runtime.long_lane_nice`): a thread at 10 weighs
/// about a tenth of one at 0, so under contention a serving worker gets about ten times
/// its share of a core. At 5 (a third) a calm tenant's p99 beside a burning one was
/// 2.05x, 2.27x and 2.03x its solo p99 in the worst of three runs of `--bench
/// isolation`; at 10, every run was within 2x in 15 of 21 invocations (ADR 0015).
pub const LONG_LANE_NICE: i32 = 10;

/// The lane's runtime, started by the first invocation sent there.
#[derive(Debug)]
pub(crate) struct LongLane {
    nice: i32,
    runtime: OnceLock<Result<tokio::runtime::Runtime, String>>,
}

impl LongLane {
    /// A lane whose threads will run at `nice`.
    pub(crate) fn new(nice: i32) -> Self {
        Self {
            nice,
            runtime: OnceLock::new(),
        }
    }

    /// Runs `task` on the lane and waits for it; a lane that could not start, or a task
    /// that panicked, is the host's failure.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        task: impl Future<Output = Result<T, PluginFailure>> + Send + 'static,
    ) -> Result<T, PluginFailure> {
        let runtime = self
            .runtime
            .get_or_init(|| start(self.nice))
            .as_ref()
            .map_err(|e| PluginFailure::Host(format!("the long lane did not start: {e}")))?;
        runtime
            .spawn(task)
            .await
            .unwrap_or_else(|e| Err(PluginFailure::Host(format!("the long lane lost it: {e}"))))
    }
}

fn start(nice: i32) -> Result<tokio::runtime::Runtime, String> {
    // As many threads as cores: alone on the host, long plugins still get every core.
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("callflow-long")
        .on_thread_start(move || lower_priority(nice, "long lane"))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

impl Drop for LongLane {
    fn drop(&mut self) {
        // Dropped wherever the runtime's last owner goes, possibly on an async worker,
        // where a blocking shutdown would panic: its tasks end with their deadlines.
        if let Some(Ok(runtime)) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
