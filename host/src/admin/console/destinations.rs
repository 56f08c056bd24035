//! The destinations page: each one's state (active, or paused by whom and why), this
//! gateway's requests in flight, success rate and latency (p50, p99) of its attempts since
//! start, what the store holds for it, and pause/resume buttons — the same actions as
//! `POST /api/destinations/{name}/pause|resume` (which they call), a pause after a confirmation.

use super::super::destinations as api;
use super::view::{self, cap, quantile, state, time};
use crate::metrics::Metrics;
use crate::shared::Shared;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

pub async fn fragment(State(shared): State<Shared>) -> Response {
    page(&shared, None).await
}

pub async fn pause(State(shared): State<Shared>, Path(name): Path<String>) -> Response {
    let reason: Option<api::PauseRequest> =
        serde_json::from_value(serde_json::json!({ "reason": "paused from the console" })).ok();
    let answer = api::pause(State(shared.clone()), Path(name.clone()), reason.map(axum::Json)).await;
    act(&shared, answer.status(), &name, "paused").await
}

pub async fn resume(State(shared): State<Shared>, Path(name): Path<String>) -> Response {
    let answer = api::resume(State(shared.clone()), Path(name.clone())).await;
    act(&shared, answer.status(), &name, "resumed").await
}

/// The page again after an action, saying what it did.
async fn act(shared: &Shared, status: StatusCode, name: &str, done: &str) -> Response {
    let name = cap(name, 100);
    let text = match status {
        StatusCode::OK => format!("{name} {done}."),
        StatusCode::NOT_FOUND => format!("No destination is named {name}."),
        _ => "The store is not answering; nothing changed.".to_owned(),
    };
    page(shared, Some(text)).await
}

async fn page(shared: &Shared, notice: Option<String>) -> Response {
    let counts = match shared.store.destination_counts().await {
        Ok(counts) => counts,
        Err(e) => return view::store_down(&e),
    };
    let snapshot = shared.live.snapshot();
    let pauses = shared.control.pauses();
    html! {
        h2 { "Destinations" }
        @if let Some(text) = notice { p.notice role="status" { (text) } }
        p.muted { "Limit, in flight, success rate and latency are this gateway's. An adaptive limit is what the destination's answers allow now; the baseline is its round trip when not strained." }
        table {
            caption.sr-only { "Destinations" }
            thead { tr {
                th scope="col" { "Name" } th scope="col" { "Sends to" } th scope="col" { "State" }
                th.num scope="col" { "Limit" } th.num scope="col" { "In flight" } th.num scope="col" { "Baseline" } th.num scope="col" { "Success" } th.num scope="col" { "p50" } th.num scope="col" { "p99" }
                th.num scope="col" { "Pending" } th.num scope="col" { "Paused" } th.num scope="col" { "Waiting" } th.num scope="col" { "Dead" }
                th scope="col" { span.sr-only { "Action" } }
            } }
            tbody {
                @for d in snapshot.config.destinations.values() {
                    @let pause = pauses.get(&d.name);
                    @let c = counts.get(&d.name).cloned().unwrap_or_default();
                    tr {
                        td { (d.name) }
                        td.mono { (api::origin(d)) }
                        td {
                            @if let Some(p) = pause {
                                (state("paused")) " by " (p.paused_by.as_str()) " since " (time(p.since_ms))
                                div.muted { (cap(&p.reason, 300)) }
                            } @else {
                                (state("active"))
                            }
                        }
                        @let live = shared.control.view(&d.name);
                        td.num title=(d.limits.concurrency.shown()) { (limit(&d.limits.concurrency, live.concurrency_limit)) }
                        td.num { (live.in_flight) }
                        td.num { (live.rtt_baseline_ms.map_or("-".into(), |ms| format!("{ms:.1} ms"))) }
                        td.num { (success(&shared.metrics, &d.name)) }
                        td.num { (quantile(shared.metrics.delivery_seconds.with(&d.name, |h| h.quantile(0.5)))) }
                        td.num { (quantile(shared.metrics.delivery_seconds.with(&d.name, |h| h.quantile(0.99)))) }
                        td.num { (c.pending) } td.num { (c.paused) } td.num { (c.waiting) }
                        td.num { @if c.dead > 0 { a href=(format!("/dead-letters?destination={}", view::encode(&d.name))) { (c.dead) } } @else { "0" } }
                        td { (switch(&d.name, pause.is_some())) }
                    }
                }
            }
        }
    }
    .into_response()
}

/// The limit now, and `adaptive` beside an adaptive one.
fn limit(concurrency: &crate::config::model::Concurrency, now: Option<u32>) -> String {
    use crate::config::model::Concurrency;
    match (concurrency, now) {
        (Concurrency::Fixed(n), _) => n.to_string(),
        (Concurrency::Adaptive { .. }, Some(now)) => format!("{now} adaptive"),
        (Concurrency::Adaptive { .. }, None) => "adaptive".into(),
    }
}

/// Delivered attempts out of all attempts, as a percentage, or `-` before any.
fn success(metrics: &Metrics, name: &str) -> String {
    let get = |outcome| metrics.delivery_attempts.get(name, outcome);
    let delivered = get("delivered");
    let all = delivered + get("retry") + get("dead");
    if all == 0 { "-".into() } else { format!("{:.1}%", delivered as f64 * 100.0 / all as f64) }
}

fn switch(name: &str, paused: bool) -> Markup {
    let path = |what| format!("/console/destinations/{}/{what}", view::encode(name));
    html! {
        @if paused {
            button type="button" hx-post=(path("resume")) hx-target="#main" aria-label=(format!("Resume {name}")) { "Resume" }
        } @else {
            button.danger type="button" hx-post=(path("pause")) hx-target="#main" aria-label=(format!("Pause {name}"))
                hx-confirm=(format!("Pause {name}? Its deliveries wait until it is resumed.")) { "Pause" }
        }
    }
}
