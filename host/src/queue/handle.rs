//! [`Store`]: the cheap, cloneable handle every part of the gateway holds. Each method sends
//! one operation (`ops/`) to the writer thread (or, for one that only reads, to the reader's)
//! and awaits its answer, given after its batch committed. Ingest's append alone refuses at
//! once when the backlog is full; everything else waits for room. This file only sends and
//! awaits: what an operation does is its own.

use super::handoff;
use super::history::AttemptLog;
use super::work::*;
use super::writer::{self, Message, Op};
use super::{
    DeadLetter, Depth, DestinationCounts, EventSummary, KvEntry, Node, NodeInfo, Renewed, StoreError, is_postgres,
    open_postgres, open_sqlite, open_sqlite_shared, ops, sqlite_path,
};
use crate::event::Event;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};

/// A handle to the store; clone it freely.
#[derive(Debug, Clone)]
pub struct Store {
    tx: mpsc::Sender<Message>,
    /// Where operations that only read go ([`Op::READS_ONLY`]): on PostgreSQL a connection
    /// of their own, so a plugin's `kv get` or a console page waits for none of the writer's
    /// commits; on SQLite, the writer.
    reads: mpsc::Sender<Message>,
    pub(crate) shared: Arc<Shared>,
}

/// What the handles and the writer thread share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Woken after a commit that made events due (appends, retries, replays).
    pub(crate) events_ready: Notify,
    /// Woken after a commit that created or replayed deliveries.
    pub(crate) deliveries_ready: Notify,
    /// How long each batch took to execute and commit (its fsync included).
    pub(crate) commit_seconds: crate::metrics::Histogram,
    /// Whether the last batch could be written.
    pub(crate) health: writer::Health,
    /// The node id this store's leases name.
    pub(crate) node: Arc<str>,
}

impl Store {
    /// Opens the store a `storage.url` names, for a gateway that serves it.
    /// `base` is the directory relative paths start from (the config file's).
    /// `lease` is how long work stays leased to this gateway unless renewed
    /// ([`Store::renew`]); only a shared store's leases expire.
    pub fn open(url: &str, base: &std::path::Path, lease: Duration) -> Result<Self, StoreError> {
        if is_postgres(url) {
            return open_postgres(url, lease);
        }
        open_sqlite(&sqlite_path(url, base)?)
    }

    /// Opens the store for a command-line tool, beside a gateway that may be serving it. A
    /// PostgreSQL store is always shared, so this is [`Store::open`] there.
    pub fn open_shared(url: &str, base: &std::path::Path, lease: Duration) -> Result<Self, StoreError> {
        if is_postgres(url) {
            return open_postgres(url, lease);
        }
        open_sqlite_shared(&sqlite_path(url, base)?)
    }

    pub(super) fn new(tx: mpsc::Sender<Message>, node: Arc<str>) -> Self {
        Self { reads: tx.clone(), tx, shared: Arc::new(Shared { node, ..Shared::default() }) }
    }

    /// This store, with its read-only operations sent to `reader`'s thread instead.
    pub(super) fn with_reader(self, reader: Store) -> Self {
        Self { reads: reader.tx, ..self }
    }

    /// This gateway's node id, which its leases name (new at every start).
    pub fn node(&self) -> &str {
        &self.shared.node
    }

    /// Makes an event durable; returns after the commit (and its fsync). With a `dedup` key held
    /// by a live event, stores nothing and names that event instead. Refuses at once with
    /// [`StoreError::Busy`] when the backlog is full.
    pub async fn append(&self, event: Event, dedup: Option<Dedup>) -> Result<Appended, StoreError> {
        self.append_held(event, dedup, Vec::new()).await
    }

