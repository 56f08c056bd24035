//! Which routes an event takes: the one place the rule is written.
//!
//! An event takes a route when one of the route's patterns matches its scope (the trie walk,
//! in table order, capturing `{params}`), the route is open to the event's source, and the
//! route's filter holds for its body; a route with `order_by` gives the event an order key
//! from its body. [`Table::select`] answers all of that for one event, and everything that
//! asks calls it: ingest (the ordered lanes an event takes a place in), dispatch (the routes
//! it runs), `switchyard explain` and the console's explain box (which show every matching
//! route and why it is or is not taken), and `switchyard test`.
//!
//! Pure: reads a [`Config`] and a body, never runs a plugin, never touches the store. The body
//! is parsed once, and only when a matching route has a filter or an order key to read.

use crate::config::Config;
use crate::config::filter::key_at;
use crate::config::model::Route;
use crate::scope::{Matcher, Scope};
use serde_json::Value;
use std::sync::Arc;

/// A config's routes and the trie over their patterns, built once per config.
#[derive(Debug)]
pub struct Table {
    config: Arc<Config>,
    matcher: Matcher,
    /// Whether any route has `order_by` (else ingest computes no order keys).
    ordered: bool,
}

/// One route whose pattern matched an event's scope, and what decides whether it is taken.
#[derive(Debug, Clone)]
pub struct Selected<'a> {
    pub route: &'a Route,
    /// The pattern of the route that matched.
    pub pattern: &'a str,
    /// `{name}` captures, in pattern order.
    pub params: Vec<(String, String)>,
    /// The route takes only this other source: the event does not take it.
    pub other_source: Option<&'a str>,
    /// Whether the route's filter holds for the event's body.
    pub filter: Verdict,
    /// The route's `order_by` value in the body, when it has one and the body holds it.
    pub order_key: Option<String>,
}

/// What a route's filter says of one body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The route has no filter.
    NoFilter,
    Holds,
    /// The first condition that fails: its pointer and what the body holds there (`None`
    /// when nothing, or when the body is not JSON).
    Fails {
        pointer: String,
        found: Option<String>,
    },
    /// No body was given (explain by scope alone): not evaluated.
    Unknown,
}

impl Selected<'_> {
    /// Whether the event takes this route: open to its source, and its filter does not fail.
    pub fn taken(&self) -> bool {
        self.other_source.is_none() && !matches!(self.filter, Verdict::Fails { .. })
    }
}

impl Table {
    pub fn new(config: Arc<Config>) -> Self {
        let matcher = Matcher::new(config.routes.iter().map(|r| r.patterns.clone()).collect());
        let ordered = config.routes.iter().any(|r| r.order_by.is_some());
        Self { config, matcher, ordered }
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Every route whose pattern matches `scope`, in table order, with whether an event from
    /// `source` (any source when `None`) with `body` takes it; `body = None` leaves filters
    /// and order keys unevaluated.
    pub fn select(&self, source: Option<&str>, scope: &str, body: Option<&[u8]>) -> Vec<Selected<'_>> {
        let matches = self.matcher.matches(&Scope::new(scope));
        let mut json: Option<Option<Value>> = None;
        let mut out = Vec::with_capacity(matches.len());
        for m in matches {
            let Some(route) = self.config.routes.get(m.route) else { continue };
            let pattern = route.patterns.get(m.pattern).map(|p| p.as_str()).unwrap_or_default();
            let other_source = match (&route.source, source) {
                (Some(only), Some(from)) if only != from => Some(only.as_str()),
                _ => None,
            };
            let reads_body = !route.filter.is_empty() || route.order_by.is_some();
            let parsed = match body {
                Some(bytes) if reads_body && other_source.is_none() => {
                    Some(json.get_or_insert_with(|| serde_json::from_slice(bytes).ok()).as_ref())
                }
                _ => None,
            };
            let filter = verdict(route, parsed);
            let order_key = match (&route.order_by, parsed) {
                (Some(pointer), Some(value)) if !matches!(filter, Verdict::Fails { .. }) => key_at(value, pointer),
                _ => None,
            };
            out.push(Selected { route, pattern, params: m.params, other_source, filter, order_key });
        }
        out
    }

