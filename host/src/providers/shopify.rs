//! Shopify: `X-Shopify-Hmac-Sha256: base64(HMAC-SHA256(client_secret, raw_body))`; scope header
//! `X-Shopify-Topic`; id `X-Shopify-Event-Id`, else `X-Shopify-Webhook-Id`. Its sample is the
//! data as the body with the topic in its header.
//!
//! No timestamp is signed (`X-Shopify-Triggered-At` is not covered by the HMAC), so there is no
//! replay window: dedup is the only defence. Must never treat `X-Shopify-Triggered-At` as
//! authenticated.

use crate::providers::contract::{
    Algorithm, Encoding, Inbound, Provider, ProviderSettings, Rejection, Sample, SampleError, Verified,
};
use crate::providers::extract::{header, require_scope};
use crate::signature::{self, Keys};
use serde_json::{Value, json};

const SIGNATURE: &str = "X-Shopify-Hmac-Sha256";
const TOPIC: &str = "X-Shopify-Topic";
const EVENT_ID: &str = "X-Shopify-Event-Id";
const WEBHOOK_ID: &str = "X-Shopify-Webhook-Id";

#[derive(Debug)]
pub(crate) struct Shopify {
    keys: Keys,
}

impl Shopify {
    pub(crate) fn new(settings: &ProviderSettings) -> Self {
        Self { keys: Keys::utf8(&settings.secrets) }
    }

    fn authenticate(&self, req: &Inbound<'_>) -> Result<(), Rejection> {
        let value =
            header(req, SIGNATURE)?.ok_or_else(|| Rejection::MissingSignature { header: SIGNATURE.to_owned() })?;
        let mac = signature::decode(Encoding::Base64, value)
            .ok_or_else(|| Rejection::MalformedHeader { name: SIGNATURE.to_owned() })?;
        if !self.keys.match_any(Algorithm::Sha256, &[req.body], &[mac]) {
            return Err(Rejection::BadSignature);
        }
        Ok(())
    }
}

impl Provider for Shopify {
    fn verify(&self, req: &Inbound<'_>) -> Result<Verified, Rejection> {
        if !self.keys.is_empty() {
            self.authenticate(req)?;
        }
        let scope = require_scope(header(req, TOPIC)?.map(str::to_owned), "header `X-Shopify-Topic`")?;
        let event_id = match header(req, EVENT_ID)? {
            Some(id) if !id.is_empty() => Some(id),
            _ => header(req, WEBHOOK_ID)?.filter(|id| !id.is_empty()),
        };
        Ok(Verified { scope, event_id: event_id.map(str::to_owned) })
    }

    /// `id` is sent as both the event id and the webhook id; the topic is the caller's.
    fn sign(&self, body: &[u8], _now_unix: i64, id: &str) -> Vec<(String, String)> {
        let Some(key) = self.keys.first() else {
            return Vec::new();
        };
        let mac = signature::mac(Algorithm::Sha256, key, &[body]);
        vec![
            (SIGNATURE.to_owned(), signature::encode(Encoding::Base64, &mac)),
            (EVENT_ID.to_owned(), id.to_owned()),
            (WEBHOOK_ID.to_owned(), id.to_owned()),
        ]
    }

    /// The data as the body; the topic and the shop in headers.
    fn sample(&self, scope: Option<&str>, data: Option<Value>, now_unix: i64, id: &str) -> Result<Sample, SampleError> {
        let scope = scope.unwrap_or("orders/create");
        let data = data.unwrap_or_else(
            || json!({ "id": 820982911946154508u64, "email": "jon@example.com", "total_price": "10.00" }),
        );
        let headers = vec![
            (TOPIC.into(), scope.to_owned()),
            ("X-Shopify-Shop-Domain".into(), "sample-shop.myshopify.com".into()),
        ];
        Ok(Sample::signed(self, scope, &data, headers, now_unix, id))
    }
}

#[cfg(test)]
mod tests {
    use crate::providers::build;
    use crate::providers::contract::{ProviderKind, Rejection};
    use crate::providers::test_support::{settings, tamper, verified, verify};

