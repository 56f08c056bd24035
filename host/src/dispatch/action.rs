//! One route for one event: run its plugin (if any) and turn the actions into deliveries,
//! derived events and recorded drops.
//!
//! A forward without a destination goes to every destination of the route; a named one must
//! exist in the snapshot. An emit becomes a new stored event, routed on its own. Nothing here
//! speaks HTTP or writes to the store: the caller commits what this returns.

use crate::config::model::Route;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::plugin::{self, Action, PluginError};
use crate::queue::NewDelivery;
use crate::reload::Snapshot;
use bytes::Bytes;
use std::sync::Arc;

/// What one route made of one event.
pub enum RouteResult {
    Done { deliveries: Vec<NewDelivery>, emitted: Vec<Event> },
    RetryLater(String),
    Failed(String),
}

pub async fn run_route(
    snapshot: &Arc<Snapshot>,
    event: &Event,
    route: &Route,
    params: Vec<(String, String)>,
    metrics: &Metrics,
) -> RouteResult {
    let actions = match route.plugin.as_ref().map(|name| (name, snapshot.plugins.get(name))) {
        None => vec![Action::Forward(plugin::Forward { destination: None, body: None, headers: Vec::new() })],
        Some((name, None)) => return RouteResult::Failed(format!("plugin `{name}` is not loaded")),
        Some((name, Some(compiled))) => {
            let input = plugin::Event {
                id: event.id.clone(),
                source: event.source.clone(),
                scope: event.scope.clone(),
                route: route.name.clone(),
                params,
                headers: event.headers.clone(),
                body: event.body.to_vec(),
                received_at_ms: event.received_at_ms,
            };
            let started = std::time::Instant::now();
            match compiled.call(&input).await {
                Ok(actions) => {
                    metrics.plugin_ran(name, started.elapsed());
                    tracing::debug!(plugin = %name, micros = started.elapsed().as_micros() as u64, actions = actions.len(), "plugin ran");
                    actions
                }
                Err(e) => {
                    metrics.plugin_failed_in(name, e.kind(), started.elapsed());
                    tracing::warn!(plugin = %name, event_id = %event.id, cause = e.kind(), "plugin failed the event: {e}");
                    let why = format!("plugin `{name}` {e}");
                    return match e {
                        PluginError::RetryLater(_) => RouteResult::RetryLater(why),
                        _ => RouteResult::Failed(why),
                    };
                }
            }
        }
    };
    let mut deliveries = Vec::new();
    let mut emitted = Vec::new();
    for (index, action) in actions.into_iter().enumerate() {
        apply(snapshot, event, route, (index, action), metrics, &mut deliveries, &mut emitted);
    }
    RouteResult::Done { deliveries, emitted }
}

fn apply(
    snapshot: &Snapshot,
    event: &Event,
    route: &Route,
    (index, action): (usize, Action),
    metrics: &Metrics,
    deliveries: &mut Vec<NewDelivery>,
    emitted: &mut Vec<Event>,
) {
    match action {
        Action::Forward(f) => {
            let targets: Vec<&String> = match &f.destination {
                Some(name) => vec![name],
                None => route.to.iter().collect(),
            };
            if targets.is_empty() {
                tracing::warn!(route = %route.name, "plugin forwarded, but the route has no destinations");
            }
            let body = f.body.map_or_else(|| event.body.clone(), Bytes::from);
            let mut headers = f.headers;
            if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                && let Some((_, ct)) = event.headers.iter().find(|(k, _)| k == "content-type")
            {
                headers.push(("content-type".into(), ct.clone()));
            }
            for name in targets {
                if !snapshot.config.destinations.contains_key(name) {
                    tracing::error!(destination = %name, "plugin forwarded to a destination that does not exist");
                    continue;
                }
                deliveries.push(NewDelivery {
                    id: delivery_id(&event.id, &route.name, index, name),
                    event_id: event.id.clone(),
                    route: route.name.clone(),
                    destination: name.clone(),
                    body: body.clone(),
                    headers: headers.clone(),
                });
            }
        }
        Action::Emit(e) => {
            if let Some(derived) = super::derived(event, e.scope, e.body) {
                tracing::info!(derived = %derived.id, scope = %derived.scope, "plugin emitted an event");
                emitted.push(derived);
            }
        }
        Action::Drop(reason) => {
            Metrics::inc(&metrics.dropped);
            tracing::info!(route = %route.name, %reason, "plugin dropped the event");
        }
    }
}

/// A delivery's id, derived from what it is — the event, the route, which action and which
/// destination — so handling the same event again (after a crash) yields the same ids, the
/// store ignores the repeats, and receivers see one `webhook-id` per delivery.
///
/// It starts with the event's time-ordered UUID, so new deliveries land at the end of the
/// store's id index instead of each on a random page of it (a page every commit would have
/// to write again).
pub fn delivery_id(event_id: &str, route: &str, action: usize, destination: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [event_id, route, &action.to_string(), destination] {
        h.update(part.as_bytes());
        h.update([0]);
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
        assert_eq!(delivery_id("evt_1", "r", 0, "erp"), delivery_id("evt_1", "r", 0, "erp"));
        assert_ne!(delivery_id("evt_1", "r", 0, "erp"), delivery_id("evt_1", "r", 1, "erp"));
        assert_ne!(delivery_id("evt_1", "r", 0, "erp"), delivery_id("evt_1", "r", 0, "crm"));
        assert_ne!(delivery_id("evt_1", "r", 0, "erp"), delivery_id("evt_2", "r", 0, "erp"));
    }

    #[test]
    fn delivery_ids_sort_with_their_events() {
        let (early, late) = ("evt_0190a0000000700080000000000000aa", "evt_0190b0000000700080000000000000aa");
        assert!(delivery_id(early, "zzz", 9, "zzz") < delivery_id(late, "a", 0, "a"));
        assert!(delivery_id(early, "r", 0, "erp").starts_with("dlv_0190a"));
    }
}
