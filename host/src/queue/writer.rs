//! The writer thread every backend runs — the group commit: take every command that is waiting
//! (up to [`MAX_BATCH`]), execute them in one transaction, answer each caller only after the
//! commit, then wake the loops the batch made work for.
//!
//! It also owns the handoffs (`handoff.rs`): as each command joins a batch, fresh events and
//! deliveries get a reserved slot in their loop's channel when there is room, so the backend
//! stores them leased and the reply hands them over after the commit.
//!
//! Backends supply only how a batch runs against their database ([`Batch`]); this file never
//! writes SQL.

use super::handoff::{self, Lease};
use super::{Appended, Command, EventNext, EventOutcome, LeasedDelivery, LeasedEvent, Store, StoreError};
use crate::event::Event;
use crate::metrics::Histogram;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

/// Commands executed in one transaction at most.
pub(super) const MAX_BATCH: usize = 512;

/// While the store is busy (the last commit ended under [`BUSY`] ago) and a batch is small,
/// the writer yields its core once before it commits, so the tasks that produce commands run
/// and the batch fills. Most of a commit's cost is fixed (an fsync, and every touched page
/// written to the WAL again), whether it carries 3 rows or 300; an idle store commits at once.
///
/// A yield, not a sleep: when the producers have nothing to run it returns at once, so a
/// moderately loaded gateway adds no latency, and on a saturated core it hands them the CPU
/// for their slice. Measured 2026-12-02 (`bench/load.sh` budgets, alternating runs): against
/// a fixed 1.5 ms sleep, end-to-end on one core 8.8–9.1k vs 8.2–8.7k events/s, open-loop at
/// ~5k/s p50 1.0 vs 3.0 ms (two cores) and 1.9 vs 2.7 ms (one core); on two cores with
/// nothing pinned the sleep delivered ~9% more (12.4k vs 11.3k/s) by committing less often.
/// A 0.5 ms sleep was slower than both on one core. Also tried: yield, then sleep 1 ms when
/// the previous batch carried ≥ 48 commands (a saturation signal): two cores +10% once and
/// no gain in a repeat, one core −22% with open-loop p99 4× worse. Batches under yield average
/// ~4 commands at a moderate load and ~23–70 saturated.
const BUSY: Duration = Duration::from_millis(2);
const GATHER_BELOW: usize = 128;

/// An answer to send once the batch's fate is known.
pub(super) type Reply = Box<dyn FnOnce(Option<&str>) + Send>;

/// The answer `result` for `tx`, replaced by the commit's error if the commit fails.
pub(super) fn reply<T: Send + 'static>(
    tx: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
    result: Result<T, StoreError>,
) -> Reply {
    Box::new(move |commit_error: Option<&str>| {
        let result = match commit_error {
            Some(e) => Err(StoreError::Database(e.to_string())),
            None => result,
        };
        let _ = tx.send(result);
    })
}

/// [`reply`], and after a successful commit first hand `items` to their loop: their rows were
/// stored leased to it in this batch.
fn reply_handing<T: Send + 'static, H>(
    tx: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
    result: Result<T, StoreError>,
    items: impl IntoIterator<Item = (Lease<H>, H)> + Send + 'static,
) -> Reply {
    Box::new(move |commit_error: Option<&str>| {
        let result = match commit_error {
            Some(e) => Err(StoreError::Database(e.to_string())),
            None => {
                for (lease, item) in items {
                    lease.hand(item);
                }
                result
            }
        };
        let _ = tx.send(result);
    })
}

/// The reply to an append: a stored event that had a handoff slot is handed over after the
/// commit; one stored without a slot wakes the dispatch loop instead.
pub(super) fn appended(
    tx: tokio::sync::oneshot::Sender<Result<Appended, StoreError>>,
    result: Result<Appended, StoreError>,
    event: Event,
    lease: Option<Lease<LeasedEvent>>,
    woke: &mut Woke,
) -> Reply {
    let stored = matches!(result, Ok(Appended::Stored));
    woke.events |= stored && lease.is_none();
    let handed = lease.filter(|_| stored).map(|l| (l, LeasedEvent { event, attempts: 0, routes_done: Vec::new() }));
    reply_handing(tx, result, handed)
}

/// The reply to a finished event: of its deliveries stored leased (the first `leases.len()`),
/// those that were new (`inserted`) are handed over after the commit; deliveries stored
/// without a slot, derived events and retries wake their loops instead.
pub(super) fn finished(
    tx: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
    inserted: Result<Vec<bool>, StoreError>,
    outcome: EventOutcome,
    leases: Vec<Lease<LeasedDelivery>>,
    woke: &mut Woke,
) -> Reply {
    woke.deliveries |= outcome.deliveries.len() > leases.len();
    woke.events |= !outcome.emitted.is_empty() || matches!(outcome.next, EventNext::Retry { .. });
    match inserted {
        Ok(inserted) => {
            let handed = leases
                .into_iter()
                .zip(outcome.deliveries)
                .zip(inserted)
                .filter(|(_, inserted)| *inserted)
                .map(|((lease, delivery), _)| (lease, LeasedDelivery { delivery, attempts: 0 }));
            reply_handing(tx, Ok(()), handed)
        }
        Err(e) => reply(tx, Err(e)),
    }
}

