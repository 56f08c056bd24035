//! `GET /api/events?limit=N`: the newest events and what became of each — state, attempts,
//! last error, and every delivery with its own state. `POST /api/events/replay` runs stored
//! events through the current routes and plugins again (`switchyard replay`, [`crate::replay`]).
//!
//! Bodies and headers are never shown (they may carry customer data); this is for operators
//! asking "did that webhook arrive, and where did it go?".

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

/// `{"since": "2h", "route": "…", "dry_run": true, …}`: see [`crate::replay::Request`].
pub async fn replay(State(admin): State<Admin>, body: Option<Json<crate::replay::Request>>) -> Response {
    let Some(Json(request)) = body else {
        return error(StatusCode::BAD_REQUEST, r#"send a JSON body: {"event": "evt_…"} or {"since": "2h", …}"#);
    };
    let config = admin.live.snapshot().config.clone();
    match crate::replay::run(&admin.store, &config, &request).await {
        Ok(report) if report.refused.is_some() => {
            let status = if report.not_stored { StatusCode::NOT_FOUND } else { StatusCode::CONFLICT };
            (status, Json(serde_json::json!(report))).into_response()
        }
        Ok(report) => Json(serde_json::json!(report)).into_response(),
        Err(crate::replay::ReplayError::Request(why)) => error(StatusCode::BAD_REQUEST, &why),
        Err(crate::replay::ReplayError::Store(e)) => {
            tracing::error!(error = %e, "cannot replay events");
            error(StatusCode::SERVICE_UNAVAILABLE, "the store is not answering")
        }
    }
}
