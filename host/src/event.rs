//! `Event`: one accepted webhook as the host carries it from ingest to dispatch.
//!
//! Plain data, cheap to clone (the body is shared `Bytes`). It must not know how it is stored
//! or routed.

use bytes::Bytes;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct Event {
    /// Stable across redeliveries: `evt_` + a time-ordered UUID.
    pub id: String,
    pub source: String,
    pub scope: String,
    /// Lower-case names, as received.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub received_at_ms: u64,
    /// How many `emit`s led to this event (0 for a webhook); bounded to stop emit loops.
    pub depth: u8,
    /// The webhook this event derives from through plugin `emit`s; `None` for a webhook. The
    /// store counts a tree's derived events on its root's row (`max_emits`).
    pub root: Option<String>,
    /// The W3C traceparent of the trace this event's work belongs to, when traces are
    /// exported: every gateway that works on it continues that trace.
    pub trace: Option<String>,
}

impl Event {
    pub fn new(source: &str, scope: String, headers: Vec<(String, String)>, body: Bytes) -> Self {
        Self {
            id: new_id("evt"),
            source: source.to_string(),
            scope,
            headers,
            body,
            received_at_ms: now_ms(),
            depth: 0,
            root: None,
            trace: None,
        }
    }
}

/// A new unique, time-ordered id with a prefix: `evt_0190…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
