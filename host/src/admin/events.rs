//! `GET /api/events?limit=N`: the newest events and what became of each — state, attempts,
//! last error, and every delivery with its own state.
//!
//! Bodies and headers are never shown (they may carry customer data); this is for operators
//! asking "did that webhook arrive, and where did it go?". Read-only.

use super::{Admin, error};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;

/// Events listed at most per request.
const MAX_LIMIT: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<usize>,
}

pub async fn recent(State(admin): State<Admin>, Query(q): Query<ListQuery>) -> Response {
    let limit = q.limit.unwrap_or(50).min(MAX_LIMIT);
    match admin.store.recent_events(limit).await {
        Ok(events) => Json(serde_json::json!({ "events": events, "count": events.len() })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot list recent events");
            error(StatusCode::SERVICE_UNAVAILABLE, "the store is not answering")
        }
    }
}
