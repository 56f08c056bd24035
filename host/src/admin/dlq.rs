//! The dead-letter queue on the admin API: `GET /api/dead-letters` lists, `POST
//! /api/dead-letters/replay` sends again — the same operations as `switchyard dlq`.
//!
//! A replay makes dead letters due now; delivery picks them up within a moment and sends them
//! to the destination as the live config defines it, so fix the destination first. This file
//! only reads and replays; it never deletes anything.

use super::{ListQuery, error, listed, store_unavailable};
use crate::queue::ReplaySelector;
use crate::shared::Shared;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;

/// Dead letters listed at most per request.
const MAX_LIMIT: usize = 1000;

pub async fn list(State(shared): State<Shared>, Query(q): Query<ListQuery>) -> Response {
    listed("dead_letters", shared.store.dead_letters(q.within(100, MAX_LIMIT)).await)
}

/// `{"id": "dlv_…"}`, `{"all": true}` or `{"destination": "erp"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    id: Option<String>,
    #[serde(default)]
    all: bool,
    destination: Option<String>,
}

pub async fn replay(State(shared): State<Shared>, body: Option<Json<ReplayRequest>>) -> Response {
    let Some(Json(request)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            r#"send a JSON body: {"id": "…"}, {"all": true} or {"destination": "…"}"#,
        );
    };
    let selector = match (request.id, request.all, request.destination) {
        (Some(id), false, None) => ReplaySelector::Id(id),
        (None, true, None) => ReplaySelector::All,
        (None, false, Some(d)) => ReplaySelector::Destination(d),
        _ => return error(StatusCode::BAD_REQUEST, "give exactly one of `id`, `all: true` or `destination`"),
    };
    match shared.store.replay(selector.clone()).await {
        Ok(0) if matches!(selector, ReplaySelector::Id(_)) => {
            error(StatusCode::NOT_FOUND, "no dead letter has that id")
        }
        Ok(n) => {
            tracing::info!(replayed = n, "dead letters replayed through the admin API");
            Json(serde_json::json!({ "replayed": n })).into_response()
        }
        Err(e) => store_unavailable(&e, "replay dead letters"),
    }
}
