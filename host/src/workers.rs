//! The lease-and-run loop dispatch and delivery share: keep up to N items in flight, take
//! fresh work handed over by the store (`queue/handoff.rs`) or lease due work from it, and
//! sleep on a wake-up or a short poll when there is neither.
//!
//! What an item is, and how to lease, wait for and run one, is the caller's [`Work`]; this
//! file knows nothing of events or deliveries. The store is asked for due work when it said
//! work was stored unleased (a wake-up or the handoff's backlog flag), when the last lease
//! came back full, and at least every [`POLL`] in any case (retries and expired leases become
//! due without a wake-up). Nothing leased waits in memory beyond the handoff's small bounded
//! channel, and what is left there at shutdown is run before returning.

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

/// One kind of leased work, as [`run`] drives it: lease → ready → run.
pub trait Work: Send + Sync + 'static {
    /// What one lease hands out (a leased event, a leased delivery).
    type Item: Send + 'static;

    /// Leases up to `max` due items from the store; none when it cannot.
    fn lease(&self, max: usize) -> impl Future<Output = Vec<Self::Item>> + Send;

    /// Resolves when the store says work was stored without being handed over.
    fn ready(&self) -> impl Future<Output = ()> + Send;

    /// Runs one item to its end, its outcome recorded.
    fn run(&self, item: Self::Item) -> impl Future<Output = ()> + Send;
}

/// Runs until `shutdown`, then runs what was handed over and waits for the items in flight.
pub async fn run<W: Work>(
    work: Arc<W>,
    slots: usize,
    mut handed: handoff::Receiver<W::Item>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(slots.max(1)));
    let tasks = TaskTracker::new();
    let spawn = |item: W::Item, permit: Option<tokio::sync::OwnedSemaphorePermit>| {
        let work = work.clone();
        tasks.spawn(async move {
            work.run(item).await;
            drop(permit);
        });
    };
    // Whether the store may hold due work now: rows may be due from an earlier run.
    let mut lease_due = true;
    let mut last_lease = Instant::now();
    let mut open = true;
    loop {
        let slot = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            _ = shutdown.cancelled() => break,
        };
        let Ok(slot) = slot else { break };
        if lease_due || handed.backlog() || last_lease.elapsed() >= POLL {
            let asked = permits.available_permits() + 1;
            let leased = work.lease(asked).await;
            last_lease = Instant::now();
            lease_due = leased.len() == asked;
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
                    spawn(item, Some(permit));
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
                _ = work.ready() => { lease_due = true; continue }
                _ = tokio::time::sleep_until(last_lease + POLL) => continue,
                _ = shutdown.cancelled() => break,
            },
        };
        spawn(item, Some(slot));
    }
    // Handed-over items are leased to this process: run them rather than leave them to wait
    // for the lease to pass.
    for item in handed.close() {
        spawn(item, None);
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

    /// Leases from `due`, records what it ran in `ran`; item 99 waits for `gate`.
    struct TestWork {
        due: Log,
        ran: Log,
        gate: Arc<tokio::sync::Notify>,
    }

    impl Work for TestWork {
        type Item = u32;

        async fn lease(&self, max: usize) -> Vec<u32> {
            self.due
                .lock()
                .map(|mut d| {
                    let k = max.min(d.len());
                    d.drain(..k).collect()
                })
                .unwrap_or_default()
        }

        async fn ready(&self) {
            std::future::pending::<()>().await
        }

        async fn run(&self, item: u32) {
            if item == 99 {
                self.gate.notified().await;
            }
            if let Ok(mut r) = self.ran.lock() {
                r.push(item);
            }
        }
    }

    #[tokio::test]
    async fn runs_due_rows_first_then_handed_work_and_what_is_handed_at_shutdown() {
        let (hand, handed) = handoff::channel::<u32>(4, Duration::from_secs(60));
        let due: Log = Arc::new(Mutex::new(vec![1, 2, 3]));
        let ran: Log = Arc::default();
        let shutdown = CancellationToken::new();
        let gate = Arc::new(tokio::sync::Notify::new());
        let work = Arc::new(TestWork { due, ran: ran.clone(), gate: gate.clone() });
        let run = tokio::spawn(super::run(work, 1, handed, shutdown.clone()));

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
            .unwrap();
        let mut rest = take(&ran);
        rest.sort_unstable();
        assert_eq!(rest, vec![5, 99]);
    }
}
