//! The operator's console: server-rendered HTML on the admin listener, built with `maud`
//! (templates checked at compile time, every value escaped) and `htmx` (vendored, embedded).
//!
//! Two halves, so no data is ever served without the token:
//! - [`pages`]: `/`, `/events`, `/events/{id}`, `/dead-letters`, `/routes`, `/destinations`,
//!   `/plugins` answer a *shell* — navigation, the token prompt and an empty `<main>` — and the
//!   assets under `/assets/`. Open, like `/health`: they hold nothing about the gateway.
//! - [`fragments`]: `/console/*`, the HTML the shells load into `<main>` with htmx, and the
//!   operator's actions (replay, pause, resume). Behind the admin token like `/api/*`.
//!
//! `assets/console.js` sends the token (kept in the tab's sessionStorage) on every htmx
//! request and reads `/api/stream` to refresh the live parts of a page. Each page is one file;
//! `view.rs` holds what they share (times, masking, size caps, states). Nothing here changes
//! routing or writes the store except through the same calls the JSON API makes.

mod assets;
mod chart;
mod dead_letters;
mod destinations;
mod event;
mod events;
mod layout;
mod overview;
mod plugins;
mod routes;
mod view;

use super::Admin;
use axum::Router;
use axum::routing::{get, post};

/// The page shells and the assets: open, they carry no data.
pub fn pages() -> Router<Admin> {
    Router::new()
        .route("/", get(layout::overview))
        .route("/events", get(layout::events))
        .route("/events/{id}", get(layout::event))
        .route("/dead-letters", get(layout::dead_letters))
        .route("/routes", get(layout::routes))
        .route("/destinations", get(layout::destinations))
        .route("/plugins", get(layout::plugins))
        .route("/assets/{name}", get(assets::serve))
}

/// The data the shells load, and the operator's actions: behind the admin token.
pub fn fragments() -> Router<Admin> {
    Router::new()
        .route("/console/overview", get(overview::fragment))
        .route("/console/events", get(events::fragment))
        .route("/console/events/results", get(events::results))
        .route("/console/events/{id}", get(event::fragment))
        .route("/console/dead-letters", get(dead_letters::fragment))
        .route("/console/dead-letters/replay", post(dead_letters::replay))
        .route("/console/routes", get(routes::fragment))
        .route("/console/routes/explain", get(routes::explain))
        .route("/console/destinations", get(destinations::fragment))
        .route("/console/destinations/{name}/pause", post(destinations::pause))
        .route("/console/destinations/{name}/resume", post(destinations::resume))
        .route("/console/plugins", get(plugins::fragment))
}
