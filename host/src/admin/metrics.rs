//! `GET /metrics`: the gateway's counters and gauges in the Prometheus text format (0.0.4).
//!
//! Counters come from [`Metrics`](crate::metrics::Metrics); reload counts and the last
//! reload's time from the live [`ReloadStatus`](crate::reload::ReloadStatus); queue depth and
//! the age of the oldest due work from the store, asked once per scrape (left out when it does
//! not answer in time). This file only formats: it never changes a counter.

use crate::metrics::{Bounds, Family, Histogram, Metrics};
use crate::shared::Shared;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// How long a scrape waits for the store's depth.
const STORE_PATIENCE: Duration = Duration::from_millis(500);

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn render(State(shared): State<Shared>) -> impl IntoResponse {
    let depth = tokio::time::timeout(STORE_PATIENCE, shared.store.depth()).await.ok().and_then(Result::ok);
    let mut out = Text::default();
    counters(&mut out, &shared.metrics);
    destinations(&mut out, &shared);
    reloads(&mut out, &shared);
    let commit = "Time each store batch (many writes, one transaction) took to execute and commit, fsync included.";
    out.histogram("switchyard_store_commit_seconds", commit, shared.store.commit_seconds());
    if let Some(d) = depth {
        out.gauge("switchyard_queue_events_pending", "Events stored and not yet fully dispatched.", d.events_pending);
        out.gauge("switchyard_queue_deliveries_pending", "Deliveries due or in flight.", d.deliveries_pending);
        let held =
            "Deliveries held back: parked for a paused destination, or waiting behind their ordered lane's head.";
        out.gauge("switchyard_queue_deliveries_held", held, d.deliveries_held);
        out.gauge("switchyard_queue_dead_letters", "Dead letters waiting for a replay.", d.dead);
        let oldest = d.oldest_due_ms as f64 / 1000.0;
        out.gauge("switchyard_queue_oldest_due_seconds", "Age of the oldest due, unleased work.", oldest);
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], out.0)
}

fn counters(out: &mut Text, m: &Metrics) {
    let requests = "Webhooks answered on POST /hooks/{source}, by source (`_other` for unknown ones) and status.";
    out.family2("switchyard_ingest_requests_total", requests, ["source", "status"], &m.requests);
    let verify = "Webhooks refused by their source's provider, by reason.";
    out.family2("switchyard_verify_failures_total", verify, ["source", "reason"], &m.verify_failures);
    out.counter("switchyard_events_accepted_total", "Webhooks stored as new events.", Metrics::get(&m.accepted));
    let dup = "Webhooks acknowledged as duplicates and not processed again.";
    out.counter("switchyard_events_duplicate_total", dup, Metrics::get(&m.duplicates));
    let shed = "Webhooks answered 503 because the store could not take them.";
    out.counter("switchyard_events_shed_total", shed, Metrics::get(&m.shed));
    out.counter("switchyard_events_unrouted_total", "Events no route matched.", Metrics::get(&m.unrouted));
    out.family1("switchyard_route_events_total", "Events each route received.", "route", &m.route_events);
    let seconds = "Time plugins took per call, successful or not.";
    out.histograms("switchyard_plugin_duration_seconds", seconds, "plugin", &m.plugin_seconds);
    let failures = "Plugin calls that failed, by plugin and kind (timeout, memory, trap, output, retry_later, failed).";
    out.family2("switchyard_plugin_failures_total", failures, ["plugin", "kind"], &m.plugin_failures_by);
    out.counter("switchyard_plugin_drops_total", "Events plugins dropped on purpose.", Metrics::get(&m.dropped));
    let fetches = "Plugins' outbound requests, by plugin and outcome (ok, http_error, refused, failed, timeout).";
    out.family2("switchyard_plugin_fetches_total", fetches, ["plugin", "outcome"], &m.plugin_fetches);
    let fetch_seconds = "Time plugins' outbound requests took to be answered (or to fail), by plugin.";
    out.histograms("switchyard_plugin_fetch_seconds", fetch_seconds, "plugin", &m.plugin_fetch_seconds);
    let attempts = "Delivery attempts, by destination and outcome (delivered, retry, dead).";
    out.family2("switchyard_delivery_attempts_total", attempts, ["destination", "outcome"], &m.delivery_attempts);
    let attempt_seconds = "Time delivery attempts took, by destination.";
    out.histograms("switchyard_delivery_duration_seconds", attempt_seconds, "destination", &m.delivery_seconds);
    let waits = "Deliveries sent back to wait in the store, not attempted, by destination and reason (rate, concurrency, paused).";
    out.family2("switchyard_delivery_waits_total", waits, ["destination", "reason"], &m.delivery_waits);
    let changes = "Destinations paused and resumed, by destination and change.";
    out.family2("switchyard_destination_changes_total", changes, ["destination", "change"], &m.destination_changes);
    let filtered = "Events a route's filter kept from its plugin, by route.";
    out.family1("switchyard_route_filtered_total", filtered, "route", &m.route_filtered);
    let dead = "Events and deliveries moved to the dead-letter queue.";
    out.counter("switchyard_dead_letters_total", dead, Metrics::get(&m.dead_letters));
    let reactivated = "Registered hooks the platform had deactivated that the gateway reactivated.";
    out.counter("switchyard_subscriptions_reactivated_total", reactivated, Metrics::get(&m.subscriptions_reactivated));
    let lost = "Outcomes not written because another gateway had taken the work over past this one's lease.";
    out.counter("switchyard_leases_lost_total", lost, Metrics::get(&m.leases_lost));
    let rounds = "Lease renewal rounds (one statement per table each).";
    out.counter("switchyard_lease_renewals_total", rounds, Metrics::get(&m.lease_renewals));
    let renewed = "Leases extended by renewal rounds.";
    out.counter("switchyard_leases_renewed_total", renewed, Metrics::get(&m.leases_renewed));
}

