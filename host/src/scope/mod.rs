//! Scopes, patterns and the matcher that connects them.
//!
//! A scope is an event's type as its provider names it (`store/order/created`,
//! `order.created`); a pattern is a route's matcher over scopes (`store/order/*`). Both are
//! split into segments at `/` and at `.`, so `order.*` and `order/*` mean the same. This module
//! uses no async runtime, HTTP or wasm, so `check` and `explain` can use it without starting
//! anything.

mod matcher;
mod pattern;

pub use matcher::{Match, Matcher};
pub use pattern::{Pattern, PatternError, Segment};

/// An event type split into segments. A `*` inside a scope is data, never a wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    text: String,
    segments: Vec<String>,
}

impl Scope {
    /// Splits `text` at `/` and `.`, ignoring one trailing separator
    /// (BigCommerce's docs write `store/priceList/updated/`).
    pub fn new(text: &str) -> Self {
        Self { text: text.to_string(), segments: split(text).map(String::from).collect() }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }
}

/// The segments of a scope or pattern: split at `/` and `.`, one trailing separator dropped.
pub(crate) fn split(text: &str) -> impl Iterator<Item = &str> {
    let trimmed = text.strip_suffix(['/', '.']).unwrap_or(text);
    trimmed.split(['/', '.'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slashes_and_dots_split_alike() {
        assert_eq!(Scope::new("order.created").segments(), Scope::new("order/created").segments());
    }

    #[test]
    fn one_trailing_slash_is_ignored() {
        assert_eq!(Scope::new("store/priceList/updated/").segments(), ["store", "priceList", "updated"]);
    }

    #[test]
    fn segments_keep_their_case_and_stars() {
        assert_eq!(
            Scope::new("store/channel/*/inventory/product/stock_changed").segments(),
            ["store", "channel", "*", "inventory", "product", "stock_changed"]
        );
    }
}
