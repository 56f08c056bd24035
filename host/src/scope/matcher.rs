//! The routing trie: built once per snapshot from every route's patterns, walked per event.
//!
//! A walk follows the scope's segments through literal, `*`/`{name}`, trailing-`*` and `**`
//! edges, so its cost grows with the scope's length (and the number of `**` in play), never with
//! the number of routes. Results come in table order, one per route, with the parameters its
//! pattern captured. This file must not know about sources, plugins or destinations: a route is
//! an index here.

use super::{Pattern, Scope, Segment};
use std::collections::HashMap;
use std::ops::Range;

/// One route matching a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Index of the route in the table.
    pub route: usize,
    /// Which of the route's patterns matched (the first, when several do).
    pub pattern: usize,
    /// `{name}` captures, in pattern order.
    pub params: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Node {
    literal: HashMap<String, Node>,
    /// `*` in the middle and `{name}`: exactly one segment.
    one: Option<Box<Node>>,
    /// Trailing `*`: one or more segments, then the end.
    rest: Option<Box<Node>>,
    /// `**`: zero or more segments.
    any: Option<Box<Node>>,
    /// Patterns ending here, as (route, pattern index).
    ends: Vec<(usize, usize)>,
}

/// The compiled routing table of one snapshot.
#[derive(Debug, Default)]
pub struct Matcher {
    root: Node,
    patterns: Vec<Vec<Pattern>>,
}

impl Matcher {
    /// Builds the trie; `routes[i]` holds route `i`'s patterns.
    pub fn new(routes: Vec<Vec<Pattern>>) -> Self {
        let mut root = Node::default();
        for (route, patterns) in routes.iter().enumerate() {
            for (index, pattern) in patterns.iter().enumerate() {
                let mut node = &mut root;
                for segment in pattern.segments() {
                    node = match segment {
                        Segment::Literal(text) => node.literal.entry(text.clone()).or_default(),
                        Segment::One | Segment::Param(_) => node.one.get_or_insert_default(),
                        Segment::Rest => node.rest.get_or_insert_default(),
                        Segment::Any => node.any.get_or_insert_default(),
                    };
                }
                node.ends.push((route, index));
            }
        }
        Self { root, patterns: routes }
    }

    /// Every route whose pattern matches `scope`, in table order, each once.
    pub fn matches(&self, scope: &Scope) -> Vec<Match> {
        let mut walk = Walk { scope: scope.segments(), path: Vec::new(), found: Vec::new() };
        walk.visit(&self.root, 0);
        let mut found = walk.found;
        found.sort_by_key(|(route, pattern, _)| (*route, *pattern));
        found.dedup_by_key(|(route, _, _)| *route);
        found
            .into_iter()
            .map(|(route, pattern, path)| Match {
                route,
                pattern,
                params: self.params(route, pattern, &path, scope.segments()),
            })
            .collect()
    }

    fn params(&self, route: usize, pattern: usize, path: &[Range<usize>], scope: &[String]) -> Vec<(String, String)> {
        let Some(pattern) = self.patterns.get(route).and_then(|p| p.get(pattern)) else {
            return Vec::new();
        };
        pattern
            .segments()
            .iter()
            .zip(path)
            .filter_map(|(segment, range)| match segment {
                Segment::Param(name) => Some((name.clone(), scope.get(range.start)?.clone())),
                _ => None,
            })
            .collect()
    }
}

/// One walk of the trie: the scope, the segments each edge consumed so far, and what matched.
struct Walk<'s> {
    scope: &'s [String],
    path: Vec<Range<usize>>,
    found: Vec<(usize, usize, Vec<Range<usize>>)>,
}

