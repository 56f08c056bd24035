//! The durable store: events, deliveries and dead letters, behind one handle.
//!
//! [`Store`] is a cheap, cloneable handle that sends operations to a writer thread, which runs
//! every operation waiting in one transaction — so many concurrent appends share one commit
//! and one fsync (group commit, `writer.rs`). On PostgreSQL the operations that only read go
//! to a second, read-only connection with a thread of its own, so they wait for no commit.
//! Each caller gets its answer through a oneshot, after the commit. Each operation (`ops/`) is written once, in SQL both backends take
//! (`sql.rs`); the backends connect and bind: the embedded one (`sqlite.rs`) for one gateway,
//! the shared one (`postgres.rs`) for several gateways on one database. [`Store::open`] picks
//! one by the url.
//!
//! The model is at-least-once: work is *leased* (hidden from other workers until the lease
//! expires) and completed explicitly; a crash leaves leases that expire, and the work is done
//! again with the same event and delivery ids. This module never speaks HTTP and never runs
//! plugins.
//!
//! Deduplication lives here too: an append may carry a [`Dedup`] key, and the backend checks
//! and records it in the same transaction as the event, so a key is held exactly when its event
//! is durable — a crash or a full backlog can neither lose a key of an acknowledged event nor
//! keep one for an event that was refused.

mod checkpointer;
#[cfg(test)]
mod contract;
#[cfg(test)]
mod contract_history;
pub mod handoff;
mod history;
mod ops;
mod pg_tls;
mod postgres;
mod sql;
mod sqlite;
mod writer;

pub use history::{AttemptLog, AttemptRecord, DeliveryRecord, EventQuery, EventRecord};
pub use ops::{KV_MAX_LIST, Node, NodeInfo, Renewed};
pub use postgres::open_postgres;
pub use sqlite::{open_sqlite, open_sqlite_shared};

use crate::event::Event;
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};
use writer::{Message, Op};

/// Commands waiting for the backend at most; past this, ingest answers 503.
pub const BACKLOG: usize = 8192;

/// How long after leasing an event a gateway stops renewing it: the longest plugin call (60 s)
/// fits twice. Work lost inside a live gateway comes back after this.
pub const EVENT_LEASE: Duration = Duration::from_secs(2 * 60);

/// How long after leasing a delivery a gateway stops renewing it: one attempt (a destination
/// waits 600 s at most) fits.
pub const DELIVERY_LEASE: Duration = Duration::from_secs(11 * 60);

/// A fresh node id for a gateway starting now: `node-` and 12 random hex digits. New at every
/// start, so a restarted gateway never mistakes its predecessor's leases for its own.
pub(crate) fn new_node_id() -> Arc<str> {
    Arc::from(format!("node-{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff))
}

/// A duration in whole milliseconds, as the stores keep times (saturating, never wrapping).
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Why a store operation did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Too many writes are waiting: answer 503, do not buffer.
    #[error("the store is at capacity")]
    Busy,
    /// The backend has stopped (shutdown, or a fatal database error logged before).
    #[error("the store is closed")]
    Closed,
    /// The operation failed; the store itself works (a constraint, a value refused).
    #[error("database error: {0}")]
    Database(String),
    /// The database cannot be written at all right now (the disk is full, an I/O error, the
    /// connection is lost); every operation fails until it can again.
    #[error("the store cannot write: {0}")]
    Unavailable(String),
    /// The database file was deleted or replaced while the gateway was using it: nothing
    /// written from now on would survive a restart, so nothing is written.
    #[error("the store's database is gone: {0}")]
    Lost(String),
    #[error("cannot open the store at {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("unsupported storage url `{0}`: use sqlite://PATH or postgres://USER@HOST/DATABASE")]
    Url(String),
}

/// Whether `url` names a PostgreSQL database (`postgres://…` or `postgresql://…`).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The file a `sqlite://PATH` url names, relative paths resolved against `base`.
pub fn sqlite_path(url: &str, base: &std::path::Path) -> Result<PathBuf, StoreError> {
    let path = url.strip_prefix("sqlite://").ok_or_else(|| StoreError::Url(url.to_string()))?;
    if path.is_empty() {
        return Err(StoreError::Url(url.to_string()));
    }
    Ok(base.join(path))
}

/// An append's deduplication key: while an unexpired key is held, an event carrying the same
/// key is a duplicate of the one that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dedup {
    /// A fingerprint of the source and the provider's id (or body hash); what it hashes is
    /// ingest's business, the store only compares it.
    pub key: [u8; 32],
    /// How long after this event the key makes repeats duplicates.
    pub window: Duration,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// The event is durable (and holds its dedup key, if it carried one).
    Stored,
    /// A live event holds the dedup key: nothing was stored; `original_id` is that event.
    Duplicate { original_id: String },
}

