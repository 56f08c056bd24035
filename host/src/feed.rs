//! The live feed: what happens to events as it happens — accepted by ingest, routed by
//! dispatch, delivered, failed or dead in delivery — for the console and `switchyard tail`.
//!
//! One bounded `tokio::sync::broadcast` channel. Publishing never waits and never grows a
//! buffer: with nobody listening it builds nothing (one atomic load), and a listener that falls
//! more than [`CAPACITY`] happenings behind skips the ones it missed and is told how many
//! (`RecvError::Lagged`). Every publish also counts its kind ([`Feed::counts`]), listened to
//! or not: what a reader that needs only "how many, of what" (the console's digest) reads,
//! without the gateway building a happening per event for it. Listeners and watchers together
//! are capped at [`MAX_LISTENERS`]. The feed carries ids, names, statuses and error text —
//! never a body or a header.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};

/// Happenings a listener may fall behind by before it skips: a second of a busy gateway.
pub const CAPACITY: usize = 4096;

/// Listeners at once (console tabs and `tail`s); one more is refused rather than queued.
pub const MAX_LISTENERS: usize = 32;

/// Longest error text a happening carries (the store keeps the whole of it).
const MAX_ERROR_CHARS: usize = 500;

/// What became of an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Ingest stored it (answered 200).
    #[default]
    Accepted,
    /// Dispatch matched its routes, ran their plugins and stored the deliveries.
    Routed,
    /// A delivery attempt succeeded.
    Delivered,
    /// A delivery attempt failed and will be retried, or a plugin asked to retry the event.
    Failed,
    /// A delivery or an event became a dead letter.
    Dead,
}

impl Kind {
    /// Every kind, in the order of [`Counts`].
    pub const ALL: [Kind; 5] = [Kind::Accepted, Kind::Routed, Kind::Delivered, Kind::Failed, Kind::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Accepted => "accepted",
            Kind::Routed => "routed",
            Kind::Delivered => "delivered",
            Kind::Failed => "failed",
            Kind::Dead => "dead",
        }
    }

    /// Failed and dead: what `tail --failed` shows.
    pub fn is_failure(self) -> bool {
        matches!(self, Kind::Failed | Kind::Dead)
    }
}

/// One thing that happened to one event. Delivery happenings carry no source or scope (the
/// delivery loop does not load the event); listeners fill them in from the event's earlier
/// happenings when they saw them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Happening {
    pub kind: Kind,
    pub at_ms: u64,
    pub event_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Routed: the routes the event went to, with each one's destinations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Happening {
    /// A happening of `kind` to `event_id`, now.
    pub fn new(kind: Kind, event_id: &str) -> Self {
        Self { kind, at_ms: crate::event::now_ms(), event_id: event_id.to_owned(), ..Self::default() }
    }

    /// Keeps the first [`MAX_ERROR_CHARS`] characters of `error`.
    pub fn with_error(mut self, error: &str) -> Self {
        self.error = Some(error.chars().take(MAX_ERROR_CHARS).collect());
        self
    }
}

/// How many happenings of each kind were published since the gateway started, indexed as
/// [`Kind::ALL`].
pub type Counts = [u64; 5];

/// The publishing end, shared by ingest, dispatch, delivery and the admin listener.
#[derive(Debug, Clone)]
pub struct Feed {
    tx: broadcast::Sender<Arc<Happening>>,
    listeners: Arc<Semaphore>,
    counts: Arc<[AtomicU64; 5]>,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            tx: broadcast::Sender::new(CAPACITY),
            listeners: Arc::new(Semaphore::new(MAX_LISTENERS)),
            counts: Arc::default(),
        }
    }
}

/// A listener's place: its receiver, and the permit that counts it.
pub struct Listener {
    pub rx: broadcast::Receiver<Arc<Happening>>,
    _permit: OwnedSemaphorePermit,
}

