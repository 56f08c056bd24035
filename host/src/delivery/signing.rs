//! Standard Webhooks signatures on outgoing deliveries, so receivers can verify Switchyard with
//! the standard libraries (`standardwebhooks`, `svix`).
//!
//! The secret is written as the libraries expect: `whsec_` + base64 of the key (the prefix is
//! optional). Signed content is `"{webhook-id}.{webhook-timestamp}.{body}"`; the signature
//! header is `v1,` + base64(HMAC-SHA256). This file only computes headers; it never sends.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Decodes a `whsec_…` secret into its key bytes, or says why it cannot.
pub fn key(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD
        .decode(encoded)
        .map_err(|_| "must be `whsec_` followed by base64, as Standard Webhooks secrets are".to_string())
        .and_then(|k| if k.is_empty() { Err("decodes to an empty key".into()) } else { Ok(k) })
}

/// `webhook-id`, `webhook-timestamp` and `webhook-signature` for one delivery attempt.
pub fn headers(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> Vec<(&'static str, String)> {
    let key = key(secret).unwrap_or_else(|_| secret.as_bytes().to_vec());
    let mut mac = match Hmac::<Sha256>::new_from_slice(&key) {
        Ok(m) => m,
        Err(_) => return Vec::new(), // HMAC takes keys of any length; unreachable in practice.
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", format!("v1,{signature}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Produced by the Python `standardwebhooks` library:
    /// `Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").sign("msg_p5jXN8AQM9LWM0D4loKWxJek",
    ///  datetime.fromtimestamp(1614265330, tz=timezone.utc), '{"test": 2432232314}')`
    /// (the Standard Webhooks spec's own test vector).
    #[test]
    fn signatures_match_the_standard_webhooks_reference_vector() {
        let h = headers(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(h[2].1, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_must_be_base64() {
        assert!(key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(key("not base64!").is_err());
    }
}
