//! Signature primitives shared by the providers (verifying) and Standard Webhooks signing:
//! HMAC over a message given in parts, constant-time comparison against each secret of a
//! rotation list, the replay-window check, and hex/base64/timestamp parsing that returns `None`
//! instead of panicking.
//!
//! A leaf: it uses only `config`'s plain types. Owns no header names and no platform
//! conventions. Must never compare MACs with `==`, and never log, format or return a key or a
//! computed MAC.

use std::fmt;

use base64::Engine as _;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use subtle::{Choice, ConstantTimeEq};

use crate::config::LENIENT_BASE64 as BASE64;
use crate::config::provider::{Algorithm, Encoding};

/// A signed timestamp outside the replay window; a negative age is in the future.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signed timestamp is outside the replay window (age {age_secs}s)")]
pub struct Stale {
    pub age_secs: i64,
}

/// Longest accepted timestamp: 12 digits is past the year 33000 and far from `i64` overflow.
const MAX_TIMESTAMP_DIGITS: usize = 12;

/// HMAC keys in rotation order. `Debug` shows only how many there are.
#[derive(Clone, Default)]
pub struct Keys(Vec<Vec<u8>>);

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keys([{} redacted])", self.0.len())
    }
}

impl Keys {
    /// Keys as already-decoded bytes.
    pub fn new(keys: Vec<Vec<u8>>) -> Self {
        Self(keys)
    }

    /// Each secret's UTF-8 bytes, as-is (Stripe, Shopify, GitHub, Big Cartel, BigCommerce).
    pub fn utf8(secrets: &[String]) -> Self {
        Self(secrets.iter().map(|s| s.as_bytes().to_vec()).collect())
    }

    /// No key configured: the source accepts unsigned requests.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key a sender signs with.
    pub fn first(&self) -> Option<&[u8]> {
        self.0.first().map(Vec::as_slice)
    }

    /// Whether any candidate equals the MAC of `parts` under any key. Every pair is compared
    /// in constant time and none short-circuits, so timing reveals neither which key nor which
    /// candidate matched.
    pub fn match_any(&self, algorithm: Algorithm, parts: &[&[u8]], candidates: &[Vec<u8>]) -> bool {
        let mut matched = Choice::from(0);
        for key in &self.0 {
            let expected = mac(algorithm, key, parts);
            for candidate in candidates {
                matched |= expected.as_slice().ct_eq(candidate.as_slice());
            }
        }
        matched.into()
    }
}

/// HMAC of the concatenation of `parts` (so `"{id}.{ts}.{body}"` needs no copy of the body).
pub fn mac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match algorithm {
        Algorithm::Sha1 => mac_with::<Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => mac_with::<Hmac<sha2::Sha256>>(key, parts),
        Algorithm::Sha512 => mac_with::<Hmac<sha2::Sha512>>(key, parts),
    }
}

fn mac_with<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // Invariant: HMAC takes keys of every length (long keys are hashed, short ones padded), so
    // `new_from_slice` cannot fail for `Hmac<D>`.
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Constant-time equality for secrets of possibly different lengths: both sides are hashed
/// first so that neither the value nor its length leaks through timing.
pub fn secret_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest as _;
    sha2::Sha256::digest(a).ct_eq(&sha2::Sha256::digest(b)).into()
}

/// Refuse a signed timestamp more than `tolerance_secs` away from `now`, in either direction.
pub fn check_window(signed_at: i64, now: i64, tolerance_secs: i64) -> Result<(), Stale> {
    let age_secs = now.saturating_sub(signed_at);
    if age_secs.unsigned_abs() > tolerance_secs.max(0).unsigned_abs() {
        return Err(Stale { age_secs });
    }
    Ok(())
}

/// Unix seconds written as plain ASCII digits (no sign, no fraction, no spaces).
pub fn parse_unix_seconds(text: &str) -> Option<i64> {
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || text.len() > MAX_TIMESTAMP_DIGITS {
        return None;
    }
    text.parse().ok()
}

