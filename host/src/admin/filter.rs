//! What the live stream and the console's events page narrow events by: a source, a scope
//! pattern (the same wildcards routes use: `*`, `**`, `{name}`, a trailing `*`), and failures
//! only. A pattern is parsed once per request, by the routes' own parser and matcher.

use crate::feed::Happening;
use crate::scope::{Matcher, Pattern, PatternError, Scope};

/// Longest pattern accepted from a request.
const MAX_PATTERN_CHARS: usize = 512;

/// Why a filter was refused.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("the scope pattern is longer than {MAX_PATTERN_CHARS} characters")]
    TooLong,
    #[error("the scope pattern is not valid: {0}")]
    Pattern(#[from] PatternError),
}

/// A scope pattern, matched as a route's would be.
pub struct ScopeFilter {
    matcher: Matcher,
}

impl ScopeFilter {
    /// `None` for an empty pattern (no filter).
    pub fn parse(text: &str) -> Result<Option<Self>, FilterError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if text.chars().count() > MAX_PATTERN_CHARS {
            return Err(FilterError::TooLong);
        }
        let pattern = Pattern::parse(text)?;
        Ok(Some(Self { matcher: Matcher::new(vec![vec![pattern]]) }))
    }

    pub fn matches(&self, scope: &str) -> bool {
        !self.matcher.matches(&Scope::new(scope)).is_empty()
    }
}

/// Which happenings a stream shows.
pub struct Filter {
    source: Option<String>,
    scope: Option<ScopeFilter>,
    failed_only: bool,
}

impl Filter {
    pub fn new(source: Option<&str>, scope: Option<&str>, failed_only: bool) -> Result<Self, FilterError> {
        let source = source.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(Self { source, scope: ScopeFilter::parse(scope.unwrap_or(""))?, failed_only })
    }

    /// Whether it filters by source or scope (and so needs deliveries named).
    pub fn by_name(&self) -> bool {
        self.source.is_some() || self.scope.is_some()
    }

    /// Whether `h` passes. With a source or scope filter, a happening that names neither (a
    /// delivery of an event the stream never saw) does not.
    pub fn passes(&self, h: &Happening) -> bool {
        if self.failed_only && !h.kind.is_failure() {
            return false;
        }
        if let Some(source) = &self.source
            && h.source.as_deref() != Some(source.as_str())
        {
            return false;
        }
        match (&self.scope, &h.scope) {
            (None, _) => true,
            (Some(filter), Some(scope)) => filter.matches(scope),
            (Some(_), None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::Kind;

    fn happening(kind: Kind, source: &str, scope: &str) -> Happening {
        Happening { source: Some(source.into()), scope: Some(scope.into()), ..Happening::new(kind, "evt_1") }
    }

    #[test]
    fn a_scope_pattern_uses_the_routes_wildcards() {
        let Ok(Some(filter)) = ScopeFilter::parse("store/channel/{id}/cart/*") else { panic!("a valid pattern") };
        assert!(filter.matches("store/channel/1/cart/couponApplied"));
        assert!(filter.matches("store.channel.1.cart.created"));
        assert!(!filter.matches("store/order/created"));
        assert!(matches!(ScopeFilter::parse("  "), Ok(None)));
    }

    #[test]
    fn an_invalid_or_huge_pattern_is_refused() {
        assert!(ScopeFilter::parse("a/**/**/{").is_err());
        assert!(matches!(ScopeFilter::parse(&"a/".repeat(400)), Err(FilterError::TooLong)));
    }

    #[test]
    fn source_scope_and_failures_narrow_what_passes() {
        let Ok(filter) = Filter::new(Some("shop"), Some("order/*"), false) else { panic!("a valid filter") };
        assert!(filter.passes(&happening(Kind::Accepted, "shop", "order/created")));
        assert!(!filter.passes(&happening(Kind::Accepted, "other", "order/created")));
        assert!(!filter.passes(&happening(Kind::Accepted, "shop", "cart/created")));
        assert!(!filter.passes(&Happening::new(Kind::Delivered, "evt_unnamed")));

        let Ok(failed) = Filter::new(None, None, true) else { panic!("a valid filter") };
        assert!(failed.passes(&happening(Kind::Failed, "shop", "x")));
        assert!(failed.passes(&happening(Kind::Dead, "shop", "x")));
        assert!(!failed.passes(&happening(Kind::Delivered, "shop", "x")));
        assert!(failed.passes(&Happening::new(Kind::Dead, "evt_unnamed")));
    }
}
