//! The platforms Switchyard receives from: each one's rules in a file of its own (verify,
//! sign, sample; BigCommerce's hook registrations in `bigcommerce/hooks`), the contract they
//! share (`contract.rs`), the small extraction helpers they use (`extract.rs`), and here the
//! table from `ProviderKind` to implementation. This is the floor below the reloadable
//! snapshot: plain platform knowledge, with no view of the running gateway.
//!
//! Platform rules belong in the per-platform files, never here: each owns its `verify`, its
//! `sign` and its `sample` (body shape, scope placement, id form); whether settings can work is
//! `config::provider`'s one check. Must never let unusable settings turn into a provider that
//! accepts requests: they become `Misconfigured`, which refuses everything.

mod bigcartel;
pub mod bigcommerce;
pub mod contract;
pub(crate) mod extract;
mod generic;
mod github;
mod guards;
mod shopify;
mod standard_webhooks;
mod stripe;

pub use contract::{
    Algorithm, Encoding, GenericSpec, Inbound, Location, Provider, ProviderKind, ProviderSettings, Rejection, Sample,
    SampleError, SettingsError, UnknownName, Verified,
};

use guards::{Misconfigured, RequiredHeaders};

/// Builds the provider for `kind`. Never fails: settings that fail [`ProviderSettings::check`]
/// (the one check, which the config stage has already reported) give one that refuses every
/// request with `Rejection::Misconfigured`.
pub fn build(kind: ProviderKind, settings: ProviderSettings) -> Box<dyn Provider> {
    let inner = match settings.check(kind).and_then(|()| build_checked(kind, &settings)) {
        Ok(inner) => inner,
        Err(err) => {
            return Box::new(Misconfigured { kind, problem: err.to_string() });
        }
    };
    if settings.required_headers.is_empty() {
        return inner;
    }
    Box::new(RequiredHeaders { headers: settings.required_headers, inner })
}

/// The provider for settings that passed the check (the constructors that decode or clone
/// parts of them still say why they cannot, rather than assume it).
fn build_checked(kind: ProviderKind, s: &ProviderSettings) -> Result<Box<dyn Provider>, SettingsError> {
    Ok(match kind {
        ProviderKind::BigCommerce => Box::new(bigcommerce::BigCommerce::new(s)),
        ProviderKind::BigCartel => Box::new(bigcartel::BigCartel::new(s)),
        ProviderKind::Shopify => Box::new(shopify::Shopify::new(s)),
        ProviderKind::Stripe => Box::new(stripe::Stripe::new(s)),
        ProviderKind::Github => Box::new(github::Github::new(s)),
        ProviderKind::StandardWebhooks => Box::new(standard_webhooks::StandardWebhooks::new(s)?),
        ProviderKind::Generic => Box::new(generic::Generic::new(s)?),
    })
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::test_support::{headers, settings, verify};
    use super::*;

    #[test]
    fn unusable_settings_build_a_provider_that_refuses_everything() {
        let mut s = settings(&["secret", ""]);
        assert_eq!(s.check(ProviderKind::Stripe), Err(SettingsError::EmptySecret { index: 1 }));
        s.secrets = vec!["whsec_!!!".into()];
        let p = build(ProviderKind::StandardWebhooks, s);
        let err = verify(&*p, &[], b"{}", 0).expect_err("misconfigured");
        assert_eq!((err.status(), err.reason()), (500, "misconfigured"));
        assert!(settings(&[]).check(ProviderKind::Generic).is_err());
    }

    #[test]
    fn debug_output_of_built_providers_never_shows_secrets() {
        for kind in ProviderKind::ALL {
            let mut s = test_support::signing_settings(kind, "secret-value");
            s.required_headers = vec![("X-Auth".into(), "hunter2".into())];
            let secret = s.secrets[0].clone();
            let shown = format!("{:?}", build(kind, s));
            assert!(!shown.contains(&secret) && !shown.contains("hunter2"), "{shown}");
        }
    }

    fn header_name() -> impl Strategy<Value = &'static str> {
        let owned = crate::config::headers::GATEWAY_OWNED.iter();
        prop::sample::select(test_support::PROVIDER_HEADERS.iter().chain(owned).copied().collect::<Vec<_>>())
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            ("\\PC{0,40}", any::<i64>()).prop_map(|(s, n)| {
                serde_json::json!({"type": s, "scope": s, "id": n, "action": s, "hash": n, "ev": {"k": s}})
                    .to_string()
                    .into_bytes()
            }),
        ]
    }

    proptest! {
        #[test]
        fn verify_never_panics_on_arbitrary_headers_and_bodies(
            pairs in prop::collection::vec((header_name(), prop::collection::vec(any::<u8>(), 0..120)), 0..8),
            body in body(),
            now in any::<i64>(),
            signed in any::<bool>(),
        ) {
            let mut map = http::HeaderMap::new();
            for (name, value) in pairs {
                if let Ok(value) = http::HeaderValue::from_bytes(&value) {
                    map.append(name, value);
                }
            }
            for kind in ProviderKind::ALL {
                let mut s = test_support::signing_settings(kind, "secret-value");
                if !signed {
                    s.secrets.clear();
                }
                let _ = build(kind, s).verify(&Inbound { headers: &map, body: &body, now_unix: now });
            }
        }

        #[test]
        fn every_provider_verifies_what_it_signs(
            secret in "[ -~]{1,40}",
            id in "[A-Za-z0-9_.-]{1,40}",
            now in 0i64..100_000_000_000,
        ) {
            let body = test_support::ROUND_TRIP_BODY.as_bytes();
            for kind in ProviderKind::ALL {
                let p = build(kind, test_support::signing_settings(kind, &secret));
                let mut sent = p.sign(body, now, &id);
                sent.extend(test_support::scope_headers());
                let map = headers(&sent.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect::<Vec<_>>());
                let got = p.verify(&Inbound { headers: &map, body, now_unix: now });
                prop_assert!(got.is_ok(), "{kind}: {got:?}");
            }
        }
    }
}