/// A delivery to be created when an event's routes are done.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub event_id: String,
    pub route: String,
    pub destination: String,
    pub body: Bytes,
    pub headers: Vec<(String, String)>,
    /// Deliveries of one route to one destination with the same key go out one at a time, in
    /// their events' acceptance order (`ops/ordering.rs`).
    pub order_key: Option<String>,
    /// The names a broker destination's template is rendered from; `None` for HTTP.
    pub vars: Option<crate::config::model::NameVars>,
    /// Its event's trace (a W3C traceparent), continued by each attempt; `None` untraced.
    pub trace: Option<String>,
}

/// An accepted event's place in the ordered lanes of `route` for `key`: a later event's
/// deliveries there wait until this event's dispatch of the route has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub route: String,
    pub key: String,
}

/// A destination the store holds paused: its deliveries wait, keeping their attempts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DestinationPause {
    pub destination: String,
    pub paused_by: PausedBy,
    pub reason: String,
    pub since_ms: u64,
    /// When a breaker pause is next probed with one delivery.
    pub probe_at_ms: Option<u64>,
}

/// Who paused a destination: the breaker resumes it on a successful probe; an operator's pause
/// lasts until an operator resumes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PausedBy {
    Breaker,
    Operator,
}

impl PausedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            PausedBy::Breaker => "breaker",
            PausedBy::Operator => "operator",
        }
    }
}

/// Which stored events to run through routing and plugins again.
#[derive(Debug, Clone, Default)]
pub struct EventReplay {
    /// One event by id (the other filters then do not apply).
    pub event: Option<String>,
    /// Received at or after, before (Unix ms).
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
    pub source: Option<String>,
    pub state: ReplayState,
    /// Routes the replay must not run again (all but the one asked for, with `--route`).
    pub skip_routes: Vec<String>,
    /// Only say which events would be replayed.
    pub dry_run: bool,
    /// Events one call replays at most (a caller repeats until none is left).
    pub limit: usize,
}

/// Which finished events a replay takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplayState {
    /// Dead events, and events with a dead delivery.
    Dead,
    /// Events whose deliveries were all delivered.
    Delivered,
    /// Every finished event.
    #[default]
    Any,
}

/// What a replay call found: the events it replayed (or would, on a dry run), at most `limit`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Replayed {
    pub events: Vec<String>,
    /// With `event`: why that one was not replayed (not stored, still pending).
    pub refused: Option<String>,
    /// With `event`: it is not stored (pruned, or never accepted).
    pub not_stored: bool,
}

/// Per destination, what the store holds for it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DestinationCounts {
    pub pending: u64,
    pub paused: u64,
    pub waiting: u64,
    pub dead: u64,
}

/// A delivery leased for an attempt.
#[derive(Debug, Clone)]
pub struct LeasedDelivery {
    pub delivery: NewDelivery,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// An event leased for dispatch, with the routes already done in earlier tries.
#[derive(Debug, Clone)]
pub struct LeasedEvent {
    pub event: Event,
    pub attempts: u32,
    pub routes_done: Vec<String>,
    /// Whether the event holds places in ordered lanes (released when its routes end).
    pub held: bool,
    /// How many times the event was replayed: deliveries of a replay get new ids.
    pub replays: u32,
}

/// What dispatch produced for one leased event, committed in one transaction.
#[derive(Debug, Default)]
pub struct EventOutcome {
    /// Deliveries to create.
    pub deliveries: Vec<NewDelivery>,
    /// Derived events (plugin `emit`s) to append.
    pub emitted: Vec<Event>,
    /// How many derived events the whole tree under the webhook may hold (the smallest
    /// `max_emits` of the plugins that emitted here); checked and counted with the commit.
    pub max_emits: u32,
    /// Every route finished so far, including earlier tries: a retry skips them.
    pub routes_done: Vec<String>,
    /// Key–value writes of the plugin calls that succeeded in this try.
    pub kv: Vec<KvWrite>,
    pub next: EventNext,
    /// Whether the event holds places in ordered lanes (as leased).
    pub held: bool,
    /// Places the derived events take in ordered lanes, by their index in `emitted`.
    pub holds: Vec<(usize, Hold)>,
    /// What the plugins called in this try logged (kept with the event when not empty).
    pub plugin_log: Vec<PluginLogLine>,
}

/// One line a plugin logged while handling an event, kept for the console's event page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginLogLine {
    pub route: String,
    pub plugin: String,
    /// trace | debug | info | warn | error, or stderr for what it printed there.
    pub level: String,
    pub message: String,
}

/// One change a plugin call made to its key–value state, applied with its event's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvWrite {
    pub plugin: String,
    pub key: String,
    pub op: KvOp,
}

