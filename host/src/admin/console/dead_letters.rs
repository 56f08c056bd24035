//! The dead-letter page: the list (newest first, optionally one destination's), and replay of
//! one, of those selected, or of all of one destination's — each after a confirmation. A
//! replay is the store's, as `POST /api/dead-letters/replay` and `switchyard dlq replay` do it:
//! the dead letters are due again now, delivered as the live config defines their destination.
//!
//! Not refreshed by the stream (that would clear a selection); the page is read again after
//! every replay, with a notice of what was replayed and where to follow it.

use super::view::{self, CELL_CHARS, cap, encode, time};
use crate::queue::{DeadLetter, ReplaySelector};
use crate::shared::Shared;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

/// Dead letters listed at most.
const LIMIT: usize = 500;

/// Dead letters one "replay selected" takes at most.
const MAX_SELECTED: usize = LIMIT;

/// `?destination=NAME`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    destination: String,
}

pub async fn fragment(State(shared): State<Shared>, Query(q): Query<ListQuery>) -> Response {
    page(&shared, &q.destination, None).await
}

/// The form's fields: `one` (a row's button), `selected` (checked rows), `all_for` (every
/// dead letter of a destination), and `filter` (the destination the page shows).
pub async fn replay(State(shared): State<Shared>, body: Bytes) -> Response {
    let (mut one, mut selected, mut all_for, mut filter) = (None, Vec::new(), None, String::new());
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "one" => one = Some(value.into_owned()),
            "selected" if selected.len() < MAX_SELECTED => selected.push(value.into_owned()),
            "all_for" => all_for = Some(value.into_owned()),
            "filter" => filter = value.into_owned(),
            _ => {}
        }
    }
    let selectors: Vec<ReplaySelector> = match (one, all_for) {
        (Some(id), _) => vec![ReplaySelector::Id(id)],
        (None, Some(destination)) => vec![ReplaySelector::Destination(destination)],
        (None, None) => selected.into_iter().map(ReplaySelector::Id).collect(),
    };
    if selectors.is_empty() {
        return page(&shared, &filter, Some(Notice::Nothing)).await;
    }
    let mut replayed = 0;
    for selector in selectors {
        match shared.store.replay(selector).await {
            Ok(n) => replayed += n,
            Err(e) => return view::store_down(&e),
        }
    }
    tracing::info!(replayed, "dead letters replayed from the console");
    page(&shared, &filter, Some(Notice::Replayed(replayed))).await
}

/// What the page says above the list after an action.
enum Notice {
    Replayed(u64),
    Nothing,
}

async fn page(shared: &Shared, destination: &str, notice: Option<Notice>) -> Response {
    let dead = match shared.store.dead_letters(LIMIT).await {
        Ok(dead) => dead,
        Err(e) => return view::store_down(&e),
    };
    let shown: Vec<&DeadLetter> =
        dead.iter().filter(|d| destination.is_empty() || d.destination.as_deref() == Some(destination)).collect();
    let snapshot = shared.live.snapshot();
    let destinations: Vec<&String> = snapshot.config.destinations.keys().collect();
    html! {
        h2 { "Dead letters" }
        @match notice {
            Some(Notice::Replayed(n)) => p.notice role="status" {
                "Replayed " (n) " dead letter(s): they are due now. Follow them on the "
                a href="/events" { "events page" } "."
            },
            Some(Notice::Nothing) => p.notice role="status" { "Nothing was selected." },
            None => {},
        }
        form.filters method="get" action="/dead-letters" aria-label="Filter dead letters" {
            label { "Destination"
                select name="destination" {
                    option value="" { "any" }
                    @for d in &destinations {
                        option value=(d) selected[d.as_str() == destination] { (d) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        @if shown.is_empty() {
            p.muted { "No dead letters." }
        } @else {
            (list(&shown, destination))
        }
    }
    .into_response()
}

fn list(shown: &[&DeadLetter], destination: &str) -> Markup {
    html! {
        form #replay-form {
            input type="hidden" name="filter" value=(destination);
            p {
                button type="submit" hx-post="/console/dead-letters/replay" hx-target="#main"
                    hx-confirm="Replay the selected dead letters now?" { "Replay selected" }
                @if !destination.is_empty() {
                    " "
                    button.danger type="submit" name="all_for" value=(destination)
                        hx-post="/console/dead-letters/replay" hx-target="#main" hx-confirm=(format!("Replay every dead letter of {destination} now?")) {
                        "Replay all for " (destination)
                    }
                }
            }
            table {
                caption.sr-only { "Dead letters, newest first" }
                thead { tr {
                    th scope="col" { span.sr-only { "Select" } }
                    th scope="col" { "Dead letter" } th scope="col" { "Event" } th scope="col" { "Route → destination" }
                    th scope="col" { "Scope" } th.num scope="col" { "Attempts" } th scope="col" { "Error" } th scope="col" { "When" }
                    th scope="col" { span.sr-only { "Action" } }
                } }
                tbody {
                    @for d in shown {
                        tr {
                            td { input type="checkbox" name="selected" value=(d.id) aria-label=(format!("Select {}", d.id)); }
                            td.mono { (d.id) }
                            td.mono { a href=(format!("/events/{}", encode(&d.event_id))) { (d.event_id) } }
                            td { (d.route.as_deref().unwrap_or("-")) " → " (d.destination.as_deref().unwrap_or("(event)")) }
                            td.mono { (cap(d.scope.as_deref().unwrap_or(""), CELL_CHARS)) }
                            td.num { (d.attempts) }
                            td { (cap(&d.error, CELL_CHARS)) }
                            td { (time(d.updated_at_ms)) }
                            td {
                                button type="submit" name="one" value=(d.id) aria-label=(format!("Replay {}", d.id))
                                    hx-post="/console/dead-letters/replay" hx-target="#main"
                                    hx-confirm=(format!("Replay {} now?", d.id)) { "Replay" }
                            }
                        }
                    }
                }
            }
        }
    }
}
