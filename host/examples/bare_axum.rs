//! The baseline for load benchmarks: a bare axum POST handler that reads the body and answers
//! 200 with a small JSON, as Switchyard's ingest does minus verification, storage and routing.
//! It also serves as the destination sink in end-to-end runs (`GET /count` says how many POSTs
//! it has answered), over HTTPS with `--tls`, and as a slow upstream with `--delay-ms` (GETs
//! are answered after the delay too).
//!
//! Run: `cargo run --release --example bare_axum -- 127.0.0.1:9000 [--tls CERT KEY] [--delay-ms N]`

use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().cloned().unwrap_or_else(|| "127.0.0.1:9000".into());
    let flag = |name: &str, n: usize| args.iter().position(|a| a == name).map(|i| args[i + 1..=i + n].to_vec());
    let delay = Duration::from_millis(flag("--delay-ms", 1).and_then(|v| v[0].parse().ok()).unwrap_or(0));
    let count = Arc::new(AtomicU64::new(0));
    let (posted, fetched) = (count.clone(), count.clone());
    let app = Router::new()
        .route(
            "/{*path}",
            post(move |body: axum::body::Bytes| {
                let posted = posted.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    posted.fetch_add(1, Ordering::Relaxed);
                    axum::Json(serde_json::json!({ "status": "accepted", "bytes": body.len() }))
                }
            })
            .get(move || {
                let fetched = fetched.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    fetched.fetch_add(1, Ordering::Relaxed);
                    axum::Json(serde_json::json!({ "id": 250, "status": "Shipped" }))
                }
            }),
        )
        .route("/count", get(move || async move { count.load(Ordering::Relaxed).to_string() }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let Some(files) = flag("--tls", 2) else {
        axum::serve(listener, app).await?;
        return Ok(());
    };
    let (cert, key) = (std::fs::read(&files[0])?, std::fs::read(&files[1])?);
    let certified = switchyard::tls::certified_key(&cert, &key)?;
    let config = switchyard::tls::server_config(Arc::new(move || Some(certified.clone())))?;
    let serving = switchyard::http_server::Serving {
        router: app,
        tls: Some(config),
        header_timeout: switchyard::http_server::HEADER_READ_TIMEOUT,
    };
    switchyard::http_server::serve(listener, serving, tokio_util::sync::CancellationToken::new()).await;
    Ok(())
}