/// What a key–value write does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOp {
    /// The key holds `value`, forgotten `ttl_ms` after the commit when given.
    Set {
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    },
    Delete,
    /// Adds to the decimal integer under the key (absent counts as 0).
    Add(i64),
}

/// A key and its value, as operators list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    pub key: String,
    pub value: Vec<u8>,
    pub expires_at_ms: Option<u64>,
    pub updated_at_ms: u64,
}

/// What finishing an event recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// The outcome as dispatch gave it.
    Recorded,
    /// This gateway no longer held the event (it froze or was cut off past its lease, and
    /// another gateway took the event over): nothing was written.
    LeaseLost,
    /// Its derived events would have taken the webhook's tree past `max_emits`: none was
    /// written, nor any delivery, and the event is a dead letter with `error`. `first` says
    /// whether this is the first refusal for the tree (the one worth a log line).
    OverEmitLimit { error: String, first: bool },
}

/// What becomes of the event itself.
#[derive(Debug, Default)]
pub enum EventNext {
    /// Every route ran.
    #[default]
    Done,
    /// A plugin asked to retry later: lease the event again after `retry_in`.
    Retry { retry_in: Duration, error: String },
    /// A plugin failed the event, or its retries ran out: dead letter (replayable).
    Dead { error: String },
}

/// What one delivery attempt decided.
#[derive(Debug, Clone)]
pub enum DeliveryOutcome {
    Delivered,
    Retry { retry_in: Duration, error: String },
    Dead { error: String },
}

/// One dead letter, as `dlq list` and the admin API show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetter {
    /// `dlv_…` for a delivery, `evt_…` for an event that no plugin could handle.
    pub id: String,
    pub event_id: String,
    pub kind: &'static str,
    pub route: Option<String>,
    pub destination: Option<String>,
    pub scope: Option<String>,
    pub attempts: u32,
    pub error: String,
    pub updated_at_ms: u64,
}

/// One recent event and what became of it, for the admin API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventSummary {
    pub id: String,
    pub source: String,
    pub scope: String,
    /// pending | done | dead
    pub state: String,
    pub attempts: u32,
    pub received_at_ms: u64,
    pub last_error: Option<String>,
    pub deliveries: Vec<DeliverySummary>,
}

/// One delivery of a recent event.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliverySummary {
    pub id: String,
    pub route: String,
    pub destination: String,
    /// pending | delivered | dead
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// Which dead letters to send again.
#[derive(Debug, Clone)]
pub enum ReplaySelector {
    Id(String),
    All,
    Destination(String),
}

/// Counts for readiness, metrics and tests.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Depth {
    pub events_pending: u64,
    pub deliveries_pending: u64,
    /// Deliveries of paused destinations, and those waiting behind their lane's head.
    pub deliveries_held: u64,
    pub dead: u64,
    /// Age in ms of the oldest due, unleased work (0 when none).
    pub oldest_due_ms: u64,
}

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

    fn new(tx: mpsc::Sender<Message>, node: Arc<str>) -> Self {
        Self { reads: tx.clone(), tx, shared: Arc::new(Shared { node, ..Shared::default() }) }
    }

    /// This store, with its read-only operations sent to `reader`'s thread instead.
    fn with_reader(self, reader: Store) -> Self {
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

    /// From now on, fresh events are stored leased for `lease` and handed to the returned
    /// receiver while it has room (at most `capacity` waiting); call once, from the dispatch loop.
    pub async fn hand_events(
        &self,
        capacity: usize,
        lease: Duration,
    ) -> Result<handoff::Receiver<LeasedEvent>, StoreError> {
        self.hand(capacity, lease, Message::HandEvents).await
    }

    /// As [`Store::hand_events`], for the deliveries dispatch creates; call once, from the
    /// delivery loop.
    pub async fn hand_deliveries(
        &self,
        capacity: usize,
        lease: Duration,
    ) -> Result<handoff::Receiver<LeasedDelivery>, StoreError> {
        self.hand(capacity, lease, Message::HandDeliveries).await
    }

    async fn hand<T>(
        &self,
        capacity: usize,
        lease: Duration,
        register: fn(handoff::Sender<T>) -> Message,
    ) -> Result<handoff::Receiver<T>, StoreError> {
        let (tx, rx) = handoff::channel(capacity, lease);
        self.tx.send(register(tx)).await.map_err(|_| StoreError::Closed)?;
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
    async fn submit<O: Op>(&self, op: O) -> Result<O::Output, StoreError> {
        let (reply, answer) = oneshot::channel();
        let to = if O::READS_ONLY { &self.reads } else { &self.tx };
        to.send(Message::Job(writer::job(op, reply))).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}
