//! Compiling apart from serving: every compilation runs on a small pool of threads of
//! its own, at a lower scheduling priority, and a tenant can have only so many waiting.
//!
//! Cranelift compiles a component's functions in parallel on rayon's pool, which is, by
//! default, one thread per core: a 12 MiB interpreter component then takes every core for
//! seconds, and webhooks wait behind it. Here compilation runs inside a pool of
//! [`CompileLimits::threads`] threads, so wasmtime's parallel compilation (rayon runs a
//! parallel iterator on the pool it was called from) stays inside it too, and on Linux
//! those threads run at `nice` [`CompileLimits::nice`]: when serving needs a core, the
//! scheduler gives it one, and an idle host still compiles at full speed.
//!
//! Admission is apart from the pool: a compile someone asked for (an upload) first takes
//! a [`CompileTicket`] for its owner, refused beyond [`CompileLimits::per_owner`] waiting
//! or running for one owner and [`CompileLimits::total`] for the host. Reloads and a
//! cluster bringing its nodes in step take the pool without a ticket: there are at most
//! a few per tenant. A load a call waits for (a first event with nothing in the compile
//! cache) does not come here at all: it compiles on the calling thread, at serving's
//! priority, since a caller is on the line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How compilation is bounded. Fixed for the life of the process (`[runtime]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// Threads that compile; at most this many cores go to compiling at once.
    pub threads: usize,
    /// Their scheduling priority on Linux, as `nice` (0 is serving's, 19 the lowest).
    pub nice: i32,
    /// Compiles one owner (a tenant) may have waiting or running.
    pub per_owner: usize,
    /// Compiles the host may have waiting or running, all owners together.
    pub total: usize,
}

impl Default for CompileLimits {
    /// Half the cores (at least one) at `nice` 10; two compiles per tenant, eight in all.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            threads: (cores / 2).max(1),
            nice: 10,
            per_owner: 2,
            total: 8,
        }
    }
}

/// A compile refused at admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CompileBusy {
    /// The owner already has this many compiles waiting or running.
    #[error(
        "this tenant already has {0} plugin compiles waiting or running; retry when one is done"
    )]
    Owner(usize),
    /// The host already has this many.
    #[error("the host already has {0} plugin compiles waiting or running; retry shortly")]
    Host(usize),
}

/// What compiling has cost so far, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Compiles admitted and not yet done (waiting or running).
    pub admitted: usize,
    /// Compiles that have run on the pool (admitted or not).
    pub compiled: u64,
    /// Wall-clock time they took, waiting included.
    pub busy: Duration,
    /// Compiles refused at admission.
    pub refused: u64,
}

/// The pool and its admission.
pub(crate) struct Compiler {
    pool: rayon::ThreadPool,
    limits: CompileLimits,
    admitted: Arc<Mutex<Admitted>>,
    compiled: AtomicU64,
    busy_us: AtomicU64,
    refused: AtomicU64,
}

