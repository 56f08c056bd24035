//! `[sources.NAME.subscribe]`: the hooks a BigCommerce source keeps registered: where
//! BigCommerce must send (https on port 443), each store with its token, the scopes and
//! headers, the API's base and how often a serving gateway checks.

use super::{Compiler, unusable_url};
use crate::config::headers;
use crate::config::model::{StoreCredentials, Subscribe, defaults};
use crate::config::provider::ProviderKind;
use crate::config::raw::{RawStore, RawSubscribe};
use crate::config::units::parse_duration;
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

impl Compiler<'_> {
    /// `[sources.NAME.subscribe]` of a source whose provider is `provider`; `None` when it has
    /// errors (reported).
    pub(super) fn subscribe(
        &mut self,
        key: &str,
        provider: ProviderKind,
        spanned: &Spanned<RawSubscribe>,
    ) -> Option<Subscribe> {
        let (raw, key) = (spanned.get_ref(), format!("{key}.subscribe"));
        let errors_before = self.errors.len();
        if provider != ProviderKind::BigCommerce {
            let message = "hook registrations are kept only for provider = \"bigcommerce\" (Big Cartel's API registers none: its webhooks go to the app's one webhook_url)";
            self.error(spanned, &key, message);
        }
        let public_url = self.public_url(&raw.public_url, &key);
        let stores = raw.stores.iter().enumerate().map(|(i, store)| self.store(store, &format!("{key}.stores[{i}]")));
        let stores = stores.collect();
        let scopes = raw.scopes.as_ref().map(|scopes| self.scopes(scopes, &key));
        let headers = self.hook_headers(spanned, &key);
        let api_base = self.api_base(raw, &key);
        let check_every = self.check_every(raw, &key);
        let subscribe = Subscribe { public_url, stores, scopes, headers, api_base, check_every };
        (self.errors.len() == errors_before).then_some(subscribe)
    }

    /// Where BigCommerce sends: https, on port 443 (the only port it delivers to).
    fn public_url(&mut self, spanned: &Spanned<String>, key: &str) -> String {
        let public_url = self.string(spanned, &format!("{key}.public_url"));
        let parsed = url::Url::parse(&public_url).ok().filter(|_| public_url.starts_with("https://"));
        if parsed.is_none() {
            let message = format!("`{public_url}` is not an https:// URL (BigCommerce sends only to https)");
            self.error(spanned, &format!("{key}.public_url"), message);
        } else if let Some(port) = parsed.and_then(|u| u.port()) {
            // The url crate drops the scheme's own port, so any port left is not 443.
            let message = format!(
                "`{public_url}` is on port {port}: BigCommerce delivers only to port 443 (its webhooks API refuses other ports); put the gateway behind a proxy on 443"
            );
            self.error(spanned, &format!("{key}.public_url"), message);
        }
        public_url
    }

    /// One store: its hash (letters and digits) and a token.
    fn store(&mut self, store: &RawStore, key: &str) -> StoreCredentials {
        let store_hash = self.string(&store.store_hash, &format!("{key}.store_hash"));
        let access_token = self.string(&store.access_token, &format!("{key}.access_token"));
        if store_hash.is_empty() || !store_hash.chars().all(|c| c.is_ascii_alphanumeric()) {
            let message = format!("`{store_hash}` is not a store hash (letters and digits, as in /stores/abc123/)");
            self.error(&store.store_hash, &format!("{key}.store_hash"), message);
        }
        if access_token.is_empty() {
            self.error(&store.access_token, &format!("{key}.access_token"), "is empty");
        }
        StoreCredentials { store_hash, access_token }
    }

    /// The scopes listed, each a BigCommerce scope (`store/…`).
    fn scopes(&mut self, scopes: &[Spanned<String>], key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for scope in scopes {
            let text = self.string(scope, &format!("{key}.scopes"));
            if !text.starts_with("store/") || text.contains(char::is_whitespace) {
                self.error(scope, &format!("{key}.scopes"), format!("`{text}` is not a BigCommerce scope (store/…)"));
            }
            out.push(text);
        }
        out
    }

    /// The headers BigCommerce sends with each webhook: valid names, ASCII values.
    fn hook_headers(&mut self, spanned: &Spanned<RawSubscribe>, key: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (name, value) in &spanned.get_ref().headers {
            let header_key = format!("{key}.headers.{name}");
            let value = self.string(value, &header_key);
            if headers::check(name, &value).is_err() || !value.is_ascii() {
                self.error(spanned, &header_key, "not a valid HTTP header name and ASCII value");
            }
            out.insert(name.clone(), value);
        }
        out
    }

    /// The management API's base URL (BigCommerce's own unless given).
    fn api_base(&mut self, raw: &RawSubscribe, key: &str) -> url::Url {
        let base = raw
            .api_base
            .as_ref()
            .map_or_else(|| defaults::BIGCOMMERCE_API.to_string(), |b| self.string(b, &format!("{key}.api_base")));
        match url::Url::parse(&base) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => url,
            _ => {
                let spanned_base = raw.api_base.as_ref().unwrap_or(&raw.public_url);
                self.error(spanned_base, &format!("{key}.api_base"), format!("`{base}` is not an http(s) URL"));
                unusable_url()
            }
        }
    }

    /// How often a serving gateway checks the registered hooks: at least 100 ms.
    fn check_every(&mut self, raw: &RawSubscribe, key: &str) -> Duration {
        let default = Duration::from_secs(defaults::SUBSCRIPTIONS_CHECK_EVERY_SECS);
        let Some(every) = &raw.check_every else { return default };
        match parse_duration(every.get_ref()) {
            Ok(d) if d >= Duration::from_millis(100) => d,
            Ok(_) => {
                self.error(every, &format!("{key}.check_every"), "must be at least 100ms");
                default
            }
            Err(e) => {
                self.error(every, &format!("{key}.check_every"), e);
                default
            }
        }
    }
}
