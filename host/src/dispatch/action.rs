//! One route for one event: run its plugin (if any, `call.rs`) and turn the actions into
//! deliveries, derived events and recorded drops.
//!
//! A forward without a destination goes to every destination of the route; a named one must
//! exist in the snapshot, or the event fails (dead letter) rather than losing the output. A
//! forward's headers are checked here, once: one that cannot be sent (CR, LF, a bad name)
//! fails the event at once; the ones the gateway owns (`host`, `content-length`, the
//! Standard Webhooks headers…) are left out with a warning, so a receiver sees the gateway's
//! own. An emit becomes a new stored event, routed on its own. A plugin's key–value writes
//! come back with the rest. Nothing here speaks HTTP or writes to the store: the caller commits
//! what this returns (the plugin's reads go to the store, through its `kv` capability).

use super::call::{Called, Failed, PluginWorld};
use crate::config::headers;
use crate::config::model::{Destination, NameVars, Route};
use crate::event::Event;
use crate::metrics::Metrics;
use crate::plugin::Action;
use crate::queue::{KvWrite, NewDelivery, PluginLogLine};
use crate::reload::Snapshot;
use crate::telemetry::Escaped;
use bytes::Bytes;
use std::sync::Arc;

/// Longest order key a plugin may set, in bytes.
pub const MAX_ORDER_KEY: usize = crate::config::filter::MAX_KEY;

/// How a route's deliveries are ordered and named for this run of the event.
#[derive(Debug, Clone, Default)]
pub struct Ordering {
    /// The route's `order_by` value in the event's body, if it has one.
    pub key: Option<String>,
    /// How many times the event was replayed (part of its deliveries' ids).
    pub replays: u32,
}

/// What one route made of one event.
pub enum RouteResult {
    /// The deliveries, derived events and kv writes to commit, and the reasons of the drops.
    Done {
        deliveries: Vec<NewDelivery>,
        emitted: Vec<Event>,
        kv: Vec<KvWrite>,
        dropped: Vec<String>,
    },
    RetryLater(String),
    Failed(String),
}

/// Runs one route for one event: its plugin, if it has one (`call.rs`), then the actions it
/// returned; with the lines the plugin logged, kept whatever the result.
pub async fn run_route(
    snapshot: &Arc<Snapshot>,
    world: &dyn PluginWorld,
    event: &Event,
    route: &Route,
    params: Vec<(String, String)>,
    ordering: Ordering,
    metrics: &Metrics,
) -> (RouteResult, Vec<PluginLogLine>) {
    let mut log = Vec::new();
    let called = match &route.plugin {
        None => Ok(Called::forward_as_received()),
        Some(name) => super::call::call(snapshot, world, event, route, name, &params, metrics, &mut log).await,
    };
    let Called { actions, kv } = match called {
        Ok(called) => called,
        Err(Failed::RetryLater(why)) => return (RouteResult::RetryLater(why), log),
        Err(Failed::Permanently(why)) => return (RouteResult::Failed(why), log),
    };
    let mut made = Made::default();
    for (index, action) in actions.into_iter().enumerate() {
        let run = RouteRun { event, route, params: &params, ordering: &ordering };
        if let Err(why) = apply(snapshot, &run, (index, action), metrics, &mut made) {
            let by = route.plugin.as_deref().map_or_else(|| "the route".to_string(), |p| format!("plugin `{p}`"));
            return (RouteResult::Failed(format!("{by}: action {index}: {why}")), log);
        }
    }
    (RouteResult::Done { deliveries: made.deliveries, emitted: made.emitted, kv, dropped: made.dropped }, log)
}

/// What a route's actions have made so far.
#[derive(Default)]
struct Made {
    deliveries: Vec<NewDelivery>,
    emitted: Vec<Event>,
    dropped: Vec<String>,
}

/// The event and route an action belongs to.
struct RouteRun<'a> {
    event: &'a Event,
    route: &'a Route,
    /// What the route's pattern captured from the scope.
    params: &'a [(String, String)],
    ordering: &'a Ordering,
}

impl RouteRun<'_> {
    /// The names a broker destination's template is rendered from at each attempt, kept with
    /// its delivery; `None` for an HTTP destination.
    fn vars(&self, destination: &Destination) -> Option<NameVars> {
        destination.target.broker()?;
        Some(NameVars {
            source: self.event.source.clone(),
            scope: self.event.scope.clone(),
            route: self.route.name.clone(),
            params: self.params.to_vec(),
        })
    }
}

