//! Validated value types that routes.toml spells as strings: byte sizes ("1MiB"), rates
//! ("50/s"), durations ("30s"), names, and Standard Webhooks secrets ([`WhsecKey`], with the
//! one base64 rule for them).
//!
//! Each parses with `FromStr` and says exactly what it expected; nothing here reads files or
//! the environment, and no key's bytes ever appear in a `Debug` output or an error.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Standard base64 as the platforms' libraries read it: written padded, decoded as leniently
/// as Python's `b64decode` on the points that matter (padding optional, non-zero trailing bits
/// allowed). Secrets the libraries accept must not be refused here, and a MAC decoded this way
/// still has to match byte for byte.
pub const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A Standard Webhooks secret, decoded: `whsec_` (optional, as the libraries make it) followed
/// by the base64 of a non-empty key. The one rule for a `standard-webhooks` source's `secrets`
/// and a destination's `signing_secret`. `Debug` hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct WhsecKey(Vec<u8>);

/// Why a string is not a Standard Webhooks secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhsecKeyError {
    #[error("must be `whsec_` followed by base64, as Standard Webhooks secrets are")]
    NotBase64,
    #[error("decodes to an empty key")]
    Empty,
}

impl WhsecKey {
    /// The prefix the libraries put before the base64 key.
    pub const PREFIX: &str = "whsec_";

    /// The HMAC key.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl FromStr for WhsecKey {
    type Err = WhsecKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let encoded = s.strip_prefix(Self::PREFIX).unwrap_or(s);
        let key = LENIENT_BASE64.decode(encoded).map_err(|_| WhsecKeyError::NotBase64)?;
        if key.is_empty() {
            return Err(WhsecKeyError::Empty);
        }
        Ok(Self(key))
    }
}

impl fmt::Debug for WhsecKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WhsecKey(redacted)")
    }
}

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

/// A rate limit, written `50/s` or `600/min` (also `/h`): at most `count` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// The time between two sends at this rate, evenly spaced.
    pub fn interval(&self) -> Duration {
        self.per / self.count.max(1)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a rate: write a count per second, minute or hour, like \"50/s\" or \"600/min\"")]
pub struct RateError(String);

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || RateError(s.into());
        let (count, unit) = s.split_once('/').ok_or_else(error)?;
        let count: u32 = count.trim().parse().map_err(|_| error())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(error()),
        };
        if count == 0 {
            return Err(error());
        }
        Ok(Self { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per.as_secs() {
            1 => write!(f, "{}/s", self.count),
            60 => write!(f, "{}/min", self.count),
            _ => write!(f, "{}/h", self.count),
        }
    }
}

/// A span of time written as people write it: `30s`, `2m`, `1h 30m`, `500ms` (jiff's friendly
/// format, or ISO 8601's `PT30S`). Negative spans are refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let parsed: jiff::SignedDuration =
        s.trim().parse().map_err(|_| format!("`{s}` is not a duration: write one like \"30s\", \"5m\" or \"2h\""))?;
    Duration::try_from(parsed).map_err(|_| format!("`{s}` is negative: a duration must be 0 or more"))
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
    fn whsec_keys_take_the_prefix_optional_and_base64_as_leniently_as_the_libraries() {
        let padded = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let key = padded.parse::<WhsecKey>().map(|k| k.bytes().len());
        assert_eq!(key, Ok(24));
        assert_eq!(padded["whsec_".len()..].parse::<WhsecKey>(), padded.parse());
        // "aGk=" is "hi": without its padding, and with non-zero trailing bits ("aGl").
        assert_eq!("whsec_aGk".parse::<WhsecKey>().map(|k| k.bytes().to_vec()), Ok(b"hi".to_vec()));
        assert!("whsec_aGl".parse::<WhsecKey>().is_ok());
        assert_eq!("whsec_!!!".parse::<WhsecKey>(), Err(WhsecKeyError::NotBase64));
        assert_eq!("not base64!".parse::<WhsecKey>(), Err(WhsecKeyError::NotBase64));
        assert_eq!("whsec_".parse::<WhsecKey>(), Err(WhsecKeyError::Empty));
        assert_eq!(format!("{:?}", padded.parse::<WhsecKey>()), "Ok(WhsecKey(redacted))");
    }

    #[test]
    fn rates_are_a_count_per_second_minute_or_hour() {
        let rate = |s: &str| s.parse::<Rate>().map(|r| (r.count, r.per.as_secs()));
        assert_eq!(rate("50/s"), Ok((50, 1)));
        assert_eq!(rate("600/min"), Ok((600, 60)));
        assert_eq!(rate(" 3 / h "), Ok((3, 3600)));
        assert_eq!("20/s".parse::<Rate>().map(|r| r.interval()), Ok(Duration::from_millis(50)));
        for bad in ["0/s", "50", "50/day", "-1/s", "fast"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        assert_eq!("600/min".parse::<Rate>().map(|r| r.to_string()), Ok("600/min".to_string()));
    }

    #[test]
    fn durations_are_written_as_people_write_them() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5s").is_err());
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
