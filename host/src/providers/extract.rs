//! Small header and body extraction helpers the platforms share. Only called after a
//! request's authentication where they read the body, so unauthenticated bodies are not parsed.

use super::contract::{Inbound, Rejection};
use serde_json::Value;

/// A header as text; present but not visible ASCII is malformed.
pub(crate) fn header<'r>(req: &Inbound<'r>, name: &str) -> Result<Option<&'r str>, Rejection> {
    match req.headers.get(name) {
        None => Ok(None),
        Some(value) => value.to_str().map(Some).map_err(|_| Rejection::MalformedHeader { name: name.to_owned() }),
    }
}

/// The body as JSON; only called after authentication, so unauthenticated bodies are not parsed.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, Rejection> {
    serde_json::from_slice(body).map_err(|e| Rejection::MalformedBody(e.to_string()))
}

/// A non-empty string, or a number rendered as text, at an RFC 6901 pointer.
pub(crate) fn text_at(json: &Value, pointer: &str) -> Option<String> {
    match json.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A non-empty string at an RFC 6901 pointer (scopes are strings; a number there is malformed).
pub(crate) fn string_at(json: &Value, pointer: &str) -> Option<String> {
    match json.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `id` in the form of platforms that prefix their ids (`msg_…`, `evt_…`): the prefix, then
/// the id without dashes.
pub(crate) fn prefixed_id(prefix: &str, id: &str) -> String {
    let compact: String = id.chars().filter(|c| *c != '-').collect();
    format!("{prefix}{compact}")
}

/// A scope must be present and non-empty.
pub(crate) fn require_scope(scope: Option<String>, where_: &str) -> Result<String, Rejection> {
    match scope {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Rejection::MissingScope { where_: where_.to_owned() }),
    }
}
