//! A route's `filter` and `order_by`: JSON pointers into an event's body, checked once when
//! the config loads and evaluated per event without a plugin.
//!
//! `filter = { "/data/type" = "order", "/data/status/new_status_id" = [10, 11] }` holds when
//! every pointer finds a value equal to the one given, or to one of a list. Numbers compare by
//! value (`10` matches `10.0`); a body that is not JSON, or lacks a pointer, does not match.
//! This file knows nothing of routes or events beyond a body's parsed JSON.

use serde_json::Value;

/// One `pointer = value` entry of a filter: the pointer must find one of `accepted`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub pointer: String,
    /// One value, or the members of a list: any of them matches.
    pub accepted: Vec<Value>,
}

/// Every condition of a route's filter; an empty filter holds for every body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter(pub Vec<Condition>);

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `body` (parsed JSON, `None` when it is not JSON) satisfies every condition.
    pub fn holds(&self, body: Option<&Value>) -> bool {
        self.0.iter().all(|c| c.holds(body))
    }

    /// The first condition `body` fails, for `explain`: `None` when the filter holds.
    pub fn first_failing(&self, body: Option<&Value>) -> Option<&Condition> {
        self.0.iter().find(|c| !c.holds(body))
    }
}

impl Condition {
    pub fn holds(&self, body: Option<&Value>) -> bool {
        let Some(found) = body.and_then(|b| b.pointer(&self.pointer)) else { return false };
        self.accepted.iter().any(|want| same(found, want))
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.accepted.as_slice() {
            [one] => write!(f, "{} = {one}", self.pointer),
            many => write!(f, "{} in {}", self.pointer, Value::Array(many.to_vec())),
        }
    }
}

/// JSON equality, except that numbers compare by value whatever their representation.
fn same(found: &Value, want: &Value) -> bool {
    match (found, want) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => a.as_f64().zip(b.as_f64()).is_some_and(|(x, y)| x == y),
        },
        _ => found == want,
    }
}

/// Checks a JSON pointer (RFC 6901): empty (the whole body) or `/`-separated tokens in which
/// `~` is only ever `~0` or `~1`.
pub fn check_pointer(pointer: &str) -> Result<(), String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(format!("`{pointer}` is not a JSON pointer: it must start with `/`, like \"/data/id\""));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!("`{pointer}` is not a JSON pointer: `~` must be followed by 0 or 1"));
        }
    }
    Ok(())
}

/// A filter value from routes.toml as JSON: a string, number or boolean, or a non-empty list
/// of them (membership). Anything else could never match a body and is refused.
pub fn accepted_values(value: &toml::Value) -> Result<Vec<Value>, String> {
    let scalar = |v: &toml::Value| -> Result<Value, String> {
        match v {
            toml::Value::String(s) => Ok(Value::String(s.clone())),
            toml::Value::Integer(n) => Ok(Value::from(*n)),
            toml::Value::Float(x) => serde_json::Number::from_f64(*x)
                .map(Value::Number)
                .ok_or_else(|| format!("{x} cannot appear in JSON, so no body holds it")),
            toml::Value::Boolean(b) => Ok(Value::Bool(*b)),
            other => {
                Err(format!("compare with a string, number or boolean (or a list of them), not a {}", other.type_str()))
            }
        }
    };
    match value {
        toml::Value::Array(items) if items.is_empty() => {
            Err("an empty list can never hold: give at least one value".into())
        }
        toml::Value::Array(items) => items.iter().map(scalar).collect(),
        one => Ok(vec![scalar(one)?]),
    }
}

/// Longest ordering key kept as it is; a longer one is replaced by its SHA-256.
pub const MAX_KEY: usize = 512;

/// The value at `pointer` as an ordering key: a string as it is, any other value as its JSON
/// text (past [`MAX_KEY`] bytes, `sha256:` and its hash); `None` when the body is not JSON or
/// has nothing (or `null`) there.
pub fn key_at(body: Option<&Value>, pointer: &str) -> Option<String> {
    let key = match body?.pointer(pointer)? {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if key.len() <= MAX_KEY {
        return Some(key);
    }
    use sha2::Digest;
    Some(format!("sha256:{}", hex::encode(sha2::Sha256::digest(key.as_bytes()))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(entries: &[(&str, toml::Value)]) -> Filter {
        Filter(
            entries
                .iter()
                .map(|(p, v)| Condition { pointer: (*p).to_string(), accepted: accepted_values(v).unwrap() })
                .collect(),
        )
    }

    #[test]
    fn every_condition_must_hold_by_equality_or_membership() {
        let f = filter(&[
            ("/data/type", toml::Value::String("order".into())),
            ("/data/status/new_status_id", toml::Value::Array(vec![10.into(), 11.into()])),
        ]);
        let body = json!({"data": {"type": "order", "status": {"new_status_id": 11}}});
        assert!(f.holds(Some(&body)));
        let other_status = json!({"data": {"type": "order", "status": {"new_status_id": 12}}});
        assert!(!f.holds(Some(&other_status)));
        assert_eq!(
            f.first_failing(Some(&other_status)).map(|c| c.pointer.as_str()),
            Some("/data/status/new_status_id")
        );
        let not_an_order = json!({"data": {"type": "product", "status": {"new_status_id": 10}}});
        assert!(!f.holds(Some(&not_an_order)));
        assert!(!f.holds(None), "a body that is not JSON matches no filter");
        assert!(Filter::default().holds(None), "no filter holds for everything");
    }

    #[test]
    fn numbers_compare_by_value_and_types_do_not_mix() {
        let f = filter(&[("/n", toml::Value::Integer(10))]);
        assert!(f.holds(Some(&json!({"n": 10}))));
        assert!(f.holds(Some(&json!({"n": 10.0}))));
        assert!(!f.holds(Some(&json!({"n": "10"}))));
        assert!(!f.holds(Some(&json!({"m": 10}))));
    }

    #[test]
    fn pointers_follow_rfc_6901() {
        assert!(check_pointer("/data/id").is_ok());
        assert!(check_pointer("").is_ok());
        assert!(check_pointer("/a~1b/c~0d").is_ok());
        assert!(check_pointer("data/id").is_err_and(|e| e.contains("start with `/`")));
        assert!(check_pointer("/a~2").is_err());
        assert!(check_pointer("/a~").is_err());
    }

    #[test]
    fn values_that_could_never_match_are_refused() {
        assert!(accepted_values(&toml::Value::Array(vec![])).is_err_and(|e| e.contains("empty list")));
        let table = toml::Value::Table(toml::map::Map::new());
        assert!(accepted_values(&table).is_err_and(|e| e.contains("not a table")));
        assert!(accepted_values(&toml::Value::Float(f64::NAN)).is_err());
    }

    #[test]
    fn keys_are_strings_as_they_are_and_other_values_as_json() {
        let body = json!({"data": {"id": 250, "sku": "A-1", "none": null}});
        assert_eq!(key_at(Some(&body), "/data/id").as_deref(), Some("250"));
        assert_eq!(key_at(Some(&body), "/data/sku").as_deref(), Some("A-1"));
        assert_eq!(key_at(Some(&body), "/data/none"), None);
        assert_eq!(key_at(Some(&body), "/data/missing"), None);
        assert_eq!(key_at(None, "/data/id"), None);
        let long = json!({ "k": "x".repeat(MAX_KEY + 1) });
        assert!(key_at(Some(&long), "/k").is_some_and(|k| k.starts_with("sha256:") && k.len() == 71));
    }
}
