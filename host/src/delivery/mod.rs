//! Delivery: POST each delivery to its destination, with the destination's timeout and headers.
//!
//! The outbox is bounded: when destinations are slow, dispatch waits, which in turn fills the
//! ingest queue and makes ingest answer 503 — backpressure instead of unbounded memory. Each
//! delivery carries a stable id (`webhook-id`), and is signed with Standard Webhooks headers
//! when its destination has a `signing_secret`. This module knows nothing of plugins or routes
//! beyond the names it logs.

pub mod signing;

use crate::config::model::Destination;
use crate::metrics::Metrics;
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Concurrent outgoing requests.
const IN_FLIGHT: usize = 256;

/// One output of one route for one destination.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub route: String,
    pub destination: Destination,
    pub body: Bytes,
    pub headers: Vec<(String, String)>,
}

/// The bounded queue between dispatch and delivery.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: mpsc::Sender<Delivery>,
}

impl Outbox {
    pub fn bounded(capacity: usize) -> (Self, mpsc::Receiver<Delivery>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { tx }, rx)
    }

    /// Waits for room, then queues the delivery.
    pub async fn send(&self, delivery: Delivery) {
        if self.tx.send(delivery).await.is_err() {
            tracing::error!("delivery loop has stopped; delivery lost");
        }
    }
}

/// How one attempt ended.
#[derive(Debug)]
pub enum Outcome {
    Delivered(u16),
    Failed(String),
}

/// Runs until the outbox closes or `shutdown` fires, then waits for requests in flight.
pub async fn run(
    mut rx: mpsc::Receiver<Delivery>,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let tasks = TaskTracker::new();
    loop {
        let delivery = tokio::select! {
            d = rx.recv() => match d { Some(d) => d, None => break },
            _ = shutdown.cancelled() => break,
        };
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        let client = client.clone();
        let metrics = metrics.clone();
        let span = tracing::info_span!("delivery", delivery_id = %delivery.id, event_id = %delivery.event_id, destination = %delivery.destination.name);
        tasks.spawn(
            async move {
                match attempt(&client, &delivery).await {
                    Outcome::Delivered(status) => {
                        Metrics::inc(&metrics.delivered);
                        tracing::debug!(status, "delivered");
                    }
                    Outcome::Failed(why) => {
                        Metrics::inc(&metrics.delivery_failures);
                        tracing::warn!(route = %delivery.route, "delivery failed: {why}");
                    }
                }
                drop(permit);
            }
            .instrument(span),
        );
    }
    tasks.close();
    tasks.wait().await;
}

/// One HTTP attempt of one delivery.
pub async fn attempt(client: &reqwest::Client, delivery: &Delivery) -> Outcome {
    let d = &delivery.destination;
    let mut request = client.post(&d.url).timeout(d.timeout).body(delivery.body.clone());
    for (k, v) in d.headers.iter().chain(&delivery.headers) {
        request = request.header(k, v);
    }
    if let Some(secret) = &d.signing_secret {
        let now = crate::event::now_ms() / 1000;
        for (k, v) in signing::headers(secret, &delivery.id, now, &delivery.body) {
            request = request.header(k, v);
        }
    } else {
        request = request.header("webhook-id", &delivery.id);
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => Outcome::Delivered(r.status().as_u16()),
        Ok(r) => Outcome::Failed(format!("{} answered {}", d.url, r.status())),
        Err(e) if e.is_timeout() => Outcome::Failed(format!("{} did not answer within {:?}", d.url, d.timeout)),
        Err(e) => Outcome::Failed(format!("{}: {e}", d.url)),
    }
}

/// The HTTP client every delivery shares.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(64)
        .build()
}
