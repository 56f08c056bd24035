//! Big Cartel: `X-Webhook-Signature: hex(HMAC-SHA256(client_secret, raw_body))` (the header name
//! some tutorials use, `X-BigCartel-Signature`, is accepted too); scope body `type`; no dedup id,
//! so the caller hashes the body. Its sample is `{account_id, type, payload}`.
//!
//! No timestamp is signed, so there is no replay window. Must never invent an event id.

use crate::providers::contract::{
    Algorithm, Encoding, Inbound, Provider, ProviderSettings, Rejection, Sample, SampleError, Verified,
};
use crate::providers::extract::{header, json_body, require_scope, string_at};
use crate::signature::{self, Keys};
use serde_json::{Value, json};

/// The documented header name; preferred when both are sent.
const SIGNATURE: &str = "X-Webhook-Signature";
/// The name third-party tutorials use.
const TUTORIAL_SIGNATURE: &str = "X-BigCartel-Signature";

#[derive(Debug)]
pub(crate) struct BigCartel {
    keys: Keys,
}

impl BigCartel {
    pub(crate) fn new(settings: &ProviderSettings) -> Self {
        Self { keys: Keys::utf8(&settings.secrets) }
    }

    fn authenticate(&self, req: &Inbound<'_>) -> Result<(), Rejection> {
        let (name, value) = match header(req, SIGNATURE)? {
            Some(value) => (SIGNATURE, value),
            None => match header(req, TUTORIAL_SIGNATURE)? {
                Some(value) => (TUTORIAL_SIGNATURE, value),
                None => {
                    return Err(Rejection::MissingSignature { header: SIGNATURE.to_owned() });
                }
            },
        };
        let mac = signature::decode(Encoding::Hex, value)
            .ok_or_else(|| Rejection::MalformedHeader { name: name.to_owned() })?;
        if !self.keys.match_any(Algorithm::Sha256, &[req.body], &[mac]) {
            return Err(Rejection::BadSignature);
        }
        Ok(())
    }
}

impl Provider for BigCartel {
    fn verify(&self, req: &Inbound<'_>) -> Result<Verified, Rejection> {
        if !self.keys.is_empty() {
            self.authenticate(req)?;
        }
        let json = json_body(req.body)?;
        let scope = require_scope(string_at(&json, "/type"), "body field `type`")?;
        Ok(Verified { scope, event_id: None })
    }

    /// Big Cartel sends no id, so `id` is unused.
    fn sign(&self, body: &[u8], _now_unix: i64, _id: &str) -> Vec<(String, String)> {
        let Some(key) = self.keys.first() else {
            return Vec::new();
        };
        let mac = signature::mac(Algorithm::Sha256, key, &[body]);
        vec![(SIGNATURE.to_owned(), signature::encode(Encoding::Hex, &mac))]
    }

    /// Big Cartel's `{account_id, type, payload}` around `data`.
    fn sample(&self, scope: Option<&str>, data: Option<Value>, now_unix: i64, id: &str) -> Result<Sample, SampleError> {
        let scope = scope.unwrap_or("order.created");
        let data = data.unwrap_or_else(|| json!({ "id": "SAMPLE-1001", "status": "completed" }));
        let body = json!({ "account_id": "1000001", "type": scope, "payload": data });
        Ok(Sample::signed(self, scope, &body, Vec::new(), now_unix, id))
    }
}

#[cfg(test)]
mod tests {
    use crate::providers::build;
    use crate::providers::contract::{ProviderKind, Rejection};
    use crate::providers::test_support::{settings, tamper, verified, verify};

    // Vectors from Big Cartel's documented snippet (Python stdlib):
    //   import hashlib, hmac
    //   hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()   -> SIG (also in PROVIDERS.md)
    //   hmac.new(SECRET_2, BODY, hashlib.sha256).hexdigest() -> SIG_2
    const SECRET: &str = "bigcartel_client_secret";
    const SECRET_2: &str = "bigcartel_rotated_secret";
    const BODY: &str = r#"{"account_id":"12345","type":"order.created","payload":{"id":"ABCD-123456"}}"#;
    const SIG: &str = "26efb6c8585b275147439a2abf1a3b7c2b297192a11c1a134d4dfee0f26e4f10";
    const SIG_2: &str = "d55ca17e1bca9c00e4faadbe7bf15aac14cf843a2dfd42e93cae0cd1a98855c2";

    fn check(secrets: &[&str], name: &str, sig: &str, body: &[u8]) -> Result<super::Verified, Rejection> {
        verify(&*build(ProviderKind::BigCartel, settings(secrets)), &[(name, sig)], body, 0)
    }

    #[test]
    fn a_request_signed_as_big_cartel_documents_is_accepted_without_an_event_id() {
        let got = check(&[SECRET], "X-Webhook-Signature", SIG, BODY.as_bytes());
        assert_eq!(got, verified("order.created", None));
    }

    #[test]
    fn the_tutorial_header_name_is_accepted_too() {
        assert!(check(&[SECRET], "X-BigCartel-Signature", SIG, BODY.as_bytes()).is_ok());
    }

    #[test]
    fn a_request_signed_with_the_second_secret_of_the_rotation_is_accepted() {
        assert!(check(&[SECRET, SECRET_2], "X-Webhook-Signature", SIG_2, BODY.as_bytes()).is_ok());
    }

    #[test]
    fn one_changed_body_byte_or_a_wrong_secret_is_a_bad_signature() {
        let tampered = tamper(BODY.as_bytes());
        assert_eq!(check(&[SECRET], "X-Webhook-Signature", SIG, &tampered), Err(Rejection::BadSignature));
        let wrong = check(&[SECRET_2], "X-Webhook-Signature", SIG, BODY.as_bytes());
        assert_eq!(wrong, Err(Rejection::BadSignature));
    }

    #[test]
    fn a_missing_or_non_hex_signature_is_refused() {
        let missing = check(&[SECRET], "X-Other", SIG, BODY.as_bytes());
        assert_eq!(missing, Err(Rejection::MissingSignature { header: "X-Webhook-Signature".into() }));
        let odd = check(&[SECRET], "X-Webhook-Signature", &SIG[1..], BODY.as_bytes());
        assert_eq!(odd, Err(Rejection::MalformedHeader { name: "X-Webhook-Signature".into() }));
    }

    #[test]
    fn without_secrets_unsigned_requests_are_named_but_bodies_must_be_json() {
        let p = build(ProviderKind::BigCartel, settings(&[]));
        assert_eq!(verify(&*p, &[], br#"{"type":"account.closed"}"#, 0), verified("account.closed", None));
        let err = verify(&*p, &[], b"<xml/>", 0).expect_err("not JSON");
        assert_eq!((err.status(), err.reason()), (400, "malformed_body"));
    }

    #[test]
    fn sign_reproduces_the_documented_signature() {
        let p = build(ProviderKind::BigCartel, settings(&[SECRET]));
        assert_eq!(p.sign(BODY.as_bytes(), 0, "x"), vec![("X-Webhook-Signature".into(), SIG.into())]);
    }
}