/// Hex (either case) or standard base64 (padding optional) into bytes.
pub fn decode(encoding: Encoding, text: &str) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Hex => hex::decode(text).ok(),
        Encoding::Base64 => BASE64.decode(text).ok(),
    }
}

/// Lowercase hex or padded standard base64, as the platforms send them.
pub fn encode(encoding: Encoding, bytes: &[u8]) -> String {
    match encoding {
        Encoding::Hex => hex::encode(bytes),
        Encoding::Base64 => BASE64.encode(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From GitHub's "Validating webhook deliveries" page.
    const GITHUB_DOC_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_DOC_HEX: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn mac_over_parts_equals_githubs_documented_vector() {
        let got = mac(Algorithm::Sha256, GITHUB_DOC_SECRET.as_bytes(), &[b"Hello, ", b"World!"]);
        assert_eq!(encode(Encoding::Hex, &got), GITHUB_DOC_HEX);
    }

    #[test]
    fn the_second_key_of_a_rotation_list_is_tried() {
        let keys = Keys::utf8(&["old".into(), GITHUB_DOC_SECRET.into()]);
        let candidate = decode(Encoding::Hex, GITHUB_DOC_HEX).expect("valid hex");
        assert!(keys.match_any(Algorithm::Sha256, &[b"Hello, World!"], &[candidate]));
    }

    #[test]
    fn no_keys_and_no_candidates_match_nothing() {
        assert!(!Keys::default().match_any(Algorithm::Sha256, &[b"x"], &[vec![]]));
        assert!(!Keys::utf8(&["k".into()]).match_any(Algorithm::Sha256, &[b"x"], &[]));
        assert!(!Keys::utf8(&["k".into()]).match_any(Algorithm::Sha1, &[b"x"], &[vec![]]));
    }

    #[test]
    fn keys_debug_output_hides_the_key_bytes() {
        assert_eq!(format!("{:?}", Keys::utf8(&["hunter2".into()])), "Keys([1 redacted])");
    }

    #[test]
    fn secret_eq_matches_only_identical_values() {
        assert!(secret_eq(b"Basic abc", b"Basic abc"));
        assert!(!secret_eq(b"Basic abc", b"Basic abd"));
        assert!(!secret_eq(b"Basic abc", b"Basic abcd"));
    }

    #[test]
    fn a_timestamp_at_the_edge_of_the_window_is_obeyed_and_one_past_it_violated() {
        assert_eq!(check_window(1000, 1300, 300), Ok(()));
        assert_eq!(check_window(1000, 700, 300), Ok(()));
        assert_eq!(check_window(1000, 1301, 300), Err(Stale { age_secs: 301 }));
        assert_eq!(check_window(1000, 699, 300), Err(Stale { age_secs: -301 }));
    }

    #[test]
    fn extreme_timestamps_and_negative_tolerance_do_not_overflow() {
        assert!(check_window(i64::MIN, i64::MAX, i64::MAX).is_ok());
        assert!(check_window(i64::MAX, i64::MIN, 0).is_err());
        assert!(check_window(5, 5, -10).is_ok());
    }

    #[test]
    fn timestamps_must_be_plain_digits() {
        assert_eq!(parse_unix_seconds("1700000000"), Some(1_700_000_000));
        for bad in ["", "-1", "+1", " 1", "1.5", "1e9", "9999999999999", "١٢"] {
            assert_eq!(parse_unix_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn decoders_refuse_garbage_without_panicking() {
        assert_eq!(decode(Encoding::Hex, "abc"), None);
        assert_eq!(decode(Encoding::Hex, "zz"), None);
        assert_eq!(decode(Encoding::Base64, "a"), None);
        assert_eq!(decode(Encoding::Base64, "é=="), None);
        assert_eq!(decode(Encoding::Base64, "aGk"), Some(b"hi".to_vec()));
        assert_eq!(decode(Encoding::Hex, "ABcd"), Some(vec![0xab, 0xcd]));
    }
}
