//! The dead-letter queue on the admin API: `GET /api/dead-letters` lists, `POST
//! /api/dead-letters/replay` sends again — the same operations as `switchyard dlq`.
//!
//! A replay makes dead letters due now; delivery picks them up within a moment and sends them
//! to the destination as the live config defines it, so fix the destination first. This file
//! only reads and replays; it never deletes anything.

use super::{Admin, error};
use crate::queue::ReplaySelector;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;

/// Dead letters listed at most per request.
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<usize>,
}

pub async fn list(State(admin): State<Admin>, Query(q): Query<ListQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(MAX_LIMIT);
    match admin.store.dead_letters(limit).await {
        Ok(dead) => Json(serde_json::json!({ "dead_letters": dead, "count": dead.len() })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot list dead letters");
            error(StatusCode::SERVICE_UNAVAILABLE, "the store is not answering")
        }
    }
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

pub async fn replay(State(admin): State<Admin>, body: Option<Json<ReplayRequest>>) -> Response {
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
    match admin.store.replay(selector.clone()).await {
        Ok(0) if matches!(selector, ReplaySelector::Id(_)) => {
            error(StatusCode::NOT_FOUND, "no dead letter has that id")
        }
        Ok(n) => {
            tracing::info!(replayed = n, "dead letters replayed through the admin API");
            Json(serde_json::json!({ "replayed": n })).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot replay dead letters");
            error(StatusCode::SERVICE_UNAVAILABLE, "the store is not answering")
        }
    }
}
