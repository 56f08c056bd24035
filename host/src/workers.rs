//! The lease-and-run loop dispatch and delivery share: keep up to N items in flight, take
//! fresh work handed over by the store (`queue/handoff.rs`) or lease due work from it, and
//! sleep on a wake-up or a short poll when there is neither.
//!
//! The store is looked at when it says work was stored unleased (a wake-up or the handoff's
//! backlog flag), when the last lease came back full, and at least every [`POLL`] in any case
//! (retries and expired leases become due without a wake-up). Nothing leased waits in memory
//! beyond the handoff's small bounded channel, and what is left there at shutdown is run
//! before returning. This file knows nothing of events or deliveries: the caller says how to
//! lease, how to wait for new work, and how to run one item.

use crate::queue::handoff;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often to look for due work (retries, expired leases) when nothing wakes the loop.
pub const POLL: Duration = Duration::from_millis(250);

/// Runs until `shutdown`, then runs what was handed over and waits for the items in flight.
pub async fn run<T, L, LF, R, RF, W, WF>(
    slots: usize,
    mut handed: handoff::Receiver<T>,
    lease: L,
    ready: R,
    work: W,
    shutdown: CancellationToken,
) where
    L: Fn(usize) -> LF,
    LF: Future<Output = Vec<T>>,
    R: Fn() -> RF,
    RF: Future<Output = ()>,
    W: Fn(T) -> WF,
    WF: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(slots.max(1)));
    let tasks = TaskTracker::new();
    let mut look = true; // rows may be due from an earlier run
    let mut looked = Instant::now();
    let mut open = true;
    loop {
        let slot = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            _ = shutdown.cancelled() => break,
        };
        let Ok(slot) = slot else { break };
        if look || handed.backlog() || looked.elapsed() >= POLL {
            let asked = permits.available_permits() + 1;
            let leased = lease(asked).await;
            looked = Instant::now();
            look = leased.len() == asked;
            if leased.len() < asked {
                handed.drained();
            }
            if !leased.is_empty() {
                let mut slot = Some(slot);
                for item in leased {
                    let permit = match slot.take() {
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
                continue;
            }
        }
        let item = match handed.try_recv() {
            Some(item) => item,
            None => tokio::select! {
                item = handed.recv(), if open => match item {
                    Some(item) => item,
                    None => { open = false; continue }
                },
                _ = ready() => { look = true; continue }
                _ = tokio::time::sleep_until(looked + POLL) => continue,
                _ = shutdown.cancelled() => break,
            },
        };
        let job = work(item);
        tasks.spawn(async move {
            job.await;
            drop(slot);
        });
    }
    // Handed-over items are leased to this process: run them rather than leave them to wait
    // for the lease to pass.
    for item in handed.close() {
        tasks.spawn(work(item));
    }
    tasks.close();
    tasks.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    type Log = Arc<Mutex<Vec<u32>>>;

    fn take(log: &Log) -> Vec<u32> {
        log.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default()
    }

    #[tokio::test]
    async fn runs_due_rows_first_then_handed_work_and_what_is_handed_at_shutdown() {
        let (hand, handed) = handoff::channel::<u32>(4, Duration::from_secs(60));
        let due: Log = Arc::new(Mutex::new(vec![1, 2, 3]));
        let ran: Log = Arc::default();
        let shutdown = CancellationToken::new();
        let gate = Arc::new(tokio::sync::Notify::new());
        let lease = {
            let due = due.clone();
            move |n: usize| {
                let due = due.clone();
                async move {
                    due.lock()
                        .map(|mut d| {
                            let k = n.min(d.len());
                            d.drain(..k).collect()
                        })
                        .unwrap_or_default()
                }
            }
        };
        let (ran2, gate2) = (ran.clone(), gate.clone());
        let work = move |item: u32| {
            let (ran, gate) = (ran2.clone(), gate2.clone());
            async move {
                if item == 99 {
                    gate.notified().await;
                }
                if let Ok(mut r) = ran.lock() {
                    r.push(item);
                }
            }
        };
        let ready = || std::future::pending::<()>();
        let run = tokio::spawn(super::run(1, handed, lease, ready, work, shutdown.clone()));

        // Rows due from an earlier run are leased before anything is handed off.
        for _ in 0..100 {
            if ran.lock().map(|r| r.len()).unwrap_or_default() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(take(&ran), vec![1, 2, 3]);
        // The lease came back short, so fresh work is handed off again.
        hand.reserve().unwrap_or_else(|| panic!("the backlog was drained")).hand(4);
        for _ in 0..100 {
            if !ran.lock().map(|r| r.is_empty()).unwrap_or(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(take(&ran), vec![4]);

        // One slot, held by 99; 5 waits in the channel when shutdown comes, and still runs.
        hand.reserve().unwrap_or_else(|| panic!("room")).hand(99);
        tokio::time::sleep(Duration::from_millis(20)).await;
        hand.reserve().unwrap_or_else(|| panic!("room")).hand(5);
        shutdown.cancel();
        gate.notify_one();
        tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .unwrap_or_else(|_| panic!("the loop did not stop"))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut rest = take(&ran);
        rest.sort_unstable();
        assert_eq!(rest, vec![5, 99]);
    }
}