/// Per destination in the serving config: this gateway's limits, requests in flight, and
/// whether the store holds it paused.
fn destinations(out: &mut Text, shared: &Shared) {
    let snapshot = shared.live.snapshot();
    let pauses = shared.control.pauses();
    let rows: Vec<_> = snapshot.config.destinations.values().collect();
    out.header(
        "switchyard_destination_paused",
        "gauge",
        "1 while the destination is paused (by its breaker or an operator).",
    );
    for d in &rows {
        out.sample(
            "switchyard_destination_paused",
            &[("destination", &d.name)],
            u8::from(pauses.contains_key(&d.name)),
        );
    }
    out.header("switchyard_destination_in_flight", "gauge", "Attempts this gateway has in flight to the destination.");
    for d in &rows {
        out.sample(
            "switchyard_destination_in_flight",
            &[("destination", &d.name)],
            shared.control.view(&d.name).in_flight,
        );
    }
    let rate = "The destination's rate limit in deliveries per second, per gateway (absent: none).";
    out.header("switchyard_destination_rate_limit", "gauge", rate);
    for d in &rows {
        if let Some(r) = d.limits.rate {
            let per_second = f64::from(r.count) / r.per.as_secs_f64();
            out.sample("switchyard_destination_rate_limit", &[("destination", &d.name)], per_second);
        }
    }
    let concurrency = "The destination's concurrency limit now, per gateway: fixed, or as the adaptive limit stands (absent before its first delivery).";
    out.header("switchyard_destination_concurrency_limit", "gauge", concurrency);
    let views: Vec<_> = rows.iter().map(|d| (d.name.as_str(), shared.control.view(&d.name))).collect();
    for (name, view) in &views {
        if let Some(limit) = view.concurrency_limit {
            out.sample("switchyard_destination_concurrency_limit", &[("destination", name)], limit);
        }
    }
    let baseline = "The round trip of the destination when it is not strained, as the adaptive limit learned it.";
    out.header("switchyard_destination_rtt_baseline_seconds", "gauge", baseline);
    for (name, view) in &views {
        if let Some(ms) = view.rtt_baseline_ms {
            out.sample("switchyard_destination_rtt_baseline_seconds", &[("destination", name)], ms / 1e3);
        }
    }
}