    // Vectors from Python's stdlib, as Shopify's docs compute it:
    //   import base64, hashlib, hmac
    //   base64.b64encode(hmac.new(SECRET, BODY, hashlib.sha256).digest()).decode()   -> HMAC
    //   base64.b64encode(hmac.new(SECRET_2, BODY, hashlib.sha256).digest()).decode() -> HMAC_2
    const SECRET: &str = "shpss_shopify_client_secret";
    const SECRET_2: &str = "shpss_shopify_rotated_secret";
    const BODY: &str = r#"{"id":820982911946154508,"email":"jon@example.com","total_price":"10.00"}"#;
    const HMAC: &str = "pde0f1xaDnQxMGGCAIgMaUZpCeU1RtyEfRpTvr2wSXg=";
    const HMAC_2: &str = "TCb5TVdS2anuwGi0bPjwaClW2+Ot10yugHCpyrG475M=";
    const TOPIC: (&str, &str) = ("X-Shopify-Topic", "orders/create");
    const EVENT: (&str, &str) = ("X-Shopify-Event-Id", "98880550-7158-44d4-b7cd-2c97c8a091b5");
    const WEBHOOK: (&str, &str) = ("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");

    fn check(secrets: &[&str], hmac: &str, body: &[u8]) -> Result<super::Verified, Rejection> {
        let p = build(ProviderKind::Shopify, settings(secrets));
        verify(&*p, &[("X-Shopify-Hmac-Sha256", hmac), TOPIC, EVENT, WEBHOOK], body, 0)
    }

    #[test]
    fn a_request_signed_as_shopify_documents_is_accepted_with_the_event_id() {
        assert_eq!(check(&[SECRET], HMAC, BODY.as_bytes()), verified("orders/create", Some(EVENT.1)));
    }

    #[test]
    fn a_request_signed_with_the_second_secret_of_the_rotation_is_accepted() {
        assert!(check(&[SECRET, SECRET_2], HMAC_2, BODY.as_bytes()).is_ok());
    }

    #[test]
    fn one_changed_body_byte_or_a_wrong_secret_is_a_bad_signature() {
        let tampered = tamper(BODY.as_bytes());
        assert_eq!(check(&[SECRET], HMAC, &tampered), Err(Rejection::BadSignature));
        assert_eq!(check(&[SECRET_2], HMAC, BODY.as_bytes()), Err(Rejection::BadSignature));
    }

    #[test]
    fn a_missing_or_undecodable_hmac_header_is_refused() {
        let p = build(ProviderKind::Shopify, settings(&[SECRET]));
        let missing = verify(&*p, &[TOPIC], BODY.as_bytes(), 0);
        assert_eq!(missing, Err(Rejection::MissingSignature { header: "X-Shopify-Hmac-Sha256".into() }));
        let garbage = check(&[SECRET], "not base64!", BODY.as_bytes());
        assert_eq!(garbage, Err(Rejection::MalformedHeader { name: "X-Shopify-Hmac-Sha256".into() }));
    }

    #[test]
    fn a_signed_request_without_a_topic_has_no_scope() {
        let p = build(ProviderKind::Shopify, settings(&[SECRET]));
        let got = verify(&*p, &[("X-Shopify-Hmac-Sha256", HMAC)], BODY.as_bytes(), 0);
        assert_eq!(got, Err(Rejection::MissingScope { where_: "header `X-Shopify-Topic`".into() }));
    }

    #[test]
    fn the_webhook_id_is_the_fallback_id_and_unsigned_requests_pass_without_secrets() {
        let p = build(ProviderKind::Shopify, settings(&[]));
        assert_eq!(verify(&*p, &[TOPIC, WEBHOOK], b"not json", 0), verified("orders/create", Some(WEBHOOK.1)));
        assert_eq!(verify(&*p, &[TOPIC], b"", 0), verified("orders/create", None));
    }

    #[test]
    fn sign_reproduces_the_documented_hmac() {
        let p = build(ProviderKind::Shopify, settings(&[SECRET]));
        assert_eq!(p.sign(BODY.as_bytes(), 0, "e1")[0], ("X-Shopify-Hmac-Sha256".into(), HMAC.into()));
    }
}
