//! Ingest: `POST /hooks/{source}` — limits, provider verification, durable append, then 200.
//! It stands above the reloadable snapshot (it reads the live one per request); the platforms'
//! rules it applies are `crate::providers`'.
//!
//! A request is read up to the snapshot's `max_body` (within
//! [`crate::http_server::BODY_READ_TIMEOUT`], else 408), handed to its source's provider
//! (signature, timestamp window, scope, event id) and appended to the store with its [`dedup`]
//! key: in the same transaction, the store answers that a live event already holds the key (a
//! repeat within the source's window, answered 200 `duplicate`, going no further) or stores the
//! event; the 200 goes out only once the event is committed to disk. A store that cannot keep
//! up answers 503 with `Retry-After` instead of buffering without bound, and one that cannot
//! write says so in its 503; nothing of that event was kept, key included, so the platform's
//! retry is processed. An event for a route with `order_by` takes its place in that route's
//! ordered lane in the same transaction (the snapshot says which). Every answer is counted
//! under the source it reached ([`count_ingest`]).
//! [`crate::http_server`] runs the connections. This module never sees plugins or destinations.

pub mod dedup;

use crate::event::Event;
use crate::http_error::ApiError;
use crate::metrics::Metrics;
use crate::providers::{Inbound, Provider};
use crate::queue::{Appended, Dedup, Hold, StoreError};
use crate::shared::Shared;
use crate::telemetry::{Escaped, RateLimited};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use dedup::DedupKey;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// How long a client is asked to wait when the store cannot write (the disk is full, the
/// database is gone): long enough for an operator's fix or a failover, short for a platform.
const STORAGE_RETRY_SECS: u64 = 5;

/// What the ingest handlers read: the gateway's shared handles, and ingest's own log of store
/// failures.
#[derive(Clone)]
pub struct Ingest {
    pub shared: Shared,
    /// Store failures are logged at a bounded rate: a full disk fails every request.
    pub store_errors: Arc<RateLimited>,
}

impl Ingest {
    pub fn new(shared: Shared) -> Self {
        Self { shared, store_errors: Arc::default() }
    }
}

/// The public ingest router.
pub fn router(ingest: Ingest) -> Router {
    let metrics = ingest.shared.metrics.clone();
    Router::new()
        .route("/hooks/{source}", post(receive))
        .fallback(|| async {
            ApiError::Rejected { status: StatusCode::NOT_FOUND, reason: "webhooks go to POST /hooks/{source}".into() }
        })
        .with_state(ingest)
        .layer(axum::middleware::from_fn_with_state(metrics, count_ingest))
}

async fn receive(State(ingest): State<Ingest>, Path(source): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let snapshot = ingest.shared.live.snapshot();
    let Some(provider) = snapshot.providers.get(&source).cloned() else {
        Metrics::inc(&ingest.shared.metrics.refused);
        tracing::info!(source = %Escaped(&source), "unknown source");
        return ApiError::UnknownSource(source).into_response();
    };
    let answer = accept(&ingest, &snapshot, &source, provider.as_ref(), headers, body).await;
    let mut response = answer.into_response();
    // The middleware counts the answer under the source it reached, as routing decoded it.
    response.extensions_mut().insert(ReachedSource(source));
    response
}

/// The configured source a request reached, left on its response for [`count_ingest`].
#[derive(Debug, Clone)]
struct ReachedSource(String);

/// Verifies and stores one webhook for a configured `source`.
async fn accept(
    ingest: &Ingest,
    snapshot: &crate::reload::Snapshot,
    source: &str,
    provider: &dyn Provider,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let max_body = snapshot.config.server.max_body;
    let body = read_body(body, &headers, max_body, crate::http_server::BODY_READ_TIMEOUT)
        .await
        .inspect_err(|_| Metrics::inc(&ingest.shared.metrics.refused))?;
    let inbound = Inbound { headers: &headers, body: &body, now_unix: crate::event::now_ms() as i64 / 1000 };
    let verified = provider.verify(&inbound).map_err(|rejection| {
        Metrics::inc(&ingest.shared.metrics.refused);
        ingest.shared.metrics.verify_failed(source, rejection.reason());
        tracing::info!(source, reason = rejection.reason(), "webhook refused: {}", Escaped(&rejection.to_string()));
        ApiError::Rejected {
            status: StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::BAD_REQUEST),
            reason: rejection.to_string(),
        }
    })?;
    let headers =
        headers.iter().filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
    let mut event = Event::new(source, verified.scope, headers, body);
    // With traces exported, the event's trace starts here and is stored with it.
    let span = if crate::trace_export::exporting() {
        let span = tracing::info_span!("ingest", event_id = %event.id, source, scope = %Escaped(&event.scope));
        crate::trace_export::continue_trace(&span, None, ingest.shared.store.node());
        event.trace = crate::trace_export::traceparent(&span);
        span
    } else {
        tracing::Span::none()
    };
    let id = event.id.clone();
    let scope = event.scope.clone();
    let window = snapshot.config.sources.get(source).and_then(|s| s.dedup_window);
    let dedup = window
        .map(|window| Dedup { key: DedupKey::new(source, verified.event_id.as_deref(), &event.body).digest(), window });
    let holds = snapshot.routes.order_keys(source, &event.scope, &event.body);
    let holds = holds.into_iter().map(|(route, key)| Hold { route, key }).collect();
    let appended = ingest.shared.store.append_held(event, dedup, holds).instrument(span).await.map_err(|e| {
        Metrics::inc(&ingest.shared.metrics.shed);
        match e {
            StoreError::Busy => {
                tracing::warn!(source, "store backlog full: answering 503");
                ApiError::Overloaded(1)
            }
            e => {
                // The disk is full, the database is gone or unreachable: say it is storage.
                ingest.store_errors.log(|suppressed| {
                    tracing::error!(source, error = %e, suppressed, "cannot store the event: answering 503")
                });
                ApiError::StorageUnavailable(STORAGE_RETRY_SECS)
            }
        }
    })?;
    if let Appended::Duplicate { original_id } = appended {
        Metrics::inc(&ingest.shared.metrics.duplicates);
        tracing::info!(source, event_id = %original_id, scope = %Escaped(&scope), "duplicate: acknowledged, not processed again");
        return Ok(Json(serde_json::json!({ "id": original_id, "scope": scope, "status": "duplicate" })));
    }
    Metrics::inc(&ingest.shared.metrics.accepted);
    tracing::debug!(source, event_id = %id, scope = %Escaped(&scope), "accepted");
    ingest.shared.feed.publish(crate::feed::Kind::Accepted, || crate::feed::Happening {
        source: Some(source.to_owned()),
        scope: Some(scope.clone()),
        ..crate::feed::Happening::new(crate::feed::Kind::Accepted, &id)
    });
    Ok(Json(serde_json::json!({ "id": id, "scope": scope, "status": "accepted" })))
}

/// Counts ingest answers by the source they reached and their status. A request that reached
/// no configured source (a typo, a scan, another path) is counted as [`crate::metrics::OTHER`],
/// so request paths never grow the family.
pub async fn count_ingest(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let source = response.extensions().get::<ReachedSource>().map_or(crate::metrics::OTHER, |s| s.0.as_str());
    let status = response.status();
    metrics.requests.with(source, |by_status| by_status.with(status.as_str(), Metrics::inc));
    response
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
