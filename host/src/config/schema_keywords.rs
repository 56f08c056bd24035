//! What a string key of routes.toml must look like, as JSON Schema keywords: the patterns of
//! sizes, rates, durations, names and JSON pointers, and the keyword lists of providers and
//! signature schemes. `raw.rs` attaches them to its fields; `schema.rs` writes the schema.
//! Each pattern accepts exactly what the loader's own parser accepts (the test below); none
//! of them is ever used to parse.

use super::provider::{Algorithm, Encoding, ProviderKind};
use serde_json::{Value, json};

/// A size: a number of bytes, or a number with a unit (`512`, `64KiB`, `1MiB`, `2gb`).
pub const SIZE: &str = r"^\s*[0-9]+\s*([bB]|[kKmMgG]([iI]?[bB])?)?\s*$";

/// A rate: a count per second, minute or hour (`50/s`, `600/min`, `3/h`).
pub const RATE: &str = r"^\s*[0-9]+\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$";

/// A duration as people write it (`500ms`, `30s`, `1h 30m`) or ISO 8601's (`PT30S`).
pub const DURATION: &str = r"^\s*([0-9]+(\.[0-9]+)?\s*[a-zA-Z]+[\s,]*)+$|^\s*[pP]";

/// An RFC 6901 JSON pointer: empty, or `/`-separated tokens where `~` is `~0` or `~1`.
pub const POINTER: &str = r"^(/([^~/]|~[01])*)*$";

/// The names `[sources.NAME]`, `[plugins.NAME]` and `[destinations.NAME]` may take.
pub fn name() -> Value {
    json!({ "pattern": "^[A-Za-z][A-Za-z0-9_-]{0,63}$" })
}

/// A filter's keys.
pub fn pointer() -> Value {
    json!({ "pattern": POINTER })
}

pub fn providers() -> Value {
    json!(ProviderKind::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>())
}

pub fn algorithms() -> Value {
    json!(Algorithm::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>())
}

pub fn encodings() -> Value {
    json!(Encoding::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ByteSize;
    use crate::config::units::{Rate, parse_duration};

    fn matches(pattern: &str, text: &str) -> bool {
        regex::Regex::new(pattern).unwrap().is_match(text)
    }

    #[test]
    fn the_patterns_accept_what_the_parsers_accept_and_refuse_what_they_refuse() {
        for size in ["512", "64KiB", "1MiB", "2gb", "1 k", "3G"] {
            assert!(size.parse::<ByteSize>().is_ok() && matches(SIZE, size), "{size}");
        }
        for not in ["lots", "1TiB", "1.5MiB", "-1"] {
            assert!(not.parse::<ByteSize>().is_err() && !matches(SIZE, not), "{not}");
        }
        for rate in ["50/s", "600/min", "3/h", "1 / second"] {
            assert!(rate.parse::<Rate>().is_ok() && matches(RATE, rate), "{rate}");
        }
        for not in ["fast", "50", "50/day"] {
            assert!(not.parse::<Rate>().is_err() && !matches(RATE, not), "{not}");
        }
        for duration in ["500ms", "30s", "1h 30m", "PT30S", "2 hours"] {
            assert!(parse_duration(duration).is_ok() && matches(DURATION, duration), "{duration}");
        }
        for pointer in ["", "/data/id", "/a~1b/~0c"] {
            assert!(crate::config::filter::check_pointer(pointer).is_ok() && matches(POINTER, pointer), "{pointer}");
        }
        for not in ["data.id", "/a~2"] {
            assert!(crate::config::filter::check_pointer(not).is_err() && !matches(POINTER, not), "{not}");
        }
    }
}
