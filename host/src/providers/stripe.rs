//! Stripe: `Stripe-Signature: t=<ts>,v1=<hex>[,v1=…][,v0=…]`, hex HMAC-SHA256 keyed with the
//! whole `whsec_…` string's UTF-8 bytes over `"{t}.{body}"`; scope body `type`, id body `id`. Its sample is a Stripe
//! event (`evt_…`) around the data.
//!
//! Replay window: Stripe's libraries refuse only timestamps older than the tolerance. We also
//! refuse ones more than the tolerance in the future, like Standard Webhooks: a future-dated
//! signature would otherwise stay replayable for longer than the window. Must never accept a
//! header whose only signatures are `v0` (a downgrade) or decode the secret.

use crate::providers::contract::{
    Algorithm, Encoding, Inbound, Provider, ProviderSettings, Rejection, Sample, SampleError, Verified,
};
use crate::providers::extract::{header, json_body, prefixed_id, require_scope, string_at, text_at};
use crate::signature::{self, Keys};
use serde_json::{Value, json};

const HEADER: &str = "Stripe-Signature";

#[derive(Debug)]
pub(crate) struct Stripe {
    keys: Keys,
    tolerance_secs: i64,
}

impl Stripe {
    pub(crate) fn new(settings: &ProviderSettings) -> Self {
        Self { keys: Keys::utf8(&settings.secrets), tolerance_secs: settings.tolerance_secs }
    }

    fn authenticate(&self, req: &Inbound<'_>) -> Result<(), Rejection> {
        let value = header(req, HEADER)?.ok_or_else(|| Rejection::MissingSignature { header: HEADER.to_owned() })?;
        let (signed_at, candidates) = parse(value)?;
        // Stripe signs the timestamp as its library re-renders the parsed integer.
        let ts = signed_at.to_string();
        let parts: [&[u8]; 3] = [ts.as_bytes(), b".", req.body];
        if !self.keys.match_any(Algorithm::Sha256, &parts, &candidates) {
            return Err(Rejection::BadSignature);
        }
        Ok(signature::check_window(signed_at, req.now_unix, self.tolerance_secs)?)
    }
}

/// The first `t` and every decodable `v1`. No `t` is malformed; no `v1` is a downgrade.
fn parse(value: &str) -> Result<(i64, Vec<Vec<u8>>), Rejection> {
    let malformed = || Rejection::MalformedHeader { name: HEADER.to_owned() };
    let mut signed_at = None;
    let mut saw_v1 = false;
    let mut candidates = Vec::new();
    for (key, val) in value.split(',').filter_map(|item| item.trim().split_once('=')) {
        match key {
            "t" if signed_at.is_none() => {
                signed_at = Some(signature::parse_unix_seconds(val).ok_or_else(malformed)?);
            }
            "v1" => {
                saw_v1 = true;
                candidates.extend(signature::decode(Encoding::Hex, val));
            }
            _ => {}
        }
    }
    let signed_at = signed_at.ok_or_else(malformed)?;
    if !saw_v1 {
        return Err(Rejection::UnsupportedScheme { header: HEADER.to_owned() });
    }
    Ok((signed_at, candidates))
}

impl Provider for Stripe {
    fn verify(&self, req: &Inbound<'_>) -> Result<Verified, Rejection> {
        if !self.keys.is_empty() {
            self.authenticate(req)?;
        }
        let json = json_body(req.body)?;
        let scope = require_scope(string_at(&json, "/type"), "body field `type`")?;
        Ok(Verified { scope, event_id: text_at(&json, "/id") })
    }

    /// The event id lives in the body, so `id` is unused.
    fn sign(&self, body: &[u8], now_unix: i64, _id: &str) -> Vec<(String, String)> {
        let Some(key) = self.keys.first() else {
            return Vec::new();
        };
        let ts = now_unix.to_string();
        let mac = signature::mac(Algorithm::Sha256, key, &[ts.as_bytes(), b".", body]);
        vec![(HEADER.to_owned(), format!("t={ts},v1={}", signature::encode(Encoding::Hex, &mac)))]
    }

