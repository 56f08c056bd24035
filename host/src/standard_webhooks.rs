//! Standard Webhooks (and Svix), both ways: the one implementation of the scheme that the
//! `standard-webhooks` and `bigcommerce` sources verify with and that deliveries are signed with.
//!
//! Headers `webhook-id`, `webhook-timestamp`, `webhook-signature` (or their `svix-` spellings
//! on the way in); the signature is `v1,` + base64 of HMAC-SHA256(key, `"{id}.{timestamp}.{body}"`),
//! several space-separated in one header; a signed timestamp more than the tolerance away from
//! now is refused. What the key is (a `whsec_` secret decoded by `config::WhsecKey`, or
//! BigCommerce's raw client secret) is the caller's. A leaf over `signature`: it knows no
//! HTTP client, source or destination. Must never treat a non-`v1` entry as a signature, and
//! never put a key or a MAC into an error.

use crate::config::provider::{Algorithm, Encoding};
use crate::signature::{self, Keys, Stale};

/// The message id header; the same for every attempt of one message.
pub const ID: &str = "webhook-id";
/// Unix seconds when the message was signed.
pub const TIMESTAMP: &str = "webhook-timestamp";
/// `v1,<base64>` entries, space-separated.
pub const SIGNATURE: &str = "webhook-signature";

/// Why a request does not carry a valid Standard Webhooks signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No `webhook-signature` (or `svix-signature`) header.
    #[error("missing signature header `{SIGNATURE}`")]
    MissingSignature,
    /// The id or timestamp header is absent.
    #[error("missing required header `{name}`")]
    MissingHeader { name: &'static str },
    /// A header is not visible ASCII, or the timestamp is not plain Unix seconds.
    #[error("header `{name}` is malformed")]
    MalformedHeader { name: String },
    /// The signature header holds no `v1` entry.
    #[error("`{SIGNATURE}` carries no signature in a supported scheme")]
    UnsupportedScheme,
    /// No `v1` entry matches any key.
    #[error("signature does not match any configured secret")]
    BadSignature,
    /// The signature matches, but its timestamp is outside the replay window.
    #[error(transparent)]
    Stale(#[from] Stale),
}

/// The three headers a Standard Webhooks sender adds for `body`, signed with `key` at
/// `timestamp` (Unix seconds).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 3] {
    let ts = timestamp.to_string();
    let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts.as_bytes(), b".", body];
    let mac = signature::mac(Algorithm::Sha256, key, &parts);
    [(ID, id.to_owned()), (TIMESTAMP, ts), (SIGNATURE, format!("v1,{}", signature::encode(Encoding::Base64, &mac)))]
}

/// Authenticates `body` with its three headers against every key, checks the timestamp is
/// within `tolerance_secs` of `now_unix`, and returns the message id.
pub fn verify(
    keys: &Keys,
    headers: &http::HeaderMap,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<String, VerifyError> {
    let list = header(headers, "signature")?.ok_or(VerifyError::MissingSignature)?;
    let id = message_id(headers)?.ok_or(VerifyError::MissingHeader { name: ID })?;
    let ts_text = header(headers, "timestamp")?.ok_or(VerifyError::MissingHeader { name: TIMESTAMP })?;
    let signed_at = signature::parse_unix_seconds(ts_text)
        .ok_or_else(|| VerifyError::MalformedHeader { name: TIMESTAMP.to_owned() })?;
    let candidates = v1_signatures(list)?;
    // The libraries sign the timestamp as they re-render it, so sign the parsed integer.
    let ts = signed_at.to_string();
    let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts.as_bytes(), b".", body];
    if !keys.match_any(Algorithm::Sha256, &parts, &candidates) {
        return Err(VerifyError::BadSignature);
    }
    signature::check_window(signed_at, now_unix, tolerance_secs)?;
    Ok(id.to_owned())
}

/// The message id, unauthenticated (for a source without secrets).
pub fn message_id(headers: &http::HeaderMap) -> Result<Option<&str>, VerifyError> {
    header(headers, "id")
}

/// A header by suffix (`id`, `timestamp`, `signature`), preferring the `svix-` spelling when
/// both are sent, as the Svix library does. Present but not visible ASCII is malformed.
fn header<'h>(headers: &'h http::HeaderMap, suffix: &str) -> Result<Option<&'h str>, VerifyError> {
    for name in [format!("svix-{suffix}"), format!("webhook-{suffix}")] {
        if let Some(value) = headers.get(name.as_str()) {
            return value.to_str().map(Some).map_err(|_| VerifyError::MalformedHeader { name });
        }
    }
    Ok(None)
}

/// Decoded `v1` signatures; other versions and entries without a comma are skipped (the Python
/// library raises `ValueError` on the latter). No `v1` entry at all is `UnsupportedScheme`.
fn v1_signatures(list: &str) -> Result<Vec<Vec<u8>>, VerifyError> {
    let mut saw_v1 = false;
    let mut out = Vec::new();
    for (version, sig) in list.split(' ').filter_map(|entry| entry.split_once(',')) {
        if version == "v1" {
            saw_v1 = true;
            out.extend(signature::decode(Encoding::Base64, sig));
        }
    }
    if !saw_v1 {
        return Err(VerifyError::UnsupportedScheme);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WhsecKey;

    /// The Standard Webhooks spec's own test vector, produced by the Python `standardwebhooks`
    /// library: `Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").sign("msg_p5jXN8AQM9LWM0D4loKWxJek",
    /// datetime.fromtimestamp(1614265330, tz=timezone.utc), '{"test": 2432232314}')`.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn key(secret: &str) -> Vec<u8> {
        secret.parse::<WhsecKey>().map(|k| k.bytes().to_vec()).unwrap()
    }

    fn map(pairs: &[(&'static str, String)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, http::HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn signatures_match_the_standard_webhooks_reference_vector() {
        let h = sign(&key(SECRET), ID, TS, BODY);
        assert_eq!(h[2].1, SIG);
    }

    #[test]
    fn what_is_signed_verifies_within_the_window_and_not_outside_it_or_tampered() {
        let keys = Keys::new(vec![key(SECRET)]);
        let headers = map(&sign(&key(SECRET), ID, TS, BODY));
        assert_eq!(verify(&keys, &headers, BODY, TS + 300, 300), Ok(ID.to_owned()));
        assert_eq!(verify(&keys, &headers, BODY, TS + 301, 300), Err(VerifyError::Stale(Stale { age_secs: 301 })));
        assert_eq!(verify(&keys, &headers, b"{}", TS, 300), Err(VerifyError::BadSignature));
    }
}
