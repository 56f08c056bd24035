//! Counters of what the gateway did, shared by ingest, dispatch and delivery.
//!
//! Plain atomics, updated on the hot path without locks; read by tests and (later) rendered
//! for Prometheus by the admin listener. It never holds event data.

use std::sync::atomic::{AtomicU64, Ordering};

/// Labels of plugin failures, in the order of [`Metrics::plugin_failures`].
pub const PLUGIN_FAILURE_KINDS: [&str; 6] = ["timeout", "memory", "trap", "output", "retry_later", "failed"];

#[derive(Debug, Default)]
pub struct Metrics {
    /// Webhooks answered 200.
    pub accepted: AtomicU64,
    /// Webhooks answered 200 as duplicates of an event already accepted (not processed again).
    pub duplicates: AtomicU64,
    /// Webhooks refused (4xx) or shed (503).
    pub refused: AtomicU64,
    pub shed: AtomicU64,
    /// Events that matched no route.
    pub unrouted: AtomicU64,
    /// Plugin calls that returned actions.
    pub plugin_calls: AtomicU64,
    /// Plugin calls that failed, by [`PLUGIN_FAILURE_KINDS`].
    pub plugin_failures: [AtomicU64; 6],
    pub dropped: AtomicU64,
    pub delivered: AtomicU64,
    pub delivery_failures: AtomicU64,
    /// Deliveries and events moved to the dead-letter queue.
    pub dead_letters: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn plugin_failed(&self, kind: &str) {
        if let Some(i) = PLUGIN_FAILURE_KINDS.iter().position(|k| *k == kind) {
            Self::inc(&self.plugin_failures[i]);
        }
    }

    /// Failures of one kind so far.
    pub fn plugin_failures(&self, kind: &str) -> u64 {
        PLUGIN_FAILURE_KINDS
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.plugin_failures[i].load(Ordering::Relaxed))
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
