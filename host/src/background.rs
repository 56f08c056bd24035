//! Runtimes of their own for the gateway's later stages, scheduled by the kernel below the
//! threads that acknowledge webhooks.
//!
//! Tokio has no task priorities: on one runtime, an ingest request woken by its commit waits in
//! the same run queue as every plugin call and delivery ready before it, and under load that
//! queue, not the disk, sets the acknowledgement's tail latency. So with `[server]
//! ingest_first = true` the stages run on threads of their own, each niced (Linux
//! `setpriority` on each thread), in the order a pipeline drains best: acknowledgements first
//! (the caller's runtime, untouched), then deliveries ([`Stage::Delivery`], +5), then plugin
//! calls ([`Stage::Dispatch`], +10), so work already started is finished before more is begun
//! and a burst waits on disk, not in memory. Nothing is starved: EEVDF weights give a niced
//! thread a share of a saturated core (a nice-10 one about a tenth against a nice-0 one) and
//! all of an idle one. A nice value ranks a thread against every thread in its scheduling group,
//! though, other processes' included: beside a busy neighbour in the same group the niced
//! stages get that small share too, which is why it is off by default and meant for a gateway
//! in a cgroup of its own. BENCHMARKS.md has what it changed.
//!
//! This file owns the runtimes and their threads' priority; it never decides what runs on them.

use tokio::runtime::{Builder, Handle, Runtime};

/// A stage that runs below acknowledgements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Deliveries: finishing what was started.
    Delivery,
    /// Plugin calls: starting new work.
    Dispatch,
}

impl Stage {
    /// How much lower than the gateway's other threads it is scheduled (a nice increment:
    /// EEVDF weight 335 at +5, 110 at +10, against 1,024).
    pub fn nice(self) -> i32 {
        match self {
            Stage::Delivery => 5,
            Stage::Dispatch => 10,
        }
    }

    /// Its threads' name, as `top -H` and `/proc/PID/task/*/comm` show it.
    pub fn thread_name(self) -> &'static str {
        match self {
            Stage::Delivery => "delivery",
            Stage::Dispatch => "dispatch",
        }
    }
}

/// A stage's runtime, its threads niced by [`Stage::nice`]. Dropping it, in an async context
/// or not, stops it without waiting for what still runs on it.
pub struct Background {
    /// Taken only by `drop`.
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Background {
    /// Starts `stage`'s runtime: as many worker threads as this process may use cores.
    pub fn start(stage: Stage) -> std::io::Result<Self> {
        let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let runtime = Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name(stage.thread_name())
            .on_thread_start(move || lower_this_thread(stage.nice()))
            .enable_all()
            .build()?;
        Ok(Self { handle: runtime.handle().clone(), runtime: Some(runtime) })
    }

    /// Where to spawn onto it.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread's scheduling priority by `nice` (Linux keeps a nice value per
/// thread). A failure (a seccomp filter, a platform without per-thread priorities) leaves the
/// thread where it was, which costs only the ordering this file is for: logged, not raised.
#[cfg(target_os = "linux")]
fn lower_this_thread(nice: i32) {
    use rustix::process::{getpriority_process, setpriority_process};
    let this = Some(rustix::thread::gettid());
    let lowered = getpriority_process(this).and_then(|now| setpriority_process(this, now.saturating_add(nice).min(19)));
    if let Err(e) = lowered {
        tracing::debug!(error = %e, "cannot lower a stage thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_thread(_nice: i32) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn its_threads_run_below_the_callers_and_dropping_it_in_async_code_is_fine() {
        let here = own_nice();
        for stage in [Stage::Delivery, Stage::Dispatch] {
            let lowered = Background::start(stage).unwrap_or_else(|e| panic!("{e}"));
            let there = lowered.handle().spawn(async { own_nice() }).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(there, (here + stage.nice()).min(19));
            let blocking = lowered.handle().spawn_blocking(own_nice).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(blocking, (here + stage.nice()).min(19), "its blocking threads too");
        }
        assert_eq!(own_nice(), here, "the caller's thread is untouched");
    }
}
