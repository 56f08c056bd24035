//! `GET /api/stream?source=S&scope=PATTERN&failed=true`: the live feed as server-sent events,
//! one `event: accepted|routed|delivered|failed|dead` with a JSON `data:` line per happening.
//! The console's pages and `switchyard tail` read it.
//!
//! With `digest=MS` a stream sends, instead, at most one `event: digest` per MS milliseconds,
//! counting the happenings of each kind since the last: what the console reads, since it only
//! needs to know that something changed (a page at 4,000 events/s would otherwise parse 12,000
//! messages a second). A digest without a source or scope filter reads the feed's counters
//! ([`crate::feed::Feed::counts`]) once per interval and listens to nothing, so the console
//! open costs the gateway nothing per event; with one, it counts the happenings that pass.
//! A stream listens to [`crate::feed::Feed`]: when its reader is slow, the feed skips ahead and
//! the stream says so with one `event: lagged` (`data:` how many were skipped) — the gateway
//! never waits for a reader and keeps nothing for it. Streams are capped (503 past
//! [`crate::feed::MAX_LISTENERS`]) and end when the gateway shuts down. Delivery happenings
//! name no source or scope; a stream fills them in from the event's `accepted` or `routed`
//! happening when it saw one (it remembers the last [`NAMES_KEPT`] events). With a source or
//! scope filter, a delivery of an event it never saw (accepted before the stream opened: a
//! retry of an older event) is named from the store, at most [`LOOKUPS_PER_SECOND`] events a
//! second per stream; past that budget it is left out, and the stream says how many with
//! `event: unnamed`.

use super::error;
use super::filter::Filter;
use crate::feed::{Happening, Kind, Listener};
use crate::shared::Shared;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Events whose source and scope a stream remembers, to name their deliveries.
pub const NAMES_KEPT: usize = 10_000;

/// Events a filtered stream may look up in the store per second, to name their deliveries.
pub const LOOKUPS_PER_SECOND: u32 = 20;

/// A comment line this often keeps proxies and idle timeouts from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Bounds of `?digest=MS`.
const DIGEST_MIN: Duration = Duration::from_millis(100);
const DIGEST_MAX: Duration = Duration::from_secs(10);

/// `?source=&scope=&failed=&digest=MS`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    source: Option<String>,
    scope: Option<String>,
    #[serde(default)]
    failed: bool,
    /// Instead of each happening, at most one `event: digest` per this many milliseconds with
    /// how many of each kind passed the filter (the console only needs to know what changed).
    digest: Option<u64>,
}

pub async fn stream(State(shared): State<Shared>, Query(q): Query<StreamQuery>) -> Response {
    let filter = match Filter::new(q.source.as_deref(), q.scope.as_deref(), q.failed) {
        Ok(filter) => filter,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let too_many = || error(StatusCode::SERVICE_UNAVAILABLE, "too many live streams are open; close one and try again");
    let digest = q.digest.map(|ms| Duration::from_millis(ms).clamp(DIGEST_MIN, DIGEST_MAX));
    if let Some(every) = digest
        && !filter.by_name()
    {
        let Some(watcher) = shared.feed.watch() else { return too_many() };
        let tally = Tally {
            feed: shared.feed.clone(),
            _watcher: watcher,
            failed_only: q.failed,
            every,
            last: shared.feed.counts(),
            stopping: shared.shutdown.clone(),
        };
        return sse(futures_util::stream::unfold(tally, |mut tally| async move {
            let event = tally.next().await?;
            Some((Ok::<_, Infallible>(event), tally))
        }));
    }
    let Some(listener) = shared.feed.listen() else { return too_many() };
    let lookups = Lookups { store: shared.store.clone(), window: tokio::time::Instant::now(), spent: 0, unnamed: 0 };
    let follow =
        Follow { listener, filter, names: Names::default(), lookups, stopping: shared.shutdown.clone(), digest };
    sse(futures_util::stream::unfold(follow, |mut follow| async move {
        let event = follow.next().await?;
        Some((Ok::<_, Infallible>(event), follow))
    }))
}

fn sse(events: impl futures_util::Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response()
}

/// An unfiltered digest: the feed's counters read once per interval, nothing received.
struct Tally {
    feed: crate::feed::Feed,
    _watcher: crate::feed::Watcher,
    failed_only: bool,
    every: Duration,
    /// The counts at the last digest sent (or at the start).
    last: crate::feed::Counts,
    stopping: CancellationToken,
}

impl Tally {
    /// The counts since the last digest, once an interval has passed with some; `None` at
    /// shutdown.
    async fn next(&mut self) -> Option<Event> {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.stopping.cancelled() => return None,
            }
            let now = self.feed.counts();
            let counts: BTreeMap<&'static str, u64> = Kind::ALL
                .iter()
                .zip(now.iter().zip(self.last.iter()))
                .filter(|(kind, _)| !self.failed_only || kind.is_failure())
                .map(|(kind, (now, last))| (kind.as_str(), now.saturating_sub(*last)))
                .filter(|(_, n)| *n > 0)
                .collect();
            self.last = now;
            if !counts.is_empty() {
                return Event::default().event("digest").json_data(&counts).ok();
            }
        }
    }
}

