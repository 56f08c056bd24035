//! BigCommerce HTTPS webhooks: Standard Webhooks headers (`crate::standard_webhooks`) keyed with
//! the RAW UTF-8 client secret (no `whsec_`, no base64 decoding), scope in body `scope`, dedup
//! id body `hash` or `webhook-id`.
//! Its sample is the documented `{scope, store_id, data, hash, created_at, producer}` body.
//! Registration headers are checked by the `required_headers` wrapper in `providers/mod.rs`.
//!
//! Must never base64-decode the client secret, and never validate the body `hash`: it is an
//! unkeyed SHA-1 of unknown pre-image, usable only as a dedup key.

pub mod hooks;

use crate::providers::contract::{Inbound, Provider, ProviderSettings, Rejection, Sample, SampleError, Verified};
use crate::providers::extract::{json_body, prefixed_id, require_scope, string_at, text_at};
use crate::providers::standard_webhooks::{message_id, sign_headers};
use crate::signature::Keys;
use serde_json::{Value, json};
use sha1::Digest as _;

#[derive(Debug)]
pub(crate) struct BigCommerce {
    keys: Keys,
    tolerance_secs: i64,
}

impl BigCommerce {
    pub(crate) fn new(settings: &ProviderSettings) -> Self {
        Self { keys: Keys::utf8(&settings.secrets), tolerance_secs: settings.tolerance_secs }
    }
}

impl Provider for BigCommerce {
    fn verify(&self, req: &Inbound<'_>) -> Result<Verified, Rejection> {
        let delivery_id = message_id(&self.keys, req, self.tolerance_secs)?;
        let json = json_body(req.body)?;
        // Some documented scopes end in `/` (doc typos); trimming one is harmless.
        let scope = string_at(&json, "/scope").map(|s| s.strip_suffix('/').map(str::to_owned).unwrap_or(s));
        let scope = require_scope(scope, "body field `scope`")?;
        // `hash` is documented as constant for a re-fired event; `webhook-id` stability is not.
        let event_id = text_at(&json, "/hash").or(delivery_id);
        Ok(Verified { scope, event_id })
    }

    fn sign(&self, body: &[u8], now_unix: i64, id: &str) -> Vec<(String, String)> {
        self.keys.first().map(|key| sign_headers(key, body, now_unix, id)).unwrap_or_default()
    }

    /// BigCommerce's documented body around `data`; the delivery id is a `msg_…` id.
    fn sample(&self, scope: Option<&str>, data: Option<Value>, now_unix: i64, id: &str) -> Result<Sample, SampleError> {
        let scope = scope.unwrap_or("store/order/created");
        let data = data.unwrap_or_else(|| json!({ "type": "order", "id": 250 }));
        let id = prefixed_id("msg_", id);
        Ok(Sample::signed(self, scope, &envelope(scope, data, now_unix, &id), Vec::new(), now_unix, &id))
    }
}

/// BigCommerce's documented body. `hash` is unkeyed SHA-1 "of the payload" with an unknown
/// pre-image; the gateway dedups on it, so each sample gets its own.
fn envelope(scope: &str, data: Value, now: i64, id: &str) -> Value {
    let producer = "stores/sample";
    let pre_image = json!({ "scope": scope, "data": data, "created_at": now, "producer": producer, "id": id });
    let hash = hex::encode(sha1::Sha1::digest(pre_image.to_string().as_bytes()));
    json!({
        "scope": scope, "store_id": "1000001", "data": data, "hash": hash,
        "created_at": now, "producer": producer,
    })
}

#[cfg(test)]
mod tests {
    use crate::providers::build;
    use crate::providers::contract::{ProviderKind, Rejection};
    use crate::providers::test_support::{SIGNED_AT as NOW, SIGNED_AT_TEXT as TS};
    use crate::providers::test_support::{settings, timestamped_scheme_holds, verified, verify, verify_standard};

    // Vectors from the official library, keyed the way BigCommerce's docs do it
    // (pip install standardwebhooks):
    //   from standardwebhooks.webhooks import Webhook; import base64
    //   when = datetime.fromtimestamp(1700000000, tz=timezone.utc)
    //   Webhook(base64.b64encode(SECRET.encode()).decode()).sign(ID, when, BODY)   -> SIG
    //   Webhook(base64.b64encode(SECRET_2.encode()).decode()).sign(ID, when, BODY) -> SIG_2
    const SECRET: &str = "bc_client_secret_abc123";
    const SECRET_2: &str = "bc_client_secret_rotated";
    const BODY: &str = r#"{"scope":"store/order/created","store_id":"1025646","data":{"type":"order","id":250},"hash":"dd70c0976e06b67aaf671e73f49dcb79230ebf9d","created_at":1561479335,"producer":"stores/abc123"}"#;
    const HASH: &str = "dd70c0976e06b67aaf671e73f49dcb79230ebf9d";
    const ID: &str = "bc-delivery-0001";
    const SIG: &str = "v1,v241H2KDWhM+X4Gy+201HK034o0r6IY9OfkOCkmuSFY=";
    const SIG_2: &str = "v1,V1sk4ZnAays+Bdal1eJBQ9RgNiCAuGhUNtk9scRPYk4=";

    fn check(secrets: &[&str], sig: &str, body: &[u8], now: i64) -> Result<super::Verified, Rejection> {
        verify_standard(ProviderKind::BigCommerce, secrets, (ID, TS, sig), body, now)
    }

    #[test]
    fn a_request_signed_as_bigcommerce_documents_is_accepted_with_the_hash_as_id() {
        let got = check(&[SECRET], SIG, BODY.as_bytes(), NOW);
        assert_eq!(got, verified("store/order/created", Some(HASH)));
    }

    #[test]
    fn rotation_tampering_and_the_tolerance_hold_as_for_every_timestamped_scheme() {
        timestamped_scheme_holds(check, [SECRET, SECRET_2], [SIG, SIG_2], BODY);
    }

    #[test]
    fn the_secret_is_used_raw_and_not_base64_decoded() {
        // The base64 form the docs hand to the library is a different key here.
        let encoded = "YmNfY2xpZW50X3NlY3JldF9hYmMxMjM=";
        assert_eq!(check(&[encoded], SIG, BODY.as_bytes(), NOW), Err(Rejection::BadSignature));
    }

    #[test]
    fn a_missing_signature_header_is_refused() {
        let p = build(ProviderKind::BigCommerce, settings(&[SECRET]));
        let got = verify(&*p, &[("webhook-id", ID), ("webhook-timestamp", TS)], BODY.as_bytes(), NOW);
        assert_eq!(got, Err(Rejection::MissingSignature { header: "webhook-signature".into() }));
    }

    #[test]
    fn without_a_hash_the_webhook_id_is_the_event_id_and_one_trailing_slash_is_trimmed() {
        let p = build(ProviderKind::BigCommerce, settings(&[]));
        let body = br#"{"scope":"store/priceList/updated/","data":{}}"#;
        let got = verify(&*p, &[("webhook-id", ID)], body, 0);
        assert_eq!(got, verified("store/priceList/updated", Some(ID)));
        let literal_star = br#"{"scope":"store/channel/*/inventory/product/stock_changed"}"#;
        let got = verify(&*p, &[], literal_star, 0);
        assert_eq!(got, verified("store/channel/*/inventory/product/stock_changed", None));
    }

    #[test]
    fn sign_reproduces_the_library_signature_with_the_raw_secret() {
        let p = build(ProviderKind::BigCommerce, settings(&[SECRET]));
        assert_eq!(p.sign(BODY.as_bytes(), NOW, ID)[2].1, SIG);
    }
}