    /// A Stripe event (`evt_…`) with `data` as its object.
    fn sample(&self, scope: Option<&str>, data: Option<Value>, now_unix: i64, id: &str) -> Result<Sample, SampleError> {
        let scope = scope.unwrap_or("payment_intent.succeeded");
        let data = data.unwrap_or_else(
            || json!({ "id": "pi_sample", "object": "payment_intent", "amount": 1000, "currency": "usd" }),
        );
        let id = prefixed_id("evt_", id);
        let body = json!({
            "id": id, "object": "event", "api_version": "2024-06-20", "created": now_unix,
            "livemode": false, "type": scope, "data": { "object": data },
        });
        Ok(Sample::signed(self, scope, &body, Vec::new(), now_unix, &id))
    }
}

#[cfg(test)]
mod tests {
    use crate::providers::build;
    use crate::providers::contract::{ProviderKind, Rejection};
    use crate::providers::test_support::{SIGNED_AT as NOW, settings, timestamped_scheme_holds, verified, verify};

    // Vectors from Stripe's library (pip install stripe):
    //   import stripe
    //   stripe.WebhookSignature.generate_signature_header(BODY, SECRET, timestamp=1700000000)   -> HEADER
    //   stripe.WebhookSignature.generate_signature_header(BODY, SECRET_2, timestamp=1700000000) -> HEADER_2
    // and each checked with stripe.WebhookSignature.verify_header(BODY, h, secret, tolerance=None).
    const SECRET: &str = "whsec_test_secret_stripe";
    const SECRET_2: &str = "whsec_rotated_secret_stripe";
    const BODY: &str = r#"{"id":"evt_1NXc2bLkdIwHu7ix0vWkTjeg","object":"event","type":"invoice.payment_failed"}"#;
    const HEADER: &str = "t=1700000000,v1=ceb439fbdeaf9b1040265b8d107d072f75fc94176d13cbe727adb4cccde9d6f5";
    const HEADER_2: &str = "t=1700000000,v1=008dbdc8facd500f537d24ab6d256b8d37cbe7f28913a6fc15a77e235497a4d0";

    fn check(secrets: &[&str], value: &str, body: &[u8], now: i64) -> Result<super::Verified, Rejection> {
        let p = build(ProviderKind::Stripe, settings(secrets));
        verify(&*p, &[("stripe-signature", value)], body, now)
    }

    #[test]
    fn a_request_signed_by_the_stripe_library_is_accepted() {
        let got = check(&[SECRET], HEADER, BODY.as_bytes(), NOW + 300);
        assert_eq!(got, verified("invoice.payment_failed", Some("evt_1NXc2bLkdIwHu7ix0vWkTjeg")));
    }

    #[test]
    fn several_v1_signatures_are_accepted_when_one_matches() {
        let value = format!("t=1700000000,v1={},{},v0=00", "ab".repeat(32), &HEADER[13..]);
        assert!(check(&[SECRET], &value, BODY.as_bytes(), NOW).is_ok());
    }

    #[test]
    fn rotation_tampering_and_the_tolerance_hold_as_for_every_timestamped_scheme() {
        timestamped_scheme_holds(check, [SECRET, SECRET_2], [HEADER, HEADER_2], BODY);
    }

    #[test]
    fn a_header_with_only_v0_signatures_is_refused_as_a_downgrade() {
        let got = check(&[SECRET], &HEADER.replace("v1=", "v0="), BODY.as_bytes(), NOW);
        assert_eq!(got, Err(Rejection::UnsupportedScheme { header: "Stripe-Signature".into() }));
    }

    #[test]
    fn a_missing_header_or_timestamp_is_refused() {
        let p = build(ProviderKind::Stripe, settings(&[SECRET]));
        let missing = verify(&*p, &[], BODY.as_bytes(), NOW);
        assert_eq!(missing, Err(Rejection::MissingSignature { header: "Stripe-Signature".into() }));
        let no_t = check(&[SECRET], &HEADER[13..], BODY.as_bytes(), NOW);
        assert_eq!(no_t, Err(Rejection::MalformedHeader { name: "Stripe-Signature".into() }));
    }

    #[test]
    fn without_secrets_unsigned_requests_are_named_but_not_checked() {
        let p = build(ProviderKind::Stripe, settings(&[]));
        assert_eq!(verify(&*p, &[], br#"{"type":"a.b"}"#, 0), verified("a.b", None));
    }

    #[test]
    fn sign_reproduces_the_library_header() {
        let p = build(ProviderKind::Stripe, settings(&[SECRET, SECRET_2]));
        assert_eq!(p.sign(BODY.as_bytes(), NOW, "unused"), vec![("Stripe-Signature".into(), HEADER.into())]);
    }
}
