//! Keeps this gateway's claim on its work alive: every third of `storage.lease_secs`, one
//! round writes its heartbeat and renews every lease it holds (`queue::Store::renew`), so the
//! leases can be short and a gateway that dies, freezes or loses the network loses its work to
//! the others within one lease. Runs until the gateway has finished its work in flight, then
//! hands every lease it still holds back. This file never touches a row itself.

use crate::metrics::Metrics;
use crate::queue::{NodeInfo, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What this gateway says about itself in the node list.
pub fn this_node() -> NodeInfo {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().chars().take(255).collect::<String>())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    NodeInfo { host, version: env!("CARGO_PKG_VERSION").into(), started_at_ms: crate::event::now_ms() }
}

/// How often a round runs for leases of `lease`: three rounds fit in one lease, so one late or
/// failed round loses nothing.
pub fn every(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(100))
}

/// Renews until `stop`, then hands every lease still held back (the caller cancels `stop` once
/// work in flight has ended, or the grace period has).
pub async fn run(store: Store, lease: Duration, metrics: Arc<Metrics>, stop: CancellationToken) {
    let me = this_node();
    let mut tick = tokio::time::interval(every(lease));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
        match store.renew(me.clone(), lease).await {
            Ok(renewed) => {
                Metrics::inc(&metrics.lease_renewals);
                metrics
                    .leases_renewed
                    .fetch_add(renewed.events + renewed.deliveries, std::sync::atomic::Ordering::Relaxed);
                if std::mem::take(&mut failing) {
                    tracing::info!("lease renewal works again");
                }
            }
            Err(e) if !failing => {
                failing = true;
                tracing::error!(error = %e, "cannot renew this gateway's leases; other gateways take its work over once they pass");
            }
            Err(_) => {}
        }
    }
    match store.hand_back().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(leases = n, "handed leases back for other gateways to take"),
        Err(e) => tracing::warn!(error = %e, "cannot hand leases back; they pass on their own"),
    }
}
