//! A route's scope pattern, parsed into segments: literal, `*`, trailing `*`, `**`, `{name}`.
//!
//! Parsing rejects what would be ambiguous (`ab*`, `{x}y`, an empty or repeated `{name}`), so
//! the matcher never has to guess. This file knows nothing of routes or tries.

use std::fmt;

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches exactly this text (case-sensitive).
    Literal(String),
    /// `*` before the end: exactly one segment.
    One,
    /// `*` at the end: one or more segments, as BigCommerce's `store/cart/*` does.
    Rest,
    /// `**`: zero or more segments, anywhere.
    Any,
    /// `{name}`: exactly one segment, handed to the plugin as a parameter.
    Param(String),
}

/// A parsed pattern, with the text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segments: Vec<Segment>,
}

/// Why a pattern is not valid; always names the pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pattern `{pattern}`: {kind}")]
pub struct PatternError {
    pub pattern: String,
    pub kind: PatternErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternErrorKind {
    #[error("it is empty")]
    Empty,
    #[error("segment {0} is empty (two separators in a row)")]
    EmptySegment(usize),
    #[error("`{0}`: a wildcard or `{{name}}` must be a whole segment")]
    Partial(String),
    #[error("`{{{0}}}`: parameter names are letters, digits and `_`")]
    BadParam(String),
    #[error("parameter `{0}` appears twice")]
    DuplicateParam(String),
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let err = |kind| PatternError { pattern: text.to_string(), kind };
        if text.trim().is_empty() {
            return Err(err(PatternErrorKind::Empty));
        }
        let raw: Vec<&str> = super::split(text).collect();
        let mut segments = Vec::with_capacity(raw.len());
        let mut names: Vec<&str> = Vec::new();
        for (i, seg) in raw.iter().enumerate() {
            let last = i + 1 == raw.len();
            let parsed = match *seg {
                "" => return Err(err(PatternErrorKind::EmptySegment(i + 1))),
                "*" if last => Segment::Rest,
                "*" => Segment::One,
                "**" => Segment::Any,
                s if s.starts_with('{') && s.ends_with('}') && s.len() >= 2 => {
                    let name = &s[1..s.len() - 1];
                    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(err(PatternErrorKind::BadParam(name.to_string())));
                    }
                    if names.contains(&name) {
                        return Err(err(PatternErrorKind::DuplicateParam(name.to_string())));
                    }
                    names.push(name);
                    Segment::Param(name.to_string())
                }
                s if s.contains(['*', '{', '}']) => return Err(err(PatternErrorKind::Partial(s.to_string()))),
                s => Segment::Literal(s.to_string()),
            };
            segments.push(parsed);
        }
        Ok(Self { text: text.to_string(), segments })
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Segment::*;

    fn segs(p: &str) -> Vec<Segment> {
        Pattern::parse(p).map(|p| p.segments).unwrap_or_default()
    }

    #[test]
    fn a_star_in_the_middle_is_one_segment_and_at_the_end_is_the_rest() {
        assert_eq!(
            segs("store/channel/*/cart/*"),
            [Literal("store".into()), Literal("channel".into()), One, Literal("cart".into()), Rest]
        );
    }

    #[test]
    fn double_star_and_params_parse() {
        assert_eq!(segs("**.created"), [Any, Literal("created".into())]);
        assert_eq!(
            segs("store/channel/{channel_id}"),
            [Literal("store".into()), Literal("channel".into()), Param("channel_id".into())]
        );
    }

    #[test]
    fn partial_wildcards_and_bad_params_are_refused() {
        let kind = |p| Pattern::parse(p).err().map(|e| e.kind);
        assert_eq!(kind("store/ord*"), Some(PatternErrorKind::Partial("ord*".into())));
        assert_eq!(kind("a/{}"), Some(PatternErrorKind::BadParam(String::new())));
        assert_eq!(kind("a/{x}/{x}"), Some(PatternErrorKind::DuplicateParam("x".into())));
        assert_eq!(kind("a//b"), Some(PatternErrorKind::EmptySegment(2)));
        assert_eq!(kind(""), Some(PatternErrorKind::Empty));
    }
}
