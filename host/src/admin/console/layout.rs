//! The page shell every console page shares: head, skip link, navigation, the live status,
//! the token prompt and an empty `<main>` that htmx fills from `/console/…` (with the token).
//!
//! A shell holds no data, so it is served without a token; the query string of the page is
//! handed to its fragment as is (escaped into the attribute). Shells are sent with a strict
//! Content-Security-Policy: scripts, styles and connections from this origin only.

use super::view::encode;
use axum::extract::{Path, RawQuery};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// Only this origin's scripts, styles and connections; no frames, no plugins, no inline script.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// htmx: requests to this origin only, no inline scripts from swapped HTML, no injected styles
/// (the CSP forbids them), no history cache of pages with data in it.
const HTMX_CONFIG: &str = r#"{"selfRequestsOnly":true,"allowScriptTags":false,"allowEval":false,"includeIndicatorStyles":false,"historyCacheSize":0}"#;

/// The pages in the navigation: path and name.
const NAV: [(&str, &str); 6] = [
    ("/", "Overview"),
    ("/events", "Events"),
    ("/dead-letters", "Dead letters"),
    ("/routes", "Routes"),
    ("/destinations", "Destinations"),
    ("/plugins", "Plugins"),
];

pub async fn overview() -> Response {
    shell("/", "Overview", "/console/overview".into(), "load, sy:token from:body, sy:refresh from:body, every 5s")
}

pub async fn events(RawQuery(query): RawQuery) -> Response {
    shell("/events", "Events", with_query("/console/events", query), "load, sy:token from:body")
}

pub async fn event(Path(id): Path<String>) -> Response {
    let fragment = format!("/console/events/{}", encode(&id));
    shell("/events", "Event", fragment, "load, sy:token from:body, sy:refresh from:body")
}

pub async fn dead_letters(RawQuery(query): RawQuery) -> Response {
    shell("/dead-letters", "Dead letters", with_query("/console/dead-letters", query), "load, sy:token from:body")
}

pub async fn routes() -> Response {
    shell("/routes", "Routes", "/console/routes".into(), "load, sy:token from:body")
}

pub async fn destinations() -> Response {
    shell("/destinations", "Destinations", "/console/destinations".into(), "load, sy:token from:body, every 5s")
}

pub async fn plugins() -> Response {
    shell("/plugins", "Plugins", "/console/plugins".into(), "load, sy:token from:body, every 10s")
}

fn with_query(path: &str, query: Option<String>) -> String {
    match query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    }
}

/// The shell of the page at `current`, titled `title`, whose `<main>` loads `fragment` on
/// `trigger`.
fn shell(current: &str, title: &str, fragment: String, trigger: &str) -> Response {
    let page = page(current, title, &fragment, trigger);
    let headers = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (headers, page).into_response()
}

fn page(current: &str, title: &str, fragment: &str, trigger: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=(HTMX_CONFIG);
                title { (title) " — Switchyard" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/htmx.min.js" defer {}
                script src="/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    h1 { "Switchyard" }
                    nav aria-label="Console pages" {
                        ul {
                            @for (path, name) in NAV {
                                li {
                                    @if path == current {
                                        a href=(path) aria-current="page" { (name) }
                                    } @else {
                                        a href=(path) { (name) }
                                    }
                                }
                            }
                        }
                    }
                    p #live-status role="status" { "Live: starting…" }
                    button #forget-token type="button" { "Forget token" }
                }
                section #token-prompt hidden aria-labelledby="token-title" {
                    h2 #token-title { "Admin token" }
                    p #token-note { "This gateway's admin listener needs its token (server.admin_token). It is kept in this tab only, until you close it." }
                    form #token-form {
                        label for="token-input" { "Admin token" }
                        input #token-input type="password" name="token" autocomplete="off" required;
                        button type="submit" { "Use token" }
                    }
                }
                div #console-error .error role="alert" hidden {}
                main #main tabindex="-1" hx-get=(fragment) hx-trigger=(trigger) {
                    p.muted { "Loading…" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_holds_no_data_only_where_to_load_it_from() {
        let html = page("/events", "Events", "/console/events?source=%3Cx%3E", "load").into_string();
        assert!(html.contains(r#"hx-get="/console/events?source=%3Cx%3E""#), "{html}");
        assert!(html.contains(r#"<a href="/events" aria-current="page">Events</a>"#), "{html}");
        assert!(html.contains(r#"<label for="token-input">Admin token</label>"#));
    }

    #[test]
    fn a_query_with_markup_is_escaped_into_the_attribute() {
        let fragment = with_query("/console/events", Some("scope=\"><script>".into()));
        let html = page("/events", "Events", &fragment, "load").into_string();
        assert!(!html.contains("\"><script>"), "{html}");
        assert!(html.contains("&quot;&gt;&lt;script&gt;"), "{html}");
    }
}