    /// The ordered lanes an event takes a place in: `(route, key)` for each route it takes that
    /// has an order key. Nothing is parsed when no route is ordered.
    pub fn order_keys(&self, source: &str, scope: &str, body: &[u8]) -> Vec<(String, String)> {
        if !self.ordered {
            return Vec::new();
        }
        let selected = self.select(Some(source), scope, Some(body));
        selected
            .into_iter()
            .filter(Selected::taken)
            .filter_map(|s| Some((s.route.name.clone(), s.order_key?)))
            .collect()
    }
}

/// `route`'s filter on `body`: `None` when no body was given; `Some(None)` when the body is
/// not JSON.
fn verdict(route: &Route, body: Option<Option<&Value>>) -> Verdict {
    if route.filter.is_empty() {
        return Verdict::NoFilter;
    }
    let Some(json) = body else { return Verdict::Unknown };
    match route.filter.first_failing(json) {
        None => Verdict::Holds,
        Some(failing) => Verdict::Fails {
            pointer: failing.pointer.clone(),
            found: json.and_then(|v| v.pointer(&failing.pointer)).map(ToString::to_string),
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::Path;

    /// A table with source restrictions, `{params}`, a filter and an order key (dispatch's
    /// tests use it too).
    pub(crate) const TABLE: &str = r#"
[sources.bc]
provider = "bigcommerce"
[sources.other]
provider = "bigcartel"
[destinations.erp]
url = "http://127.0.0.1:9/erp"
[[routes]]
name = "coupons"
match = "store/channel/{channel_id}/cart/*"
source = "bc"
to = ["erp"]
[[routes]]
name = "big orders"
match = "store/channel/*/cart/**"
filter = { "/data/type" = "cart", "/data/total" = [100, 200] }
order_by = "/data/id"
to = ["erp"]
[[routes]]
name = "all"
match = "**"
to = ["erp"]
"#;

    fn table() -> Table {
        let config = crate::config::load_str(Path::new("routes.toml"), TABLE, &|_| None).unwrap();
        Table::new(Arc::new(config))
    }

    fn names<'a>(selected: &[Selected<'a>]) -> Vec<&'a str> {
        selected.iter().filter(|s| s.taken()).map(|s| s.route.name.as_str()).collect()
    }

    const SCOPE: &str = "store/channel/1/cart/couponApplied";

    #[test]
    fn a_scope_matches_in_table_order_with_its_params_and_sources() {
        let table = table();
        let any = table.select(None, SCOPE, None);
        assert_eq!(names(&any), ["coupons", "big orders", "all"]);
        assert_eq!(any[0].params, [("channel_id".to_string(), "1".to_string())]);
        assert_eq!(any[1].filter, Verdict::Unknown, "no body: not evaluated");
        let other = table.select(Some("other"), SCOPE, None);
        assert_eq!(other[0].other_source, Some("bc"));
        assert_eq!(names(&other), ["big orders", "all"]);
    }

    #[test]
    fn a_filter_decides_with_the_body_and_an_order_key_comes_from_it() {
        let table = table();
        let holds = br#"{"data": {"type": "cart", "total": 200, "id": 7}}"#;
        let selected = table.select(Some("bc"), SCOPE, Some(holds));
        assert_eq!(names(&selected), ["coupons", "big orders", "all"]);
        assert_eq!(selected[1].filter, Verdict::Holds);
        assert_eq!(selected[1].order_key.as_deref(), Some("7"));
        assert_eq!(table.order_keys("bc", SCOPE, holds), [("big orders".to_string(), "7".to_string())]);

        let fails = br#"{"data": {"type": "cart", "total": 5, "id": 7}}"#;
        let selected = table.select(Some("bc"), SCOPE, Some(fails));
        assert_eq!(names(&selected), ["coupons", "all"]);
        let expected = Verdict::Fails { pointer: "/data/total".into(), found: Some("5".into()) };
        assert_eq!(selected[1].filter, expected);
        assert!(table.order_keys("bc", SCOPE, fails).is_empty(), "a route not taken gives no lane");
        let not_json = table.select(Some("bc"), SCOPE, Some(b"<xml/>"));
        assert_eq!(not_json[1].filter, Verdict::Fails { pointer: "/data/total".into(), found: None });
    }
}
