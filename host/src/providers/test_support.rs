//! Helpers shared by the provider tests: header maps from pairs, settings, and the fixtures the
//! round-trip and no-panic properties use.
//!
//! Test-only (`#[cfg(test)]`); must never be compiled into the gateway.

use base64::Engine as _;

use crate::providers::contract::{
    Algorithm, Encoding, GenericSpec, Inbound, Location, Provider, ProviderKind, ProviderSettings, Rejection, Verified,
};

/// Every header name a provider reads beyond the Standard Webhooks ones (which
/// `config::headers::GATEWAY_OWNED` lists), plus a few it must ignore.
pub(crate) const PROVIDER_HEADERS: &[&str] = &[
    "x-webhook-signature",
    "x-bigcartel-signature",
    "x-shopify-hmac-sha256",
    "x-shopify-topic",
    "x-shopify-event-id",
    "x-shopify-webhook-id",
    "stripe-signature",
    "x-hub-signature-256",
    "x-hub-signature",
    "x-github-event",
    "x-github-delivery",
    "x-signature",
    "x-event-id",
    "x-auth",
    "content-type",
];

/// The instant the provider tests' fixtures were signed at (2023-11-14T22:13:20Z), as the
/// platforms' own libraries were asked to sign them; and as header text.
pub(crate) const SIGNED_AT: i64 = 1_700_000_000;
pub(crate) const SIGNED_AT_TEXT: &str = "1700000000";

/// A body every provider can name: each one's scope and id fields are present.
pub(crate) const ROUND_TRIP_BODY: &str =
    r#"{"scope":"store/order/created","type":"order.created","id":"evt_1","action":"opened"}"#;

/// Scope headers that `sign` leaves to the caller.
pub(crate) fn scope_headers() -> Vec<(String, String)> {
    vec![("X-Shopify-Topic".into(), "orders/create".into()), ("X-GitHub-Event".into(), "pull_request".into())]
}

pub(crate) fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        let name = http::HeaderName::from_bytes(name.as_bytes()).expect("test header name");
        map.append(name, http::HeaderValue::from_str(value).expect("test header value"));
    }
    map
}

pub(crate) fn settings(secrets: &[&str]) -> ProviderSettings {
    ProviderSettings { secrets: secrets.iter().map(|s| (*s).to_owned()).collect(), ..ProviderSettings::default() }
}

/// The generic spec the shared properties use: hex HMAC-SHA256 in `X-Signature` after
/// `sha256=`, scope at body `/type`, id in `X-Event-Id`.
pub(crate) fn generic_spec() -> GenericSpec {
    GenericSpec {
        signature_header: Some("X-Signature".into()),
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        prefix: "sha256=".into(),
        scope: Location::JsonPointer("/type".into()),
        id: Some(Location::Header("X-Event-Id".into())),
    }
}

/// Settings with one secret made from `text` the way `kind` expects its secrets.
pub(crate) fn signing_settings(kind: ProviderKind, text: &str) -> ProviderSettings {
    let secret = match kind {
        ProviderKind::StandardWebhooks => {
            format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(text))
        }
        _ => text.to_owned(),
    };
    let mut s = settings(&[&secret]);
    if kind == ProviderKind::Generic {
        s.generic = Some(generic_spec());
    }
    s
}

pub(crate) fn verify(
    p: &dyn Provider,
    pairs: &[(&str, &str)],
    body: &[u8],
    now_unix: i64,
) -> Result<Verified, Rejection> {
    p.verify(&Inbound { headers: &headers(pairs), body, now_unix })
}

/// The body with one byte changed.
pub(crate) fn tamper(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    let middle = out.len() / 2;
    out[middle] ^= 0x01;
    out
}

/// Shorthand for the expected successful result.
pub(crate) fn verified(scope: &str, event_id: Option<&str>) -> Result<Verified, Rejection> {
    Ok(Verified { scope: scope.to_owned(), event_id: event_id.map(str::to_owned) })
}

/// A request to a provider of `kind` signed the Standard Webhooks way: `webhook-id`,
/// `webhook-timestamp` and `webhook-signature` carrying `sig`.
pub(crate) fn verify_standard(
    kind: ProviderKind,
    secrets: &[&str],
    (id, timestamp, sig): (&str, &str, &str),
    body: &[u8],
    now_unix: i64,
) -> Result<Verified, Rejection> {
    let p = crate::providers::build(kind, settings(secrets));
    verify(&*p, &[("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", sig)], body, now_unix)
}

/// What every timestamped HMAC scheme promises, checked through `check(secrets, signature,
/// body, now)`: `signed[i]` is `body` signed with `secrets[i]` at [`SIGNED_AT`]. The second
/// secret of a rotation is accepted; one changed body byte or the wrong secret is a bad
/// signature; a timestamp up to 300 s away either way is accepted and 301 s is stale.
pub(crate) fn timestamped_scheme_holds(
    check: impl Fn(&[&str], &str, &[u8], i64) -> Result<Verified, Rejection>,
    secrets: [&str; 2],
    signed: [&str; 2],
    body: &str,
) {
    let (body, now) = (body.as_bytes(), SIGNED_AT);
    assert!(check(&secrets, signed[1], body, now).is_ok(), "the second secret of a rotation");
    assert_eq!(check(&secrets[..1], signed[0], &tamper(body), now), Err(Rejection::BadSignature));
    assert_eq!(check(&secrets[1..], signed[0], body, now), Err(Rejection::BadSignature));
    for skew in [-300, 300] {
        assert!(check(&secrets, signed[0], body, now + skew).is_ok(), "{skew} s away is within tolerance");
    }
    assert_eq!(check(&secrets, signed[0], body, now + 301), Err(Rejection::StaleTimestamp { age_secs: 301 }));
    assert_eq!(check(&secrets, signed[0], body, now - 301), Err(Rejection::StaleTimestamp { age_secs: -301 }));
}
