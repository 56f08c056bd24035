//! `/health` answers as long as the process serves; `/ready` says whether it should get traffic:
//! a snapshot is loaded (always true once the admin listener runs, since it starts after the
//! first load) and the store answers within a second and can write (after a failed write, a
//! probe write must commit).
//!
//! Neither needs a token, so orchestrators can probe them; neither reveals config or data.

use crate::shared::Shared;
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

pub async fn ready(State(shared): State<Shared>) -> (StatusCode, Json<Value>) {
    // `Reloader` exists only once the first snapshot is built, and a failed reload keeps it.
    let config = true;
    let store = store_writes(&shared).await;
    let ready = config && store.is_ok();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut body = json!({ "ready": ready, "checks": { "config": config, "store": store.is_ok() } });
    if let Err(why) = store {
        body["store_error"] = Value::from(why);
    }
    (status, Json(body))
}

/// Whether the store answers (its writer runs batches, and reads are answered), and writes:
/// while its last batch failed (a full disk, a deleted database), a probe write must commit
/// before the gateway counts as ready again.
async fn store_writes(shared: &Shared) -> Result<(), String> {
    let check = async {
        match shared.store.health() {
            Ok(()) => {
                shared.store.ping().await?;
                shared.store.depth().await.map(drop)
            }
            Err(_) => {
                // The probe's own commit may pass (a nearly full disk takes a small write) while
                // the store's check still fails: the health after it is the answer.
                shared.store.probe().await?;
                shared.store.health()
            }
        }
    };
    match tokio::time::timeout(STORE_PATIENCE, check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("the store did not answer within {STORE_PATIENCE:?}")),
    }
}
