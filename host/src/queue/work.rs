//! The work the store keeps and hands out, as its callers see it: what an append carries and
//! did, a delivery to be made, work leased to a loop, what dispatch and delivery decided, a
//! call's kv writes, pauses, and which events or dead letters to run again. Plain data: the
//! operations that read and write it are in `ops/`, the handle that sends them in `handle.rs`.

use crate::event::Event;
use bytes::Bytes;
use std::time::Duration;

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

/// Which dead letters to send again.
#[derive(Debug, Clone)]
pub enum ReplaySelector {
    Id(String),
    All,
    Destination(String),
}