#[derive(Debug, Default)]
struct Admitted {
    total: usize,
    by_owner: HashMap<String, usize>,
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Compiler {
    pub(crate) fn new(limits: CompileLimits) -> std::io::Result<Self> {
        let nice = limits.nice;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(limits.threads.max(1))
            .thread_name(|i| format!("callflow-compile-{i}"))
            .start_handler(move |_| lower_priority(nice, "compile"))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Self {
            pool,
            limits,
            admitted: Arc::default(),
            compiled: AtomicU64::new(0),
            busy_us: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// Runs `compile` on the pool, blocking the calling thread until it is done.
    pub(crate) fn run<T: Send>(&self, compile: impl FnOnce() -> T + Send) -> T {
        let start = Instant::now();
        let out = self.pool.install(compile);
        let us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.busy_us.fetch_add(us, Ordering::Relaxed);
        self.compiled.fetch_add(1, Ordering::Relaxed);
        out
    }

    pub(crate) fn admit(&self, owner: &str) -> Result<CompileTicket, CompileBusy> {
        let mut admitted = self.admitted.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = admitted.by_owner.get(owner).copied().unwrap_or(0);
        let refusal = if mine >= self.limits.per_owner {
            Some(CompileBusy::Owner(mine))
        } else if admitted.total >= self.limits.total {
            Some(CompileBusy::Host(admitted.total))
        } else {
            None
        };
        if let Some(busy) = refusal {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(busy);
        }
        admitted.total += 1;
        *admitted.by_owner.entry(owner.to_owned()).or_default() += 1;
        Ok(CompileTicket {
            admitted: Arc::clone(&self.admitted),
            owner: owner.to_owned(),
        })
    }

    pub(crate) fn stats(&self) -> CompileStats {
        let admitted = self
            .admitted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total;
        CompileStats {
            admitted,
            compiled: self.compiled.load(Ordering::Relaxed),
            busy: Duration::from_micros(self.busy_us.load(Ordering::Relaxed)),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// A place in the compile queue: held while its compile waits and runs, given back
/// when dropped.
#[must_use = "the place is given back when the ticket is dropped"]
pub struct CompileTicket {
    admitted: Arc<Mutex<Admitted>>,
    owner: String,
}

impl std::fmt::Debug for CompileTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompileTicket")
            .field("owner", &self.owner)
            .finish()
    }
}

impl Drop for CompileTicket {
    fn drop(&mut self) {
        let mut admitted = self.admitted.lock().unwrap_or_else(PoisonError::into_inner);
        admitted.total = admitted.total.saturating_sub(1);
        if let Some(n) = admitted.by_owner.get_mut(&self.owner) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                admitted.by_owner.remove(&self.owner);
            }
        }
    }
}

/// Lowers the calling thread's scheduling priority to `nice` (Linux applies `setpriority`
/// to one thread when given its id). Raising one's own niceness needs no privilege; if it
/// fails anyway, the thread (a `what` thread) runs at serving's priority and says so.
pub(super) fn lower_priority(nice: i32, what: &'static str) {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        // A process already started at a lower priority keeps it (raising it back
        // would need privilege, and is not ours to do).
        let current = getpriority_process(None).unwrap_or(0);
        if nice > current
            && let Err(err) = setpriority_process(Some(rustix::thread::gettid()), nice)
        {
            tracing::warn!(nice, %err, thread = what, "cannot lower a thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_owner: usize, total: usize) -> CompileLimits {
        CompileLimits {
            threads: 1,
            nice: 0,
            per_owner,
            total,
        }
    }

    #[test]
    fn an_owner_and_the_host_are_each_bounded_and_places_come_back() {
        let compiler = Compiler::new(limits(2, 3)).expect("pool");
        let a1 = compiler.admit("a").expect("first");
        let _a2 = compiler.admit("a").expect("second");
        assert_eq!(
            compiler.admit("a").expect_err("a third for a"),
            CompileBusy::Owner(2)
        );
        let _b1 = compiler.admit("b").expect("b's first");
        assert_eq!(
            compiler.admit("c").expect_err("a fourth in all"),
            CompileBusy::Host(3)
        );
        drop(a1);
        let _c1 = compiler.admit("c").expect("a place came back");
        let stats = compiler.stats();
        assert_eq!((stats.admitted, stats.refused), (3, 2));
    }

    #[test]
    fn parallel_work_inside_a_compile_stays_on_the_pool() {
        use rayon::prelude::*;
        let compiler = Compiler::new(limits(1, 1)).expect("pool");
        let threads: Vec<String> = compiler.run(|| {
            (0..64)
                .into_par_iter()
                .map(|_| std::thread::current().name().unwrap_or_default().to_owned())
                .collect()
        });
        assert!(
            threads.iter().all(|name| name == "callflow-compile-0"),
            "{threads:?}"
        );
        assert_eq!(compiler.stats().compiled, 1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn compile_threads_run_at_the_configured_niceness() {
        let here = rustix::process::getpriority_process(None).expect("getpriority");
        let lower = (here + 5).min(19);
        let compiler = Compiler::new(CompileLimits {
            nice: lower,
            ..limits(1, 1)
        })
        .expect("pool");
        let nice = compiler.run(|| rustix::process::getpriority_process(None));
        assert_eq!(nice.expect("getpriority"), lower);
        let after = rustix::process::getpriority_process(None).expect("getpriority");
        assert_eq!(after, here, "only the pool's threads are lowered");
    }
}
