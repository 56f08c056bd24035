//! The group commit: one thread per store runs every operation waiting for it in one
//! transaction, and answers each caller after the commit.
//!
//! An operation is an [`Op`]: its SQL (run on any backend through `sql::Tx`) and what it does
//! once its batch has committed (hand fresh work to a loop, wake one). Callers send it as a
//! [`Message::Job`]; the writer admits every job already waiting, up to [`MAX_BATCH`], runs
//! them in order and commits once, so many concurrent appends share one transaction and one
//! fsync. A job that fails fails alone: the transaction is rolled back and the batch run again
//! without it (PostgreSQL aborts a whole transaction on one failed statement, and a failed
//! multi-statement operation must not leave half its writes on either backend). An error that
//! says the database itself cannot be written ([`StoreError::Unavailable`]) fails the whole
//! batch at once instead.
//!
//! While the store is busy (the last commit ended under [`BUSY`] ago) and a batch is small,
//! the writer yields its core once before it commits, so the tasks that produce jobs run and
//! the batch fills: most of a commit's cost (an fsync, every touched page written again) is
//! the same for 3 rows or 300. A yield, not a sleep: with nothing else to run it returns at
//! once, so an idle or moderately loaded gateway adds no latency (BENCHMARKS.md has what was
//! measured against sleeping). This file knows no SQL.

use super::handoff::{self, Lease};
use super::sql::{Backend, Ctx, Flow, Tx};
use super::{LeasedDelivery, LeasedEvent, Store, StoreError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Jobs executed in one transaction at most.
pub(super) const MAX_BATCH: usize = 512;

/// See the module doc: how recently a commit must have ended for the store to count as busy,
/// and the batch size below which a busy writer yields once before committing.
const BUSY: Duration = Duration::from_millis(2);
const GATHER_BELOW: usize = 128;

/// How often a writer with nothing to do asks its backend whether it can still write.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// One store operation: its SQL, and what happens once its batch has committed.
pub(crate) trait Op: Send + 'static {
    type Output: Send + 'static;

    /// The operation only reads: it may run on the store's read connection, where it waits for
    /// none of the writer's commits (PostgreSQL; on SQLite every operation goes to the writer).
    const READS_ONLY: bool = false;

    /// Reserves handoff slots for the fresh work this operation will store leased.
    fn admit(&mut self, _hands: &Handoffs) {}

    /// Runs in the batch's transaction. It may run more than once when another job of the batch
    /// failed and the batch was run again, so it must not consume what it needs.
    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<Self::Output, StoreError>;

    /// After the batch committed: hand over what was stored leased, wake the loops that have
    /// new due work, and give the caller its answer.
    fn committed(self, output: Self::Output, _wake: &mut Wakeups) -> Self::Output
    where
        Self: Sized,
    {
        output
    }
}

/// What the writer thread receives.
pub(crate) enum Message {
    Job(Box<dyn Job>),
    /// Where to hand fresh events from now on.
    HandEvents(handoff::Sender<LeasedEvent>),
    /// Where to hand fresh deliveries from now on.
    HandDeliveries(handoff::Sender<LeasedDelivery>),
}

/// An [`Op`] with its caller's reply channel, its type erased so one batch holds any mix.
pub(crate) trait Job: Send {
    fn admit(&mut self, hands: &Handoffs);
    /// Runs the operation, keeping its result; `Err` (a copy) when it failed.
    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<(), StoreError>;
    /// Whether it has already failed in this batch (it is not run again).
    fn failed(&self) -> bool;
    /// Forgets a result that a rolled-back transaction undid.
    fn forget(&mut self);
    /// Answers the caller: the kept result if the batch committed, else the commit's error.
    fn finish(self: Box<Self>, commit: Result<(), &StoreError>, wake: &mut Wakeups);
}

/// A job for `op`, answering on `reply`.
pub(crate) fn job<O: Op>(op: O, reply: oneshot::Sender<Result<O::Output, StoreError>>) -> Box<dyn Job> {
    Box::new(Pending { op, reply, result: None })
}

struct Pending<O: Op> {
    op: O,
    reply: oneshot::Sender<Result<O::Output, StoreError>>,
    result: Option<Result<O::Output, StoreError>>,
}

