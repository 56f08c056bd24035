//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw_body)>`; scope
//! `X-GitHub-Event`, plus `.` and body `action` when the body is JSON with a string `action`
//! (`pull_request.opened`); id `X-GitHub-Delivery` (the same on redelivery). Its sample splits a
//! scope back into the event header and the body's `action`.
//!
//! Must never accept the legacy `X-Hub-Signature: sha1=…` alone when a secret is configured
//! (refused as `UnsupportedScheme`). No timestamp is signed, so there is no replay window.
//! A form-encoded body (`payload=…`) is authenticated but contributes no `action`.

use crate::providers::contract::{
    Algorithm, Encoding, Inbound, Provider, ProviderSettings, Rejection, Sample, SampleError, Verified,
};
use crate::providers::extract::{header, require_scope};
use crate::signature::{self, Keys};
use serde_json::{Value, json};

const SIGNATURE: &str = "X-Hub-Signature-256";
const LEGACY_SIGNATURE: &str = "X-Hub-Signature";
const PREFIX: &str = "sha256=";
const EVENT: &str = "X-GitHub-Event";
const DELIVERY: &str = "X-GitHub-Delivery";

#[derive(Debug)]
pub(crate) struct Github {
    keys: Keys,
}

impl Github {
    pub(crate) fn new(settings: &ProviderSettings) -> Self {
        Self { keys: Keys::utf8(&settings.secrets) }
    }

    fn authenticate(&self, req: &Inbound<'_>) -> Result<(), Rejection> {
        let Some(value) = header(req, SIGNATURE)? else {
            let header = SIGNATURE.to_owned();
            return Err(if req.headers.contains_key(LEGACY_SIGNATURE) {
                Rejection::UnsupportedScheme { header }
            } else {
                Rejection::MissingSignature { header }
            });
        };
        let mac = value
            .strip_prefix(PREFIX)
            .and_then(|hex| signature::decode(Encoding::Hex, hex))
            .ok_or_else(|| Rejection::MalformedHeader { name: SIGNATURE.to_owned() })?;
        if !self.keys.match_any(Algorithm::Sha256, &[req.body], &[mac]) {
            return Err(Rejection::BadSignature);
        }
        Ok(())
    }
}

impl Provider for Github {
    fn verify(&self, req: &Inbound<'_>) -> Result<Verified, Rejection> {
        if !self.keys.is_empty() {
            self.authenticate(req)?;
        }
        let event = require_scope(header(req, EVENT)?.map(str::to_owned), "header `X-GitHub-Event`")?;
        let action = serde_json::from_slice::<serde_json::Value>(req.body)
            .ok()
            .and_then(|json| json.get("action")?.as_str().map(str::to_owned))
            .filter(|action| !action.is_empty());
        let scope = match action {
            Some(action) => format!("{event}.{action}"),
            None => event,
        };
        let event_id = header(req, DELIVERY)?.filter(|id| !id.is_empty()).map(str::to_owned);
        Ok(Verified { scope, event_id })
    }

    /// Adds both signature headers, as GitHub does; the event header is the caller's.
    fn sign(&self, body: &[u8], _now_unix: i64, id: &str) -> Vec<(String, String)> {
        let Some(key) = self.keys.first() else {
            return Vec::new();
        };
        let sha256 = signature::mac(Algorithm::Sha256, key, &[body]);
        let sha1 = signature::mac(Algorithm::Sha1, key, &[body]);
        vec![
            (SIGNATURE.to_owned(), format!("{PREFIX}{}", signature::encode(Encoding::Hex, &sha256))),
            (LEGACY_SIGNATURE.to_owned(), format!("sha1={}", signature::encode(Encoding::Hex, &sha1))),
            (DELIVERY.to_owned(), id.to_owned()),
        ]
    }

    /// The data as the body; the gateway's `event.action` scope split back into the
    /// `X-GitHub-Event` header and the body's `action`.
    fn sample(&self, scope: Option<&str>, data: Option<Value>, now_unix: i64, id: &str) -> Result<Sample, SampleError> {
        let scope = scope.unwrap_or("pull_request.opened");
        let data = data.unwrap_or_else(|| json!({ "number": 1, "pull_request": { "id": 1, "title": "Sample" } }));
        let (event, action) = scope.split_once('.').map_or((scope, None), |(e, a)| (e, Some(a)));
        let body = match (action, data) {
            (Some(action), Value::Object(mut map)) => {
                map.entry("action").or_insert_with(|| Value::from(action));
                Value::Object(map)
            }
            (_, data) => data,
        };
        Ok(Sample::signed(self, scope, &body, vec![(EVENT.into(), event.to_owned())], now_unix, id))
    }
}

