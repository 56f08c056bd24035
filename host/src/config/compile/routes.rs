//! `[[routes]]`: patterns, the source, plugin and destinations they name (each must exist), a
//! filter, and an order key. A route with an error is left out (the config is refused).

use super::Compiler;
use crate::config::filter::{Condition, Filter, accepted_values, check_pointer};
use crate::config::model::{Destination, PluginSpec, Route, Source};
use crate::config::raw::RawRoute;
use crate::scope::Pattern;
use std::collections::BTreeMap;
use toml::Spanned;

/// The tables a route names things in.
pub(super) struct Named<'a> {
    pub sources: &'a BTreeMap<String, Source>,
    pub plugins: &'a BTreeMap<String, PluginSpec>,
    pub destinations: &'a BTreeMap<String, Destination>,
}

impl Compiler<'_> {
    pub(super) fn route(&mut self, index: usize, raw: &RawRoute, named: &Named<'_>) -> Option<Route> {
        let key = format!("routes[{index}]");
        let errors_before = self.errors.len();
        let patterns = self.patterns(raw, &key);
        if let Some(s) = &raw.source {
            self.known(s, &format!("{key}.source"), "source", named.sources.keys().collect());
        }
        if let Some(p) = &raw.plugin {
            self.known(p, &format!("{key}.plugin"), "plugin", named.plugins.keys().collect());
        }
        for d in &raw.to {
            self.known(d, &format!("{key}.to"), "destination", named.destinations.keys().collect());
            if let Some(template) = named.destinations.get(d.get_ref()).and_then(|d| d.target.template()) {
                self.route_name(template, raw, index, &patterns, d, &format!("{key}.to"));
            }
        }
        if raw.to.is_empty() && raw.plugin.is_none() {
            let message = "a route without a plugin needs at least one destination in `to`";
            self.error(&raw.patterns, &format!("{key}.to"), message);
        }
        let filter = self.filter(raw, &key);
        if let Some(order_by) = &raw.order_by
            && let Err(e) = check_pointer(order_by.get_ref())
        {
            self.error(order_by, &format!("{key}.order_by"), e);
        }
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Route {
            name: raw.name.as_ref().map_or_else(|| format!("route {index}"), |n| n.get_ref().clone()),
            patterns,
            source: raw.source.as_ref().map(|s| s.get_ref().clone()),
            plugin: raw.plugin.as_ref().map(|p| p.get_ref().clone()),
            to: raw.to.iter().map(|d| d.get_ref().clone()).collect(),
            filter,
            order_by: raw.order_by.as_ref().map(|p| p.get_ref().clone()),
        })
    }

    /// `match`: one pattern or a list, at least one.
    fn patterns(&mut self, raw: &RawRoute, key: &str) -> Vec<Pattern> {
        let items = raw.patterns.get_ref().items();
        if items.is_empty() {
            self.error(&raw.patterns, &format!("{key}.match"), "needs at least one pattern");
        }
        let mut patterns = Vec::new();
        for p in items {
            match Pattern::parse(p) {
                Ok(parsed) => patterns.push(parsed),
                Err(e) => self.error(&raw.patterns, &format!("{key}.match"), e.to_string()),
            }
        }
        patterns
    }

    /// Reports `value` when it is not one of `known` (the names defined for `noun`).
    fn known(&mut self, value: &Spanned<String>, key: &str, noun: &str, known: Vec<&String>) {
        if known.contains(&value.get_ref()) {
            return;
        }
        let list = known.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
        let defined =
            if list.is_empty() { format!(" (no {noun}s are defined)") } else { format!(" (defined: {list})") };
        self.error(value, key, format!("unknown {noun} `{}`{defined}", value.get_ref()));
    }

    /// `filter = { "/pointer" = value or [values] }`: each condition one that can hold.
    fn filter(&mut self, raw: &RawRoute, key: &str) -> Filter {
        let mut filter = Filter::default();
        for (pointer, value) in &raw.filter {
            let entry = format!("{key}.filter.\"{}\"", pointer.get_ref());
            if let Err(e) = check_pointer(pointer.get_ref()) {
                self.error(pointer, &entry, format!("this filter can never hold: {e}"));
                continue;
            }
            match accepted_values(value.get_ref()) {
                Ok(accepted) => filter.0.push(Condition { pointer: pointer.get_ref().clone(), accepted }),
                Err(e) => self.error(value, &entry, format!("this filter can never hold: {e}")),
            }
        }
        filter
    }
}
