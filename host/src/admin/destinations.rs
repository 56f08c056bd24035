//! Destinations on the admin API: `GET /api/destinations` shows each one's limits, state
//! (active or paused, by whom and why), this gateway's requests in flight and attempt counts,
//! and what the store holds for it; `POST /api/destinations/{name}/pause|resume` is the
//! operator's switch, the same as `switchyard destinations pause|resume`.
//!
//! URLs are shown as scheme, host and port only (paths and queries may carry credentials).
//! Limits are per gateway: with several gateways on one database, each applies them.

use super::{error, store_unavailable};
use crate::config::model::Destination;
use crate::queue::PausedBy;
use crate::shared::Shared;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

pub async fn list(State(shared): State<Shared>) -> Response {
    let snapshot = shared.live.snapshot();
    let counts = match shared.store.destination_counts().await {
        Ok(counts) => counts,
        Err(e) => return store_unavailable(&e, "count deliveries by destination"),
    };
    let pauses = shared.control.pauses();
    let m = &shared.metrics;
    let list: Vec<Value> = snapshot
        .config
        .destinations
        .values()
        .map(|d| {
            let pause = pauses.get(&d.name);
            let attempts: serde_json::Map<String, Value> = ["delivered", "retry", "dead", "probe_failed"]
                .iter()
                .map(|outcome| ((*outcome).to_string(), json!(m.delivery_attempts.get(&d.name, outcome))))
                .collect();
            json!({
                "name": d.name,
                "url": origin(d),
                "state": if pause.is_some() { "paused" } else { "active" },
                "pause": pause,
                "limits": {
                    "rate": d.limits.rate.map(|r| r.to_string()),
                    "concurrency": d.limits.concurrency,
                    "concurrency_shown": d.limits.concurrency.shown(),
                    "pause_after": d.limits.pause_after,
                    "probe_every_ms": d.limits.probe_every.as_millis() as u64,
                },
                "gateway": shared.control.view(&d.name),
                "attempts": attempts,
                "deliveries": counts.get(&d.name).cloned().unwrap_or_default(),
            })
        })
        .collect();
    Json(json!({ "destinations": list })).into_response()
}

/// `{"reason": "…"}`, optional.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    reason: Option<String>,
}

pub async fn pause(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    body: Option<Json<PauseRequest>>,
) -> Response {
    if !shared.live.snapshot().config.destinations.contains_key(&name) {
        return error(StatusCode::NOT_FOUND, "no destination has that name");
    }
    let reason = body.and_then(|Json(b)| b.reason).unwrap_or_else(|| "paused by an operator".into());
    let reason: String = reason.chars().take(500).collect();
    match shared.store.pause_destination(&name, PausedBy::Operator, &reason, None).await {
        Ok(newly) => {
            shared.metrics.destination_changed(&name, "paused");
            tracing::info!(destination = %name, reason = %crate::telemetry::Escaped(&reason), "destination paused by an operator");
            refresh(&shared).await;
            Json(json!({ "destination": name, "state": "paused", "was_active": newly })).into_response()
        }
        Err(e) => store_unavailable(&e, "change the destination's state"),
    }
}

pub async fn resume(State(shared): State<Shared>, Path(name): Path<String>) -> Response {
    if !shared.live.snapshot().config.destinations.contains_key(&name) {
        return error(StatusCode::NOT_FOUND, "no destination has that name");
    }
    match shared.store.resume_destination(&name, false).await {
        Ok(was_paused) => {
            if was_paused {
                shared.metrics.destination_changed(&name, "resumed");
                shared.control.gate(&name).reset_failures();
                tracing::info!(destination = %name, "destination resumed by an operator");
            }
            refresh(&shared).await;
            Json(json!({ "destination": name, "state": "active", "was_paused": was_paused })).into_response()
        }
        Err(e) => store_unavailable(&e, "change the destination's state"),
    }
}

/// Reads the pauses again, so this gateway acts on the change at once.
async fn refresh(shared: &Shared) {
    if let Ok(pauses) = shared.store.destination_pauses().await {
        shared.control.set_pauses(pauses);
    }
}

/// `https://erp.example.com:8443`, `amqp://mq.internal:5672`: where a URL goes, without its
/// path or credentials.
pub(super) fn origin(d: &Destination) -> String {
    let port = d.url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{}{port}", d.url.scheme(), d.url.host_str().unwrap_or_default())
}