impl<O: Op> Job for Pending<O> {
    fn admit(&mut self, hands: &Handoffs) {
        self.op.admit(hands);
    }

    fn run(&mut self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<(), StoreError> {
        let result = self.op.run(tx, ctx);
        let outcome = result.as_ref().map(drop).map_err(Clone::clone);
        self.result = Some(result);
        outcome
    }

    fn failed(&self) -> bool {
        matches!(self.result, Some(Err(_)))
    }

    fn forget(&mut self) {
        if matches!(self.result, Some(Ok(_))) {
            self.result = None;
        }
    }

    fn finish(self: Box<Self>, commit: Result<(), &StoreError>, wake: &mut Wakeups) {
        let Pending { op, reply, result } = *self;
        let answer = match (commit, result) {
            (Err(e), _) => Err(e.clone()),
            (Ok(()), Some(Ok(output))) => Ok(op.committed(output, wake)),
            (Ok(()), Some(Err(e))) => Err(e),
            (Ok(()), None) => Err(StoreError::Database("the operation did not run".into())),
        };
        let _ = reply.send(answer);
    }
}

/// What a batch made due, so the right loops are woken after the commit.
#[derive(Debug, Default)]
pub(crate) struct Wakeups {
    pub(crate) events: bool,
    pub(crate) deliveries: bool,
}

/// The loops' handoffs, as they registered.
#[derive(Default)]
pub(crate) struct Handoffs {
    pub(crate) events: Option<handoff::Sender<LeasedEvent>>,
    pub(crate) deliveries: Option<handoff::Sender<LeasedDelivery>>,
}

impl Handoffs {
    /// A slot for one fresh event, if the dispatch loop has room.
    pub(crate) fn event(&self) -> Option<Lease<LeasedEvent>> {
        self.events.as_ref().and_then(handoff::Sender::reserve)
    }

    /// Slots for up to `n` fresh deliveries, as many as the delivery loop has room for.
    pub(crate) fn deliveries(&self, n: usize) -> Vec<Lease<LeasedDelivery>> {
        let Some(hand) = &self.deliveries else { return Vec::new() };
        (0..n).map_while(|_| hand.reserve()).collect()
    }

    /// Admits every message already waiting, up to a full batch.
    fn admit_waiting(&mut self, rx: &mut mpsc::Receiver<Message>, batch: &mut Vec<Box<dyn Job>>) {
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(message) => self.admit(message, batch),
                Err(_) => break,
            }
        }
    }

    /// Adds a job to `batch`, reserving handoff slots for the fresh work it creates; a handoff
    /// registration is kept here instead.
    fn admit(&mut self, message: Message, batch: &mut Vec<Box<dyn Job>>) {
        match message {
            Message::HandEvents(sender) => self.events = Some(sender),
            Message::HandDeliveries(sender) => self.deliveries = Some(sender),
            Message::Job(mut job) => {
                job.admit(self);
                batch.push(job);
            }
        }
    }
}

/// Starts the writer thread `name` over `backend` and returns the handle that feeds it; `node`
/// is the id the backend's leases name.
pub(super) fn spawn(name: String, backend: impl Backend, node: std::sync::Arc<str>) -> Store {
    let (tx, rx) = mpsc::channel(super::BACKLOG);
    let store = Store::new(tx, node);
    let shared = store.shared.clone();
    let spawned = std::thread::Builder::new().name(name).spawn(move || serve(backend, rx, &shared));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the store thread; every store call will fail");
    }
    store
}

