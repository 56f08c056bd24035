//! The `standard-webhooks` source: the scheme as `crate::standard_webhooks` verifies it, keyed
//! with each secret decoded as `config::WhsecKey` (`whsec_` optional, then base64); scope body
//! `type`, dedup id `webhook-id`. Its sample is `{type, timestamp, data}` (RFC 3339 by jiff).
//!
//! Must never parse an unauthenticated body when a secret is configured.

use crate::config::WhsecKey;
use crate::providers::contract::{
    Inbound, Provider, ProviderSettings, Rejection, Sample, SampleError, SettingsError, Verified,
};
use crate::providers::extract::{json_body, prefixed_id, require_scope, string_at};
use crate::signature::Keys;
use crate::standard_webhooks;
use serde_json::{Value, json};

#[derive(Debug)]
pub(crate) struct StandardWebhooks {
    keys: Keys,
    tolerance_secs: i64,
}

impl StandardWebhooks {
    pub(crate) fn new(settings: &ProviderSettings) -> Result<Self, SettingsError> {
        let mut keys = Vec::with_capacity(settings.secrets.len());
        for (index, secret) in settings.secrets.iter().enumerate() {
            let key = secret.parse::<WhsecKey>().map_err(|_| SettingsError::UndecodableSecret { index })?;
            keys.push(key.bytes().to_vec());
        }
        Ok(Self { keys: Keys::new(keys), tolerance_secs: settings.tolerance_secs })
    }
}

impl Provider for StandardWebhooks {
    fn verify(&self, req: &Inbound<'_>) -> Result<Verified, Rejection> {
        let event_id = message_id(&self.keys, req, self.tolerance_secs)?;
        let json = json_body(req.body)?;
        let scope = require_scope(string_at(&json, "/type"), "body field `type`")?;
        Ok(Verified { scope, event_id })
    }

    fn sign(&self, body: &[u8], now_unix: i64, id: &str) -> Vec<(String, String)> {
        self.keys.first().map(|key| sign_headers(key, body, now_unix, id)).unwrap_or_default()
    }

    /// The payload shape the spec suggests, `{type, timestamp, data}`, with a `msg_…` id.
    fn sample(&self, scope: Option<&str>, data: Option<Value>, now_unix: i64, id: &str) -> Result<Sample, SampleError> {
        let scope = scope.unwrap_or("user.created");
        let data = data.unwrap_or_else(|| json!({ "id": "user_sample" }));
        let id = prefixed_id("msg_", id);
        let body = json!({ "type": scope, "timestamp": rfc3339(now_unix), "data": data });
        Ok(Sample::signed(self, scope, &body, Vec::new(), now_unix, &id))
    }
}

/// `2023-11-14T22:13:20Z` for Unix seconds; `None` outside the years jiff represents.
fn rfc3339(unix: i64) -> Option<String> {
    jiff::Timestamp::from_second(unix).ok().map(|t| t.to_string())
}

/// The message id: authenticated when there are keys, read as sent when there are none.
pub(crate) fn message_id(keys: &Keys, req: &Inbound<'_>, tolerance: i64) -> Result<Option<String>, Rejection> {
    if keys.is_empty() {
        return Ok(standard_webhooks::message_id(req.headers)?.map(str::to_owned));
    }
    Ok(Some(standard_webhooks::verify(keys, req.headers, req.body, req.now_unix, tolerance)?))
}

/// The three headers a Standard Webhooks sender adds, as `Provider::sign` returns them.
pub(crate) fn sign_headers(key: &[u8], body: &[u8], now_unix: i64, id: &str) -> Vec<(String, String)> {
    standard_webhooks::sign(key, id, now_unix, body).into_iter().map(|(name, value)| (name.to_owned(), value)).collect()
}

#[cfg(test)]
mod tests {
    use crate::providers::build;
    use crate::providers::contract::{ProviderKind, Rejection};
    use crate::providers::test_support::{SIGNED_AT as NOW, SIGNED_AT_TEXT as TS};
    use crate::providers::test_support::{settings, timestamped_scheme_holds, verified, verify, verify_standard};