    /// [`Store::append`] for an event that takes places in ordered lanes (`holds`).
    pub async fn append_held(
        &self,
        event: Event,
        dedup: Option<Dedup>,
        holds: Vec<Hold>,
    ) -> Result<Appended, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = writer::job(ops::Append { event, dedup, holds, lease: None }, reply);
        self.tx.try_send(Message::Job(job)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Busy,
            mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
        })?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn lease_events(&self, max: usize, lease: Duration) -> Result<Vec<LeasedEvent>, StoreError> {
        self.submit(ops::LeaseEvents { max, lease }).await
    }

    /// Records what dispatch made of a leased event, in one transaction: its deliveries, its
    /// derived events (within the tree's `max_emits`) and its new state.
    pub async fn finish_event(&self, id: String, outcome: EventOutcome) -> Result<Finished, StoreError> {
        self.submit(ops::FinishEvent { id, outcome, leases: Vec::new() }).await.map(|done| done.finished)
    }

    /// Gives a leased event back, due now, after its outcome could not be recorded.
    pub async fn release_event(&self, id: String) -> Result<(), StoreError> {
        self.submit(ops::ReleaseEvent { id }).await
    }

    pub async fn lease_deliveries(&self, max: usize, lease: Duration) -> Result<Vec<LeasedDelivery>, StoreError> {
        self.submit(ops::LeaseDeliveries { max, lease }).await
    }

    /// Records an attempt's outcome; `lane` is the delivery's (route, order key) when it has
    /// one, so the next delivery of its lane goes once this one is delivered or dead. Says
    /// `false`, writing nothing, when this gateway no longer held the delivery.
    pub async fn finish_delivery(
        &self,
        id: String,
        outcome: DeliveryOutcome,
        lane: Option<(String, String)>,
    ) -> Result<bool, StoreError> {
        self.finish_attempt(id, outcome, lane, AttemptLog::default()).await
    }

    /// Writes this gateway's heartbeat and renews every lease it holds to `lease` from now: one
    /// statement per table, however much it holds.
    pub async fn renew(&self, me: NodeInfo, lease: Duration) -> Result<Renewed, StoreError> {
        self.submit(ops::Renew { me, lease }).await
    }

    /// Hands every lease this gateway holds back, due now, and marks it stopped: the last
    /// thing a stopping gateway does. Returns how many leases it held.
    pub async fn hand_back(&self) -> Result<u64, StoreError> {
        self.submit(ops::HandBack).await
    }

    /// The gateways sharing this store (a heartbeat older than `lease` shows as gone).
    pub async fn nodes(&self, lease: Duration) -> Result<Vec<Node>, StoreError> {
        self.submit(ops::Nodes { lease }).await
    }

    /// Hands a leased delivery back unattempted, due after `wait` (a limit held it back).
    pub async fn defer_delivery(&self, id: String, wait: Duration) -> Result<(), StoreError> {
        self.submit(ops::DeferDelivery { id, wait }).await
    }

    /// Parks a leased delivery of a paused destination, its attempts kept; `error` records a
    /// failed probe.
    pub async fn park_delivery(&self, id: String, error: Option<String>) -> Result<(), StoreError> {
        self.submit(ops::ParkDelivery { id, error }).await
    }

    /// Pauses `destination` and parks its waiting deliveries. A breaker pause does not replace
    /// an operator's. Says whether the destination was not paused before.
    pub async fn pause_destination(
        &self,
        destination: &str,
        by: PausedBy,
        reason: &str,
        probe_every: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let op = ops::Pause { destination: destination.into(), by, reason: reason.into(), probe_every };
        self.submit(op).await
    }

    /// Resumes `destination` (only a breaker pause when `breaker_only`), making its parked
    /// deliveries due again. Says whether it was paused.
    pub async fn resume_destination(&self, destination: &str, breaker_only: bool) -> Result<bool, StoreError> {
        self.submit(ops::Resume { destination: destination.into(), breaker_only }).await
    }

    pub async fn destination_pauses(&self) -> Result<Vec<DestinationPause>, StoreError> {
        self.submit(ops::Pauses).await
    }

    /// When `destination`'s breaker pause is due for a probe, takes the probe (the next one is
    /// `every` later, whichever gateway makes it) and leases its oldest parked delivery for it.
    pub async fn claim_probe(
        &self,
        destination: &str,
        every: Duration,
        lease: Duration,
    ) -> Result<Option<LeasedDelivery>, StoreError> {
        self.submit(ops::ClaimProbe { destination: destination.into(), every, lease }).await
    }

    /// Counts of each destination's deliveries by state.
    pub async fn destination_counts(&self) -> Result<std::collections::HashMap<String, DestinationCounts>, StoreError> {
        self.submit(ops::DestinationCountsOp).await
    }

    /// Runs stored events through routing and plugins again (see [`EventReplay`]).
    pub async fn replay_events(&self, replay: EventReplay) -> Result<Replayed, StoreError> {
        self.submit(ops::ReplayEvents { replay }).await
    }

    /// When the oldest stored event was received, if any is.
    pub async fn oldest_event_ms(&self) -> Result<Option<u64>, StoreError> {
        self.submit(ops::OldestEvent).await
    }

    /// From now on, fresh events (or deliveries, as `T` says) are stored leased for `lease`
    /// and handed to the returned receiver while it has room (at most `capacity` waiting).
    /// Call once per kind: from the dispatch loop for events, the delivery loop for deliveries.
    pub(crate) async fn hand<T: Handed>(
        &self,
        capacity: usize,
        lease: Duration,
    ) -> Result<handoff::Receiver<T>, StoreError> {
        let (tx, rx) = handoff::channel(capacity, lease);
        self.tx.send(T::register(tx)).await.map_err(|_| StoreError::Closed)?;
        Ok(rx)
    }

    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.submit(ops::DeadLetters { limit }).await
    }

    /// The newest `limit` events (ids are time-ordered), each with its deliveries.
    pub async fn recent_events(&self, limit: usize) -> Result<Vec<EventSummary>, StoreError> {
        self.submit(ops::RecentEvents { limit }).await
    }

    pub async fn replay(&self, selector: ReplaySelector) -> Result<u64, StoreError> {
        self.submit(ops::Replay { selector }).await
    }

    pub async fn prune(&self, older_than_ms: u64) -> Result<u64, StoreError> {
        self.submit(ops::Prune { older_than_ms }).await
    }

    pub async fn depth(&self) -> Result<Depth, StoreError> {
        self.submit(ops::CountDepth).await
    }

    /// Whether the store could write its last batch: `Err` says why not (the disk is full,
    /// the database is gone). Cheap: no query.
    pub fn health(&self) -> Result<(), StoreError> {
        self.shared.health.status()
    }

    /// Answers once the writer has run a batch after this call: it is not stuck (a read
    /// proves nothing about the writer on PostgreSQL, where reads have their own connection).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.submit(ops::Ping).await
    }

    /// Writes one row and commits: `Ok` proves the store writes now (and clears a failing
    /// [`Store::health`]).
    pub async fn probe(&self) -> Result<(), StoreError> {
        self.submit(ops::Probe).await
    }

    /// The live value of a plugin's key.
    pub async fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.submit(ops::KvGet { plugin: plugin.into(), key: key.into() }).await
    }

    /// A plugin's live keys starting with `prefix`, with their values, in byte order (at most
    /// `limit`, and at most 1000).
    pub async fn kv_list(&self, plugin: &str, prefix: &str, limit: u32) -> Result<Vec<KvEntry>, StoreError> {
        self.submit(ops::KvList { plugin: plugin.into(), prefix: prefix.into(), limit }).await
    }

    /// How many live keys a plugin holds.
    pub async fn kv_count(&self, plugin: &str) -> Result<u64, StoreError> {
        self.submit(ops::KvCount { plugin: plugin.into() }).await
    }

    /// Deletes a plugin's key (an operator's action); says whether it existed.
    pub async fn kv_delete(&self, plugin: &str, key: &str) -> Result<bool, StoreError> {
        self.submit(ops::KvDelete { plugin: plugin.into(), key: key.into() }).await
    }

    /// Time each batch took to execute and commit, for `/metrics`.
    pub fn commit_seconds(&self) -> &crate::metrics::Histogram {
        &self.shared.commit_seconds
    }

    /// Resolves when new events may be due (or at once if a wake-up is pending).
    pub async fn events_ready(&self) {
        self.shared.events_ready.notified().await
    }

    /// Resolves when new deliveries may be due (or at once if a wake-up is pending).
    pub async fn deliveries_ready(&self) {
        self.shared.deliveries_ready.notified().await
    }

    /// Sends an operation, waiting for room (only ingest refuses when full), and awaits its
    /// answer, given after its batch committed.
    pub(super) async fn submit<O: Op>(&self, op: O) -> Result<O::Output, StoreError> {
        let (reply, answer) = oneshot::channel();
        let to = if O::READS_ONLY { &self.reads } else { &self.tx };
        to.send(Message::Job(writer::job(op, reply))).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// What the writer can hand to a loop as it stores it.
pub(crate) trait Handed: Sized {
    fn register(sender: handoff::Sender<Self>) -> Message;
}

impl Handed for LeasedEvent {
    fn register(sender: handoff::Sender<Self>) -> Message {
        Message::HandEvents(sender)
    }
}

impl Handed for LeasedDelivery {
    fn register(sender: handoff::Sender<Self>) -> Message {
        Message::HandDeliveries(sender)
    }
}
