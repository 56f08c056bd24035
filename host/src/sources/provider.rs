//! The `Provider` contract: what an inbound webhook looks like, what verifying it yields, why it
//! can be refused, and how a configured `ProviderKind` becomes an implementation.
//!
//! Owns the public types only; each platform's rules live in `providers/`. Must never put a
//! secret (or a computed MAC) into an error message, a `Debug` output or a metric label.

use std::fmt;
use std::str::FromStr;

/// Replay window used when a source does not set one: what the Standard Webhooks and Stripe
/// libraries use (5 minutes).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

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
    /// Headers a genuine sender would add, signed with the first secret; used by `switchyard send`.
    /// Scope headers (`X-Shopify-Topic`, `X-GitHub-Event`) are the caller's to add.
    fn sign(&self, body: &[u8], now_unix: i64, id: &str) -> Vec<(String, String)>;
}

/// A name from config that is not one of the accepted spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`, expected one of: {expected}")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! named_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The config spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
        }
        impl FromStr for $ty {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    _ => Err(UnknownName {
                        what: $what,
                        value: s.to_owned(),
                        expected: concat!($($name, " "),+).trim_ascii_end(),
                    }),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

/// Which platform's rules a source follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    BigCommerce,
    BigCartel,
    Shopify,
    Stripe,
    Github,
    StandardWebhooks,
    Generic,
}

named_enum!(ProviderKind, "provider", {
    BigCommerce => "bigcommerce", BigCartel => "bigcartel", Shopify => "shopify",
    Stripe => "stripe", Github => "github", StandardWebhooks => "standard-webhooks",
    Generic => "generic",
});

impl ProviderKind {
    /// Every kind, for tables and exhaustive tests.
    pub const ALL: [ProviderKind; 7] = [
        Self::BigCommerce,
        Self::BigCartel,
        Self::Shopify,
        Self::Stripe,
        Self::Github,
        Self::StandardWebhooks,
        Self::Generic,
    ];
}

/// HMAC digest for the generic provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}
named_enum!(Algorithm, "algorithm", { Sha1 => "sha1", Sha256 => "sha256", Sha512 => "sha512" });

/// How the generic provider's MAC is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
}
named_enum!(Encoding, "encoding", { Hex => "hex", Base64 => "base64" });

/// Where the generic provider finds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A request header, by name.
    Header(String),
    /// An RFC 6901 pointer into the JSON body, e.g. `/type`.
    JsonPointer(String),
}

/// A provider described entirely by configuration: HMAC of the raw body with the secret's
/// UTF-8 bytes, no timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericSpec {
    /// Header holding the signature; `None` for a sender that does not sign.
    pub signature_header: Option<String>,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    /// Literal text before the encoded MAC, e.g. `sha256=`; may be empty.
    pub prefix: String,
    pub scope: Location,
    /// Dedup id; `None`, or absent from a request, means the caller hashes the body.
    pub id: Option<Location>,
}

/// A source's settings, already interpolated by the config stage.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    /// Secrets in rotation order (the first one signs); empty means unsigned requests are accepted.
    pub secrets: Vec<String>,
    /// Replay window in seconds, applied where the platform signs a timestamp.
    pub tolerance_secs: i64,
    /// Static headers that must be present with exactly this value (BigCommerce registration
    /// headers); checked for every kind, in constant time.
    pub required_headers: Vec<(String, String)>,
    /// Required for `ProviderKind::Generic`, ignored otherwise.
    pub generic: Option<GenericSpec>,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            secrets: Vec::new(),
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            required_headers: Vec::new(),
            generic: None,
        }
    }
}

/// Redacts secrets and required-header values (they are often basic-auth credentials).
impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.required_headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ProviderSettings")
            .field("secrets", &format_args!("[{} redacted]", self.secrets.len()))
            .field("tolerance_secs", &self.tolerance_secs)
            .field("required_headers", &names)
            .field("generic", &self.generic)
            .finish()
    }
}

/// Turn settings into a provider. Never fails: unusable settings (see
/// `providers::validate`, which the config stage should call first) yield a provider that
/// refuses every request with `Rejection::Misconfigured`.
pub fn build(kind: ProviderKind, settings: ProviderSettings) -> Box<dyn Provider> {
    crate::sources::providers::build(kind, settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_back_from_its_own_name() {
        for kind in ProviderKind::ALL {
            assert_eq!(kind.as_str().parse::<ProviderKind>(), Ok(kind));
        }
    }

    #[test]
    fn an_unknown_kind_lists_the_accepted_names() {
        let err = "svix".parse::<ProviderKind>().expect_err("svix is not a kind");
        assert_eq!(
            err.to_string(),
            "unknown provider `svix`, expected one of: bigcommerce bigcartel shopify stripe github standard-webhooks generic"
        );
    }

    #[test]
    fn algorithms_and_encodings_parse_from_config_spellings() {
        assert_eq!("sha512".parse(), Ok(Algorithm::Sha512));
        assert_eq!("base64".parse(), Ok(Encoding::Base64));
        assert!("SHA256".parse::<Algorithm>().is_err());
    }

    #[test]
    fn auth_problems_are_401_and_body_problems_are_400() {
        assert_eq!(Rejection::BadSignature.status(), 401);
        assert_eq!(Rejection::StaleTimestamp { age_secs: 900 }.status(), 401);
        assert_eq!(Rejection::MalformedBody("x".into()).status(), 400);
        assert_eq!(Rejection::MissingScope { where_: "body".into() }.status(), 400);
        assert_eq!(Rejection::Misconfigured { problem: "x".into() }.reason(), "misconfigured");
    }

    #[test]
    fn debug_output_of_settings_hides_secrets_and_header_values() {
        let settings = ProviderSettings {
            secrets: vec!["topsecret".into()],
            required_headers: vec![("Authorization".into(), "Basic hunter2".into())],
            ..ProviderSettings::default()
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("topsecret") && !shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Authorization") && shown.contains("1 redacted"), "{shown}");
    }
}
