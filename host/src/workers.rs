//! The lease-and-run loop dispatch and delivery share: keep up to N leased items in flight,
//! lease again as soon as one finishes, and sleep on a wake-up or a short poll when nothing
//! is due.
//!
//! Work is leased only when a slot is free, so nothing leased ever waits in memory. This file
//! knows nothing of events or deliveries: the caller says how to lease, how to wait for new
//! work, and how to run one item.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often to look for due work (retries, expired leases) when nothing wakes the loop.
pub const POLL: Duration = Duration::from_millis(250);

/// Runs until `shutdown`, then waits for the items in flight.
pub async fn run<T, L, LF, R, RF, W, WF>(slots: usize, lease: L, ready: R, work: W, shutdown: CancellationToken)
where
    L: Fn(usize) -> LF,
    LF: Future<Output = Vec<T>>,
    R: Fn() -> RF,
    RF: Future<Output = ()>,
    W: Fn(T) -> WF,
    WF: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(slots.max(1)));
    let tasks = TaskTracker::new();
    loop {
        let first = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            _ = shutdown.cancelled() => break,
        };
        let Ok(first) = first else { break };
        let leased = lease(permits.available_permits() + 1).await;
        if leased.is_empty() {
            drop(first);
            tokio::select! {
                _ = ready() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.cancelled() => break,
            }
            continue;
        }
        let mut first = Some(first);
        for item in leased {
            let permit = match first.take() {
                Some(p) => p,
                None => match permits.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let job = work(item);
            tasks.spawn(async move {
                job.await;
                drop(permit);
            });
        }
    }
    tasks.close();
    tasks.wait().await;
}
