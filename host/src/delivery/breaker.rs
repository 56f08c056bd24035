//! The circuit breaker: a destination that fails `pause_after` attempts in a row is paused in
//! the store (its deliveries wait there, keeping their attempts); while paused, one delivery is
//! tried every `probe_every`, and the first that succeeds resumes it, at a concurrency limit of
//! 1 that ramps up as the receiver allows (`control`), so the backlog drains at the pace it
//! sustains instead of all at once.
//!
//! What counts as a failure is `control`'s to say: a failing receiver (refused connections,
//! 5xx) always; back-pressure (timeouts, 429, 503) only once an adaptive limit is at 1. The
//! pause's reason says which of the two it was.
//!
//! Failures are counted per gateway ([`crate::control::Gate`]); the pause itself is in the
//! store, so every gateway sharing it stops sending, and one gateway at a time claims each
//! probe. [`watch`] re-reads the store's pauses every second (an operator's pause from another
//! gateway or the CLI is seen within that) and starts the probes that are due. Every change of
//! state is logged and counted. This file decides nothing about retries (`retry.rs` does).

use super::retry::Attempt;
use super::{Deliverer, LEASE};
use crate::config::model::Destination;
use crate::control::{FailureKind, Failures, Health};
use crate::queue::{DeliveryOutcome, DestinationPause, LeasedDelivery, PausedBy};
use crate::telemetry::Escaped;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often the store's pauses are read again and due probes started.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// What an attempt says about the destination: back-pressure (a timeout, 408, 429, 503), a
/// failing receiver (no connection, another 5xx), success, or a refusal of this one delivery
/// (other 4xx, 410), which a healthy receiver also gives.
pub(super) fn health(attempt: &Attempt) -> Health {
    match attempt {
        Attempt::TimedOut(_) => Health::Overloaded,
        Attempt::NoAnswer(_) => Health::Failing,
        Attempt::Published => Health::Healthy,
        Attempt::Unsendable(_) | Attempt::Refused(_) => Health::Neutral,
        Attempt::Answered { status, .. } => match status {
            200..=299 => Health::Healthy,
            408 | 429 | 503 => Health::Overloaded,
            500..=599 => Health::Failing,
            _ => Health::Neutral,
        },
    }
}

/// Pauses `destination` after `failures` failed attempts in a row.
pub(super) async fn trip(deliverer: &Deliverer, destination: &Destination, failures: Failures, last_error: &str) {
    let name = &destination.name;
    let every = destination.limits.probe_every;
    let n = failures.in_a_row;
    let reason = match failures.kind {
        FailureKind::Failing => format!("failing: {n} failed attempts in a row; the last: {last_error}"),
        FailureKind::Overloaded => {
            format!(
                "overloaded at the lowest concurrency: {n} attempts in a row timed out or were refused as too many; the last: {last_error}"
            )
        }
    };
    let failures = n;
    match deliverer.shared.store.pause_destination(name, PausedBy::Breaker, &reason, Some(every)).await {
        Ok(true) => {
            deliverer.shared.metrics.destination_changed(name, "paused");
            let probe_every_ms = every.as_millis() as u64;
            tracing::warn!(destination = %name, failures, probe_every_ms, "destination paused, {}", Escaped(&reason));
            deliverer.shared.control.update_pause(name, Some(pause_record(name, reason, every)));
        }
        Ok(false) => {}
        Err(e) => {
            tracing::error!(destination = %name, error = %e, "cannot pause the destination; it keeps being tried")
        }
    }
}

/// The outcome of a probe: a success resumes the destination and records the delivery; a
/// failure parks the delivery again without spending one of its attempts.
pub(super) async fn probed(
    deliverer: &Deliverer,
    destination: &Destination,
    leased: LeasedDelivery,
    outcome: DeliveryOutcome,
) {
    let name = &destination.name;
    match &outcome {
        DeliveryOutcome::Delivered => {
            match deliverer.shared.store.resume_destination(name, true).await {
                Ok(true) => {
                    deliverer.shared.metrics.destination_changed(name, "resumed");
                    tracing::info!(destination = %name, "probe succeeded: destination resumed");
                }
                Ok(false) => {}
                Err(e) => tracing::error!(destination = %name, error = %e, "probe succeeded but cannot resume"),
            }
            deliverer.shared.control.update_pause(name, None);
            deliverer.shared.control.gate(name).reset_failures();
            deliverer.count(name, leased.attempts + 1, &outcome);
            deliverer.record(leased, outcome).await;
        }
        DeliveryOutcome::Retry { error, .. } | DeliveryOutcome::Dead { error } => {
            let next_ms = destination.limits.probe_every.as_millis() as u64;
            tracing::info!(destination = %name, next_probe_in_ms = next_ms, "probe failed; still paused: {}", Escaped(error));
            deliverer.shared.metrics.delivery_attempted(name, "probe_failed");
            let id = leased.delivery.id.clone();
            deliverer.hand_back(&id, None, Some(format!("probe failed: {error}"))).await;
        }
    }
}

/// Every [`WATCH_EVERY`] until shutdown: reads the store's pauses into the gateway's control
/// and, for each breaker pause whose probe is due, claims it and runs the probe on `probes`.
pub(super) async fn watch(deliverer: Arc<Deliverer>, probes: TaskTracker, shutdown: CancellationToken) {
    loop {
        // A store that cannot answer keeps the pauses last read.
        let Ok(pauses) = deliverer.shared.store.destination_pauses().await else {
            tokio::select! {
                _ = tokio::time::sleep(WATCH_EVERY) => continue,
                _ = shutdown.cancelled() => return,
            }
        };
        let breaker: Vec<DestinationPause> =
            pauses.iter().filter(|p| p.paused_by == PausedBy::Breaker).cloned().collect();
        deliverer.shared.control.set_pauses(pauses);
        let snapshot = deliverer.shared.live.snapshot();
        deliverer.brokers.retain(&snapshot.config.destinations);
        for pause in breaker {
            let Some(destination) = snapshot.config.destinations.get(&pause.destination) else { continue };
            let every = destination.limits.probe_every;
            if let Ok(Some(leased)) = deliverer.shared.store.claim_probe(&pause.destination, every, LEASE).await {
                let d = deliverer.clone();
                probes.spawn(async move { d.run_one(leased, true).await });
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// The pause this gateway just made, as the store holds it (until the next read).
fn pause_record(name: &str, reason: String, every: Duration) -> DestinationPause {
    let now = crate::event::now_ms();
    DestinationPause {
        destination: name.to_owned(),
        paused_by: PausedBy::Breaker,
        reason,
        since_ms: now,
        probe_at_ms: Some(now + every.as_millis() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_pressure_failure_and_refusal_are_told_apart() {
        let answered = |status| Attempt::Answered { status, retry_after: None };
        assert_eq!(health(&answered(204)), Health::Healthy);
        for busy in [503, 429, 408] {
            assert_eq!(health(&answered(busy)), Health::Overloaded, "{busy}");
        }
        assert_eq!(health(&Attempt::TimedOut("slow".into())), Health::Overloaded);
        assert_eq!(health(&answered(500)), Health::Failing);
        assert_eq!(health(&Attempt::NoAnswer("refused".into())), Health::Failing);
        for refusal in [400, 404, 410, 422] {
            assert_eq!(health(&answered(refusal)), Health::Neutral, "{refusal}");
        }
    }
}
