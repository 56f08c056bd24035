//! The baseline for load benchmarks: a bare axum POST handler that reads the body and answers
//! 200 with a small JSON, as Switchyard's ingest does minus verification, storage and routing.
//! It also serves as the destination sink in end-to-end runs: `GET /count` says how many POSTs
//! it has answered.
//!
//! Run: `cargo run --release --example bare_axum -- 127.0.0.1:9000`

use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9000".into());
    let count = Arc::new(AtomicU64::new(0));
    let posted = count.clone();
    let app = Router::new()
        .route(
            "/{*path}",
            post(move |body: axum::body::Bytes| {
                let posted = posted.clone();
                async move {
                    posted.fetch_add(1, Ordering::Relaxed);
                    axum::Json(serde_json::json!({ "status": "accepted", "bytes": body.len() }))
                }
            }),
        )
        .route("/count", get(move || async move { count.load(Ordering::Relaxed).to_string() }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
