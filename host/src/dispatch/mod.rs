//! Dispatch: lease stored events, match routes, run plugins, and commit what they produced.
//!
//! Each leased event is handled on the snapshot current when it is taken, in its own task,
//! with at most `server.workers` events in flight. Routes run in table order; routes finished
//! in an earlier try are skipped. The deliveries and derived events of one event are committed
//! together with its new state, so a crash either keeps all of them or none (and the event is
//! leased again). A plugin failure fails that (event, route) alone, with one log line naming
//! plugin, event and cause.

mod action;
mod call;

pub use action::{Ordering, RouteResult, run_route};
pub use call::PluginWorld;

use crate::config::model::RetryPolicy;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::queue::{EventNext, EventOutcome, Finished, Hold, LeasedEvent, Store};
use crate::reload::Snapshot;
use crate::shared::Shared;
use crate::telemetry::{Escaped, RateLimited};
use crate::workers::Work;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Most `emit` generations one webhook may cause, so two plugins cannot emit at each other
/// forever. How many derived events a webhook may cause in all is each plugin's `max_emits`.
pub const MAX_EMIT_DEPTH: u8 = 8;

/// How long a leased event stays hidden from other workers (plugins have deadlines far shorter).
const LEASE: Duration = Duration::from_secs(5 * 60);

/// Plugins that ask to retry later are called again on this schedule: 1 s doubling to 10 min,
/// 20 tries (about 2.5 hours), then the event is dead-lettered.
pub const PLUGIN_RETRY: RetryPolicy =
    RetryPolicy { max_attempts: 20, first: Duration::from_secs(1), max: Duration::from_secs(600) };

/// How soon an event whose outcome could not be recorded is offered back to the store, at
/// first and at most (doubling in between) while the store cannot write.
const RELEASE_FIRST: Duration = Duration::from_millis(100);
const RELEASE_MAX: Duration = Duration::from_secs(1);

/// Runs until the gateway stops, then waits for events in flight; `workers` events at once.
pub async fn run(shared: Shared, workers: usize) {
    let handed = match shared.store.hand::<LeasedEvent>(workers, LEASE).await {
        Ok(handed) => handed,
        Err(e) => return tracing::error!(error = %e, "dispatch cannot start: the store is closed"),
    };
    let shutdown = shared.shutdown.clone();
    let dispatcher = Arc::new(Dispatcher { shared, store_errors: RateLimited::default() });
    crate::workers::run(dispatcher, workers, handed, shutdown).await;
}

/// Leased events, as the worker loop runs them.
struct Dispatcher {
    shared: Shared,
    /// Outcomes that cannot be recorded are logged at a bounded rate (a full disk fails them all).
    store_errors: RateLimited,
}

impl Work for Dispatcher {
    type Item = LeasedEvent;

    async fn lease(&self, max: usize) -> Vec<LeasedEvent> {
        self.shared.store.lease_events(max, LEASE).await.unwrap_or_default()
    }

    async fn ready(&self) {
        self.shared.store.events_ready().await
    }

    /// Handles the event on the snapshot current as it is taken, and records the outcome.
    async fn run(&self, leased: LeasedEvent) {
        let snapshot = self.shared.live.snapshot();
        let e = &leased.event;
        let span =
            tracing::info_span!("event", event_id = %e.id, source = %Escaped(&e.source), scope = %Escaped(&e.scope));
        crate::trace_export::continue_trace(&span, e.trace.as_deref(), self.shared.store.node());
        async {
            let id = leased.event.id.clone();
            let named = self.shared.feed.listened().then(|| (leased.event.source.clone(), leased.event.scope.clone()));
            let outcome = handle(&snapshot, &self.shared.store, leased, &self.shared.metrics).await;
            // Announced as the outcome goes to the store, so it always precedes its deliveries'
            // attempts (which start after the commit); an outcome that cannot be recorded runs
            // again and is announced again.
            self.shared.feed.publish(announced_kind(&outcome.next), || {
                let (source, scope) = named.map_or((None, None), |(source, scope)| (Some(source), Some(scope)));
                crate::feed::Happening { source, scope, ..announcement(&outcome, &id) }
            });
            self.record(id, outcome).await;
        }
        .instrument(span)
        .await
    }
}

/// The kind of happening an event's outcome is: routed, failed (to be retried), or dead.
fn announced_kind(next: &EventNext) -> crate::feed::Kind {
    use crate::feed::Kind;
    match next {
        EventNext::Done => Kind::Routed,
        EventNext::Retry { .. } => Kind::Failed,
        EventNext::Dead { .. } => Kind::Dead,
    }
}

