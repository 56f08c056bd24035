//! What the binary-alone and image tests share: a receiver to deliver to.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use std::sync::{Arc, Mutex};

/// A receiver on loopback that keeps every body POSTed to it.
pub async fn sink() -> (u16, Arc<Mutex<Vec<serde_json::Value>>>) {
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let app = Router::new()
        .route(
            "/{*path}",
            post(|State(got): State<Arc<Mutex<Vec<serde_json::Value>>>>, body: axum::body::Bytes| async move {
                got.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or_default());
                "ok"
            }),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, got)
}
