//! Counters of what the gateway did, shared by ingest, dispatch and delivery.
//!
//! Everything is atomics, updated on the hot path without locks. Labelled counters live in a
//! [`Family`]: a map from label value to counter behind an `ArcSwap`, read with one atomic
//! load; only the first use of a new label value takes a lock (copy-on-write), and label values
//! come from config names or fixed lists, never from request data, so families stay small. The
//! admin listener renders all of it as Prometheus text (`admin/metrics.rs`). It never holds
//! event data.

use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The kinds a plugin failure is labelled with.
pub const PLUGIN_FAILURE_KINDS: [&str; 6] = ["timeout", "memory", "trap", "output", "retry_later", "failed"];

/// Upper bounds (seconds) of the plugin duration histogram's buckets.
pub const PLUGIN_SECONDS_BUCKETS: [f64; 12] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// Most label values one family keeps; later ones are counted under [`OTHER`].
const MAX_LABEL_VALUES: usize = 1024;

/// The label value that stands for "one not known to the config" or "past the cap".
pub const OTHER: &str = "_other";

#[derive(Debug, Default)]
pub struct Metrics {
    /// Webhooks answered 200.
    pub accepted: AtomicU64,
    /// Webhooks answered 200 as duplicates of an event already accepted (not processed again).
    pub duplicates: AtomicU64,
    /// Webhooks refused (4xx) or shed (503).
    pub refused: AtomicU64,
    pub shed: AtomicU64,
    /// Events that matched no route.
    pub unrouted: AtomicU64,
    /// Plugin calls that returned actions.
    pub plugin_calls: AtomicU64,
    pub dropped: AtomicU64,
    pub delivered: AtomicU64,
    pub delivery_failures: AtomicU64,
    /// Deliveries and events moved to the dead-letter queue.
    pub dead_letters: AtomicU64,
    /// Hooks the platform had deactivated that the subscriptions check reactivated.
    pub subscriptions_reactivated: AtomicU64,
    /// Outcomes not written because another gateway had taken the work over (this one froze
    /// or was cut off past its lease).
    pub leases_lost: AtomicU64,
    /// Lease renewal rounds, and the leases they extended.
    pub lease_renewals: AtomicU64,
    pub leases_renewed: AtomicU64,