impl Walk<'_> {
    fn visit(&mut self, node: &Node, at: usize) {
        let len = self.scope.len();
        if at == len {
            for &(route, pattern) in &node.ends {
                self.found.push((route, pattern, self.path.clone()));
            }
        }
        if let Some(segment) = self.scope.get(at) {
            if let Some(next) = node.literal.get(segment.as_str()) {
                self.step(next, at, at + 1);
            }
            if let Some(next) = &node.one {
                self.step(next, at, at + 1);
            }
            if let Some(next) = &node.rest {
                self.step(next, at, len);
            }
        }
        if let Some(next) = &node.any {
            for end in at..=len {
                self.step(next, at, end);
            }
        }
    }

    fn step(&mut self, next: &Node, from: usize, to: usize) {
        self.path.push(from..to);
        self.visit(next, to);
        self.path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[&str]) -> Matcher {
        Matcher::new(patterns.iter().map(|p| p.split(" | ").filter_map(|p| Pattern::parse(p).ok()).collect()).collect())
    }

    fn routes(m: &Matcher, scope: &str) -> Vec<usize> {
        m.matches(&Scope::new(scope)).into_iter().map(|m| m.route).collect()
    }

    #[test]
    fn trailing_star_covers_one_or_more_segments_like_bigcommerce() {
        let m = matcher(&["store/cart/*"]);
        assert_eq!(routes(&m, "store/cart/created"), [0]);
        assert_eq!(routes(&m, "store/cart/lineItem/created"), [0]);
        assert!(routes(&m, "store/cart").is_empty());
    }

    #[test]
    fn middle_star_is_exactly_one_segment() {
        let m = matcher(&["store/channel/*/cart/created"]);
        assert_eq!(routes(&m, "store/channel/1/cart/created"), [0]);
        assert!(routes(&m, "store/channel/1/2/cart/created").is_empty());
    }

    #[test]
    fn double_star_matches_zero_or_more_anywhere() {
        let m = matcher(&["**/created", "store/**"]);
        assert_eq!(routes(&m, "created"), [0]);
        assert_eq!(routes(&m, "store/order/created"), [0, 1]);
        assert_eq!(routes(&m, "store"), [1]);
    }

    #[test]
    fn params_are_captured_by_name() {
        let m = matcher(&["store/channel/{channel_id}/cart/couponApplied"]);
        let found = m.matches(&Scope::new("store/channel/1/cart/couponApplied"));
        assert_eq!(found[0].params, [("channel_id".to_string(), "1".to_string())]);
    }

    #[test]
    fn a_star_inside_a_scope_is_data() {
        let m = matcher(&["store/channel/{channel}/inventory/**", "store/channel/7/**"]);
        let found = m.matches(&Scope::new("store/channel/*/inventory/product/stock_changed"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].params, [("channel".to_string(), "*".to_string())]);
    }

    #[test]
    fn dots_and_slashes_are_the_same_separator() {
        let m = matcher(&["order.*"]);
        assert_eq!(routes(&m, "order/created"), [0]);
        assert_eq!(routes(&m, "order.created"), [0]);
    }

    #[test]
    fn every_matching_route_comes_once_in_table_order() {
        let m = matcher(&["a/**", "a/b | a/*", "x", "**"]);
        assert_eq!(routes(&m, "a/b"), [0, 1, 3]);
        let found = m.matches(&Scope::new("a/b"));
        assert_eq!(found[1].pattern, 0, "the first of a route's matching patterns is reported");
    }

    #[test]
    fn segments_are_case_sensitive() {
        let m = matcher(&["store/cart/couponApplied"]);
        assert!(routes(&m, "store/cart/couponapplied").is_empty());
    }
}

#[cfg(test)]
mod properties {
    //! The trie against a plain recursive matcher that reads the definitions in DESIGN.md.
    use super::*;
    use proptest::prelude::*;

    /// The reference: does `pattern` match `scope`, and with which captures?
    fn reference(pattern: &[Segment], scope: &[String]) -> Option<Vec<(String, String)>> {
        match pattern.split_first() {
            None => scope.is_empty().then(Vec::new),
            Some((Segment::Rest, _)) => (!scope.is_empty()).then(Vec::new),
            Some((Segment::Any, rest)) => (0..=scope.len()).find_map(|k| reference(rest, &scope[k..])),
            Some((first, rest)) => {
                let (head, tail) = scope.split_first()?;
                let mut params = match first {
                    Segment::Literal(text) if text == head => Vec::new(),
                    Segment::One => Vec::new(),
                    Segment::Param(name) => vec![(name.clone(), head.clone())],
                    _ => return None,
                };
                params.extend(reference(rest, tail)?);
                Some(params)
            }
        }
    }

    fn pattern() -> impl Strategy<Value = String> {
        let seg = prop_oneof!["a", "b", "c", Just("*".to_string()), Just("**".to_string()), Just("{p}".to_string())];
        prop::collection::vec(seg, 1..5).prop_map(|segs| {
            // `{p}` may appear once per pattern; later ones become literals.
            let mut seen = false;
            segs.into_iter()
                .map(|s| {
                    if s == "{p}" {
                        if seen {
                            "a".to_string()
                        } else {
                            seen = true;
                            s
                        }
                    } else {
                        s
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        })
    }

    fn scope() -> impl Strategy<Value = String> {
        prop::collection::vec(prop_oneof!["a", "b", "c", Just("*".to_string())], 0..6).prop_map(|s| s.join("."))
    }

    proptest! {
        #[test]
        fn trie_agrees_with_the_reference(patterns in prop::collection::vec(pattern(), 1..8), scope in scope()) {
            let parsed: Vec<Vec<Pattern>> = patterns.iter().map(|p| Pattern::parse(p).into_iter().collect()).collect();
            let scope = Scope::new(&scope);
            let got = Matcher::new(parsed.clone()).matches(&scope);
            let want: Vec<usize> = parsed
                .iter()
                .enumerate()
                .filter(|(_, p)| p.first().is_some_and(|p| reference(p.segments(), scope.segments()).is_some()))
                .map(|(i, _)| i)
                .collect();
            prop_assert_eq!(got.iter().map(|m| m.route).collect::<Vec<_>>(), want);
            for m in got {
                let p = &parsed[m.route][0];
                let params: Vec<_> = p.segments().iter().filter(|s| matches!(s, Segment::Param(_))).collect();
                prop_assert_eq!(m.params.len(), params.len());
            }
        }
    }
}