    // Vectors from the official libraries (pip install standardwebhooks svix):
    //   from standardwebhooks.webhooks import Webhook; import svix.webhooks, base64
    //   when = datetime.fromtimestamp(1700000000, tz=timezone.utc)
    //   Webhook(SECRET).sign(ID, when, BODY)                      -> SIG
    //   svix.webhooks.Webhook(SECRET).sign(ID, when, BODY)        -> SIG (same)
    //   Webhook(SECRET[len("whsec_"):]).sign(ID, when, BODY)      -> SIG (prefix optional)
    //   SECRET_2 = "whsec_" + base64.b64encode(b"second-rotation-key-32-bytes-long").decode()
    //   Webhook(SECRET_2).sign(ID, when, BODY)                    -> SIG_2
    // Both were also checked with the libraries' own `verify` at a frozen `now`.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SECRET_2: &str = "whsec_c2Vjb25kLXJvdGF0aW9uLWtleS0zMi1ieXRlcy1sb25n";
    const BODY: &str = r#"{"type":"user.created","data":{"id":"u_1"}}"#;
    const ID: &str = "msg_2Kn6rWmY1cL5hJ8pQ3vX0aZ9eT4";
    const SIG: &str = "v1,5tXz13gc7G2puMbfP2jdVhNCzw9PWfAU1pbwUe1Q45s=";
    const SIG_2: &str = "v1,ExuM0smbvutgLVzqJZaarvjMyqP7fIOho6tsHovaqrs=";

    fn check(secrets: &[&str], sig: &str, body: &[u8], now: i64) -> Result<super::Verified, Rejection> {
        verify_standard(ProviderKind::StandardWebhooks, secrets, (ID, TS, sig), body, now)
    }

    #[test]
    fn a_request_signed_by_the_standardwebhooks_library_is_accepted() {
        assert_eq!(check(&[SECRET], SIG, BODY.as_bytes(), NOW + 299), verified("user.created", Some(ID)));
    }

    #[test]
    fn svix_header_names_and_an_unprefixed_secret_are_accepted() {
        let p = build(ProviderKind::StandardWebhooks, settings(&[&SECRET["whsec_".len()..]]));
        let h = [("svix-id", ID), ("svix-timestamp", TS), ("svix-signature", SIG)];
        assert_eq!(verify(&*p, &h, BODY.as_bytes(), NOW), verified("user.created", Some(ID)));
    }

    #[test]
    fn any_matching_v1_entry_in_the_list_wins_and_other_versions_are_ignored() {
        let list = format!("v2,{} garbage v1,AAAA {SIG}", &SIG[3..]);
        assert!(check(&[SECRET], &list, BODY.as_bytes(), NOW).is_ok());
    }

    #[test]
    fn rotation_tampering_and_the_tolerance_hold_as_for_every_timestamped_scheme() {
        timestamped_scheme_holds(check, [SECRET, SECRET_2], [SIG, SIG_2], BODY);
    }

    #[test]
    fn only_non_v1_signatures_are_an_unsupported_scheme() {
        let got = check(&[SECRET], &SIG.replace("v1,", "v2,"), BODY.as_bytes(), NOW);
        assert_eq!(got, Err(Rejection::UnsupportedScheme { header: "webhook-signature".into() }));
    }

    #[test]
    fn missing_signature_id_or_timestamp_headers_are_refused() {
        let p = build(ProviderKind::StandardWebhooks, settings(&[SECRET]));
        let body = BODY.as_bytes();
        let no_sig = verify(&*p, &[("webhook-id", ID), ("webhook-timestamp", TS)], body, NOW);
        assert_eq!(no_sig, Err(Rejection::MissingSignature { header: "webhook-signature".into() }));
        let no_id = verify(&*p, &[("webhook-timestamp", TS), ("webhook-signature", SIG)], body, NOW);
        assert_eq!(no_id, Err(Rejection::MissingHeader { name: "webhook-id".into() }));
        let h = [("webhook-id", ID), ("webhook-timestamp", "1.7e9"), ("webhook-signature", SIG)];
        let bad_ts = verify(&*p, &h, body, NOW);
        assert_eq!(bad_ts, Err(Rejection::MalformedHeader { name: "webhook-timestamp".into() }));
    }

    #[test]
    fn without_secrets_unsigned_requests_are_named_but_not_checked() {
        let p = build(ProviderKind::StandardWebhooks, settings(&[]));
        assert_eq!(verify(&*p, &[("webhook-id", ID)], BODY.as_bytes(), 0), verified("user.created", Some(ID)));
        assert!(matches!(verify(&*p, &[], br#"{"type":7}"#, 0), Err(Rejection::MissingScope { .. })));
        assert!(matches!(verify(&*p, &[], b"{}", 0), Err(Rejection::MissingScope { .. })));
    }

    #[test]
    fn rfc3339_renders_known_instants() {
        use super::rfc3339;
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339(951_782_400).as_deref(), Some("2000-02-29T00:00:00Z"));
        assert_eq!(rfc3339(1_700_000_000).as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(rfc3339(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
    }

    #[test]
    fn sign_reproduces_the_library_headers() {
        let p = build(ProviderKind::StandardWebhooks, settings(&[SECRET, SECRET_2]));
        let got = p.sign(BODY.as_bytes(), NOW, ID);
        assert_eq!(got[2], ("webhook-signature".to_owned(), SIG.to_owned()));
    }
}