    /// Ingest answers: source → HTTP status → count.
    pub requests: Family<Family<AtomicU64>>,
    /// Refused signatures and malformed webhooks: source → reason → count.
    pub verify_failures: Family<Family<AtomicU64>>,
    /// Events each route received.
    pub route_events: Family<AtomicU64>,
    /// Time of successful and failed plugin calls, by plugin.
    pub plugin_seconds: Family<Histogram>,
    /// Plugin failures: plugin → kind → count.
    pub plugin_failures_by: Family<Family<AtomicU64>>,
    /// Delivery attempts: destination → outcome (delivered, retry, dead) → count.
    pub delivery_attempts: Family<Family<AtomicU64>>,
    /// Plugins' outbound requests: plugin → outcome (ok, http_error, refused, failed, timeout).
    pub plugin_fetches: Family<Family<AtomicU64>>,
    /// Time to each outbound request's answer, by plugin.
    pub plugin_fetch_seconds: Family<Histogram<Network>>,
    /// Events a route's filter kept from its plugin, by route.
    pub route_filtered: Family<AtomicU64>,
    /// Deliveries a limit or a pause sent back to wait: destination → reason → count.
    pub delivery_waits: Family<Family<AtomicU64>>,
    /// Destinations paused and resumed: destination → change (paused, resumed) → count.
    pub destination_changes: Family<Family<AtomicU64>>,
    /// Time each delivery attempt took, by destination.
    pub delivery_seconds: Family<Histogram<Network>>,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Failures of one kind so far, summed over all plugins (tests and the admin API read it;
    /// the hot path only counts per plugin and kind).
    pub fn plugin_failures(&self, kind: &str) -> u64 {
        self.plugin_failures_by.snapshot().iter().map(|(_, kinds)| kinds.get(kind)).sum()
    }

    /// A call of `plugin` that returned actions after `took`.
    pub fn plugin_ran(&self, plugin: &str, took: Duration) {
        Self::inc(&self.plugin_calls);
        self.plugin_seconds.with(plugin, |h| h.observe(took));
    }

    /// A call of `plugin` that failed with `kind` (see [`PLUGIN_FAILURE_KINDS`]) after `took`.
    pub fn plugin_failed_in(&self, plugin: &str, kind: &str, took: Duration) {
        self.plugin_seconds.with(plugin, |h| h.observe(took));
        self.plugin_failures_by.with(plugin, |kinds| kinds.with(kind, Self::inc));
    }

    /// A webhook on a configured `source` refused by its provider for `reason`.
    pub fn verify_failed(&self, source: &str, reason: &str) {
        self.verify_failures.with(source, |reasons| reasons.with(reason, Self::inc));
    }

    /// An event routed to `route`.
    pub fn routed(&self, route: &str) {
        self.route_events.with(route, Self::inc);
    }

    /// One outbound request of `plugin` that ended in `outcome` after `took`.
    pub fn plugin_fetched(&self, plugin: &str, outcome: &str, took: Duration) {
        self.plugin_fetches.with(plugin, |outcomes| outcomes.with(outcome, Self::inc));
        if outcome != "refused" {
            self.plugin_fetch_seconds.with(plugin, |h| h.observe(took));
        }
    }

    /// An event `route`'s filter kept from its plugin.
    pub fn filtered(&self, route: &str) {
        self.route_filtered.with(route, Self::inc);
    }

    /// A delivery to `destination` sent back to wait for `reason` (rate, concurrency, paused).
    pub fn delivery_waited(&self, destination: &str, reason: &str) {
        self.delivery_waits.with(destination, |reasons| reasons.with(reason, Self::inc));
    }

    /// `destination` was paused or resumed (`change`).
    pub fn destination_changed(&self, destination: &str, change: &str) {
        self.destination_changes.with(destination, |changes| changes.with(change, Self::inc));
    }

    /// One attempt to deliver to `destination` that ended in `outcome`.
    pub fn delivery_attempted(&self, destination: &str, outcome: &str) {
        self.delivery_attempts.with(destination, |outcomes| outcomes.with(outcome, Self::inc));
    }
}

/// Values of one metric by one label: lock-free to read, copy-on-write to extend.
#[derive(Debug)]
pub struct Family<V> {
    values: ArcSwap<HashMap<Box<str>, Arc<V>>>,
    grow: Mutex<()>,
}

impl<V> Default for Family<V> {
    fn default() -> Self {
        Self { values: ArcSwap::from_pointee(HashMap::new()), grow: Mutex::new(()) }
    }
}

impl<V: Default> Family<V> {
    /// Runs `f` on the value for `label`, creating it on first use.
    pub fn with<R>(&self, label: &str, f: impl FnOnce(&V) -> R) -> R {
        if let Some(v) = self.values.load().get(label) {
            return f(v);
        }
        f(&self.insert(label))
    }

