//! The `Provider` contract: what an inbound webhook looks like, what verifying it yields, why it
//! can be refused, what a sample webhook is (`switchyard send`), and how a configured
//! `ProviderKind` becomes an implementation.
//!
//! Owns the public types only; each platform's rules (verify, sign, sample) live in
//! `providers/`. The configured
//! side (`ProviderKind`, `ProviderSettings`, the generic provider's spec) is plain data in
//! `config::provider`, re-exported here. Must never put a secret (or a computed MAC) into an
//! error message, a `Debug` output or a metric label.

use serde_json::Value;
use std::fmt;

pub use crate::config::provider::{
    Algorithm, Encoding, GenericSpec, Location, ProviderKind, ProviderSettings, SettingsError, UnknownName,
};

/// One inbound request as the ingest router received it. No `Debug`: headers may carry
/// credentials (basic auth in BigCommerce registration headers).
#[derive(Clone, Copy)]
pub struct Inbound<'a> {
    /// Request headers; lookups are case-insensitive.
    pub headers: &'a http::HeaderMap,
    /// The exact body bytes: every scheme signs these, so they must not be re-encoded.
    pub body: &'a [u8],
    /// The gateway's clock, injected so that replay-window checks are testable.
    pub now_unix: i64,
}

/// What a successful verification yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The event type as the platform names it, e.g. `store/order/created`.
    pub scope: String,
    /// The provider's dedup id; `None` means the caller hashes the body instead.
    pub event_id: Option<String>,
}

/// Why a request was refused. Messages name headers and fields, never secrets or signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A secret is configured but the request carries no signature header.
    #[error("missing signature header `{header}`")]
    MissingSignature { header: String },
    /// A signature is present but matches none of the configured secrets.
    #[error("signature does not match any configured secret")]
    BadSignature,
    /// Signatures are present only in schemes we refuse (Stripe `v0`, GitHub sha1, non-`v1`).
    #[error("`{header}` carries no signature in a supported scheme")]
    UnsupportedScheme { header: String },
    /// The signed timestamp is outside the replay window; negative ages are in the future.
    #[error("signed timestamp is outside the replay window (age {age_secs}s)")]
    StaleTimestamp { age_secs: i64 },
    /// A header the scheme or the source configuration requires is absent.
    #[error("missing required header `{name}`")]
    MissingHeader { name: String },
    /// A configured static header is present with another value.
    #[error("header `{name}` does not have the configured value")]
    WrongHeaderValue { name: String },
    /// A header is present but cannot be parsed (not ASCII, bad encoding, missing prefix).
    #[error("header `{name}` is malformed")]
    MalformedHeader { name: String },
    /// The body had to be read as JSON and is not.
    #[error("body is not valid JSON: {0}")]
    MalformedBody(String),
    /// The event type is absent or empty where this provider keeps it.
    #[error("no event type found in {where_}")]
    MissingScope { where_: String },
    /// The source's settings are unusable, so every request is refused (fail closed).
    #[error("source is misconfigured: {problem}")]
    Misconfigured { problem: String },
}

impl From<crate::signature::Stale> for Rejection {
    fn from(stale: crate::signature::Stale) -> Self {
        Self::StaleTimestamp { age_secs: stale.age_secs }
    }
}

/// The scheme's own reasons, as the ingest endpoint answers them.
impl From<crate::standard_webhooks::VerifyError> for Rejection {
    fn from(error: crate::standard_webhooks::VerifyError) -> Self {
        use crate::standard_webhooks::{SIGNATURE, VerifyError};
        match error {
            VerifyError::MissingSignature => Self::MissingSignature { header: SIGNATURE.to_owned() },
            VerifyError::MissingHeader { name } => Self::MissingHeader { name: name.to_owned() },
            VerifyError::MalformedHeader { name } => Self::MalformedHeader { name },
            VerifyError::UnsupportedScheme => Self::UnsupportedScheme { header: SIGNATURE.to_owned() },
            VerifyError::BadSignature => Self::BadSignature,
            VerifyError::Stale(stale) => stale.into(),
        }
    }
}

impl Rejection {
    /// HTTP status: 401 for authentication problems, 400 for an unusable body, 500 when the
    /// gateway itself is misconfigured.
    pub fn status(&self) -> u16 {
        match self {
            Self::MalformedBody(_) | Self::MissingScope { .. } => 400,
            Self::Misconfigured { .. } => 500,
            _ => 401,
        }
    }

    /// Short, fixed metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingSignature { .. } => "missing_signature",
            Self::BadSignature => "bad_signature",
            Self::UnsupportedScheme { .. } => "unsupported_scheme",
            Self::StaleTimestamp { .. } => "stale_timestamp",
            Self::MissingHeader { .. } => "missing_header",
            Self::WrongHeaderValue { .. } => "wrong_header_value",
            Self::MalformedHeader { .. } => "malformed_header",
            Self::MalformedBody(_) => "malformed_body",
            Self::MissingScope { .. } => "missing_scope",
            Self::Misconfigured { .. } => "misconfigured",
        }
    }
}

/// One platform's rules. Implementations hold their keys and must redact them in `Debug`.
pub trait Provider: Send + Sync + fmt::Debug {
    /// Authenticate the request (skipped when no secret is configured) and name the event.
    fn verify(&self, req: &Inbound<'_>) -> Result<Verified, Rejection>;
    /// Headers a genuine sender would add for `body`, signed with the first secret. Scope
    /// headers (`X-Shopify-Topic`, `X-GitHub-Event`) are left to [`Provider::sample`].
    fn sign(&self, body: &[u8], now_unix: i64, id: &str) -> Vec<(String, String)>;
    /// The webhook this platform would send (`switchyard send`): `data` (the platform's sample
    /// data when `None`) in the platform's body shape, `scope` (its sample event type when
    /// `None`) where the platform puts it, `id` in the platform's id form, signed at
    /// `now_unix` with the first secret (unsigned without one).
    fn sample(&self, scope: Option<&str>, data: Option<Value>, now_unix: i64, id: &str) -> Result<Sample, SampleError>;
}

/// A webhook as its platform would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The event type it carries.
    pub scope: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a sample cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    /// The scope or id must go into the body at a JSON pointer, but the data is not an object.
    #[error("the data must be a JSON object to put a value at `{pointer}`")]
    NotAnObject { pointer: String },
    /// The source's settings are unusable (see `ProviderSettings::check`).
    #[error("source is misconfigured: {problem}")]
    Misconfigured { problem: String },
}

impl Sample {
    /// `body` as JSON, after the `headers` that carry its scope, signed by `provider` and
    /// labelled `application/json`.
    pub fn signed<P: Provider + ?Sized>(
        provider: &P,
        scope: &str,
        body: &Value,
        mut headers: Vec<(String, String)>,
        now_unix: i64,
        id: &str,
    ) -> Self {
        let body = body.to_string().into_bytes();
        headers.extend(provider.sign(&body, now_unix, id));
        headers.push(("Content-Type".into(), "application/json".into()));
        Self { scope: scope.to_owned(), headers, body }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_problems_are_401_and_body_problems_are_400() {
        assert_eq!(Rejection::BadSignature.status(), 401);
        assert_eq!(Rejection::StaleTimestamp { age_secs: 900 }.status(), 401);
        assert_eq!(Rejection::MalformedBody("x".into()).status(), 400);
        assert_eq!(Rejection::MissingScope { where_: "body".into() }.status(), 400);
        assert_eq!(Rejection::Misconfigured { problem: "x".into() }.reason(), "misconfigured");
    }
}