/// A place for a reader of [`Feed::counts`] alone: it takes one of [`MAX_LISTENERS`] but
/// receives nothing, so publishers still build nothing for it.
pub struct Watcher {
    _permit: OwnedSemaphorePermit,
}

impl Feed {
    /// Counts a happening of `kind`, and publishes the one `make` builds when someone listens.
    pub fn publish(&self, kind: Kind, make: impl FnOnce() -> Happening) {
        self.counts[kind as usize].fetch_add(1, Ordering::Relaxed);
        if self.tx.receiver_count() > 0 {
            // An error means the last listener left in between: nobody to tell.
            let _ = self.tx.send(Arc::new(make()));
        }
    }

    /// Happenings published so far, by kind.
    pub fn counts(&self) -> Counts {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }

    /// A place to read [`Feed::counts`] from, or `None` when [`MAX_LISTENERS`] are taken.
    pub fn watch(&self) -> Option<Watcher> {
        let permit = self.listeners.clone().try_acquire_owned().ok()?;
        Some(Watcher { _permit: permit })
    }

    /// Whether anyone listens: publishers skip building what nobody reads.
    pub fn listened(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// A new listener, or `None` when [`MAX_LISTENERS`] are listening already.
    pub fn listen(&self) -> Option<Listener> {
        let permit = self.listeners.clone().try_acquire_owned().ok()?;
        Some(Listener { rx: self.tx.subscribe(), _permit: permit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::TryRecvError;

    #[test]
    fn nothing_is_built_while_nobody_listens() {
        let feed = Feed::default();
        let mut built = false;
        feed.publish(Kind::Accepted, || {
            built = true;
            Happening::new(Kind::Accepted, "evt_1")
        });
        assert!(!built);
        assert_eq!(feed.counts(), [1, 0, 0, 0, 0], "counted all the same");
    }

    #[test]
    fn counts_follow_kinds_and_watchers_take_places() {
        let feed = Feed::default();
        for kind in [Kind::Accepted, Kind::Routed, Kind::Delivered, Kind::Delivered, Kind::Failed, Kind::Dead] {
            feed.publish(kind, || Happening::new(kind, "evt_1"));
        }
        assert_eq!(feed.counts(), [1, 1, 2, 1, 1]);
        let watchers: Vec<Watcher> = (0..MAX_LISTENERS).filter_map(|_| feed.watch()).collect();
        assert_eq!(watchers.len(), MAX_LISTENERS);
        assert!(feed.listen().is_none(), "watchers and listeners share the cap");
        assert!(!feed.listened(), "a watcher receives nothing, so nothing is built for it");
    }

    #[test]
    fn a_listener_that_falls_behind_skips_and_is_told_how_many() {
        let feed = Feed::default();
        let Some(mut listener) = feed.listen() else { panic!("no listener") };
        for i in 0..CAPACITY + 10 {
            feed.publish(Kind::Accepted, || Happening::new(Kind::Accepted, &format!("evt_{i}")));
        }
        assert_eq!(listener.rx.try_recv().err(), Some(TryRecvError::Lagged(10)));
        let next = listener.rx.try_recv().map(|h| h.event_id.clone());
        assert_eq!(next.ok().as_deref(), Some("evt_10"));
    }

    #[test]
    fn listeners_are_capped_and_a_place_frees_when_one_leaves() {
        let feed = Feed::default();
        let held: Vec<Listener> = (0..MAX_LISTENERS).filter_map(|_| feed.listen()).collect();
        assert_eq!(held.len(), MAX_LISTENERS);
        assert!(feed.listen().is_none());
        drop(held);
        assert!(feed.listen().is_some());
    }

    #[test]
    fn errors_are_cut_to_a_bounded_length() {
        let h = Happening::new(Kind::Failed, "evt_1").with_error(&"x".repeat(10_000));
        assert_eq!(h.error.map(|e| e.chars().count()), Some(MAX_ERROR_CHARS));
    }
}
