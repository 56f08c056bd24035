//! Ingest: `POST /hooks/{source}` — limits, provider verification, enqueue, then 200.
//!
//! A request is read up to the snapshot's `max_body`, handed to its source's provider
//! (signature, timestamp window, scope, event id) and queued for dispatch; the 200 goes out
//! only once the event is queued. A full queue answers 503 with `Retry-After` instead of
//! buffering without bound. This module never sees plugins or destinations.

pub mod provider;
pub mod providers;
pub mod signature;

use crate::dispatch::Queue;
use crate::event::Event;
use crate::http_error::ApiError;
use crate::metrics::Metrics;
use crate::reload::Live;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json};
use axum::routing::post;
use provider::Inbound;
use std::sync::Arc;

/// What the ingest handlers share.
#[derive(Clone)]
pub struct Ingest {
    pub live: Arc<Live>,
    pub queue: Queue,
    pub metrics: Arc<Metrics>,
}

/// The public ingest router.
pub fn router(ingest: Ingest) -> Router {
    Router::new()
        .route("/hooks/{source}", post(receive))
        .fallback(|| async {
            ApiError::Rejected { status: StatusCode::NOT_FOUND, reason: "webhooks go to POST /hooks/{source}".into() }
        })
        .with_state(ingest)
}

async fn receive(
    State(ingest): State<Ingest>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let snapshot = ingest.live.snapshot();
    let Some(provider) = snapshot.providers.get(&source).cloned() else {
        Metrics::inc(&ingest.metrics.refused);
        tracing::info!(%source, "unknown source");
        return Err(ApiError::UnknownSource(source));
    };
    let max_body = snapshot.config.server.max_body;
    let body = read_body(body, &headers, max_body).await.inspect_err(|_| Metrics::inc(&ingest.metrics.refused))?;
    let inbound = Inbound { headers: &headers, body: &body, now_unix: crate::event::now_ms() as i64 / 1000 };
    let verified = provider.verify(&inbound).map_err(|rejection| {
        Metrics::inc(&ingest.metrics.refused);
        tracing::info!(%source, reason = rejection.reason(), "webhook refused: {rejection}");
        ApiError::Rejected {
            status: StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::BAD_REQUEST),
            reason: rejection.to_string(),
        }
    })?;
    let headers =
        headers.iter().filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
    let event = Event::new(&source, verified.scope, headers, body);
    let id = event.id.clone();
    let scope = event.scope.clone();
    ingest.queue.offer(event).map_err(|_| {
        Metrics::inc(&ingest.metrics.shed);
        tracing::warn!(%source, "event queue full: answering 503");
        ApiError::Overloaded(1)
    })?;
    Metrics::inc(&ingest.metrics.accepted);
    tracing::debug!(%source, event_id = %id, %scope, "accepted");
    Ok(Json(serde_json::json!({ "id": id, "scope": scope, "status": "accepted" })))
}

/// Reads the whole body, refusing with 413 as soon as it is known to exceed `limit`.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<bytes::Bytes, ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if is_length_limit(&e) {
            ApiError::TooLarge(limit)
        } else {
            ApiError::Rejected { status: StatusCode::BAD_REQUEST, reason: format!("could not read the body: {e}") }
        }
    })
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}
