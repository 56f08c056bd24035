//! Dispatch: take accepted events off the queue, match routes, run plugins, hand deliveries on.
//!
//! Each event is handled on the snapshot current when it is taken, in its own task, with at
//! most `server.workers` events in flight; the queue in front is bounded, so ingest answers
//! 503 when dispatch falls behind. Routes run in table order. A plugin failure fails that
//! (event, route) alone, with one log line naming plugin, event and cause.

mod action;

use crate::delivery::Outbox;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::reload::{Live, Snapshot};
use crate::scope::Scope;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Most `emit` generations one webhook may cause, so two plugins cannot emit at each other forever.
pub const MAX_EMIT_DEPTH: u8 = 8;

/// The queue could not take another event: answer 503, do not buffer.
#[derive(Debug, thiserror::Error)]
#[error("the event queue is full")]
pub struct QueueFull;

/// The bounded queue between ingest and dispatch.
#[derive(Clone, Debug)]
pub struct Queue {
    tx: mpsc::Sender<Event>,
}

impl Queue {
    pub fn bounded(capacity: usize) -> (Self, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { tx }, rx)
    }

    /// Queues `event` now, or says the queue is full (or closed, when shutting down).
    pub fn offer(&self, event: Event) -> Result<(), QueueFull> {
        self.tx.try_send(event).map_err(|_| QueueFull)
    }
}

/// Runs until the queue closes or `shutdown` fires, then waits for events in flight.
pub async fn run(
    live: Arc<Live>,
    mut rx: mpsc::Receiver<Event>,
    ctx: Ctx,
    workers: usize,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(workers.max(1)));
    let tasks = TaskTracker::new();
    loop {
        let event = tokio::select! {
            e = rx.recv() => match e { Some(e) => e, None => break },
            _ = shutdown.cancelled() => break,
        };
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        let snapshot = live.snapshot();
        let ctx = ctx.clone();
        let span = tracing::info_span!("event", event_id = %event.id, source = %event.source, scope = %event.scope);
        tasks.spawn(
            async move {
                handle(&snapshot, event, &ctx).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    tasks.close();
    tasks.wait().await;
}

/// Where dispatch sends its results.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub outbox: Outbox,
    pub metrics: Arc<Metrics>,
}

/// Routes one event through `snapshot` and hands every resulting delivery to the outbox.
pub async fn handle(snapshot: &Arc<Snapshot>, event: Event, ctx: &Ctx) {
    let scope = Scope::new(&event.scope);
    let matches = snapshot.matcher.matches(&scope);
    let mut routed = 0;
    for m in matches {
        let Some(route) = snapshot.config.routes.get(m.route) else { continue };
        if route.source.as_ref().is_some_and(|s| *s != event.source) {
            continue;
        }
        routed += 1;
        let span = tracing::info_span!("route", route = %route.name, plugin = route.plugin.as_deref().unwrap_or("-"));
        Box::pin(action::run_route(snapshot, &event, route, m.params, ctx)).instrument(span).await;
    }
    if routed == 0 {
        Metrics::inc(&ctx.metrics.unrouted);
        tracing::info!("no route matches; event accepted and delivered nowhere");
    }
}
