//! `GET /api/events?limit=N`: the newest events and what became of each — state, attempts,
//! last error, and every delivery with its own state. `POST /api/events/replay` runs stored
//! events through the current routes and plugins again (`switchyard replay`, [`crate::replay`]).
//!
//! Bodies and headers are never shown (they may carry customer data); this is for operators
//! asking "did that webhook arrive, and where did it go?".

use super::{ListQuery, error, listed, store_unavailable};
use crate::shared::Shared;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};

/// Events listed at most per request.
const MAX_LIMIT: usize = 500;

pub async fn recent(State(shared): State<Shared>, Query(q): Query<ListQuery>) -> Response {
    listed("events", shared.store.recent_events(q.within(50, MAX_LIMIT)).await)
}

/// `{"since": "2h", "route": "…", "dry_run": true, …}`: see [`crate::replay::Request`].
pub async fn replay(State(shared): State<Shared>, body: Option<Json<crate::replay::Request>>) -> Response {
    let Some(Json(request)) = body else {
        return error(StatusCode::BAD_REQUEST, r#"send a JSON body: {"event": "evt_…"} or {"since": "2h", …}"#);
    };
    let config = shared.live.snapshot().config.clone();
    match crate::replay::run(&shared.store, &config, &request).await {
        Ok(report) if report.refused.is_some() => {
            let status = if report.not_stored { StatusCode::NOT_FOUND } else { StatusCode::CONFLICT };
            (status, Json(serde_json::json!(report))).into_response()
        }
        Ok(report) => Json(serde_json::json!(report)).into_response(),
        Err(crate::replay::ReplayError::Request(why)) => error(StatusCode::BAD_REQUEST, &why),
        Err(crate::replay::ReplayError::Store(e)) => store_unavailable(&e, "replay events"),
    }
}