#[cfg(test)]
mod tests {
    use crate::providers::build;
    use crate::providers::contract::{ProviderKind, Rejection};
    use crate::providers::test_support::{settings, tamper, verified, verify};

    // Vectors from Python's stdlib, as GitHub's docs compute it:
    //   import hashlib, hmac
    //   "sha256=" + hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()   -> SIG
    //   "sha256=" + hmac.new(SECRET_2, BODY, hashlib.sha256).hexdigest() -> SIG_2
    //   "sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest()       -> SIG_SHA1
    // DOC_* is the example on GitHub's "Validating webhook deliveries" page.
    const SECRET: &str = "gh_webhook_secret";
    const SECRET_2: &str = "gh_webhook_secret_rotated";
    const BODY: &str = r#"{"action":"opened","number":1,"pull_request":{"id":1}}"#;
    const SIG: &str = "sha256=38f8c2fbfdaef9abf3a2a5d286a900ba4271c6b9e5e0b0ea20ea4c6a66819db3";
    const SIG_2: &str = "sha256=d849651135f564e624fb93ece1cee71b4919cb7c9f4db8f3f396e8060ae5c033";
    const SIG_SHA1: &str = "sha1=9b4b8d6dabf62b8cc82f0914fc6e4746e9ed6e2c";
    const DOC_SECRET: &str = "It's a Secret to Everybody";
    const DOC_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    const EVENT: (&str, &str) = ("X-GitHub-Event", "pull_request");
    const DELIVERY: (&str, &str) = ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958");

    fn check(secrets: &[&str], sig: &str, body: &[u8]) -> Result<super::Verified, Rejection> {
        let p = build(ProviderKind::Github, settings(secrets));
        verify(&*p, &[("X-Hub-Signature-256", sig), EVENT, DELIVERY], body, 0)
    }

    #[test]
    fn a_signed_request_is_accepted_and_named_event_dot_action() {
        assert_eq!(check(&[SECRET], SIG, BODY.as_bytes()), verified("pull_request.opened", Some(DELIVERY.1)));
    }

    #[test]
    fn githubs_documented_example_is_accepted_and_a_non_json_body_names_only_the_event() {
        assert_eq!(check(&[DOC_SECRET], DOC_SIG, b"Hello, World!"), verified("pull_request", Some(DELIVERY.1)));
    }

    #[test]
    fn a_request_signed_with_the_second_secret_of_the_rotation_is_accepted() {
        assert!(check(&[SECRET, SECRET_2], SIG_2, BODY.as_bytes()).is_ok());
    }

    #[test]
    fn one_changed_body_byte_or_a_wrong_secret_is_a_bad_signature() {
        let tampered = tamper(BODY.as_bytes());
        assert_eq!(check(&[SECRET], SIG, &tampered), Err(Rejection::BadSignature));
        assert_eq!(check(&[SECRET_2], SIG, BODY.as_bytes()), Err(Rejection::BadSignature));
    }

    #[test]
    fn only_the_legacy_sha1_header_is_refused_and_no_header_is_missing() {
        let p = build(ProviderKind::Github, settings(&[SECRET]));
        let sha1_only = verify(&*p, &[("X-Hub-Signature", SIG_SHA1), EVENT], BODY.as_bytes(), 0);
        assert_eq!(sha1_only, Err(Rejection::UnsupportedScheme { header: "X-Hub-Signature-256".into() }));
        let none = verify(&*p, &[EVENT], BODY.as_bytes(), 0);
        assert_eq!(none, Err(Rejection::MissingSignature { header: "X-Hub-Signature-256".into() }));
    }

    #[test]
    fn a_signature_without_its_prefix_is_malformed() {
        let got = check(&[SECRET], &SIG["sha256=".len()..], BODY.as_bytes());
        assert_eq!(got, Err(Rejection::MalformedHeader { name: "X-Hub-Signature-256".into() }));
    }

    #[test]
    fn without_secrets_unsigned_requests_are_named_but_not_checked() {
        let p = build(ProviderKind::Github, settings(&[]));
        assert_eq!(verify(&*p, &[("X-GitHub-Event", "ping")], b"{}", 0), verified("ping", None));
        assert!(matches!(verify(&*p, &[], b"{}", 0), Err(Rejection::MissingScope { .. })));
    }

    #[test]
    fn sign_reproduces_both_documented_signatures() {
        let p = build(ProviderKind::Github, settings(&[SECRET]));
        let got = p.sign(BODY.as_bytes(), 0, DELIVERY.1);
        assert_eq!((got[0].1.as_str(), got[1].1.as_str()), (SIG, SIG_SHA1));
    }
}
