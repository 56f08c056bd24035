//! [`Shared`]: the handles of one running gateway that its parts read — the live snapshot,
//! the store, the metrics, the feed of what happens, each destination's delivery control, the
//! reload request, the last hook checks, the rates, and the shutdown signal.
//!
//! `app` builds one and hands a clone to each part; a part adds only what is its own (ingest
//! its error log, delivery its HTTP clients, the admin listener whether it is on loopback).
//! Every field is a cheap handle, so a clone is a few reference counts. This file holds no
//! logic beyond asking for a reload and waiting for its outcome: it is the one place a part
//! finds a handle another part also holds.

use crate::control::Control;
use crate::feed::Feed;
use crate::metrics::Metrics;
use crate::providers::bigcommerce::hooks::checks::Checks;
use crate::queue::Store;
use crate::rates::Rates;
use crate::reload::ReloadStatus;
use crate::reload::Reloader;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What every running part of a gateway may read: `live`, the config, routes, providers and
/// plugins being served (swapped whole on reload); `store`; `metrics`; `feed`, what happens to
/// events as it happens (the console and `switchyard tail` follow it); `control`, each
/// destination's limits and breaker state in this gateway; `reload`, which asks for a reload
/// now (SIGHUP, `POST /api/reload`); `checks`, the last check of each subscribing source's
/// registered hooks; `rates`, accepted and delivered per interval for the console's overview;
/// `shutdown`, which fires when the gateway stops (loops end, live streams close).
#[derive(Clone)]
pub struct Shared {
    pub live: Arc<Reloader>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub feed: Feed,
    pub control: Arc<Control>,
    pub reload: Arc<Notify>,
    pub checks: Arc<Checks>,
    pub rates: Arc<Rates>,
    pub shutdown: CancellationToken,
}

impl Shared {
    /// Fresh handles around `live` and `store`.
    pub fn new(live: Arc<Reloader>, store: Store) -> Self {
        Self {
            live,
            store,
            metrics: Arc::default(),
            feed: Feed::default(),
            control: Arc::default(),
            reload: Arc::default(),
            checks: Arc::default(),
            rates: Arc::default(),
            shutdown: CancellationToken::new(),
        }
    }
}

impl Shared {
    /// Asks the reload loop for a reload now and waits up to `patience` for its outcome
    /// (applied or rejected); `None` when it is still running.
    pub async fn reload_now(&self, patience: Duration) -> Option<Arc<ReloadStatus>> {
        let mut changes = self.live.subscribe();
        let before = changes.borrow_and_update().seq;
        self.reload.notify_one();
        let finished = tokio::time::timeout(patience, changes.wait_for(|s| s.seq > before)).await;
        finished.ok()?.ok().map(|status| status.clone())
    }
}
