//! `/health` answers as long as the process serves; `/ready` says whether it should get traffic:
//! a snapshot is loaded (always true once the admin listener runs, since it starts after the
//! first load) and the store answers a query within a second.
//!
//! Neither needs a token, so orchestrators can probe them; neither reveals config or data.

use super::Admin;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use serde_json::{Value, json};
use std::time::Duration;

/// How long the store may take to answer the readiness query.
const STORE_PATIENCE: Duration = Duration::from_secs(1);

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn ready(State(admin): State<Admin>) -> (StatusCode, Json<Value>) {
    // `Live` exists only once the first snapshot is built, and a failed reload keeps it.
    let config = true;
    let store = matches!(tokio::time::timeout(STORE_PATIENCE, admin.store.depth()).await, Ok(Ok(_)));
    let ready = config && store;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": ready, "checks": { "config": config, "store": store } })))
}
