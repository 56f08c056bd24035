//! `[sources.NAME]`: the provider, its secrets and headers, the replay and dedup windows, and
//! the generic provider's own fields (`[sources.NAME.subscribe]` is `subscribe.rs`'s).

use super::{Compiler, pointer};
use crate::config::model::{Source, defaults};
use crate::config::provider::{Algorithm, Encoding, GenericSpec, Location, ProviderKind, ProviderSettings};
use crate::config::raw::RawSource;
use std::time::Duration;

impl Compiler<'_> {
    pub(super) fn source(&mut self, key: &str, raw: &RawSource) -> Source {
        let name = key.trim_start_matches("sources.").to_string();
        let provider = self.named_value(Some(&raw.provider), &format!("{key}.provider"), ProviderKind::Generic);
        let secrets: Vec<String> =
            raw.secrets.iter().map(|s| self.string(s, &format!("{key}.secrets"))).filter(|s| !s.is_empty()).collect();
        if secrets.is_empty() {
            self.warnings
                .push(format!("source `{name}` has no secrets: unsigned webhooks are accepted on /hooks/{name}"));
        }
        let required_headers = raw
            .required_headers
            .iter()
            .map(|(h, v)| (h.to_ascii_lowercase(), self.string(v, &format!("{key}.required_headers.{h}"))))
            .collect();
        let generic = self.generic(key, provider, raw);
        let tolerance_secs = match &raw.tolerance_secs {
            Some(t) if *t.get_ref() <= 0 => {
                self.error(t, &format!("{key}.tolerance_secs"), "must be a positive number of seconds");
                defaults::TOLERANCE_SECS
            }
            Some(t) => *t.get_ref(),
            None => defaults::TOLERANCE_SECS,
        };
        let settings = ProviderSettings { secrets, tolerance_secs, required_headers, generic };
        if let Err(e) = settings.check(provider) {
            self.error(&raw.provider, &format!("{key}.provider"), e.to_string());
        }
        let dedup_secs = raw.dedup_window_secs.as_ref().map_or(defaults::DEDUP_WINDOW_SECS, |w| *w.get_ref());
        let dedup_window = (dedup_secs > 0).then(|| Duration::from_secs(dedup_secs));
        let subscribe = raw.subscribe.as_ref().and_then(|sub| self.subscribe(key, provider, sub));
        Source { name, provider, settings, dedup_window, subscribe }
    }

    /// The `generic` provider's settings; for other providers these keys are errors.
    fn generic(&mut self, key: &str, provider: ProviderKind, raw: &RawSource) -> Option<GenericSpec> {
        let fields = [
            ("signature_header", &raw.signature_header),
            ("algorithm", &raw.algorithm),
            ("encoding", &raw.encoding),
            ("prefix", &raw.prefix),
            ("scope_header", &raw.scope_header),
            ("scope_field", &raw.scope_field),
            ("id_header", &raw.id_header),
            ("id_field", &raw.id_field),
        ];
        if provider != ProviderKind::Generic {
            for (field, value) in fields {
                if let Some(v) = value {
                    self.error(v, &format!("{key}.{field}"), format!("only the generic provider takes `{field}`"));
                }
            }
            return None;
        }
        let algorithm = self.named_value(raw.algorithm.as_ref(), &format!("{key}.algorithm"), Algorithm::Sha256);
        let encoding = self.named_value(raw.encoding.as_ref(), &format!("{key}.encoding"), Encoding::Hex);
        let scope = match (&raw.scope_header, &raw.scope_field) {
            (Some(h), None) => Location::Header(h.get_ref().to_ascii_lowercase()),
            (None, Some(f)) => Location::JsonPointer(pointer(f.get_ref())),
            (None, None) => Location::JsonPointer("/type".into()),
            (Some(h), Some(_)) => {
                self.error(h, &format!("{key}.scope_header"), "give scope_header or scope_field, not both");
                Location::Header(h.get_ref().to_ascii_lowercase())
            }
        };
        let id = match (&raw.id_header, &raw.id_field) {
            (Some(h), _) => Some(Location::Header(h.get_ref().to_ascii_lowercase())),
            (None, Some(f)) => Some(Location::JsonPointer(pointer(f.get_ref()))),
            (None, None) => None,
        };
        Some(GenericSpec {
            signature_header: raw.signature_header.as_ref().map(|h| h.get_ref().to_ascii_lowercase()),
            algorithm,
            encoding,
            prefix: raw.prefix.as_ref().map(|p| p.get_ref().clone()).unwrap_or_default(),
            scope,
            id,
        })
    }
}
