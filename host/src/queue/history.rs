//! What operators read of the store: recent events and their deliveries, dead letters, depth,
//! counts per destination, plugins' kv entries; and an event's history for the console:
//! events found by source, state and time, and one event in full — its headers and body, its
//! deliveries, and every attempt of each.
//!
//! Attempts are written by [`Store::finish_attempt`], in the transaction that records the
//! attempt's outcome, so the history never disagrees with a delivery's state. This file holds
//! the types and the [`Store`] methods; the SQL is in `ops/history.rs`. Nothing here is on the
//! ingest path, and nothing here interprets a body or a header: the console decides what to
//! show and what to mask.

use super::{DeliveryOutcome, Store, StoreError, ops};

/// Per destination, what the store holds for it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DestinationCounts {
    pub pending: u64,
    pub paused: u64,
    pub waiting: u64,
    pub dead: u64,
}

/// A key and its value, as operators list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    pub key: String,
    pub value: Vec<u8>,
    pub expires_at_ms: Option<u64>,
    pub updated_at_ms: u64,
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

/// What the delivery loop measured of one attempt, stored with its outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptLog {
    /// How long the request (or publish) took; `None` when nothing was sent.
    pub duration_ms: Option<u64>,
    /// The destination's HTTP status, when it answered.
    pub status: Option<u16>,
}

/// Which events to find, newest first. Empty strings and zero times mean "any".
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub source: String,
    /// pending | done | dead, or "" for any.
    pub state: String,
    /// Received at or after, before (Unix ms); 0 for no bound.
    pub since_ms: u64,
    pub until_ms: u64,
    /// Only events older than this id (the next page); "" for the newest.
    pub before_id: String,
    /// Rows read at most; the caller filters them further (by scope pattern) and keeps fewer.
    pub scan: usize,
}

/// One stored event in full, for the console's event page.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub summary: EventSummary,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Routes finished in earlier tries (their plugins ran and their deliveries are stored).
    pub routes_done: Vec<String>,
    /// The webhook this event derives from through plugin emits.
    pub root_id: Option<String>,
    pub replays: u32,
    /// What its plugins logged, from the last try in which any did.
    pub plugin_log: Vec<super::PluginLogLine>,
    pub deliveries: Vec<DeliveryRecord>,
}

/// One delivery of an event, with every attempt made.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub summary: DeliverySummary,
    /// When the delivery is next due (pending deliveries only).
    pub due_at_ms: Option<u64>,
    pub attempts: Vec<AttemptRecord>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub at_ms: u64,
    pub duration_ms: Option<u64>,
    pub status: Option<u16>,
    /// delivered | retry | dead
    pub outcome: String,
    pub error: Option<String>,
    pub next_at_ms: Option<u64>,
}

impl Store {
    /// [`Store::finish_delivery`], keeping what was measured of the attempt in its history.
    pub async fn finish_attempt(
        &self,
        id: String,
        outcome: DeliveryOutcome,
        lane: Option<(String, String)>,
        log: AttemptLog,
    ) -> Result<bool, StoreError> {
        self.submit(ops::FinishDelivery { id, outcome, lane, log }).await.map(|promoted| promoted.is_some())
    }

    /// Events matching `query`, newest first, each with its deliveries.
    pub async fn find_events(&self, query: EventQuery) -> Result<Vec<EventSummary>, StoreError> {
        self.submit(ops::FindEvents { query }).await
    }

    /// An event's source and scope, or `None` when it is not stored.
    pub async fn event_names(&self, id: &str) -> Result<Option<(String, String)>, StoreError> {
        self.submit(ops::EventNames { id: id.to_owned() }).await
    }

    /// One event in full, or `None` when it is not stored (pruned, or never accepted).
    pub async fn event_record(&self, id: &str) -> Result<Option<EventRecord>, StoreError> {
        self.submit(ops::ReadEvent { id: id.to_owned() }).await
    }
}
