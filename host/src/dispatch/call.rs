//! Calling a route's plugin for one event: its input, its kv view (on the store when serving,
//! see [`PluginWorld`]), the metrics of the call and of its requests, the lines it logged, and
//! what a failure means for the event (retry later, or fail). Nothing here interprets the
//! actions it returned (`action.rs` does).

use crate::config::model::Route;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::plugin::{self, Action, PluginError};
use crate::queue::{KvWrite, PluginLogLine, Store};
use crate::reload::Snapshot;
use crate::telemetry::Escaped;
use std::sync::Arc;

/// Where a route's plugin reads its key–value state and sends its requests: the store and the
/// network when serving; a test's own state and recorded answers in `switchyard test`.
pub trait PluginWorld: Sync {
    /// The state `plugin` reads.
    fn kv(&self, plugin: &str) -> Arc<dyn plugin::KvReader>;
    /// Answers for the plugin's requests instead of the network.
    fn http_fixture(&self) -> Option<Arc<plugin::HttpFixture>> {
        None
    }
}

impl PluginWorld for Store {
    fn kv(&self, plugin: &str) -> Arc<dyn plugin::KvReader> {
        Arc::new(plugin::StoreKv { store: self.clone(), plugin: plugin.to_owned() })
    }
}

/// Why a call produced nothing: the plugin asked to be called again later (or its call ran
/// past `call_timeout_ms`), or the event cannot be handled.
pub enum Failed {
    RetryLater(String),
    Permanently(String),
}

/// What a route's plugin returned (or, for a route without one, the one forward that sends
/// the event on as received).
pub struct Called {
    pub actions: Vec<Action>,
    /// Key–value writes to commit with the event's outcome.
    pub kv: Vec<KvWrite>,
}

impl Called {
    pub fn forward_as_received() -> Self {
        let forward = plugin::Forward { destination: None, body: None, headers: Vec::new(), order_key: None };
        Self { actions: vec![Action::Forward(forward)], kv: Vec::new() }
    }
}

/// Calls plugin `name` of `route` for `event`; what it logged goes to `log` whatever happens.
#[allow(clippy::too_many_arguments)] // one call's whole context; a struct would only rename them
pub async fn call(
    snapshot: &Snapshot,
    world: &dyn PluginWorld,
    event: &Event,
    route: &Route,
    name: &str,
    params: &[(String, String)],
    metrics: &Metrics,
    log: &mut Vec<PluginLogLine>,
) -> Result<Called, Failed> {
    let Some(compiled) = snapshot.plugins.get(name) else {
        return Err(Failed::Permanently(format!("plugin `{name}` is not loaded")));
    };
    let input = plugin::PluginEvent {
        id: event.id.clone(),
        source: event.source.clone(),
        scope: event.scope.clone(),
        route: route.name.clone(),
        params: params.to_vec(),
        headers: event.headers.clone(),
        body: event.body.to_vec(),
        received_at_ms: event.received_at_ms,
    };
    let started = std::time::Instant::now();
    let ctx =
        plugin::CallContext { kv: Some(world.kv(name)), http_fixture: world.http_fixture(), ..Default::default() };
    let (fetches, kept) = (ctx.fetches.clone(), ctx.log.clone());
    let called = compiled.call(&input, ctx).await;
    for fetch in fetches.records() {
        metrics.plugin_fetched(name, fetch.outcome.label(), fetch.took);
    }
    keep_log(&kept, &route.name, name, log);
    match called {
        Ok(outcome) => {
            metrics.plugin_ran(name, started.elapsed());
            let (micros, n) = (started.elapsed().as_micros() as u64, outcome.actions.len());
            tracing::debug!(plugin = %name, micros, actions = n, "plugin ran");
            Ok(Called { actions: outcome.actions, kv: outcome.kv })
        }
        Err(e) => {
            metrics.plugin_failed_in(name, e.kind(), started.elapsed());
            tracing::warn!(plugin = %name, event_id = %event.id, cause = e.kind(), "plugin failed the event: {}", Escaped(&e.to_string()));
            let why = format!("plugin `{name}` {e}");
            Err(match e {
                PluginError::RetryLater(_) | PluginError::CallTimeout { .. } => Failed::RetryLater(why),
                _ => Failed::Permanently(why),
            })
        }
    }
}

/// Adds what the call kept of its plugin's log to the event's, naming route and plugin.
fn keep_log(kept: &plugin::KeptLog, route: &str, plugin: &str, log: &mut Vec<PluginLogLine>) {
    let (lines, left_out) = kept.take();
    let line = |level: &str, message: String| PluginLogLine {
        route: route.to_owned(),
        plugin: plugin.to_owned(),
        level: level.to_owned(),
        message,
    };
    log.extend(lines.into_iter().map(|l| line(l.level, l.message)));
    if left_out > 0 {
        log.push(line("info", format!("({left_out} more lines in the gateway's log, under this event's id)")));
    }
}
