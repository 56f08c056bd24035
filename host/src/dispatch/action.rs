//! One route for one event: run its plugin (if any) and turn the actions into deliveries,
//! derived events and recorded drops.
//!
//! A forward without a destination goes to every destination of the route; a named one must
//! exist in the snapshot. An emit is routed again through the same snapshot, up to
//! [`MAX_EMIT_DEPTH`](super::MAX_EMIT_DEPTH). Nothing here speaks HTTP: deliveries go to the outbox.

use super::Ctx;
use crate::config::model::Route;
use crate::delivery::Delivery;
use crate::event::{Event, new_id};
use crate::metrics::Metrics;
use crate::plugin::{self, Action};
use crate::reload::Snapshot;
use bytes::Bytes;
use std::sync::Arc;

pub async fn run_route(
    snapshot: &Arc<Snapshot>,
    event: &Event,
    route: &Route,
    params: Vec<(String, String)>,
    ctx: &Ctx,
) {
    let actions = match route.plugin.as_ref().map(|name| (name, snapshot.plugins.get(name))) {
        None => vec![Action::Forward(plugin::Forward { destination: None, body: None, headers: Vec::new() })],
        Some((name, None)) => {
            tracing::error!(plugin = %name, "route names a plugin the snapshot does not have");
            return;
        }
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
                    Metrics::inc(&ctx.metrics.plugin_calls);
                    tracing::debug!(plugin = %name, micros = started.elapsed().as_micros() as u64, actions = actions.len(), "plugin ran");
                    actions
                }
                Err(e) => {
                    ctx.metrics.plugin_failed(e.kind());
                    tracing::warn!(plugin = %name, event_id = %event.id, cause = e.kind(), "plugin failed the event: {e}");
                    return;
                }
            }
        }
    };
    for action in actions {
        apply(snapshot, event, route, action, ctx).await;
    }
}

async fn apply(snapshot: &Arc<Snapshot>, event: &Event, route: &Route, action: Action, ctx: &Ctx) {
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
                let Some(destination) = snapshot.config.destinations.get(name) else {
                    tracing::error!(destination = %name, "plugin forwarded to a destination that does not exist");
                    continue;
                };
                let delivery = Delivery {
                    id: new_id("dlv"),
                    event_id: event.id.clone(),
                    route: route.name.clone(),
                    destination: destination.clone(),
                    body: body.clone(),
                    headers: headers.clone(),
                };
                ctx.outbox.send(delivery).await;
            }
        }
        Action::Emit(e) => {
            if event.depth >= super::MAX_EMIT_DEPTH {
                tracing::error!(scope = %e.scope, "emit depth limit reached; derived event dropped");
                return;
            }
            let mut derived = Event::new(&event.source, e.scope, Vec::new(), Bytes::from(e.body));
            derived.depth = event.depth + 1;
            tracing::info!(derived = %derived.id, scope = %derived.scope, "plugin emitted an event");
            super::handle(snapshot, derived, ctx).await;
        }
        Action::Drop(reason) => {
            Metrics::inc(&ctx.metrics.dropped);
            tracing::info!(route = %route.name, %reason, "plugin dropped the event");
        }
    }
}