fn reloads(out: &mut Text, shared: &Shared) {
    let status = shared.live.status();
    let name = "switchyard_reloads_total";
    out.header(name, "counter", "Reloads of routes.toml and plugins since start, by outcome.");
    out.sample(name, &[("outcome", "applied")], status.applied_total);
    out.sample(name, &[("outcome", "rejected")], status.rejected_total);
    let ok = "Whether the last reload was applied (1) or rejected, leaving the previous config serving (0).";
    out.gauge("switchyard_config_last_reload_successful", ok, u64::from(status.applied));
    let at = status.at_ms as f64 / 1000.0;
    out.gauge("switchyard_config_last_reload_timestamp_seconds", "When the last load or reload finished.", at);
    let snapshot = shared.live.snapshot();
    out.gauge("switchyard_config_routes", "Routes in the serving config.", snapshot.config.routes.len());
    out.gauge("switchyard_config_plugins", "Plugins in the serving config.", snapshot.plugins.len());
}

/// Prometheus text, written metric by metric.
#[derive(Default)]
struct Text(String);

impl Text {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(self.0, "{sep}{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.header(name, "counter", help);
        self.sample(name, &[], value);
    }

    fn gauge(&mut self, name: &str, help: &str, value: impl std::fmt::Display) {
        self.header(name, "gauge", help);
        self.sample(name, &[], value);
    }

    fn family1(&mut self, name: &str, help: &str, label: &str, family: &Family<AtomicU64>) {
        self.header(name, "counter", help);
        for (value, count) in family.snapshot() {
            self.sample(name, &[(label, &value)], Metrics::get(&count));
        }
    }

    fn family2(&mut self, name: &str, help: &str, labels: [&str; 2], family: &Family<Family<AtomicU64>>) {
        self.header(name, "counter", help);
        for (outer, inner) in family.snapshot() {
            for (value, count) in inner.snapshot() {
                self.sample(name, &[(labels[0], &outer), (labels[1], &value)], Metrics::get(&count));
            }
        }
    }

    fn histogram<B: Bounds>(&mut self, name: &str, help: &str, histogram: &Histogram<B>) {
        self.header(name, "histogram", help);
        let (buckets, total, seconds) = histogram.cumulative();
        for (bound, n) in buckets {
            self.sample(&format!("{name}_bucket"), &[("le", &bound.to_string())], n);
        }
        self.sample(&format!("{name}_bucket"), &[("le", "+Inf")], total);
        self.sample(&format!("{name}_sum"), &[], seconds);
        self.sample(&format!("{name}_count"), &[], total);
    }

    fn histograms<B: Bounds>(&mut self, name: &str, help: &str, label: &str, family: &Family<Histogram<B>>) {
        self.header(name, "histogram", help);
        let (bucket, sum, count) = (format!("{name}_bucket"), format!("{name}_sum"), format!("{name}_count"));
        for (value, histogram) in family.snapshot() {
            let (buckets, total, seconds) = histogram.cumulative();
            for (bound, n) in buckets {
                self.sample(&bucket, &[(label, &value), ("le", &bound.to_string())], n);
            }
            self.sample(&bucket, &[(label, &value), ("le", "+Inf")], total);
            self.sample(&sum, &[(label, &value)], seconds);
            self.sample(&count, &[(label, &value)], total);
        }
    }
}

/// A label value as the text format wants it: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut text = Text::default();
        text.sample("m", &[("route", "a \"b\"\\c\nd")], 1);
        assert_eq!(text.0, "m{route=\"a \\\"b\\\"\\\\c\\nd\"} 1\n");
    }

    #[test]
    fn a_histogram_ends_with_inf_sum_and_count() {
        let family: Family<Histogram> = Family::default();
        family.with("p", |h| h.observe(Duration::from_millis(2)));
        let mut text = Text::default();
        text.histograms("h", "help", "plugin", &family);
        assert!(text.0.contains("h_bucket{plugin=\"p\",le=\"0.001\"} 0\n"), "{}", text.0);
        assert!(text.0.contains("h_bucket{plugin=\"p\",le=\"0.0025\"} 1\n"), "{}", text.0);
        assert!(
            text.0
                .contains("h_bucket{plugin=\"p\",le=\"+Inf\"} 1\nh_sum{plugin=\"p\"} 0.002\nh_count{plugin=\"p\"} 1\n")
        );
    }
}