/// Turns one action into deliveries, a derived event or a recorded drop; an action that cannot
/// be carried out (an unknown destination, a header that cannot be sent) fails the event.
fn apply(
    snapshot: &Snapshot,
    run: &RouteRun<'_>,
    (index, action): (usize, Action),
    metrics: &Metrics,
    made: &mut Made,
) -> Result<(), String> {
    let RouteRun { event, route, ordering, .. } = *run;
    match action {
        Action::Forward(f) => {
            let targets: Vec<&String> = match &f.destination {
                Some(name) => vec![name],
                None => route.to.iter().collect(),
            };
            let mut destinations = Vec::with_capacity(targets.len());
            for name in targets {
                match snapshot.config.destinations.get(name) {
                    Some(destination) => destinations.push(destination),
                    None => return Err(format!("forward to destination `{}`, which is not configured", Escaped(name))),
                }
            }
            if destinations.is_empty() {
                tracing::warn!(route = %route.name, "plugin forwarded, but the route has no destinations");
            }
            let vetted = headers::vet(f.headers).map_err(|e| Escaped(&e.to_string()).to_string())?;
            if !vetted.dropped.is_empty() {
                tracing::warn!(
                    route = %route.name,
                    dropped = %Escaped(&vetted.dropped.join(", ")),
                    "plugin set headers the gateway owns; sent the gateway's own instead"
                );
            }
            if f.order_key.as_ref().is_some_and(|k| k.len() > MAX_ORDER_KEY) {
                return Err(format!("an order key is at most {MAX_ORDER_KEY} bytes"));
            }
            // The plugin's key wins over the route's `order_by`.
            let order_key = f.order_key.or_else(|| ordering.key.clone());
            let mut headers = vetted.kept;
            let body = f.body.map_or_else(|| event.body.clone(), Bytes::from);
            if !headers.iter().any(|(k, _)| k == "content-type")
                && let Some((_, ct)) = event.headers.iter().find(|(k, _)| k == "content-type")
                && headers::check("content-type", ct).is_ok()
            {
                headers.push(("content-type".into(), ct.clone()));
            }
            for destination in destinations {
                let name = &destination.name;
                made.deliveries.push(NewDelivery {
                    id: delivery_id(&event.id, ordering.replays, &route.name, index, name),
                    event_id: event.id.clone(),
                    route: route.name.clone(),
                    destination: name.clone(),
                    body: body.clone(),
                    headers: headers.clone(),
                    order_key: order_key.clone(),
                    vars: run.vars(destination),
                    trace: event.trace.clone(),
                });
            }
        }
        Action::Emit(e) => {
            let derived = super::derived(event, e.scope, e.body)?;
            tracing::debug!(derived = %derived.id, scope = %Escaped(&derived.scope), "plugin emitted an event");
            made.emitted.push(derived);
        }
        Action::Drop(reason) => {
            Metrics::inc(&metrics.dropped);
            tracing::info!(route = %route.name, reason = %Escaped(&reason), "plugin dropped the event");
            made.dropped.push(reason);
        }
    }
    Ok(())
}

/// A delivery's id, derived from what it is — the event, the route, which action and which
/// destination — so handling the same event again (after a crash) yields the same ids, the
/// store ignores the repeats, and receivers see one `webhook-id` per delivery. A replay of the
/// event (`replays` > 0) is new work, so its deliveries get new ids.
///
/// It starts with the event's time-ordered UUID, so new deliveries land at the end of the
/// store's id index instead of each on a random page of it (a page every commit would have
/// to write again).
pub fn delivery_id(event_id: &str, replays: u32, route: &str, action: usize, destination: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [event_id, route, &action.to_string(), destination] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    if replays > 0 {
        h.update(replays.to_be_bytes());
    }
    let hash = hex::encode(&h.finalize()[..8]);
    match event_id.strip_prefix("evt_") {
        Some(time_ordered) => format!("dlv_{time_ordered}{hash}"),
        None => format!("dlv_{hash}"),
    }
}

#[cfg(test)]
mod tests {
    use super::delivery_id;

    #[test]
    fn delivery_ids_are_stable_and_distinct() {
        assert_eq!(delivery_id("evt_1", 0, "r", 0, "erp"), delivery_id("evt_1", 0, "r", 0, "erp"));
        assert_ne!(delivery_id("evt_1", 0, "r", 0, "erp"), delivery_id("evt_1", 0, "r", 1, "erp"));
        assert_ne!(delivery_id("evt_1", 0, "r", 0, "erp"), delivery_id("evt_1", 0, "r", 0, "crm"));
        assert_ne!(delivery_id("evt_1", 0, "r", 0, "erp"), delivery_id("evt_2", 0, "r", 0, "erp"));
        assert_ne!(
            delivery_id("evt_1", 0, "r", 0, "erp"),
            delivery_id("evt_1", 1, "r", 0, "erp"),
            "a replay is new work"
        );
    }

    #[test]
    fn delivery_ids_sort_with_their_events() {
        let (early, late) = ("evt_0190a0000000700080000000000000aa", "evt_0190b0000000700080000000000000aa");
        assert!(delivery_id(early, 0, "zzz", 9, "zzz") < delivery_id(late, 0, "a", 0, "a"));
        assert!(delivery_id(early, 0, "r", 0, "erp").starts_with("dlv_0190a"));
    }
}