    #[cold]
    fn insert(&self, label: &str) -> Arc<V> {
        let _one_writer = self.grow.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.values.load_full();
        if let Some(v) = current.get(label) {
            return v.clone();
        }
        let label = if current.len() >= MAX_LABEL_VALUES { OTHER } else { label };
        if let Some(v) = current.get(label) {
            return v.clone();
        }
        let value = Arc::new(V::default());
        let mut next = HashMap::clone(&current);
        next.insert(label.into(), value.clone());
        self.values.store(Arc::new(next));
        value
    }
}

impl<V> Family<V> {
    /// Every label value and its value, sorted by label, for rendering.
    pub fn snapshot(&self) -> Vec<(String, Arc<V>)> {
        let mut all: Vec<(String, Arc<V>)> =
            self.values.load().iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

impl Family<AtomicU64> {
    /// The count for `label` (0 when never counted).
    pub fn get(&self, label: &str) -> u64 {
        self.values.load().get(label).map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

impl Family<Family<AtomicU64>> {
    /// The count for (`outer`, `inner`) (0 when never counted).
    pub fn get(&self, outer: &str, inner: &str) -> u64 {
        self.values.load().get(outer).map_or(0, |f| f.get(inner))
    }
}

/// The bucket bounds of one kind of histogram.
pub trait Bounds: Send + Sync + 'static {
    const BOUNDS: [f64; BUCKETS];
}

/// Bounds for work measured in microseconds to a second (plugin calls, commits).
#[derive(Debug, Default)]
pub struct Fast;

impl Bounds for Fast {
    const BOUNDS: [f64; BUCKETS] = PLUGIN_SECONDS_BUCKETS;
}

/// Bounds for requests over a network, a millisecond to ten seconds (plugins' fetches).
#[derive(Debug, Default)]
pub struct Network;

impl Bounds for Network {
    const BOUNDS: [f64; BUCKETS] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
}

/// How many bounds a histogram has.
pub const BUCKETS: usize = PLUGIN_SECONDS_BUCKETS.len();

/// A histogram of durations over `B`'s bounds.
#[derive(Debug, Default)]
pub struct Histogram<B: Bounds = Fast> {
    /// Observations per bucket, not cumulative; the last is above every bound.
    buckets: [AtomicU64; BUCKETS + 1],
    sum_nanos: AtomicU64,
    _bounds: std::marker::PhantomData<B>,
}

impl<B: Bounds> Histogram<B> {
    pub fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let i = B::BOUNDS.iter().position(|b| seconds <= *b).unwrap_or(BUCKETS);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Cumulative counts per bound (ending with +Inf, which is the total count) and the sum in
    /// seconds.
    pub fn cumulative(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let mut running = 0;
        let mut out = Vec::with_capacity(BUCKETS);
        for (bound, count) in B::BOUNDS.iter().zip(&self.buckets) {
            running += count.load(Ordering::Relaxed);
            out.push((*bound, running));
        }
        let total = running + self.buckets[BUCKETS].load(Ordering::Relaxed);
        (out, total, self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9)
    }

    /// The `q` quantile (0 < q ≤ 1) as the upper bound of the bucket it falls in, in seconds:
    /// `Bound(b)` means "at most b"; `Above(b)` means it is past the last bound b. `None`
    /// before any observation.
    pub fn quantile(&self, q: f64) -> Option<Quantile> {
        let (buckets, total, _) = self.cumulative();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let last = B::BOUNDS[BUCKETS - 1];
        Some(
            buckets
                .iter()
                .find(|(_, count)| *count >= rank)
                .map_or(Quantile::Above(last), |(b, _)| Quantile::Bound(*b)),
        )
    }
}

/// A quantile read from a histogram's buckets (see [`Histogram::quantile`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantile {
    Bound(f64),
    Above(f64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_counts_each_label_apart_and_caps_new_labels() {
        let family: Family<AtomicU64> = Family::default();
        for i in 0..MAX_LABEL_VALUES + 10 {
            family.with(&format!("route-{i}"), Metrics::inc);
        }
        family.with("route-0", Metrics::inc);
        assert_eq!(family.get("route-0"), 2);
        assert_eq!(family.get(OTHER), 10, "labels past the cap are folded together");
        assert_eq!(family.snapshot().len(), MAX_LABEL_VALUES + 1);
    }

    #[test]
    fn a_histogram_is_cumulative_and_sums_seconds() {
        let h: Histogram = Histogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(2));
        let (buckets, count, sum) = h.cumulative();
        assert_eq!(buckets.first(), Some(&(0.0001, 1)));
        assert_eq!(buckets.iter().find(|(b, _)| *b == 0.005).map(|(_, c)| *c), Some(2));
        assert_eq!(buckets.last(), Some(&(1.0, 2)));
        assert_eq!(count, 3);
        assert!((sum - 2.00305).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn a_quantile_is_the_bound_of_the_bucket_it_falls_in() {
        let h: Histogram = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for _ in 0..98 {
            h.observe(Duration::from_micros(400));
        }
        h.observe(Duration::from_millis(20));
        h.observe(Duration::from_secs(3));
        assert_eq!(h.quantile(0.5), Some(Quantile::Bound(0.0005)));
        assert_eq!(h.quantile(0.99), Some(Quantile::Bound(0.025)));
        assert_eq!(h.quantile(1.0), Some(Quantile::Above(1.0)));
    }

    #[test]
    fn concurrent_first_uses_of_a_label_count_every_increment() {
        let family: Arc<Family<Family<AtomicU64>>> = Arc::default();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let family = family.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        family.with(&format!("d{}", i % 4), |f| f.with("delivered", Metrics::inc));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap_or_else(|_| panic!("a counting thread panicked"));
        }
        let total: u64 = (0..4).map(|i| family.get(&format!("d{i}"), "delivered")).sum();
        assert_eq!(total, 8000);
    }
}
