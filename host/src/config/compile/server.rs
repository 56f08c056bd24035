//! `[server]`, `[storage]` and `[telemetry]`: the listeners and their certificates, the store,
//! and where traces go.

use super::Compiler;
use crate::config::model::{Server, Storage, Telemetry, defaults};
use crate::config::raw::RawConfig;
use std::time::Duration;

impl Compiler<'_> {
    pub(super) fn server(&mut self, raw: &RawConfig) -> Server {
        let s = &raw.server;
        let listen = self.opt_string(s.listen.as_ref(), "server.listen", defaults::LISTEN);
        let admin = self.opt_string(s.admin.as_ref(), "server.admin", defaults::ADMIN);
        for (value, key) in [(&listen, "server.listen"), (&admin, "server.admin")] {
            if !value.is_empty() && value.parse::<std::net::SocketAddr>().is_err() {
                let spanned = if key == "server.listen" { s.listen.as_ref() } else { s.admin.as_ref() };
                if let Some(spanned) = spanned {
                    self.error(spanned, key, format!("`{value}` is not an address like 127.0.0.1:8080"));
                }
            }
        }
        let admin_token =
            s.admin_token.as_ref().map(|t| self.string(t, "server.admin_token")).filter(|t| !t.is_empty());
        let admin_hosts = self.admin_hosts(raw);
        let max_body = self.size(s.max_body.as_ref(), "server.max_body", defaults::MAX_BODY as u64);
        let workers = self.positive(s.workers.as_ref(), "server.workers", defaults::WORKERS, 4096);
        let tls = s.tls.as_ref().and_then(|t| self.tls_files(t, "server.tls"));
        let admin_tls = s.admin_tls.as_ref().and_then(|t| self.tls_files(t, "server.admin_tls"));
        Server {
            tls,
            admin_tls,
            listen,
            admin: (!admin.is_empty()).then_some(admin),
            admin_token,
            admin_hosts,
            max_body: usize::try_from(max_body).unwrap_or(usize::MAX),
            workers: usize::try_from(workers).unwrap_or(usize::MAX),
            ingest_first: s.ingest_first.unwrap_or(false),
        }
    }

    /// `admin_hosts`: host names, lower-case, without a trailing dot.
    fn admin_hosts(&mut self, raw: &RawConfig) -> Vec<String> {
        let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '[' | ']');
        raw.server
            .admin_hosts
            .iter()
            .filter_map(|h| {
                let name = self.string(h, "server.admin_hosts").trim_end_matches('.').to_ascii_lowercase();
                let plain = !name.is_empty() && name.chars().all(host_char);
                if !plain {
                    let message = format!("`{name}` is not a host name like switchyard.internal");
                    self.error(h, "server.admin_hosts", message);
                }
                plain.then_some(name)
            })
            .collect()
    }

    pub(super) fn storage(&mut self, raw: &RawConfig) -> Storage {
        let url = self.opt_string(raw.storage.url.as_ref(), "storage.url", defaults::STORAGE_URL);
        if let Some(spanned) = &raw.storage.url
            && !["sqlite://", "postgres://", "postgresql://"].iter().any(|scheme| url.starts_with(scheme))
        {
            let message = format!(
                "`{url}` is not a storage url: use sqlite://PATH (relative to this file) or postgres://USER@HOST/DATABASE"
            );
            self.error(spanned, "storage.url", message);
        }
        let hours = self.positive(
            raw.storage.retention_hours.as_ref(),
            "storage.retention_hours",
            defaults::RETENTION_HOURS,
            24 * 3650,
        );
        let lease = self.positive(raw.storage.lease_secs.as_ref(), "storage.lease_secs", defaults::LEASE_SECS, 3600);
        Storage { url, retention: Duration::from_secs(hours * 3600), lease: Duration::from_secs(lease) }
    }

    pub(super) fn telemetry(&mut self, raw: &RawConfig) -> Telemetry {
        let Some(spanned) = &raw.telemetry.otlp_endpoint else { return Telemetry::default() };
        let endpoint = self.string(spanned, "telemetry.otlp_endpoint");
        let parsed =
            url::Url::parse(&endpoint).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if parsed.is_none() {
            let shown = crate::config::without_password(&endpoint);
            let message = format!("`{shown}` is not an OTLP/HTTP endpoint: use http://HOST:4318 or https://…");
            self.error(spanned, "telemetry.otlp_endpoint", message);
        }
        Telemetry { otlp_endpoint: Some(endpoint) }
    }
}
