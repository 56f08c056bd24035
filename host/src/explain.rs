//! Which routes a scope matches, in table order, and why: the pattern that matched, the
//! parameters it captured, and whether the route is open to a given source. One answer for
//! `switchyard explain` (which prints it) and the console's explain box (which renders it).
//!
//! Pure: reads a [`Config`], builds the same trie dispatch uses, and never runs a plugin.

use crate::config::Config;
use crate::config::model::Route;
use crate::scope::{Matcher, Scope};

/// One route a scope matched.
#[derive(Debug, Clone)]
pub struct Explained<'a> {
    pub route: &'a Route,
    /// The pattern of the route that matched.
    pub pattern: &'a str,
    /// `{name}` captures, in pattern order.
    pub params: Vec<(String, String)>,
    /// The route only takes this other source, so an event from the source asked about would
    /// not reach it.
    pub other_source: Option<&'a str>,
}

/// The routes `scope` matches in `config`, in table order. With `source`, routes closed to it
/// are listed with [`Explained::other_source`] set.
pub fn explain<'a>(config: &'a Config, scope: &str, source: Option<&str>) -> Vec<Explained<'a>> {
    let matcher = Matcher::new(config.routes.iter().map(|r| r.patterns.clone()).collect());
    matcher
        .matches(&Scope::new(scope))
        .into_iter()
        .filter_map(|m| {
            let route = config.routes.get(m.route)?;
            let pattern = route.patterns.get(m.pattern).map(|p| p.as_str()).unwrap_or_default();
            let other_source = match (&route.source, source) {
                (Some(only), Some(asked)) if only != asked => Some(only.as_str()),
                _ => None,
            };
            Some(Explained { route, pattern, params: m.params, other_source })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config() -> Config {
        let text = "[sources.bc]\nprovider = \"bigcommerce\"\n[sources.other]\nprovider = \"bigcartel\"\n\
                    [destinations.erp]\nurl = \"http://127.0.0.1:9/erp\"\n\
                    [[routes]]\nname = \"coupons\"\nmatch = \"store/channel/{channel_id}/cart/*\"\nsource = \"bc\"\nto = [\"erp\"]\n\
                    [[routes]]\nname = \"all\"\nmatch = \"**\"\nto = [\"erp\"]\n";
        crate::config::load_str(Path::new("routes.toml"), text, &|_| None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_scope_matches_in_table_order_with_its_params() {
        let config = config();
        let found = explain(&config, "store/channel/1/cart/couponApplied", None);
        let names: Vec<&str> = found.iter().map(|e| e.route.name.as_str()).collect();
        assert_eq!(names, ["coupons", "all"]);
        assert_eq!(found[0].params, [("channel_id".to_string(), "1".to_string())]);
        assert_eq!(found[0].pattern, "store/channel/{channel_id}/cart/*");
        assert!(found.iter().all(|e| e.other_source.is_none()));
    }

    #[test]
    fn a_route_closed_to_the_source_asked_about_says_which_it_takes() {
        let config = config();
        let found = explain(&config, "store/channel/1/cart/couponApplied", Some("other"));
        assert_eq!(found[0].other_source, Some("bc"));
        assert_eq!(found[1].other_source, None);
    }
}
