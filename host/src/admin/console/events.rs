//! The events page: newest first, narrowed by source, scope pattern (the routes' wildcards),
//! state and time, a page at a time. The filter form is a plain GET form to `/events`, so a
//! filtered view is a link; the results refresh on the live stream (`sy:refresh`).
//!
//! The store is asked for one page of rows by source, state and time, or with a scope pattern
//! for at most [`SCAN`] rows, to which the pattern is applied: such a page may show fewer than
//! [`PAGE`] and link to older ones.

use super::super::filter::ScopeFilter;
use super::view::{self, CELL_CHARS, cap, encode, state, time};
use crate::queue::{EventQuery, EventSummary};
use crate::shared::Shared;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

/// Events shown on one page.
const PAGE: usize = 50;

/// Rows read from the store for one page at most.
const SCAN: usize = 1000;

/// `?source=&scope=&state=&since=&until=&before=`, all optional.
#[derive(Debug, Default, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    #[serde(default)]
    source: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    before: String,
}

impl EventsQuery {
    /// The query string of this filter (without `before`), `&`-joined and encoded.
    fn filter_string(&self) -> String {
        let pairs = [
            ("source", &self.source),
            ("scope", &self.scope),
            ("state", &self.state),
            ("since", &self.since),
            ("until", &self.until),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The page: filters, and the results that follow the stream.
pub async fn fragment(State(shared): State<Shared>, Query(q): Query<EventsQuery>) -> Response {
    let snapshot = shared.live.snapshot();
    let sources: Vec<&String> = snapshot.config.sources.keys().collect();
    let mut results_url = format!("/console/events/results?{}", q.filter_string());
    if !q.before.is_empty() {
        results_url.push_str(&format!("&before={}", encode(&q.before)));
    }
    let results = results_markup(&shared, &q).await;
    html! {
        h2 { "Events" }
        form.filters method="get" action="/events" role="search" aria-label="Filter events" {
            label { "Source"
                select name="source" {
                    option value="" { "any" }
                    @for s in &sources {
                        option value=(s) selected[**s == q.source] { (s) }
                    }
                }
            }
            label { "Scope pattern"
                input type="text" name="scope" value=(q.scope) placeholder="store/order/*" size="28";
            }
            label { "State"
                select name="state" {
                    @for (value, name) in [("", "any"), ("pending", "pending"), ("done", "done"), ("dead", "dead")] {
                        option value=(value) selected[value == q.state] { (name) }
                    }
                }
            }
            label { "Since"
                input type="text" name="since" value=(q.since) placeholder="2h or 2026-12-03T08:00:00Z" size="22";
            }
            label { "Until"
                input type="text" name="until" value=(q.until) placeholder="RFC 3339 time" size="22";
            }
            button type="submit" { "Filter" }
            a href="/events" { "Clear" }
        }
        section #results aria-label="Events found" hx-get=(results_url) hx-trigger="sy:refresh from:body" {
            (results)
        }
    }
    .into_response()
}

/// The results alone (what the live refresh fetches).
pub async fn results(State(shared): State<Shared>, Query(q): Query<EventsQuery>) -> Response {
    results_markup(&shared, &q).await.into_response()
}

async fn results_markup(shared: &Shared, q: &EventsQuery) -> Markup {
    let scope = match ScopeFilter::parse(&q.scope) {
        Ok(scope) => scope,
        Err(e) => return html! { p.error role="alert" { (e.to_string()) } },
    };
    let now = crate::event::now_ms();
    let at = |text: &str| if text.trim().is_empty() { Ok(0) } else { crate::replay::instant(text.trim(), now) };
    let (since_ms, until_ms) = match (at(&q.since), at(&q.until)) {
        (Ok(since), Ok(until)) => (since, until),
        (Err(e), _) | (_, Err(e)) => return html! { p.error role="alert" { (e) } },
    };
    // Without a scope pattern every row read is shown: read one page, not SCAN rows (the
    // results are read again twice a second while events flow).
    let scan = if scope.is_some() { SCAN } else { PAGE };
    let query = EventQuery {
        source: q.source.clone(),
        state: q.state.clone(),
        since_ms,
        until_ms,
        before_id: q.before.clone(),
        scan,
    };
    let scanned = match shared.store.find_events(query).await {
        Ok(events) => events,
        Err(e) => return view::store_down_markup(&e),
    };
    let more = scanned.len() == scan;
    let mut last_seen = None;
    let mut shown: Vec<EventSummary> = Vec::new();
    for event in scanned {
        last_seen = Some(event.id.clone());
        if scope.as_ref().is_none_or(|f| f.matches(&event.scope)) {
            shown.push(event);
        }
        if shown.len() == PAGE {
            break;
        }
    }
    let older = (more || shown.len() == PAGE).then_some(last_seen).flatten();
    table(&shown, older.map(|id| format!("/events?{}&before={}", q.filter_string(), encode(&id))))
}

fn table(events: &[EventSummary], older: Option<String>) -> Markup {
    html! {
        @if events.is_empty() {
            p.muted { "No event matches. New ones appear here as they arrive." }
        } @else {
            table {
                caption.sr-only { "Events, newest first" }
                thead { tr { th { "Received" } th { "Event" } th { "Source" } th { "Scope" } th { "State" } th { "Deliveries" } th { "Last error" } } }
                tbody #event-rows {
                    @for e in events {
                        tr {
                            td { (time(e.received_at_ms)) }
                            td.mono { a href=(format!("/events/{}", encode(&e.id))) { (e.id) } }
                            td { (e.source) }
                            td.mono { (cap(&e.scope, CELL_CHARS)) }
                            td { (state(&e.state)) @if e.attempts > 1 { " (" (e.attempts) " tries)" } }
                            td {
                                @for d in &e.deliveries {
                                    div { (d.destination) ": " (state(&d.state)) @if d.attempts > 0 { " · " (d.attempts) " attempt(s)" } }
                                }
                            }
                            td { (cap(e.last_error.as_deref().unwrap_or(""), CELL_CHARS)) }
                        }
                    }
                }
            }
        }
        @if let Some(url) = older {
            p { a href=(url) { "Older events" } }
        }
    }
}
