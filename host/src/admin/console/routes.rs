//! The routes page: the table as served, in order — patterns, source, filter, plugin,
//! destinations, order key, and how many events each route received and filtered out — and
//! the explain box: type a scope (and a source) and see which routes match it and with what
//! parameters, answered by [`crate::routing`], as `switchyard explain` and dispatch answer.

use super::view::cap;
use crate::shared::Shared;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

/// Longest scope the explain box takes.
const MAX_SCOPE_CHARS: usize = 512;

pub async fn fragment(State(shared): State<Shared>) -> Response {
    let snapshot = shared.live.snapshot();
    let config = &snapshot.config;
    let m = &shared.metrics;
    html! {
        h2 { "Routes" }
        section aria-labelledby="explain-title" {
            h3 #explain-title { "Explain a scope" }
            form.inline hx-get="/console/routes/explain" hx-target="#explain-result" {
                label { "Scope"
                    input #explain-scope type="text" name="scope" required size="40" placeholder="store/channel/1/cart/couponApplied";
                }
                label { "Source (optional)"
                    select name="source" {
                        option value="" { "any" }
                        @for s in config.sources.keys() { option value=(s) { (s) } }
                    }
                }
                button type="submit" { "Explain" }
            }
            div #explain-result aria-live="polite" {}
        }
        h3 { "Table, in order" }
        table {
            caption.sr-only { "Routes in table order" }
            thead { tr {
                th.num scope="col" { "#" } th scope="col" { "Name" } th scope="col" { "Match" } th scope="col" { "Source" }
                th scope="col" { "Filter" } th scope="col" { "Plugin" } th scope="col" { "To" } th scope="col" { "Order by" }
                th.num scope="col" { "Events" } th.num scope="col" { "Filtered out" }
            } }
            tbody {
                @for (i, r) in config.routes.iter().enumerate() {
                    tr {
                        td.num { (i + 1) }
                        td { (r.name) }
                        td.mono { @for p in &r.patterns { div { (p.as_str()) } } }
                        td { (r.source.as_deref().unwrap_or("any")) }
                        td.mono { @for c in &r.filter.0 { div { (c.to_string()) } } }
                        td { (r.plugin.as_deref().unwrap_or("-")) }
                        td { (r.to.join(", ")) }
                        td.mono { (r.order_by.as_deref().unwrap_or("-")) }
                        td.num { (m.route_events.get(&r.name)) }
                        td.num { (m.route_filtered.get(&r.name)) }
                    }
                }
            }
        }
    }
    .into_response()
}

/// `?scope=…&source=…`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    #[serde(default)]
    scope: String,
    #[serde(default)]
    source: String,
}

pub async fn explain(State(shared): State<Shared>, Query(q): Query<ExplainQuery>) -> Response {
    let snapshot = shared.live.snapshot();
    let scope = q.scope.trim();
    if scope.is_empty() {
        return html! { p.muted { "Type a scope, such as store/order/created." } }.into_response();
    }
    if scope.chars().count() > MAX_SCOPE_CHARS {
        return html! { p.error role="alert" { "That scope is longer than " (MAX_SCOPE_CHARS) " characters." } }
            .into_response();
    }
    let source = Some(q.source.as_str()).filter(|s| !s.is_empty());
    answer(&snapshot.routes, scope, source).into_response()
}

fn answer(routes: &crate::routing::Table, scope: &str, source: Option<&str>) -> Markup {
    let matched = routes.select(source, scope, None);
    let taken = matched.iter().filter(|m| m.other_source.is_none()).count();
    html! {
        p { "Scope " span.mono { (cap(scope, 200)) } ": " (taken) " route(s) match." }
        @if matched.is_empty() {
            p { "No route matches: such an event is accepted and delivered nowhere." }
        } @else {
            ol.explain {
                @for m in &matched {
                    li {
                        strong { (m.route.name) } " — pattern " span.mono { (m.pattern) }
                        @if let Some(only) = m.other_source {
                            " — matches, but the route only takes source " (only)
                        } @else {
                            " → plugin " (m.route.plugin.as_deref().unwrap_or("none")) " → " (m.route.to.join(", "))
                            @if !m.params.is_empty() {
                                dl.facts.params {
                                    @for (k, v) in &m.params { dt.mono { (k) } dd.mono { (cap(v, 200)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_explain_box_shows_the_params_a_pattern_captures() {
        let text = "[sources.bc]\nprovider = \"bigcommerce\"\n[destinations.erp]\nurl = \"http://127.0.0.1:9/erp\"\n\
                    [[routes]]\nname = \"coupons\"\nmatch = \"store/channel/{channel_id}/cart/couponApplied\"\nto = [\"erp\"]\n";
        let config = crate::config::load_str(std::path::Path::new("routes.toml"), text, &|_| None).unwrap();
        let table = crate::routing::Table::new(std::sync::Arc::new(config));
        let html = answer(&table, "store/channel/1/cart/couponApplied", None).into_string();
        assert!(html.contains("1 route(s) match"), "{html}");
        assert!(html.contains(r#"<dt class="mono">channel_id</dt><dd class="mono">1</dd>"#), "{html}");
        let none = answer(&table, "<b>x</b>", None).into_string();
        assert!(none.contains("&lt;b&gt;x&lt;/b&gt;") && none.contains("delivered nowhere"), "{none}");
    }
}
