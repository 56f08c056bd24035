//! The store's operations, one [`Op`](super::writer::Op) each, written once in the SQL both
//! backends take (`sql.rs`): adding one is a struct, its `run` with its SQL, and a method on
//! [`Store`](super::Store). Grouped by what they touch:
//!
//! - `events.rs`: append (with dedup), lease, finish.
//! - `deliveries.rs`: create, lease, finish an attempt, hand one back unattempted (a limit) or
//!   park it (a paused destination).
//! - `ordering.rs`: ordered lanes: holds, seqs, promoting a lane's next delivery.
//! - `destinations.rs`: pausing, resuming and probing destinations; counts per destination.
//! - `inspect.rs`: dead letters, recent events, queue depth (read-only).
//! - `kv.rs`: plugins' key–value state: reads, a call's writes applied with its event, inspection.
//! - `maintain.rs`: replay dead letters and events, prune old work, probe that the store writes.
//! - `history.rs`: each delivery attempt kept; events found, named and read in full (the console).
//! - `nodes.rs`: the gateways sharing the store: heartbeats, lease renewal, hand-back, the list.

mod deliveries;
mod destinations;
mod events;
mod history;
mod inspect;
mod kv;
mod maintain;
mod nodes;
mod ordering;

pub(crate) use deliveries::{DeferDelivery, FinishDelivery, LeaseDeliveries, ParkDelivery};
pub(crate) use destinations::{ClaimProbe, DestinationCountsOp, Pause, Pauses, Resume};
pub(crate) use events::{Append, FinishEvent, LeaseEvents, ReleaseEvent};
pub(crate) use history::{EventNames, FindEvents, ReadEvent};
pub(crate) use inspect::{CountDepth, DeadLetters, RecentEvents};
pub use kv::MAX_LIST as KV_MAX_LIST;
pub(crate) use kv::{KvCount, KvDelete, KvGet, KvList};
pub(crate) use maintain::{OldestEvent, Ping, Probe, Prune, Replay, ReplayEvents};
pub(crate) use nodes::{HandBack, Nodes, Renew};
pub use nodes::{Node, NodeInfo, Renewed};

use super::StoreError;

/// The `(due_at_ms, lease_until_ms)` a new row is written with: due now, or leased to this
/// gateway until `leased_until` when it is being handed off — a leased row becomes due when
/// its lease ends, as with a lease taken by query (the visibility timeout both backends use).
fn new_row_times(now: i64, leased_until: Option<i64>) -> (i64, i64) {
    leased_until.map_or((now, 0), |until| (until, until))
}

/// A value as the JSON text a column holds.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(e.to_string()))
}

/// A JSON list column read back (headers, route names); unreadable text reads as empty.
fn json_list<T: serde::de::DeserializeOwned>(text: &str) -> Vec<T> {
    serde_json::from_str(text).unwrap_or_default()
}