/// What a batch made due, so the right loops are woken after the commit.
#[derive(Default)]
pub(super) struct Woke {
    pub(super) events: bool,
    pub(super) deliveries: bool,
}

/// The answer for a command that never ran because its transaction could not start.
pub(super) fn fail(command: Command, error: &str) -> Reply {
    let e = || StoreError::Database(error.to_string());
    match command {
        Command::Append { reply: r, .. } => reply(r, Err(e())),
        Command::LeaseEvents { reply: r, .. } => reply(r, Err(e())),
        Command::FinishEvent { reply: r, .. } => reply(r, Err(e())),
        Command::LeaseDeliveries { reply: r, .. } => reply(r, Err(e())),
        Command::FinishDelivery { reply: r, .. } => reply(r, Err(e())),
        Command::DeadLetters { reply: r, .. } => reply(r, Err(e())),
        Command::RecentEvents { reply: r, .. } => reply(r, Err(e())),
        Command::Replay { reply: r, .. } => reply(r, Err(e())),
        Command::Prune { reply: r, .. } => reply(r, Err(e())),
        Command::Depth { reply: r } => reply(r, Err(e())),
        Command::HandEvents(_) | Command::HandDeliveries(_) => Box::new(|_| {}),
    }
}

/// The loops' handoffs, as they registered.
#[derive(Default)]
struct Hands {
    events: Option<handoff::Sender<LeasedEvent>>,
    deliveries: Option<handoff::Sender<LeasedDelivery>>,
}

impl Hands {
    /// Admits every command already waiting, up to a full batch.
    fn admit_waiting(&mut self, rx: &mut mpsc::Receiver<Command>, batch: &mut Vec<Command>) {
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(command) => self.admit(command, batch),
                Err(_) => break,
            }
        }
    }

    /// Adds `command` to `batch`, reserving handoff slots for the fresh work it creates; a
    /// handoff registration is kept here instead.
    fn admit(&mut self, command: Command, batch: &mut Vec<Command>) {
        match command {
            Command::HandEvents(sender) => self.events = Some(sender),
            Command::HandDeliveries(sender) => self.deliveries = Some(sender),
            mut command => {
                match &mut command {
                    Command::Append { lease, .. } => *lease = self.events.as_ref().and_then(handoff::Sender::reserve),
                    Command::FinishEvent { outcome, leases, .. } => {
                        if let Some(hand) = &self.deliveries {
                            leases.extend((0..outcome.deliveries.len()).map_while(|_| hand.reserve()));
                        }
                    }
                    _ => {}
                }
                batch.push(command);
            }
        }
    }
}

/// How one backend runs a batch.
pub(super) trait Batch: Send + 'static {
    /// Executes every command of `batch` (draining it) in one transaction, pushing one reply
    /// per command into `replies`, and returns the commit's outcome.
    fn run(&mut self, batch: &mut Vec<Command>, replies: &mut Vec<Reply>, woke: &mut Woke) -> Result<(), String>;
}

/// Starts the writer thread `name` over `backend` and returns the handle that feeds it.
pub(super) fn spawn(name: String, backend: impl Batch) -> Store {
    let (tx, rx) = mpsc::channel(super::BACKLOG);
    let store = Store {
        tx,
        events_ready: Arc::new(Notify::new()),
        deliveries_ready: Arc::new(Notify::new()),
        commit_seconds: Arc::default(),
    };
    let (events, deliveries) = (store.events_ready.clone(), store.deliveries_ready.clone());
    let commit_seconds = store.commit_seconds.clone();
    let spawned =
        std::thread::Builder::new().name(name).spawn(move || serve(backend, rx, &events, &deliveries, &commit_seconds));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the store thread; every store call will fail");
    }
    store
}

fn serve(
    mut backend: impl Batch,
    mut rx: mpsc::Receiver<Command>,
    events: &Notify,
    deliveries: &Notify,
    commit_seconds: &Histogram,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut hands = Hands::default();
    let mut last_commit = Instant::now().checked_sub(BUSY).unwrap_or_else(Instant::now);
    while let Some(first) = rx.blocking_recv() {
        hands.admit(first, &mut batch);
        hands.admit_waiting(&mut rx, &mut batch);
        if batch.len() < GATHER_BELOW && last_commit.elapsed() < BUSY {
            std::thread::yield_now();
            hands.admit_waiting(&mut rx, &mut batch);
        }
        if batch.is_empty() {
            continue;
        }
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        let mut woke = Woke::default();
        let started = std::time::Instant::now();
        let committed = backend.run(&mut batch, &mut replies, &mut woke);
        commit_seconds.observe(started.elapsed());
        last_commit = Instant::now();
        if let Err(e) = &committed {
            tracing::error!(error = %e, "store commit failed; the batch's callers are told");
        }
        let commit_error = committed.as_ref().err().map(String::as_str);
        for r in replies {
            r(commit_error);
        }
        if committed.is_ok() {
            if woke.events {
                events.notify_one();
            }
            if woke.deliveries {
                deliveries.notify_one();
            }
        }
    }
}