/// What the feed is told of an event's outcome: its kind, the routes it went to (each with the
/// destinations it made deliveries for), and the error of a retry or a dead letter.
fn announcement(outcome: &EventOutcome, id: &str) -> crate::feed::Happening {
    use crate::feed::Happening;
    let mut routes: Vec<String> = Vec::new();
    for d in &outcome.deliveries {
        let line = format!("{} → {}", d.route, d.destination);
        if !routes.contains(&line) {
            routes.push(line);
        }
    }
    let happening = Happening { routes, ..Happening::new(announced_kind(&outcome.next), id) };
    match &outcome.next {
        EventNext::Done => happening,
        EventNext::Retry { error, .. } | EventNext::Dead { error } => happening.with_error(error),
    }
}

impl Dispatcher {
    /// Commits an event's outcome. One the store refuses for passing the tree's `max_emits` is a
    /// dead letter, logged once per tree. One that cannot be committed (the disk is full, the
    /// database is unreachable) is handed back to the store as soon as it writes again, so the
    /// event runs again at once instead of when its lease runs out; its deliveries keep their ids,
    /// and KV writes made by its plugins were never committed.
    async fn record(&self, id: String, outcome: EventOutcome) {
        let (store, metrics) = (&self.shared.store, &self.shared.metrics);
        let error = match store.finish_event(id.clone(), outcome).await {
            Ok(Finished::Recorded) => return,
            Ok(Finished::LeaseLost) => {
                Metrics::inc(&metrics.leases_lost);
                tracing::warn!("another gateway took this event over while it ran here; its outcome here is dropped");
                return;
            }
            Ok(Finished::OverEmitLimit { error, first }) => {
                Metrics::inc(&metrics.dead_letters);
                if first {
                    tracing::error!("event dead-lettered: {error}");
                } else {
                    tracing::debug!("event dead-lettered: {error}");
                }
                return;
            }
            Err(e) => e,
        };
        self.store_errors.log(|suppressed| {
            tracing::error!(error = %error, suppressed, "cannot record the event's outcome; handing it back once the store writes")
        });
        let mut wait = RELEASE_FIRST;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.shared.shutdown.cancelled() => return,
            }
            if store.release_event(id.clone()).await.is_ok() {
                return;
            }
            wait = (wait * 2).min(RELEASE_MAX);
        }
    }
}

/// Routes one event through `snapshot`, skipping the routes done in earlier tries.
pub async fn handle(snapshot: &Arc<Snapshot>, store: &Store, leased: LeasedEvent, metrics: &Metrics) -> EventOutcome {
    let LeasedEvent { event, attempts, mut routes_done, held, replays } = leased;
    let mut outcome = EventOutcome { max_emits: u32::MAX, held, ..EventOutcome::default() };
    let mut retry: Vec<String> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let mut matched = 0;
    for selected in snapshot.routes.select(Some(&event.source), &event.scope, Some(&event.body)) {
        let route = selected.route;
        if selected.other_source.is_some() {
            continue;
        }
        matched += 1;
        if routes_done.contains(&route.name) {
            continue;
        }
        if !selected.taken() {
            metrics.filtered(&route.name);
            tracing::debug!(route = %route.name, "the route's filter does not hold; the plugin is not called");
            routes_done.push(route.name.clone());
            continue;
        }
        metrics.routed(&route.name);
        let span = tracing::info_span!("route", route = %route.name, plugin = route.plugin.as_deref().unwrap_or("-"));
        let ordered = action::Ordering { key: selected.order_key, replays };
        let (result, log) =
            action::run_route(snapshot, store, &event, route, selected.params, ordered, metrics).instrument(span).await;
        outcome.plugin_log.extend(log);
        match result {
            RouteResult::Done { deliveries, emitted, kv, .. } => {
                outcome.kv.extend(kv);
                if !emitted.is_empty() {
                    let plugin = route.plugin.as_ref().and_then(|p| snapshot.config.plugins.get(p));
                    let limit = plugin.map_or(crate::config::model::defaults::PLUGIN_MAX_EMITS, |p| p.max_emits);
                    outcome.max_emits = outcome.max_emits.min(limit);
                }
                outcome.deliveries.extend(deliveries);
                for derived in emitted {
                    let at = outcome.emitted.len();
                    outcome.holds.extend(order_holds(snapshot, &derived).into_iter().map(|h| (at, h)));
                    outcome.emitted.push(derived);
                }
                routes_done.push(route.name.clone());
            }
            RouteResult::RetryLater(why) => retry.push(format!("route {:?}: {why}", route.name)),
            RouteResult::Failed(why) => failed.push(format!("route {:?}: {why}", route.name)),
        }
    }
    if matched == 0 {
        // Counted (switchyard_events_unrouted_total) and shown in the console; a line per
        // event at info would flood the log of a store that subscribes more than it routes.
        Metrics::inc(&metrics.unrouted);
        tracing::debug!("no route matches; event accepted and delivered nowhere");
    }
    outcome.routes_done = routes_done;
    outcome.next = next_step(attempts + 1, retry, failed);
    if matches!(outcome.next, EventNext::Dead { .. }) {
        Metrics::inc(&metrics.dead_letters);
    }
    outcome
}

