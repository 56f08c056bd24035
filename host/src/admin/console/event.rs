//! One event's page: what arrived (headers with signatures and credentials masked, the body as
//! pretty JSON, cut to a size), the routes its scope matches under the routes served now (with
//! their parameters), what its plugins did, and each delivery with every attempt — status,
//! duration, error and when the next one is due. It refreshes on the live stream.
//!
//! Plugins' log lines are not stored per event: they are in the gateway's log, under the
//! event's id (`event_id`), and the page says so.

use super::view::{self, CELL_CHARS, cap, encode, header_value, state, time};
use crate::queue::{DeliveryRecord, EventRecord};
use crate::shared::Shared;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

/// Headers shown at most.
const MAX_HEADERS: usize = 100;

pub async fn fragment(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let record = match shared.store.event_record(&id).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            let id = cap(&id, 80);
            return view::notice(
                StatusCode::NOT_FOUND,
                &format!("No event {id} is stored (pruned, or never accepted)."),
            );
        }
        Err(e) => return view::store_down(&e),
    };
    let snapshot = shared.live.snapshot();
    let source = snapshot.config.sources.get(&record.summary.source);
    html! {
        h2 { "Event " span.mono { (record.summary.id) } }
        (facts(&record))
        (routes(&snapshot.routes, &record))
        (plugin_log(&record))
        h3 #deliveries { "Deliveries" }
        @if record.deliveries.is_empty() {
            p.muted { "No delivery was made for this event (yet)." }
        }
        @for d in &record.deliveries {
            (delivery(d))
        }
        h3 { "Headers" }
        table {
            caption.sr-only { "Headers as received; signature and credential values masked" }
            thead { tr { th scope="col" { "Name" } th scope="col" { "Value" } } }
            tbody {
                @for (name, value) in record.headers.iter().take(MAX_HEADERS) {
                    @let configured = source.is_some_and(|s| s.names_secret_header(name));
                    tr { td.mono { (cap(name, 100)) } td.mono { (header_value(name, value, configured)) } }
                }
            }
        }
        h3 { "Body" }
        pre aria-label="Body" tabindex="0" { (view::body_text(&record.body)) }
    }
    .into_response()
}

fn facts(r: &EventRecord) -> Markup {
    let e = &r.summary;
    html! {
        dl.facts {
            dt { "Source" } dd { (e.source) }
            dt { "Scope" } dd.mono { (cap(&e.scope, CELL_CHARS)) }
            dt { "State" } dd { (state(&e.state)) }
            dt { "Received" } dd { (time(e.received_at_ms)) }
            dt { "Dispatch tries" } dd { (e.attempts.max(1)) }
            @if r.replays > 0 { dt { "Replayed" } dd { (r.replays) " time(s)" } }
            @if let Some(root) = &r.root_id {
                dt { "Emitted under" } dd.mono { a href=(format!("/events/{}", encode(root))) { (root) } }
            }
            @if let Some(error) = &e.last_error { dt { "Last error" } dd { (cap(error, 2000)) } }
        }
    }
}

/// The routes the scope matches now, each with its parameters and its plugin's outcome.
fn routes(table: &crate::routing::Table, r: &EventRecord) -> Markup {
    let e = &r.summary;
    let matched = table.select(Some(&e.source), &e.scope, None);
    html! {
        h3 { "Matched routes" }
        p.muted { "By the routes served now." }
        @if matched.is_empty() {
            p { "No route matches this scope: it was accepted and delivered nowhere." }
        } @else {
            table {
                caption.sr-only { "Routes matched, in table order" }
                thead { tr { th scope="col" { "Route" } th scope="col" { "Pattern" } th scope="col" { "Params" } th scope="col" { "Plugin" } th scope="col" { "Outcome" } } }
                tbody {
                    @for m in &matched {
                        tr {
                            td { (m.route.name) }
                            td.mono { (m.pattern) }
                            td.mono {
                                @for (k, v) in &m.params { div { (k) " = " (cap(v, 200)) } }
                            }
                            td { (m.route.plugin.as_deref().unwrap_or("none (forwarded as received)")) }
                            td { (outcome(r, &m.route.name, m.other_source)) }
                        }
                    }
                }
            }
        }
    }
}

/// What the plugins logged while handling the event (the last try in which any did): the first
/// lines of each call; the gateway's log has every line under the event's id.
fn plugin_log(r: &EventRecord) -> Markup {
    html! {
        h3 { "Plugin log" }
        @if r.plugin_log.is_empty() {
            p.muted { "No plugin logged anything for this event. The gateway's log has its lines under event_id=" span.mono { (r.summary.id) } "." }
        } @else {
            table {
                caption.sr-only { "Lines the plugins logged, in order" }
                thead { tr { th scope="col" { "Route" } th scope="col" { "Plugin" } th scope="col" { "Level" } th scope="col" { "Message" } } }
                tbody {
                    @for line in &r.plugin_log {
                        tr {
                            td { (cap(&line.route, 100)) }
                            td { (cap(&line.plugin, 100)) }
                            td { (cap(&line.level, 10)) }
                            td.mono { (cap(&line.message, 600)) }
                        }
                    }
                }
            }
        }
    }
}

/// What became of `route` for this event, from its deliveries and the event's state.
fn outcome(r: &EventRecord, route: &str, other_source: Option<&str>) -> Markup {
    if let Some(only) = other_source {
        return html! { "not taken: the route only takes source " (only) };
    }
    let made = r.deliveries.iter().filter(|d| d.summary.route == route).count();
    let finished = r.routes_done.iter().any(|done| done == route);
    match (r.summary.state.as_str(), made, finished) {
        (_, n, _) if n > 0 => html! { (state("done")) " · " (n) " delivery(ies)" },
        ("done", _, _) => html! { (state("done")) " · no delivery (filtered out or dropped by the plugin)" },
        ("dead", _, false) => html! { (state("dead")) " · see the last error above" },
        (_, _, true) => html! { (state("done")) " · no delivery" },
        _ => html! { (state("pending")) },
    }
}

fn delivery(d: &DeliveryRecord) -> Markup {
    let s = &d.summary;
    html! {
        section.delivery aria-label=(format!("Delivery to {}", s.destination)) {
            h4 { (s.route) " → " (s.destination) ": " (state(&s.state)) }
            p.muted.mono { (s.id) }
            @if let Some(due) = d.due_at_ms { p { "Next attempt due " (time(due)) } }
            @if d.attempts.is_empty() {
                p.muted { "No attempt yet." }
            } @else {
                table {
                    caption.sr-only { (format!("Attempts of the delivery to {}", s.destination)) }
                    thead { tr {
                        th.num scope="col" { "#" } th scope="col" { "At" } th.num scope="col" { "Duration" }
                        th.num scope="col" { "Status" } th scope="col" { "Outcome" } th scope="col" { "Error" } th scope="col" { "Next attempt" }
                    } }
                    tbody {
                        @for a in &d.attempts {
                            tr {
                                td.num { (a.attempt) }
                                td { (time(a.at_ms)) }
                                td.num { (a.duration_ms.map_or("-".into(), view::millis)) }
                                td.num { (a.status.map_or("-".into(), |s| s.to_string())) }
                                td { (state(&a.outcome)) }
                                td { (cap(a.error.as_deref().unwrap_or(""), CELL_CHARS)) }
                                td { @if let Some(next) = a.next_at_ms { (time(next)) } @else { "-" } }
                            }
                        }
                    }
                }
            }
        }
    }
}
