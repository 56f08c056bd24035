//! Delivery: lease due deliveries from the store, POST each to its destination, and record
//! the outcome — delivered, retry at backoff(attempt), or dead letter.
//!
//! The destination is looked up by name in the snapshot current at each attempt, so a fixed
//! URL in routes.toml applies to retries and replays. Every attempt of a delivery carries the
//! same `webhook-id` (the delivery id), signed with Standard Webhooks headers when the
//! destination has a `signing_secret`, so receivers can verify and deduplicate. This module
//! knows nothing of plugins or routing.

pub mod retry;
pub mod signing;

use crate::config::model::Destination;
use crate::metrics::Metrics;
use crate::queue::{DeliveryOutcome, LeasedDelivery, NewDelivery, Store};
use crate::reload::Live;
use retry::Attempt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Concurrent outgoing requests.
const IN_FLIGHT: usize = 256;

/// How long a leased delivery stays hidden from other workers. SQLite frees a dead process's
/// leases at the next start; PostgreSQL caps leases at 11 minutes (see `queue/postgres.rs`).
const LEASE: Duration = Duration::from_secs(15 * 60);

/// Runs until `shutdown`, then waits for requests in flight.
pub async fn run(
    live: Arc<Live>,
    store: Store,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let shared = &store;
    let lease = move |n| async move { shared.lease_deliveries(n, LEASE).await.unwrap_or_default() };
    let work = |leased: LeasedDelivery| {
        let d = &leased.delivery;
        let span =
            tracing::info_span!("delivery", delivery_id = %d.id, event_id = %d.event_id, destination = %d.destination);
        let (live, store, client, metrics) = (live.clone(), store.clone(), client.clone(), metrics.clone());
        async move { deliver(&live, &store, &client, &metrics, leased).await }.instrument(span)
    };
    let handed = match store.hand_deliveries(IN_FLIGHT, LEASE).await {
        Ok(handed) => handed,
        Err(e) => return tracing::error!(error = %e, "delivery cannot start: the store is closed"),
    };
    crate::workers::run(IN_FLIGHT, handed, lease, move || shared.deliveries_ready(), work, shutdown).await;
}

async fn deliver(live: &Live, store: &Store, client: &reqwest::Client, metrics: &Metrics, leased: LeasedDelivery) {
    let snapshot = live.snapshot();
    let d = &leased.delivery;
    let outcome = match snapshot.config.destinations.get(&d.destination) {
        None => DeliveryOutcome::Dead { error: format!("destination `{}` is no longer configured", d.destination) },
        Some(destination) => {
            let attempt = attempt(client, destination, d).await;
            retry::decide(&destination.retry, leased.attempts + 1, &attempt, destination.url.as_str())
        }
    };
    let label = match &outcome {
        DeliveryOutcome::Delivered => "delivered",
        DeliveryOutcome::Retry { .. } => "retry",
        DeliveryOutcome::Dead { .. } => "dead",
    };
    metrics.delivery_attempted(&d.destination, label);
    match &outcome {
        DeliveryOutcome::Delivered => {
            Metrics::inc(&metrics.delivered);
            tracing::debug!(attempt = leased.attempts + 1, "delivered");
        }
        DeliveryOutcome::Retry { retry_in, error } => {
            Metrics::inc(&metrics.delivery_failures);
            tracing::warn!(
                attempt = leased.attempts + 1,
                retry_in_ms = retry_in.as_millis() as u64,
                "delivery failed, will retry: {error}"
            );
        }
        DeliveryOutcome::Dead { error } => {
            Metrics::inc(&metrics.delivery_failures);
            Metrics::inc(&metrics.dead_letters);
            tracing::error!(attempt = leased.attempts + 1, "delivery dead-lettered: {error}");
        }
    }
    if let Err(e) = store.finish_delivery(d.id.clone(), outcome).await {
        tracing::error!(error = %e, "cannot record the delivery outcome; it will be attempted again");
    }
}

/// One HTTP attempt of one delivery.
pub async fn attempt(client: &reqwest::Client, destination: &Destination, delivery: &NewDelivery) -> Attempt {
    let d = destination;
    let mut request =
        client.post(d.url.clone()).timeout(d.timeout).headers(d.headers.clone()).body(delivery.body.clone());
    for (k, v) in &delivery.headers {
        request = request.header(k, v);
    }
    let now = crate::event::now_ms() / 1000;
    match &d.signing_secret {
        Some(secret) => {
            for (k, v) in signing::headers(secret, &delivery.id, now, &delivery.body) {
                request = request.header(k, v);
            }
        }
        None => request = request.header("webhook-id", &delivery.id).header("webhook-timestamp", now.to_string()),
    }
    match request.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry_after = (status == 429 || status == 503)
                .then(|| {
                    r.headers()
                        .get(reqwest::header::RETRY_AFTER)?
                        .to_str()
                        .ok()
                        .and_then(|v| retry::parse_retry_after(v, now))
                })
                .flatten();
            Attempt::Answered { status, retry_after }
        }
        Err(e) if e.is_timeout() => Attempt::NoAnswer(format!("{} did not answer within {:?}", d.url, d.timeout)),
        Err(e) => Attempt::NoAnswer(format!("{}: {}", d.url, error_chain(&e))),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The HTTP client every delivery shares. It does not follow redirects: a POST redirected
/// with 301/302 would arrive as a GET without its body, so a 3xx is an answer like any other
/// non-2xx (retried, then dead-lettered) and the operator fixes the destination's URL.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}
