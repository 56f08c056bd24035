//! What a `[sources.NAME]` table says about its platform, as plain data: which provider
//! ([`ProviderKind`]), the generic provider's description ([`GenericSpec`]: [`Algorithm`],
//! [`Encoding`], [`Location`]), and the settings every provider takes ([`ProviderSettings`]),
//! with the one check of whether those settings can work ([`ProviderSettings::check`]).
//!
//! `sources` builds providers from these types and refuses unusable settings by calling the
//! same check. This file knows no header a platform sends and verifies nothing; it must never
//! put a secret or a required header's value into an error or a `Debug` output.

use super::defaults;
use super::headers;
use super::units::WhsecKey;
use std::fmt;
use std::str::FromStr;

/// A name from config that is not one of the accepted spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`, expected one of: {}", expected.join(" "))]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
    /// The accepted spellings, in the order a message lists them.
    pub expected: &'static [&'static str],
}

impl UnknownName {
    /// `unknown algorithm `md5`: use sha256, sha1 or sha512`, as config errors say it.
    pub fn use_one_of(&self) -> String {
        let list = match self.expected.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        format!("unknown {} `{}`: use {list}", self.what, self.value)
    }
}

/// An enum spelled in config by fixed names: `as_str`, `FromStr`, `Display`, and `ALL`, every
/// variant in the order given here (the order messages list them in).
macro_rules! named_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in the order messages list them.
            pub const ALL: [$ty; [$(stringify!($variant)),+].len()] = [$(Self::$variant),+];
            /// The config spellings, in the order of [`Self::ALL`].
            pub const NAMES: &'static [&'static str] = &[$($name),+];

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
                    _ => Err(UnknownName { what: $what, value: s.to_owned(), expected: Self::NAMES }),
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

/// HMAC digest for the generic provider; the default, SHA-256, is listed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}
named_enum!(Algorithm, "algorithm", { Sha256 => "sha256", Sha1 => "sha1", Sha512 => "sha512" });

/// How the generic provider's MAC is written in its header; the default, hex, is listed first.
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
            tolerance_secs: defaults::TOLERANCE_SECS,
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

/// Settings that cannot produce a working provider; messages never include secret values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("tolerance_secs must not be negative, got {secs}")]
    NegativeTolerance { secs: i64 },
    #[error("secret #{index} is empty")]
    EmptySecret { index: usize },
    #[error("secret #{index} is not base64 (after an optional `whsec_` prefix) or decodes to nothing")]
    UndecodableSecret { index: usize },
    #[error("`{name}` is not a valid header name")]
    InvalidHeaderName { name: String },
    #[error("the value configured for header `{name}` is not a valid header value")]
    InvalidHeaderValue { name: String },
    #[error("the generic provider needs a `generic` section")]
    MissingGenericSpec,
    #[error("secrets are set but the generic provider has no `signature_header`")]
    NoSignatureHeader,
    #[error("`{pointer}` is not a JSON pointer (it must start with `/`)")]
    InvalidJsonPointer { pointer: String },
}

impl ProviderSettings {
    /// Whether a `kind` provider can work with these settings. The config stage reports a
    /// failure at load time; `sources` refuses every request of a source that fails it.
    pub fn check(&self, kind: ProviderKind) -> Result<(), SettingsError> {
        if self.tolerance_secs < 0 {
            return Err(SettingsError::NegativeTolerance { secs: self.tolerance_secs });
        }
        if let Some(index) = self.secrets.iter().position(String::is_empty) {
            return Err(SettingsError::EmptySecret { index });
        }
        for (name, value) in &self.required_headers {
            check_header_name(name)?;
            // Compared with what arrives, which is visible ASCII (or tab) when it is valid.
            if headers::check(name, value).is_err() || !value.is_ascii() {
                return Err(SettingsError::InvalidHeaderValue { name: name.clone() });
            }
        }
        match kind {
            ProviderKind::StandardWebhooks => {
                if let Some(index) = self.secrets.iter().position(|s| s.parse::<WhsecKey>().is_err()) {
                    return Err(SettingsError::UndecodableSecret { index });
                }
                Ok(())
            }
            ProviderKind::Generic => self.generic.as_ref().ok_or(SettingsError::MissingGenericSpec)?.check(self),
            _ => Ok(()),
        }
    }
}

impl GenericSpec {
    fn check(&self, settings: &ProviderSettings) -> Result<(), SettingsError> {
        match &self.signature_header {
            Some(name) => check_header_name(name)?,
            None if !settings.secrets.is_empty() => return Err(SettingsError::NoSignatureHeader),
            None => {}
        }
        for location in std::iter::once(&self.scope).chain(&self.id) {
            match location {
                Location::Header(name) => check_header_name(name)?,
                Location::JsonPointer(p) if !p.starts_with('/') => {
                    return Err(SettingsError::InvalidJsonPointer { pointer: p.clone() });
                }
                Location::JsonPointer(_) => {}
            }
        }
        Ok(())
    }
}

fn check_header_name(name: &str) -> Result<(), SettingsError> {
    match headers::check(name, "") {
        Ok(()) => Ok(()),
        Err(_) => Err(SettingsError::InvalidHeaderName { name: name.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(secrets: &[&str]) -> ProviderSettings {
        ProviderSettings { secrets: secrets.iter().map(|s| (*s).to_owned()).collect(), ..ProviderSettings::default() }
    }

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
        assert_eq!(
            err.use_one_of(),
            "unknown provider `svix`: use bigcommerce, bigcartel, shopify, stripe, github, standard-webhooks or generic"
        );
    }

    #[test]
    fn algorithms_and_encodings_parse_from_config_spellings() {
        assert_eq!("sha512".parse(), Ok(Algorithm::Sha512));
        assert_eq!("base64".parse(), Ok(Encoding::Base64));
        assert!("SHA256".parse::<Algorithm>().is_err());
        let err = "md5".parse::<Algorithm>().map_err(|e| e.use_one_of());
        assert_eq!(err, Err("unknown algorithm `md5`: use sha256, sha1 or sha512".to_owned()));
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

    #[test]
    fn settings_are_checked_for_what_each_kind_needs() {
        assert_eq!(settings(&["secret", ""]).check(ProviderKind::Stripe), Err(SettingsError::EmptySecret { index: 1 }));
        let whsec = settings(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!"]);
        assert_eq!(whsec.check(ProviderKind::StandardWebhooks), Err(SettingsError::UndecodableSecret { index: 1 }));
        assert_eq!(whsec.check(ProviderKind::Stripe), Ok(()), "other kinds use the secret as it is");
        assert_eq!(settings(&[]).check(ProviderKind::Generic), Err(SettingsError::MissingGenericSpec));
        let mut headers = settings(&[]);
        headers.required_headers = vec![("X-Auth".into(), "a\nb".into())];
        assert_eq!(
            headers.check(ProviderKind::Shopify),
            Err(SettingsError::InvalidHeaderValue { name: "X-Auth".into() })
        );
        headers.required_headers = vec![("X Auth".into(), "v".into())];
        assert_eq!(
            headers.check(ProviderKind::Shopify),
            Err(SettingsError::InvalidHeaderName { name: "X Auth".into() })
        );
    }
}