/// One stream's state: its place in the feed, what it shows, and the names it has seen.
struct Follow {
    listener: Listener,
    filter: Filter,
    names: Names,
    lookups: Lookups,
    stopping: CancellationToken,
    /// Send counts at most this often instead of each happening.
    digest: Option<Duration>,
}

impl Follow {
    /// The next event to send, or `None` when the stream ends (shutdown).
    async fn next(&mut self) -> Option<Event> {
        match self.digest {
            Some(every) => self.next_digest(every).await,
            None => self.next_each().await,
        }
    }

    /// The counts of the happenings that pass, by kind, once `every` has passed and some did.
    async fn next_digest(&mut self, every: Duration) -> Option<Event> {
        let mut counts: BTreeMap<&'static str, u64> = Default::default();
        let mut tick = tokio::time::Instant::now() + every;
        loop {
            let received = tokio::select! {
                received = self.listener.rx.recv() => received,
                _ = tokio::time::sleep_until(tick) => {
                    if counts.is_empty() {
                        tick += every;
                        continue;
                    }
                    return Event::default().event("digest").json_data(&counts).ok();
                }
                _ = self.stopping.cancelled() => return None,
            };
            match received {
                Ok(happening) => {
                    // Counting needs the names only to filter by them.
                    let happening = if self.filter.by_name() { self.named(happening).await } else { happening };
                    if let Some(unnamed) = self.lookups.take_unnamed() {
                        *counts.entry("unnamed").or_default() += unnamed;
                    }
                    if self.filter.passes(&happening) {
                        *counts.entry(happening.kind.as_str()).or_default() += 1;
                    }
                }
                Err(RecvError::Lagged(skipped)) => *counts.entry("lagged").or_default() += skipped,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    async fn next_each(&mut self) -> Option<Event> {
        loop {
            let received = tokio::select! {
                received = self.listener.rx.recv() => received,
                _ = self.stopping.cancelled() => return None,
            };
            match received {
                Ok(happening) => {
                    let happening = self.named(happening).await;
                    if !self.filter.passes(&happening) {
                        if let Some(unnamed) = self.lookups.take_unnamed() {
                            return Some(Event::default().event("unnamed").data(unnamed.to_string()));
                        }
                        continue;
                    }
                    match Event::default().event(happening.kind.as_str()).json_data(&*happening) {
                        Ok(event) => return Some(event),
                        Err(e) => tracing::debug!(error = %e, "a happening could not be written as JSON"),
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    return Some(Event::default().event("lagged").data(skipped.to_string()));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// The happening with its event's names: from the events this stream saw, or, when it
    /// filters by name, from the store within the lookup budget.
    async fn named(&mut self, happening: Arc<Happening>) -> Arc<Happening> {
        let happening = self.names.fill(happening);
        if happening.source.is_some() || !self.filter.by_name() {
            return happening;
        }
        match self.lookups.names(&happening.event_id).await {
            Some((source, scope)) => {
                let named = Happening { source: Some(source), scope: Some(scope), ..Happening::clone(&happening) };
                self.names.fill(Arc::new(named))
            }
            None => happening,
        }
    }
}

/// A filtered stream's lookups of events it never saw, at most [`LOOKUPS_PER_SECOND`].
struct Lookups {
    store: crate::queue::Store,
    window: tokio::time::Instant,
    spent: u32,
    /// Deliveries left unnamed (budget spent, event pruned, store unreadable) and not yet told.
    unnamed: u64,
}

impl Lookups {
    /// The source and scope of event `id`, or `None` past the budget or when it is not stored.
    async fn names(&mut self, id: &str) -> Option<(String, String)> {
        let now = tokio::time::Instant::now();
        if now.duration_since(self.window) >= Duration::from_secs(1) {
            (self.window, self.spent) = (now, 0);
        }
        if self.spent >= LOOKUPS_PER_SECOND {
            self.unnamed += 1;
            return None;
        }
        self.spent += 1;
        let found = self.store.event_names(id).await.ok().flatten();
        if found.is_none() {
            self.unnamed += 1;
        }
        found
    }

    /// How many deliveries were left unnamed since last asked, if any.
    fn take_unnamed(&mut self) -> Option<u64> {
        (self.unnamed > 0).then(|| std::mem::take(&mut self.unnamed))
    }
}

/// Source and scope of the last [`NAMES_KEPT`] events seen, oldest forgotten first.
#[derive(Default)]
struct Names {
    by_event: HashMap<String, (String, String)>,
    order: VecDeque<String>,
}

impl Names {
    /// Learns the names an `accepted` or `routed` happening carries, and gives a delivery
    /// happening the names of its event when known.
    fn fill(&mut self, happening: Arc<Happening>) -> Arc<Happening> {
        match (&happening.source, &happening.scope) {
            (Some(source), Some(scope)) => {
                if !self.by_event.contains_key(&happening.event_id) {
                    if self.order.len() == NAMES_KEPT
                        && let Some(old) = self.order.pop_front()
                    {
                        self.by_event.remove(&old);
                    }
                    self.order.push_back(happening.event_id.clone());
                    self.by_event.insert(happening.event_id.clone(), (source.clone(), scope.clone()));
                }
                happening
            }
            _ => match self.by_event.get(&happening.event_id) {
                Some((source, scope)) if happening.kind != Kind::Accepted => Arc::new(Happening {
                    source: Some(source.clone()),
                    scope: Some(scope.clone()),
                    ..Happening::clone(&happening)
                }),
                _ => happening,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(kind: Kind, id: &str) -> Arc<Happening> {
        Arc::new(Happening {
            source: Some("shop".into()),
            scope: Some("order/created".into()),
            ..Happening::new(kind, id)
        })
    }

    #[test]
    fn a_delivery_gets_the_names_of_an_event_seen_before() {
        let mut names = Names::default();
        names.fill(named(Kind::Accepted, "evt_1"));
        let delivered = names.fill(Arc::new(Happening::new(Kind::Delivered, "evt_1")));
        assert_eq!(delivered.source.as_deref(), Some("shop"));
        assert_eq!(delivered.scope.as_deref(), Some("order/created"));
        let unknown = names.fill(Arc::new(Happening::new(Kind::Delivered, "evt_2")));
        assert_eq!(unknown.source, None);
    }

    #[tokio::test]
    async fn lookups_name_stored_events_within_a_budget_and_count_the_rest() {
        let Ok(dir) = tempfile::tempdir() else { panic!("no temp dir") };
        let Ok(store) = crate::queue::open_sqlite(&dir.path().join("s.db")) else { panic!("no store") };
        let event =
            crate::event::Event::new("shop", "order/created".into(), Vec::new(), bytes::Bytes::from_static(b"{}"));
        let id = event.id.clone();
        assert!(store.append(event, None).await.is_ok());
        let mut lookups = Lookups { store, window: tokio::time::Instant::now(), spent: 0, unnamed: 0 };
        assert_eq!(lookups.names(&id).await, Some(("shop".into(), "order/created".into())));
        assert_eq!(lookups.take_unnamed(), None);
        assert_eq!(lookups.names("evt_pruned").await, None);
        assert_eq!(lookups.take_unnamed(), Some(1), "a missing event is told as unnamed");
        for _ in 2..LOOKUPS_PER_SECOND {
            lookups.names(&id).await;
        }
        assert_eq!(lookups.names(&id).await, None, "the second's budget is spent");
        assert_eq!(lookups.take_unnamed(), Some(1));
    }

    #[test]
    fn names_are_forgotten_oldest_first_past_the_bound() {
        let mut names = Names::default();
        for i in 0..NAMES_KEPT + 1 {
            names.fill(named(Kind::Accepted, &format!("evt_{i}")));
        }
        assert_eq!(names.by_event.len(), NAMES_KEPT);
        assert!(!names.by_event.contains_key("evt_0"));
        assert!(names.by_event.contains_key("evt_1"));
    }
}
