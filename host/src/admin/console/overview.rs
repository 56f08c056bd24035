//! The overview: events/s in and delivered/s out over the last 15 minutes (the chart), the
//! queues (depth, age of the oldest due work, dead letters), the last reload with its errors
//! as file:line:column, and per source the webhooks answered by status with the reasons of
//! refusals. It is read again on the live stream and every few seconds.

use super::chart;
use super::view::{self, cap, state, time};
use crate::metrics::OTHER;
use crate::rates::INTERVAL;
use crate::shared::Shared;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use std::sync::atomic::Ordering;

pub async fn fragment(State(shared): State<Shared>) -> Response {
    let depth = match shared.store.depth().await {
        Ok(depth) => depth,
        Err(e) => return view::store_down(&e),
    };
    let points = shared.rates.points();
    let last = points.last().copied().unwrap_or_default();
    let per_second = |n: u64| format!("{:.1}", n as f64 / INTERVAL.as_secs_f64());
    html! {
        h2 { "Overview" }
        ul.cards aria-label="Now" {
            li { span.value { (per_second(last.accepted)) } span.label { "events/s in" } }
            li { span.value { (per_second(last.delivered)) } span.label { "delivered/s out" } }
            li { span.value { (depth.events_pending) } span.label { "events waiting for dispatch" } }
            li { span.value { (depth.deliveries_pending) } span.label { "deliveries due or retrying" } }
            li { span.value { (depth.deliveries_held) } span.label { "deliveries held (paused, ordered)" } }
            li { span.value { (view::millis(depth.oldest_due_ms)) } span.label { "oldest due work waiting" } }
            li { span.value { a href="/dead-letters" { (depth.dead) } } span.label { "dead letters" } }
        }
        (chart::rates(&points))
        (reload(&shared))
        (sources(&shared))
    }
    .into_response()
}

fn reload(shared: &Shared) -> Markup {
    let status = shared.live.status();
    let outcome = if status.applied { "applied" } else { "rejected" };
    html! {
        h3 { "Configuration" }
        p {
            "Last load or reload: " (state(outcome)) " at " (time(status.at_ms))
            " (" (status.applied_total) " applied, " (status.rejected_total) " rejected since start)."
            @if !status.applied { " The previous configuration is still serving." }
        }
        @if !status.errors.is_empty() {
            ul.error aria-label="Reload errors" {
                @for problem in &status.errors { li.mono { (cap(&problem.text, 1000)) } }
            }
        }
    }
}

/// Per source: answers by status, and refusals by reason.
fn sources(shared: &Shared) -> Markup {
    let m = &shared.metrics;
    let snapshot = shared.live.snapshot();
    let mut names: Vec<String> = snapshot.config.sources.keys().cloned().collect();
    names.push(OTHER.to_owned());
    let by_status = m.requests.snapshot();
    let reasons = m.verify_failures.snapshot();
    html! {
        h3 { "Sources" }
        table {
            caption.sr-only { "Webhooks answered per source since start" }
            thead { tr {
                th scope="col" { "Source" } th.num scope="col" { "Accepted (200)" } th.num scope="col" { "Refused" }
                th scope="col" { "Refusals by status" } th scope="col" { "Refusal reasons" }
            } }
            tbody {
                @for name in &names {
                    @let statuses = by_status.iter().find(|(n, _)| n == name).map(|(_, f)| f.snapshot()).unwrap_or_default();
                    @let count = |s: &str| statuses.iter().filter(|(k, _)| k == s).map(|(_, v)| v.load(Ordering::Relaxed)).sum::<u64>();
                    @let refused: Vec<(String, u64)> = statuses.iter().filter(|(k, _)| !k.starts_with('2')).map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed))).collect();
                    @let why = reasons.iter().find(|(n, _)| n == name).map(|(_, f)| f.snapshot()).unwrap_or_default();
                    @if name != OTHER || !statuses.is_empty() {
                        tr {
                            td { @if name == OTHER { "(unknown source)" } @else { (name) } }
                            td.num { (count("200")) }
                            td.num { (refused.iter().map(|(_, n)| n).sum::<u64>()) }
                            td { @for (status, n) in &refused { div { (status) ": " (n) } } }
                            td { @for (reason, n) in &why { div { (reason) ": " (n.load(Ordering::Relaxed)) } } }
                        }
                    }
                }
            }
        }
    }
}
