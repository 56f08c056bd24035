//! `${VAR}` and `${VAR:-default}` inside parsed string values, through an injectable lookup.
//!
//! Interpolation happens after TOML parsing, value by value, so an environment variable can
//! never inject TOML structure or shift the columns reported for errors. `$${` writes a literal
//! `${`. A missing variable without a default is an error; so is a value with a newline. This
//! module never reads the process environment itself: callers pass the lookup.

/// How variables are looked up: `std::env::var` in production, a map in tests.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Why a string could not be interpolated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InterpolateError {
    #[error("environment variable `{0}` is not set (write `${{{0}:-default}}` to give a default)")]
    Missing(String),
    #[error("environment variable `{0}` contains a newline")]
    Newline(String),
    #[error("unterminated `${{` (write `$${{` for a literal `${{`)")]
    Unterminated,
    #[error("`${{{0}}}` is not a valid variable name")]
    BadName(String),
}

/// Replaces every `${NAME}` / `${NAME:-default}` in `input`.
pub fn interpolate(input: &str, lookup: Lookup<'_>) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or(InterpolateError::Unterminated)?;
            let inner = &after[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(InterpolateError::BadName(inner.to_string()));
            }
            let value = match (lookup(name), default) {
                (Some(v), _) => v,
                (None, Some(d)) => d.to_string(),
                (None, None) => return Err(InterpolateError::Missing(name.to_string())),
            };
            if value.contains('\n') || value.contains('\r') {
                return Err(InterpolateError::Newline(name.to_string()));
            }
            out.push_str(&value);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SECRET" => Some("s3cret".into()),
            "EVIL" => Some("a\nb = 1".into()),
            _ => None,
        }
    }

    #[test]
    fn variables_are_replaced_inside_text() {
        assert_eq!(interpolate("key-${SECRET}!", &env).as_deref(), Ok("key-s3cret!"));
    }

    #[test]
    fn defaults_apply_only_when_unset() {
        assert_eq!(interpolate("${NOPE:-x}", &env).as_deref(), Ok("x"));
        assert_eq!(interpolate("${SECRET:-x}", &env).as_deref(), Ok("s3cret"));
        assert_eq!(interpolate("${NOPE:-}", &env).as_deref(), Ok(""));
    }

    #[test]
    fn missing_variables_and_newlines_are_errors() {
        assert_eq!(interpolate("${NOPE}", &env), Err(InterpolateError::Missing("NOPE".into())));
        assert_eq!(interpolate("${EVIL}", &env), Err(InterpolateError::Newline("EVIL".into())));
        assert_eq!(interpolate("${OPEN", &env), Err(InterpolateError::Unterminated));
        assert!(matches!(interpolate("${a-b}", &env), Err(InterpolateError::BadName(_))));
    }

    #[test]
    fn dollar_signs_that_are_not_variables_stay() {
        assert_eq!(interpolate("$5 and $${LIT}", &env).as_deref(), Ok("$5 and ${LIT}"));
    }
}
