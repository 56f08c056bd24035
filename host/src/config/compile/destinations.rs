//! `[destinations.NAME]`: the URL (HTTP, or a broker's), timeout, retry policy, signing
//! secret, headers, TLS trust and identity, and the delivery limits. What a broker URL
//! publishes to is `brokers.rs`'s.

use super::pem::Pem;
use super::{Compiler, unusable_url};
use crate::config::headers::{self, HeaderError};
use crate::config::model::{Concurrency, Destination, Limits, PemFile, RetryPolicy, Target, TlsFiles, defaults};
use crate::config::raw::{RawConcurrency, RawDestination, RawTlsFiles};
use crate::config::units::{Rate, WhsecKey, parse_duration};
use std::time::Duration;

/// The URL schemes a destination may have.
pub(super) const SCHEMES: [&str; 6] = ["http", "https", "nats", "amqp", "redis", "mqtt"];

impl Compiler<'_> {
    pub(super) fn destination(&mut self, key: &str, raw: &RawDestination) -> Destination {
        let name = key.trim_start_matches("destinations.").to_string();
        let url = self.destination_url(key, raw);
        // A URL that was refused says nothing about which kind's fields belong here.
        let target = if url == unusable_url() { Target::Http } else { self.target(key, &url, raw) };
        let timeout_ms = self.positive(
            raw.timeout_ms.as_ref(),
            &format!("{key}.timeout_ms"),
            defaults::DESTINATION_TIMEOUT_MS,
            600_000,
        );
        let retry = self.retry(key, raw);
        let signing_secret = self.signing_secret(key, raw);
        let headers = self.destination_headers(key, raw);
        let (ca, identity) = self.destination_tls(key, raw, &url);
        let timeout = Duration::from_millis(timeout_ms);
        let limits = self.limits(key, raw);
        Destination { name, url, target, timeout, retry, signing_secret, headers, ca, identity, limits }
    }

    /// The URL, of a scheme the gateway delivers to; [`unusable_url`] when it is refused
    /// (reported without its password).
    fn destination_url(&mut self, key: &str, raw: &RawDestination) -> url::Url {
        let written = self.string(&raw.url, &format!("{key}.url"));
        let parsed = url::Url::parse(&written);
        if let Ok(url) = &parsed
            && SCHEMES.contains(&url.scheme())
            && url.has_host()
        {
            return url.clone();
        }
        if !written.is_empty() {
            let shown = crate::config::without_password(&written);
            let message = match parsed {
                Err(e) => format!("`{shown}` is not a valid URL: {e}"),
                Ok(url) if !url.has_host() => format!("`{shown}` names no host"),
                Ok(url) => format!(
                    "`{shown}`: the gateway cannot deliver to {}:// (use http, https, nats, amqp, redis or mqtt)",
                    url.scheme()
                ),
            };
            self.error(&raw.url, &format!("{key}.url"), message);
        }
        unusable_url()
    }

    /// `retry = { max_attempts, first_ms, max_ms }` over the defaults.
    fn retry(&mut self, key: &str, raw: &RawDestination) -> RetryPolicy {
        let mut retry = RetryPolicy::default();
        if let Some(r) = &raw.retry {
            let v = r.get_ref();
            retry.max_attempts = v.max_attempts.unwrap_or(retry.max_attempts);
            retry.first = v.first_ms.map_or(retry.first, Duration::from_millis);
            retry.max = v.max_ms.map_or(retry.max, Duration::from_millis);
            if retry.max_attempts == 0 || retry.first.is_zero() || retry.max < retry.first {
                self.error(r, &format!("{key}.retry"), "needs max_attempts ≥ 1 and 0 < first_ms ≤ max_ms");
            }
        }
        retry
    }

    /// `signing_secret`, a `whsec_…` key; empty means none.
    fn signing_secret(&mut self, key: &str, raw: &RawDestination) -> Option<WhsecKey> {
        let spanned = raw.signing_secret.as_ref()?;
        let secret = self.string(spanned, &format!("{key}.signing_secret"));
        if secret.is_empty() {
            return None;
        }
        secret
            .parse::<WhsecKey>()
            .map_err(|e| self.error(spanned, &format!("{key}.signing_secret"), e.to_string()))
            .ok()
    }

    /// `headers`: valid names, values without control characters, ASCII (they are written
    /// into each request as they are).
    fn destination_headers(&mut self, key: &str, raw: &RawDestination) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (h, v) in &raw.headers {
            let header_key = format!("{key}.headers.{h}");
            let value = self.string(v, &header_key);
            match headers::check(h, &value) {
                Ok(()) if value.is_ascii() => out.push((h.clone(), value)),
                Err(HeaderError::Name(_)) => {
                    self.error(v, &header_key, format!("`{h}` is not a valid HTTP header name"))
                }
                _ => self.error(v, &header_key, "not a valid HTTP header value (no control characters)"),
            }
        }
        out
    }

    /// `ca_file` and `client_cert`/`client_key`, which need an https:// URL and come as a pair.
    fn destination_tls(
        &mut self,
        key: &str,
        raw: &RawDestination,
        url: &url::Url,
    ) -> (Option<PemFile>, Option<TlsFiles>) {
        let ca = raw.ca_file.as_ref().and_then(|f| self.pem(f, &format!("{key}.ca_file"), Pem::Certificates));
        let identity = match (&raw.client_cert, &raw.client_key) {
            (Some(cert), Some(k)) => {
                let files = RawTlsFiles { cert: cert.clone(), key: k.clone() };
                self.tls_pair(&files, &format!("{key}.client_cert"), &format!("{key}.client_key"))
            }
            (Some(one), None) | (None, Some(one)) => {
                self.error(one, &format!("{key}.client_cert"), "give both client_cert and client_key, or neither");
                None
            }
            (None, None) => None,
        };
        if (ca.is_some() || identity.is_some()) && url.scheme() != "https" {
            let spanned = raw.ca_file.as_ref().or(raw.client_cert.as_ref()).unwrap_or(&raw.url);
            self.error(spanned, &format!("{key}.url"), "ca_file and client certificates need an https:// url");
        }
        (ca, identity)
    }

    /// `concurrency` (`"adaptive"`, the default, or a number) and `concurrency_max`.
    fn concurrency(&mut self, key: &str, raw: &RawDestination) -> Concurrency {
        let max_key = format!("{key}.concurrency_max");
        let max = self.positive(raw.concurrency_max.as_ref(), &max_key, u64::from(defaults::CONCURRENCY_MAX), 10_000);
        let adaptive = Concurrency::Adaptive { max: max as u32 };
        let Some(value) = &raw.concurrency else { return adaptive };
        match value.get_ref() {
            RawConcurrency::Fixed(n) if (1..=10_000).contains(n) => {
                if let Some(max) = &raw.concurrency_max {
                    self.error(max, &max_key, "bounds an adaptive concurrency; a fixed `concurrency` is its own bound");
                }
                Concurrency::Fixed(*n)
            }
            RawConcurrency::Fixed(n) => {
                self.error(value, &format!("{key}.concurrency"), format!("must be between 1 and 10000, not {n}"));
                adaptive
            }
            RawConcurrency::Mode(mode) if mode == "adaptive" => adaptive,
            RawConcurrency::Mode(other) => {
                let why = format!("`{other}` is not a concurrency: write \"adaptive\" or a number of requests");
                self.error(value, &format!("{key}.concurrency"), why);
                adaptive
            }
        }
    }

    /// `rate`, `concurrency`, `pause_after` and `probe_every` of a destination.
    fn limits(&mut self, key: &str, raw: &RawDestination) -> Limits {
        let mut limits = Limits::default();
        if let Some(rate) = &raw.rate {
            match rate.get_ref().parse::<Rate>() {
                Ok(parsed) => limits.rate = Some(parsed),
                Err(e) => self.error(rate, &format!("{key}.rate"), e.to_string()),
            }
        }
        limits.concurrency = self.concurrency(key, raw);
        if let Some(n) = &raw.pause_after {
            limits.pause_after = (*n.get_ref() > 0).then_some(*n.get_ref());
        }
        if let Some(every) = &raw.probe_every {
            match parse_duration(every.get_ref()) {
                Ok(d) if d >= Duration::from_millis(100) => limits.probe_every = d,
                Ok(_) => self.error(every, &format!("{key}.probe_every"), "must be at least 100ms"),
                Err(e) => self.error(every, &format!("{key}.probe_every"), e),
            }
        }
        limits
    }
}
