//! `GET /api/nodes`: the gateways sharing this gateway's store, as their heartbeats say
//! (`queue::Store::nodes`), with which one answered. Read-only.

use crate::shared::Shared;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};

pub async fn list(State(shared): State<Shared>) -> Response {
    let lease = shared.live.snapshot().config.storage.lease;
    match shared.store.nodes(lease).await {
        Ok(nodes) => Json(serde_json::json!({
            "this_node": shared.store.node(),
            "lease_secs": lease.as_secs(),
            "nodes": nodes,
        }))
        .into_response(),
        Err(e) => super::error(StatusCode::SERVICE_UNAVAILABLE, &format!("cannot read the node list: {e}")),
    }
}
