//! Ingest: `POST /hooks/{source}` — limits, provider verification, durable append, then 200.
//!
//! A request is read up to the snapshot's `max_body` (within [`server::BODY_READ_TIMEOUT`], else
//! 408), handed to its source's provider (signature, timestamp window, scope, event id) and
//! appended to the store with its [`dedup`] key: in the same transaction, the store answers
//! that a live event already holds the key (a repeat within the source's window, answered 200
//! `duplicate`, going no further) or stores the event; the 200 goes out only once the event is
//! committed to disk. A store that cannot keep up answers 503 with `Retry-After` instead of
//! buffering without bound; nothing of that event was kept, key included, so the platform's
//! retry is processed. [`server`] runs the connections. This module never sees plugins or
//! destinations.

pub mod dedup;
pub mod provider;
pub mod providers;
pub mod server;
pub mod signature;

use crate::event::Event;
use crate::http_error::ApiError;
use crate::metrics::Metrics;
use crate::queue::{Appended, Dedup, Store, StoreError};
use crate::reload::Live;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json};
use axum::routing::post;
use dedup::DedupKey;
use provider::Inbound;
use std::sync::Arc;
use std::time::Duration;

/// What the ingest handlers share.
#[derive(Clone)]
pub struct Ingest {
    pub live: Arc<Live>,
    pub store: Store,
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
    let body = read_body(body, &headers, max_body, server::BODY_READ_TIMEOUT)
        .await
        .inspect_err(|_| Metrics::inc(&ingest.metrics.refused))?;
    let inbound = Inbound { headers: &headers, body: &body, now_unix: crate::event::now_ms() as i64 / 1000 };
    let verified = provider.verify(&inbound).map_err(|rejection| {
        Metrics::inc(&ingest.metrics.refused);
        ingest.metrics.verify_failed(&source, rejection.reason());
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
    let window = snapshot.config.sources.get(&source).and_then(|s| s.dedup_window);
    let dedup = window.map(|window| Dedup {
        key: DedupKey::new(&source, verified.event_id.as_deref(), &event.body).digest(),
        window,
    });
    let appended = ingest.store.append(event, dedup).await.map_err(|e| {
        Metrics::inc(&ingest.metrics.shed);
        match e {
            StoreError::Busy => tracing::warn!(%source, "store backlog full: answering 503"),
            e => tracing::error!(%source, error = %e, "cannot store the event: answering 503"),
        }
        ApiError::Overloaded(1)
    })?;
    if let Appended::Duplicate { original_id } = appended {
        Metrics::inc(&ingest.metrics.duplicates);
        tracing::info!(%source, event_id = %original_id, %scope, "duplicate: acknowledged, not processed again");
        return Ok(Json(serde_json::json!({ "id": original_id, "scope": scope, "status": "duplicate" })));
    }
    Metrics::inc(&ingest.metrics.accepted);
    tracing::debug!(%source, event_id = %id, %scope, "accepted");
    Ok(Json(serde_json::json!({ "id": id, "scope": scope, "status": "accepted" })))
}

/// Reads the whole body within `timeout` (else 408), refusing with 413 as soon as it is known
/// to exceed `limit`.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize, timeout: Duration) -> Result<bytes::Bytes, ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    let Ok(read) = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await else {
        let reason = format!("the body did not arrive within {} s", timeout.as_secs());
        return Err(ApiError::Rejected { status: StatusCode::REQUEST_TIMEOUT, reason });
    };
    read.map_err(|e| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A body whose sender sent its headers and then stalled.
    struct Stalled;

    impl axum::body::HttpBody for Stalled {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_body_that_arrives_within_the_read_timeout_is_read() {
        let got = read_body(Body::from("{}"), &HeaderMap::new(), 1024, Duration::from_secs(30)).await;
        assert_eq!(got.ok().as_deref(), Some(&b"{}"[..]));
    }

    #[tokio::test]
    async fn a_body_that_stalls_past_the_read_timeout_is_408() {
        let got = read_body(Body::new(Stalled), &HeaderMap::new(), 1024, Duration::from_millis(20)).await;
        assert_eq!(got.err().map(|e| e.status()), Some(StatusCode::REQUEST_TIMEOUT));
    }
}