fn serve(mut backend: impl Backend, mut rx: mpsc::Receiver<Message>, shared: &super::Shared) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut hands = Handoffs::default();
    let mut last_commit = Instant::now().checked_sub(BUSY).unwrap_or_else(Instant::now);
    let mut last_check = Instant::now();
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
        // Checked at most every CHECK_EVERY, and before every batch while the store is failing,
        // so a recovery is seen by the next batch (a readiness probe).
        if last_check.elapsed() >= CHECK_EVERY || shared.health.status().is_err() {
            last_check = Instant::now();
            shared.health.checked(backend.check());
        }
        let started = Instant::now();
        let mut wake = Wakeups::default();
        let committed = run_batch(&mut backend, &mut batch, shared);
        shared.commit_seconds.observe(started.elapsed());
        last_commit = Instant::now();
        match &committed {
            Ok(true) => shared.health.wrote(),
            Ok(false) => {}
            Err(e) => shared.health.failed(e),
        }
        for job in batch.drain(..) {
            job.finish(committed.as_ref().map(|_| ()), &mut wake);
        }
        if committed.is_ok() {
            if wake.events {
                shared.events_ready.notify_one();
            }
            if wake.deliveries {
                shared.deliveries_ready.notify_one();
            }
        }
    }
}

/// Runs `batch` in one transaction; a job that fails is left out and the rest run again.
/// Says whether the committed transaction changed a row.
fn run_batch(
    backend: &mut impl Backend,
    batch: &mut [Box<dyn Job>],
    shared: &super::Shared,
) -> Result<bool, StoreError> {
    let ctx = backend.ctx()?;
    if let Some(e) = shared.health.lost() {
        return Err(e);
    }
    loop {
        let mut failure: Option<StoreError> = None;
        let changed = backend.transaction(&mut |tx| {
            for job in batch.iter_mut().filter(|j| !j.failed()) {
                if let Err(e) = job.run(tx, &ctx) {
                    failure = Some(e);
                    return Flow::Rollback;
                }
            }
            Flow::Commit
        })?;
        match failure {
            None => return Ok(changed),
            Some(e @ StoreError::Unavailable(_)) => return Err(e),
            Some(e) => {
                tracing::warn!(error = %e, "a store operation failed; running its batch again without it");
                batch.iter_mut().for_each(|j| j.forget());
            }
        }
    }
}

/// Whether the store can write, as the writer last found out: `/ready` and ingest read it.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// The last batch's fatal error, cleared by the next commit that changes a row.
    commit: std::sync::Mutex<Option<StoreError>>,
    /// The backend's last check, when it failed (a nearly full disk), cleared by one that passes.
    check: std::sync::Mutex<Option<StoreError>>,
    /// Set when the database file was deleted or replaced: final for this process.
    lost: std::sync::Mutex<Option<StoreError>>,
    /// Log lines about failing commits are rate-limited (a full disk fails every batch).
    log: crate::telemetry::RateLimited,
}

impl Health {
    fn wrote(&self) {
        if Self::set(&self.commit, None).is_some() {
            tracing::info!("the store writes again");
        }
    }

    fn failed(&self, e: &StoreError) {
        self.log.log(|suppressed| tracing::error!(error = %e, suppressed, "store commit failed; its callers are told"));
        self.lose(e);
        if matches!(e, StoreError::Unavailable(_) | StoreError::Lost(_)) {
            Self::set(&self.commit, Some(e.clone()));
        }
    }

    fn checked(&self, result: Result<(), StoreError>) {
        match result {
            Ok(()) => {
                if Self::set(&self.check, None).is_some() {
                    tracing::info!("the store's check passes again");
                }
            }
            Err(e) => {
                self.lose(&e);
                if Self::set(&self.check, Some(e.clone())).is_none() {
                    tracing::error!(error = %e, "the store cannot be written");
                }
            }
        }
    }

    fn lose(&self, e: &StoreError) {
        if let StoreError::Lost(_) = e
            && let Ok(mut lost) = self.lost.lock()
        {
            lost.get_or_insert_with(|| e.clone());
        }
    }

    fn lost(&self) -> Option<StoreError> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    /// Replaces a flag's value, returning the old one.
    fn set(flag: &std::sync::Mutex<Option<StoreError>>, value: Option<StoreError>) -> Option<StoreError> {
        let mut flag = flag.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::replace(&mut *flag, value)
    }

    /// `Err` with the reason while the store cannot write.
    pub(crate) fn status(&self) -> Result<(), StoreError> {
        let read = |flag: &std::sync::Mutex<Option<StoreError>>| flag.lock().ok().and_then(|f| f.clone());
        match self.lost().or_else(|| read(&self.check)).or_else(|| read(&self.commit)) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
