//! The admin JSON API: the serving routes and plugins, and hot reload's status and trigger.
//!
//! Plugin `config` values and destination URLs or secrets are never shown (they may carry
//! credentials): plugins list their config keys only. `POST /api/reload` notifies the same
//! reload request SIGHUP does and waits, bounded, for the outcome.

use crate::reload::ReloadStatus;
use crate::shared::Shared;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use serde_json::{Value, json};
use std::time::Duration;

/// How long `POST /api/reload` waits for the reload to finish before answering 202.
const RELOAD_PATIENCE: Duration = Duration::from_secs(30);

pub async fn routes(State(shared): State<Shared>) -> Json<Value> {
    let snapshot = shared.live.snapshot();
    let routes: Vec<Value> = snapshot
        .config
        .routes
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "match": r.patterns.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                "source": r.source,
                "plugin": r.plugin,
                "to": r.to,
                "events": shared.metrics.route_events.get(&r.name),
            })
        })
        .collect();
    Json(json!({ "routes": routes }))
}

pub async fn plugins(State(shared): State<Shared>) -> Json<Value> {
    let snapshot = shared.live.snapshot();
    let m = &shared.metrics;
    let plugins: Vec<Value> = snapshot
        .config
        .plugins
        .values()
        .map(|spec| {
            let loaded = snapshot.plugins.get(&spec.name);
            let calls = m.plugin_seconds.snapshot().into_iter().find(|(name, _)| *name == spec.name);
            let failures: serde_json::Map<String, Value> = crate::metrics::PLUGIN_FAILURE_KINDS
                .iter()
                .map(|kind| (kind.to_string(), json!(m.plugin_failures_by.get(&spec.name, kind))))
                .collect();
            json!({
                "name": spec.name,
                "path": spec.path,
                "sha256": loaded.map(|p| hex::encode(p.digest())),
                "timeout_ms": spec.timeout.as_millis() as u64,
                "memory_mb": spec.memory_bytes >> 20,
                "max_output": spec.max_output,
                "contract": loaded.map(|p| p.contract()),
                "allowed_hosts": spec.allowed_hosts.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "fetch_timeout_ms": spec.fetch_timeout.as_millis() as u64,
                "max_fetches": spec.max_fetches,
                "max_fetch_body": spec.max_fetch_body,
                "kv_max_value": spec.kv_max_value,
                "kv_max_keys": spec.kv_max_keys,
                "fetches": m.plugin_fetches.snapshot().into_iter().find(|(name, _)| *name == spec.name)
                    .map(|(_, by)| by.snapshot().into_iter().map(|(k, v)| (k, json!(v.load(std::sync::atomic::Ordering::Relaxed)))).collect::<serde_json::Map<_, _>>()),
                "config_keys": spec.config.iter().map(|(k, _)| k).collect::<Vec<_>>(),
                "calls": calls.map_or(0, |(_, h)| h.cumulative().1),
                "failures": failures,
            })
        })
        .collect();
    Json(json!({ "plugins": plugins }))
}

pub async fn reload_status(State(shared): State<Shared>) -> Json<ReloadStatus> {
    Json(ReloadStatus::clone(&shared.live.status()))
}

/// Asks for a reload and answers with its outcome: 200 when applied, 422 when rejected (the
/// previous config still serves; the errors say where), 202 when it is still running.
pub async fn reload_now(State(shared): State<Shared>) -> (StatusCode, Json<Value>) {
    tracing::info!("reload requested on the admin API");
    match shared.reload_now(RELOAD_PATIENCE).await {
        Some(status) => {
            let code = if status.applied { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
            (code, Json(json!(&*status)))
        }
        None => (StatusCode::ACCEPTED, Json(json!({ "pending": true, "last": &*shared.live.status() }))),
    }
}
