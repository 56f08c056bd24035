//! Validated value types that routes.toml spells as strings: byte sizes ("1MiB") and names.
//!
//! Each parses with `FromStr` and says exactly what it expected; nothing here reads files or
//! the environment.

use std::fmt;
use std::str::FromStr;

/// A size in bytes, written as `512`, `64KiB`, `1MiB`, `2GB`…
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a size: write a number of bytes or use a unit, like 512KiB or 1MiB")]
pub struct ByteSizeError(String);

impl FromStr for ByteSize {
    type Err = ByteSizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let n: u64 = digits.parse().map_err(|_| ByteSizeError(s.into()))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1_000,
            "kib" | "k" => 1 << 10,
            "mb" => 1_000_000,
            "mib" | "m" => 1 << 20,
            "gb" => 1_000_000_000,
            "gib" | "g" => 1 << 30,
            _ => return Err(ByteSizeError(s.into())),
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(|| ByteSizeError(s.into()))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

/// Checks a name used as a table key and a reference (`[sources.shop]`, `to = ["erp"]`):
/// letters, digits, `-` and `_`, starting with a letter, so it is safe in a URL path.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if first_ok && name.len() <= 64 && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Ok(())
    } else {
        Err(format!("`{name}` is not a valid name: use up to 64 letters, digits, `-` or `_`, starting with a letter"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_binary_and_decimal_units() {
        assert_eq!("1MiB".parse(), Ok(ByteSize(1 << 20)));
        assert_eq!("64 KiB".parse(), Ok(ByteSize(64 << 10)));
        assert_eq!("2kb".parse(), Ok(ByteSize(2000)));
        assert_eq!("512".parse(), Ok(ByteSize(512)));
    }

    #[test]
    fn sizes_refuse_nonsense_and_overflow() {
        assert!("lots".parse::<ByteSize>().is_err());
        assert!("1TiB".parse::<ByteSize>().is_err());
        assert!("99999999999999999999GiB".parse::<ByteSize>().is_err());
    }

    #[test]
    fn names_are_url_safe() {
        assert!(check_name("order-to-erp").is_ok());
        assert!(check_name("big_cartel2").is_ok());
        assert!(check_name("2fast").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
    }
}