/// The places `event` takes in ordered lanes (see [`crate::routing::Table::order_keys`]).
pub fn order_holds(snapshot: &Snapshot, event: &Event) -> Vec<Hold> {
    let keys = snapshot.routes.order_keys(&event.source, &event.scope, &event.body);
    keys.into_iter().map(|(route, key)| Hold { route, key }).collect()
}

/// Retry while some route asked to and tries remain; dead-letter on a permanent failure.
fn next_step(attempts: u32, retry: Vec<String>, failed: Vec<String>) -> EventNext {
    if !retry.is_empty() && attempts < PLUGIN_RETRY.max_attempts {
        let retry_in = PLUGIN_RETRY.backoff(attempts, rand::random::<f64>());
        return EventNext::Retry { retry_in, error: retry.join("; ") };
    }
    let mut errors = failed;
    if !retry.is_empty() {
        errors.push(format!("gave up after {attempts} tries: {}", retry.join("; ")));
    }
    if errors.is_empty() { EventNext::Done } else { EventNext::Dead { error: errors.join("; ") } }
}

/// A derived event from a plugin's `emit`, one generation deeper than its parent and in the
/// same tree; past [`MAX_EMIT_DEPTH`] generations it is refused, which fails the event.
pub(crate) fn derived(parent: &Event, scope: String, body: Vec<u8>) -> Result<Event, String> {
    if parent.depth >= MAX_EMIT_DEPTH {
        return Err(format!("emit depth limit reached: this event is {MAX_EMIT_DEPTH} emits deep, and may not emit"));
    }
    let mut event = Event::new(&parent.source, scope, Vec::new(), body.into());
    event.depth = parent.depth + 1;
    event.root = Some(parent.root.clone().unwrap_or_else(|| parent.id.clone()));
    event.trace = parent.trace.clone();
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{ComponentCache, PluginEngine};
    use std::path::Path;

    /// The routes dispatch runs for an event, in order: those it made deliveries for.
    async fn dispatched(snapshot: &Arc<Snapshot>, store: &Store, event: Event) -> Vec<String> {
        let leased = LeasedEvent { event, attempts: 0, routes_done: Vec::new(), held: false, replays: 0 };
        let outcome = handle(snapshot, store, leased, &Metrics::default()).await;
        let mut routes: Vec<String> = outcome.deliveries.into_iter().map(|d| d.route).collect();
        routes.dedup();
        routes
    }

    #[tokio::test]
    async fn explain_and_dispatch_agree_on_the_routes_an_event_takes() {
        let table = crate::routing::tests::TABLE;
        let config = crate::config::load_str(Path::new("routes.toml"), table, &|_| None).unwrap();
        let engine = PluginEngine::new().unwrap();
        let (snapshot, _) = Snapshot::build(config.clone(), &engine, &ComponentCache::new(None), None).unwrap();
        let snapshot = Arc::new(snapshot);
        let dir = tempfile::tempdir().unwrap();
        let store = crate::queue::open_sqlite(&dir.path().join("q.db")).unwrap();
        let scope = "store/channel/7/cart/couponApplied";
        let cart = |total: u32| format!(r#"{{"data": {{"type": "cart", "total": {total}, "id": 5}}}}"#);
        for (source, body) in [("bc", cart(200)), ("bc", cart(1)), ("other", "{}".to_string())] {
            let explained = crate::cli::explain::explain(&config, scope, Some(source), Some(body.as_bytes()));
            let taken: Vec<String> = snapshot
                .routes
                .select(Some(source), scope, Some(body.as_bytes()))
                .into_iter()
                .filter(|s| s.taken())
                .map(|s| s.route.name.clone())
                .collect();
            for name in &taken {
                assert!(explained.contains(&format!(". {name:?}: pattern")), "explain lists {name}:\n{explained}");
            }
            let skipped = explained.matches("does not hold").count() + explained.matches("only takes source").count();
            let matching = snapshot.routes.select(Some(source), scope, None).len();
            assert_eq!(skipped, matching - taken.len(), "explain says why each other route is not taken:\n{explained}");
            let event = Event::new(source, scope.to_string(), Vec::new(), body.as_bytes().to_vec().into());
            assert_eq!(dispatched(&snapshot, &store, event).await, taken, "{source} {body}\n{explained}");
        }
        assert!(crate::cli::explain::explain(&config, scope, Some("bc"), None).contains("params: channel_id = \"7\""));
    }
}
