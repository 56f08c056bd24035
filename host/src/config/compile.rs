//! Raw → compiled: resolve names, parse patterns, interpolate `${VAR}`, check bounds.
//!
//! Collects every problem instead of stopping at the first, each with file, line, column and
//! key. It never touches plugins' bytes (the plugin runtime compiles those) and never reads
//! the environment except through the injected lookup.

use super::error::{ConfigError, SourceMap};
use super::filter::{Condition, Filter, accepted_values, check_pointer};
use super::headers::{self, HeaderError};
use super::interpolate::{Lookup, interpolate};
use super::model::{
    AllowedHost, Broker, Config, Destination, Instances, Limits, NameTemplate, NameVars, PemFile, PluginSpec,
    RetryPolicy, Route, Server, Source, Storage, StoreCredentials, Subscribe, Target, Telemetry, TlsFiles, defaults,
};
use super::provider::{Algorithm, Encoding, GenericSpec, Location, ProviderKind, ProviderSettings, UnknownName};
use super::raw::{RawConfig, RawDestination, RawPlugin, RawRoute, RawSource, RawSubscribe, RawTlsFiles};
use super::units::{ByteSize, Rate, WhsecKey, check_name, parse_duration};
use crate::scope::{Pattern, Segment};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// Compiles a parsed file. `path` is the file (for messages and relative plugin paths).
pub fn compile(raw: RawConfig, path: &Path, text: &str, env: Lookup<'_>) -> Result<Config, Vec<ConfigError>> {
    let mut compiler = Compiler { path, map: SourceMap::new(text), env, errors: Vec::new(), warnings: Vec::new() };
    let server = compiler.server(&raw);
    let storage = compiler.storage(&raw);
    let telemetry = compiler.telemetry(&raw);
    let sources = compiler.named(&raw.sources, "sources", Compiler::source);
    let plugins = compiler.named(&raw.plugins, "plugins", Compiler::plugin);
    let destinations = compiler.named(&raw.destinations, "destinations", Compiler::destination);
    let routes = raw
        .routes
        .iter()
        .enumerate()
        .filter_map(|(i, r)| compiler.route(i, r, &sources, &plugins, &destinations))
        .collect();
    if compiler.errors.is_empty() {
        Ok(Config {
            path: path.to_path_buf(),
            server,
            storage,
            telemetry,
            sources,
            plugins,
            destinations,
            routes,
            warnings: compiler.warnings,
        })
    } else {
        compiler.errors.sort_by_key(|e| e.location.as_ref().map(|l| (l.line, l.column)));
        Err(compiler.errors)
    }
}

/// What a PEM file must hold.
#[derive(Clone, Copy)]
enum Pem {
    Certificates,
    PrivateKey,
}

/// One compilation: the file's text (for locations), the environment lookup, and every error
/// and warning found so far.
struct Compiler<'a> {
    path: &'a Path,
    map: SourceMap<'a>,
    env: Lookup<'a>,
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
}

impl Compiler<'_> {
    fn error<T>(&mut self, spanned: &Spanned<T>, key: &str, message: impl Into<String>) {
        let location = self.map.locate(spanned.span(), key);
        self.errors.push(ConfigError::new(self.path, Some(location), message));
    }

    /// A string value with `${VAR}` resolved; on error, records it and returns "".
    fn string(&mut self, value: &Spanned<String>, key: &str) -> String {
        match interpolate(value.get_ref(), self.env) {
            Ok(s) => s,
            Err(e) => {
                self.error(value, key, e.to_string());
                String::new()
            }
        }
    }

    fn opt_string(&mut self, value: Option<&Spanned<String>>, key: &str, default: &str) -> String {
        value.map_or_else(|| default.to_string(), |v| self.string(v, key))
    }

    fn positive<T: Copy + Into<u64>>(&mut self, value: Option<&Spanned<T>>, key: &str, default: u64, max: u64) -> u64 {
        let Some(v) = value else { return default };
        let n: u64 = (*v.get_ref()).into();
        if n == 0 || n > max {
            self.error(v, key, format!("must be between 1 and {max}, not {n}"));
            return default;
        }
        n
    }

    fn size(&mut self, value: Option<&Spanned<String>>, key: &str, default: u64) -> u64 {
        let Some(v) = value else { return default };
        match v.get_ref().parse::<ByteSize>() {
            Ok(ByteSize(0)) => {
                self.error(v, key, "must be more than 0 bytes");
                default
            }
            Ok(ByteSize(n)) => n,
            Err(e) => {
                self.error(v, key, e.to_string());
                default
            }
        }
    }

    /// A value spelled by one of a fixed set of names (`provider`, `algorithm`, `encoding`);
    /// `default` when absent or unknown (an unknown one is reported with the accepted names).
    fn named_value<T: std::str::FromStr<Err = UnknownName>>(
        &mut self,
        value: Option<&Spanned<String>>,
        key: &str,
        default: T,
    ) -> T {
        let Some(value) = value else { return default };
        match value.get_ref().parse::<T>() {
            Ok(parsed) => parsed,
            Err(unknown) => {
                self.error(value, key, unknown.use_one_of());
                default
            }
        }
    }

    /// Compiles each `[table.name]`, checking the name itself first.
    fn named<R, T>(
        &mut self,
        raw: &BTreeMap<Spanned<String>, R>,
        table: &str,
        f: fn(&mut Self, &str, &R) -> T,
    ) -> BTreeMap<String, T> {
        let mut out = BTreeMap::new();
        for (name, value) in raw {
            if let Err(message) = check_name(name.get_ref()) {
                self.error(name, &format!("{table}.{}", name.get_ref()), message);
            }
            out.insert(name.get_ref().clone(), f(self, &format!("{table}.{}", name.get_ref()), value));
        }
        out
    }

    fn server(&mut self, raw: &RawConfig) -> Server {
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
        let admin_hosts = s
            .admin_hosts
            .iter()
            .filter_map(|h| {
                let name = self.string(h, "server.admin_hosts").trim_end_matches('.').to_ascii_lowercase();
                let plain = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '[' | ']'));
                if !plain {
                    self.error(
                        h,
                        "server.admin_hosts",
                        format!("`{name}` is not a host name like switchyard.internal"),
                    );
                }
                plain.then_some(name)
            })
            .collect();
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
        }
    }

    fn storage(&mut self, raw: &RawConfig) -> Storage {
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

    fn telemetry(&mut self, raw: &RawConfig) -> Telemetry {
        let Some(spanned) = &raw.telemetry.otlp_endpoint else { return Telemetry::default() };
        let endpoint = self.string(spanned, "telemetry.otlp_endpoint");
        let parsed =
            url::Url::parse(&endpoint).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if parsed.is_none() {
            let shown = super::without_password(&endpoint);
            let message = format!("`{shown}` is not an OTLP/HTTP endpoint: use http://HOST:4318 or https://…");
            self.error(spanned, "telemetry.otlp_endpoint", message);
        }
        Telemetry { otlp_endpoint: Some(endpoint) }
    }

    fn source(&mut self, key: &str, raw: &RawSource) -> Source {
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

    /// `[sources.NAME.subscribe]`: BigCommerce only, an https:// public URL, stores with tokens.
    fn subscribe(&mut self, key: &str, provider: ProviderKind, spanned: &Spanned<RawSubscribe>) -> Option<Subscribe> {
        let (raw, key) = (spanned.get_ref(), format!("{key}.subscribe"));
        let errors_before = self.errors.len();
        if provider != ProviderKind::BigCommerce {
            let message = "hook registrations are kept only for provider = \"bigcommerce\" (Big Cartel's API registers none: its webhooks go to the app's one webhook_url)";
            self.error(spanned, &key, message);
        }
        let public_url = self.string(&raw.public_url, &format!("{key}.public_url"));
        let parsed = url::Url::parse(&public_url).ok().filter(|_| public_url.starts_with("https://"));
        if parsed.is_none() {
            let message = format!("`{public_url}` is not an https:// URL (BigCommerce sends only to https)");
            self.error(&raw.public_url, &format!("{key}.public_url"), message);
        } else if let Some(port) = parsed.and_then(|u| u.port()) {
            // The url crate drops the scheme's own port, so any port left is not 443.
            let message = format!(
                "`{public_url}` is on port {port}: BigCommerce delivers only to port 443 (its webhooks API refuses other ports); put the gateway behind a proxy on 443"
            );
            self.error(&raw.public_url, &format!("{key}.public_url"), message);
        }
        let mut stores = Vec::new();
        for (i, store) in raw.stores.iter().enumerate() {
            let store_key = format!("{key}.stores[{i}]");
            let store_hash = self.string(&store.store_hash, &format!("{store_key}.store_hash"));
            let access_token = self.string(&store.access_token, &format!("{store_key}.access_token"));
            if store_hash.is_empty() || !store_hash.chars().all(|c| c.is_ascii_alphanumeric()) {
                let message = format!("`{store_hash}` is not a store hash (letters and digits, as in /stores/abc123/)");
                self.error(&store.store_hash, &format!("{store_key}.store_hash"), message);
            }
            if access_token.is_empty() {
                self.error(&store.access_token, &format!("{store_key}.access_token"), "is empty");
            }
            stores.push(StoreCredentials { store_hash, access_token });
        }
        let scopes = raw.scopes.as_ref().map(|scopes| {
            let mut out = Vec::new();
            for scope in scopes {
                let text = self.string(scope, &format!("{key}.scopes"));
                if !text.starts_with("store/") || text.contains(char::is_whitespace) {
                    self.error(
                        scope,
                        &format!("{key}.scopes"),
                        format!("`{text}` is not a BigCommerce scope (store/…)"),
                    );
                }
                out.push(text);
            }
            out
        });
        let mut headers = BTreeMap::new();
        for (name, value) in &raw.headers {
            let header_key = format!("{key}.headers.{name}");
            let value = self.string(value, &header_key);
            if headers::check(name, &value).is_err() || !value.is_ascii() {
                self.error(spanned, &header_key, "not a valid HTTP header name and ASCII value");
            }
            headers.insert(name.clone(), value);
        }
        let base = raw
            .api_base
            .as_ref()
            .map_or_else(|| defaults::BIGCOMMERCE_API.to_string(), |b| self.string(b, &format!("{key}.api_base")));
        let api_base = match url::Url::parse(&base) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => url,
            _ => {
                let spanned_base = raw.api_base.as_ref().unwrap_or(&raw.public_url);
                self.error(spanned_base, &format!("{key}.api_base"), format!("`{base}` is not an http(s) URL"));
                unusable_url()
            }
        };
        let mut check_every = Duration::from_secs(defaults::SUBSCRIPTIONS_CHECK_EVERY_SECS);
        if let Some(every) = &raw.check_every {
            match parse_duration(every.get_ref()) {
                Ok(d) if d >= Duration::from_millis(100) => check_every = d,
                Ok(_) => self.error(every, &format!("{key}.check_every"), "must be at least 100ms"),
                Err(e) => self.error(every, &format!("{key}.check_every"), e),
            }
        }
        (self.errors.len() == errors_before).then_some(Subscribe {
            public_url,
            stores,
            scopes,
            headers,
            api_base,
            check_every,
        })
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

    fn plugin(&mut self, key: &str, raw: &RawPlugin) -> PluginSpec {
        let name = key.trim_start_matches("plugins.").to_string();
        let rel = self.string(&raw.path, &format!("{key}.path"));
        let base = self.path.parent().unwrap_or(Path::new("."));
        let path = if rel.is_empty() { base.to_path_buf() } else { base.join(&rel) };
        let timeout_ms =
            self.positive(raw.timeout_ms.as_ref(), &format!("{key}.timeout_ms"), defaults::PLUGIN_TIMEOUT_MS, 60_000);
        let memory_mb = self.positive(
            raw.memory_mb.as_ref(),
            &format!("{key}.memory_mb"),
            defaults::PLUGIN_MEMORY_MB,
            defaults::PLUGIN_MEMORY_MB_MAX,
        );
        let max_output = self.size(raw.max_output.as_ref(), &format!("{key}.max_output"), defaults::PLUGIN_MAX_OUTPUT);
        let max_emits = self.positive(
            raw.max_emits.as_ref(),
            &format!("{key}.max_emits"),
            defaults::PLUGIN_MAX_EMITS.into(),
            1_000_000,
        );
        let allowed_hosts = raw
            .allowed_hosts
            .iter()
            .filter_map(|h| {
                let entry = self.string(h, &format!("{key}.allowed_hosts"));
                entry
                    .parse::<AllowedHost>()
                    .map_err(|e| self.error(h, &format!("{key}.allowed_hosts"), e.to_string()))
                    .ok()
            })
            .collect();
        let millis = |compiler: &mut Self, v: Option<&Spanned<u64>>, field: &str, default: u64, max: u64| {
            Duration::from_millis(compiler.positive(v, &format!("{key}.{field}"), default, max))
        };
        let fetch_timeout =
            millis(self, raw.fetch_timeout_ms.as_ref(), "fetch_timeout_ms", defaults::FETCH_TIMEOUT_MS, 600_000);
        let call_timeout =
            millis(self, raw.call_timeout_ms.as_ref(), "call_timeout_ms", defaults::CALL_TIMEOUT_MS, 600_000);
        if call_timeout.as_millis() < u128::from(timeout_ms) {
            self.warnings.push(format!(
                "{key}: call_timeout_ms ({} ms) is shorter than timeout_ms ({timeout_ms} ms): a call is stopped \
                 at call_timeout_ms whatever its compute, so timeout_ms past it never applies",
                call_timeout.as_millis()
            ));
        }
        let max_fetches =
            self.positive(raw.max_fetches.as_ref(), &format!("{key}.max_fetches"), defaults::MAX_FETCHES, 10_000);
        let max_fetch_body =
            self.size(raw.max_fetch_body.as_ref(), &format!("{key}.max_fetch_body"), defaults::MAX_FETCH_BODY);
        let kv_max_value = self.size(raw.kv_max_value.as_ref(), &format!("{key}.kv_max_value"), defaults::KV_MAX_VALUE);
        let kv_max_keys =
            self.positive(raw.kv_max_keys.as_ref(), &format!("{key}.kv_max_keys"), defaults::KV_MAX_KEYS, 1 << 40);
        let kv_max_writes = self.positive(
            raw.kv_max_writes.as_ref(),
            &format!("{key}.kv_max_writes"),
            defaults::KV_MAX_WRITES,
            100_000,
        );
        let kv_max_pending =
            self.size(raw.kv_max_pending.as_ref(), &format!("{key}.kv_max_pending"), defaults::KV_MAX_PENDING);
        if kv_max_pending < kv_max_value {
            let at = raw.kv_max_pending.as_ref().or(raw.kv_max_value.as_ref());
            if let Some(at) = at {
                self.error(at, &format!("{key}.kv_max_pending"), format!(
                    "kv_max_pending ({kv_max_pending} bytes) is smaller than kv_max_value ({kv_max_value} bytes): one value could never be written"
                ));
            }
        }
        let reuse_max =
            self.positive(raw.reuse_max.as_ref(), &format!("{key}.reuse_max"), defaults::REUSE_MAX, 1 << 30);
        let instances = match raw.instances.as_ref().map(|i| (i, i.get_ref().as_str())) {
            None | Some((_, "fresh")) => Instances::Fresh,
            Some((_, "reuse")) => Instances::Reuse { max: u32::try_from(reuse_max).unwrap_or(u32::MAX) },
            Some((i, other)) => {
                self.error(i, &format!("{key}.instances"), format!("`{other}` is not fresh or reuse"));
                Instances::Fresh
            }
        };
        if let (Some(r), Instances::Fresh) = (&raw.reuse_max, instances) {
            self.error(r, &format!("{key}.reuse_max"), "reuse_max needs instances = \"reuse\"");
        }
        let config = raw
            .config
            .iter()
            .map(|(k, v)| {
                let text = match v.get_ref() {
                    toml::Value::String(s) => {
                        self.string(&Spanned::new(v.span(), s.clone()), &format!("{key}.config.{k}"))
                    }
                    other => serde_json::to_string(other).unwrap_or_default(),
                };
                (k.clone(), text)
            })
            .collect();
        PluginSpec {
            name,
            path,
            timeout: Duration::from_millis(timeout_ms),
            memory_bytes: memory_mb << 20,
            max_output,
            max_emits: u32::try_from(max_emits).unwrap_or(u32::MAX),
            allowed_hosts,
            fetch_timeout,
            max_fetches: u32::try_from(max_fetches).unwrap_or(u32::MAX),
            max_fetch_body,
            call_timeout,
            kv_max_value,
            kv_max_keys,
            kv_max_writes,
            kv_max_pending,
            instances,
            config,
        }
    }

    fn destination(&mut self, key: &str, raw: &RawDestination) -> Destination {
        let name = key.trim_start_matches("destinations.").to_string();
        let written = self.string(&raw.url, &format!("{key}.url"));
        let url = match url::Url::parse(&written) {
            Ok(url) if SCHEMES.contains(&url.scheme()) && url.has_host() => url,
            parsed => {
                if !written.is_empty() {
                    let shown = super::without_password(&written);
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
        };
        // A URL that was refused says nothing about which kind's fields belong here.
        let target = if url == unusable_url() { Target::Http } else { self.target(key, &url, raw) };
        let timeout_ms = self.positive(
            raw.timeout_ms.as_ref(),
            &format!("{key}.timeout_ms"),
            defaults::DESTINATION_TIMEOUT_MS,
            600_000,
        );
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
        let signing_secret = raw.signing_secret.as_ref().and_then(|spanned| {
            let secret = self.string(spanned, &format!("{key}.signing_secret"));
            if secret.is_empty() {
                return None;
            }
            secret
                .parse::<WhsecKey>()
                .map_err(|e| self.error(spanned, &format!("{key}.signing_secret"), e.to_string()))
                .ok()
        });
        let mut headers = Vec::new();
        for (h, v) in &raw.headers {
            let header_key = format!("{key}.headers.{h}");
            let value = self.string(v, &header_key);
            match headers::check(h, &value) {
                // Values from routes.toml are ASCII, as they are written into the request as is.
                Ok(()) if value.is_ascii() => headers.push((h.clone(), value)),
                Err(HeaderError::Name(_)) => {
                    self.error(v, &header_key, format!("`{h}` is not a valid HTTP header name"))
                }
                _ => self.error(v, &header_key, "not a valid HTTP header value (no control characters)"),
            }
        }
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
        let timeout = Duration::from_millis(timeout_ms);
        let limits = self.limits(key, raw);
        Destination { name, url, target, timeout, retry, signing_secret, headers, ca, identity, limits }
    }

    /// What `url`'s scheme publishes to, with the fields that kind needs; a field of another
    /// kind is an error rather than ignored.
    fn target(&mut self, key: &str, url: &url::Url, raw: &RawDestination) -> Target {
        let broker = Broker::for_scheme(url.scheme());
        let fields = [
            ("subject", raw.subject.as_ref(), Some(Broker::Nats)),
            ("exchange", raw.exchange.as_ref(), Some(Broker::Amqp)),
            ("routing_key", raw.routing_key.as_ref(), Some(Broker::Amqp)),
            ("stream", raw.stream.as_ref(), Some(Broker::Redis)),
            ("topic", raw.topic.as_ref(), Some(Broker::Mqtt)),
        ];
        for (field, value, kind) in fields {
            if let Some(value) = value
                && kind != broker
            {
                let message =
                    format!("`{field}` is for {}:// destinations, and this one is {}://", scheme(kind), url.scheme());
                self.error(value, &format!("{key}.{field}"), message);
            }
        }
        if let Some(maxlen) = &raw.maxlen
            && broker != Some(Broker::Redis)
        {
            self.error(maxlen, &format!("{key}.maxlen"), "`maxlen` is for redis:// destinations");
        }
        if let Some(qos) = &raw.qos
            && broker != Some(Broker::Mqtt)
        {
            self.error(qos, &format!("{key}.qos"), "`qos` is for mqtt:// destinations");
        }
        let Some(broker) = broker else { return Target::Http };
        let (field, value) = match broker {
            Broker::Nats => ("subject", raw.subject.as_ref()),
            Broker::Amqp => ("routing_key", raw.routing_key.as_ref()),
            Broker::Redis => ("stream", raw.stream.as_ref()),
            Broker::Mqtt => ("topic", raw.topic.as_ref()),
        };
        let Some(value) = value else {
            let message = format!(
                "this {}:// destination needs `{field}`, the {} it publishes to",
                url.scheme(),
                broker.name_kind()
            );
            self.error(&raw.url, &format!("{key}.{field}"), message);
            return Target::Http;
        };
        let text = self.string(value, &format!("{key}.{field}"));
        let template = match NameTemplate::parse(broker, &text) {
            Ok(template) => template,
            Err(e) => {
                self.error(value, &format!("{key}.{field}"), e.to_string());
                return Target::Http;
            }
        };
        match broker {
            Broker::Nats => Target::Nats { subject: template },
            Broker::Amqp => {
                let exchange = raw.exchange.as_ref().map(|e| (self.string(e, &format!("{key}.exchange")), e));
                if let Some((name, spanned)) = &exchange
                    && (name.len() > 255 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)))
                {
                    let message =
                        format!("`{name}` is not an AMQP exchange name (letters, digits, `-_.:`, at most 255)");
                    self.error(*spanned, &format!("{key}.exchange"), message);
                }
                Target::Amqp { exchange: exchange.map(|(name, _)| name).unwrap_or_default(), routing_key: template }
            }
            Broker::Redis => {
                let maxlen = raw.maxlen.as_ref().map(|v| *v.get_ref());
                if let (Some(0), Some(spanned)) = (maxlen, &raw.maxlen) {
                    self.error(
                        spanned,
                        &format!("{key}.maxlen"),
                        "must be at least 1 (leave it out to keep every entry)",
                    );
                }
                Target::Redis { stream: template, maxlen }
            }
            Broker::Mqtt => {
                if let Some(qos) = &raw.qos
                    && *qos.get_ref() != 1
                {
                    let message = "only qos = 1 is offered: QoS 0 has no acknowledgement, and QoS 1 with the `webhook-id` already lets receivers drop repeats";
                    self.error(qos, &format!("{key}.qos"), message);
                }
                Target::Mqtt { topic: template }
            }
        }
    }

    /// Checks that a broker destination's name template can be filled for this route: every
    /// parameter it uses is in each of the route's patterns, and with the route's own name (and
    /// source, when the route names one) the name is one the broker takes.
    fn route_name(
        &mut self,
        template: &NameTemplate,
        raw: &RawRoute,
        index: usize,
        patterns: &[Pattern],
        to: &Spanned<String>,
        key: &str,
    ) {
        for param in template.params() {
            let missing = patterns.iter().find(|p| !p.segments().contains(&Segment::Param(param.to_string())));
            if let Some(pattern) = missing {
                let message = format!(
                    "destination `{}` names its messages with `{{{param}}}`, which pattern `{}` does not capture",
                    to.get_ref(),
                    pattern.as_str()
                );
                self.error(to, key, message);
                return;
            }
        }
        let vars = NameVars {
            source: raw.source.as_ref().map_or_else(|| "s".to_string(), |s| s.get_ref().clone()),
            scope: "s".into(),
            route: raw.name.as_ref().map_or_else(|| format!("route {index}"), |n| n.get_ref().clone()),
            params: template.params().map(|p| (p.to_string(), "p".to_string())).collect(),
        };
        if let Err(e) = template.render(&vars) {
            self.error(to, key, format!("destination `{}` cannot name messages of this route: {e}", to.get_ref()));
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
        limits.concurrency = raw
            .concurrency
            .as_ref()
            .map(|_| self.positive(raw.concurrency.as_ref(), &format!("{key}.concurrency"), 1, 10_000) as u32);
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

    /// `{ cert, key }` of a listener, both read and checked.
    fn tls_files(&mut self, raw: &RawTlsFiles, key: &str) -> Option<TlsFiles> {
        self.tls_pair(raw, &format!("{key}.cert"), &format!("{key}.key"))
    }

    fn tls_pair(&mut self, raw: &RawTlsFiles, cert_key: &str, key_key: &str) -> Option<TlsFiles> {
        let cert = self.pem(&raw.cert, cert_key, Pem::Certificates);
        let key = self.pem(&raw.key, key_key, Pem::PrivateKey);
        Some(TlsFiles { cert: cert?, key: key? })
    }

    /// Reads a PEM file (relative to the config file) and checks it holds what `what` says.
    fn pem(&mut self, value: &Spanned<String>, key: &str, what: Pem) -> Option<PemFile> {
        use rustls_pki_types::pem::PemObject;
        let rel = self.string(value, key);
        if rel.is_empty() {
            return None;
        }
        let path = self.path.parent().unwrap_or(Path::new(".")).join(&rel);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.error(value, key, format!("cannot read {}: {e}", path.display()));
                return None;
            }
        };
        let problem = match what {
            Pem::Certificates => {
                let certs: Result<Vec<_>, _> = rustls_pki_types::CertificateDer::pem_slice_iter(&bytes).collect();
                match certs {
                    Ok(certs) if !certs.is_empty() => None,
                    Ok(_) => Some("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_string()),
                    Err(e) => Some(format!("is not a PEM certificate file: {e}")),
                }
            }
            Pem::PrivateKey => rustls_pki_types::PrivateKeyDer::from_pem_slice(&bytes)
                .err()
                .map(|_| "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".to_string()),
        };
        if let Some(problem) = problem {
            self.error(value, key, format!("{} {problem}", path.display()));
            return None;
        }
        Some(PemFile { path, bytes: bytes.into() })
    }

    fn route(
        &mut self,
        index: usize,
        raw: &RawRoute,
        sources: &BTreeMap<String, Source>,
        plugins: &BTreeMap<String, PluginSpec>,
        destinations: &BTreeMap<String, Destination>,
    ) -> Option<Route> {
        let key = format!("routes[{index}]");
        let errors_before = self.errors.len();
        let mut patterns = Vec::new();
        let items = raw.patterns.get_ref().items();
        if items.is_empty() {
            self.error(&raw.patterns, &format!("{key}.match"), "needs at least one pattern");
        }
        for p in items {
            match Pattern::parse(p) {
                Ok(parsed) => patterns.push(parsed),
                Err(e) => self.error(&raw.patterns, &format!("{key}.match"), e.to_string()),
            }
        }
        let check = |compiler: &mut Self, value: &Spanned<String>, field: &str, noun: &str, known: Vec<&String>| {
            if !known.contains(&value.get_ref()) {
                let list = known.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
                let defined =
                    if list.is_empty() { format!(" (no {noun}s are defined)") } else { format!(" (defined: {list})") };
                compiler.error(
                    value,
                    &format!("{key}.{field}"),
                    format!("unknown {noun} `{}`{defined}", value.get_ref()),
                );
            }
        };
        if let Some(s) = &raw.source {
            check(self, s, "source", "source", sources.keys().collect());
        }
        if let Some(p) = &raw.plugin {
            check(self, p, "plugin", "plugin", plugins.keys().collect());
        }
        for d in &raw.to {
            check(self, d, "to", "destination", destinations.keys().collect());
            if let Some(template) = destinations.get(d.get_ref()).and_then(|d| d.target.template()) {
                self.route_name(template, raw, index, &patterns, d, &format!("{key}.to"));
            }
        }
        if raw.to.is_empty() && raw.plugin.is_none() {
            self.error(
                &raw.patterns,
                &format!("{key}.to"),
                "a route without a plugin needs at least one destination in `to`",
            );
        }
        let mut filter = Filter::default();
        for (pointer, value) in &raw.filter {
            let entry = format!("{key}.filter.\"{}\"", pointer.get_ref());
            if let Err(e) = check_pointer(pointer.get_ref()) {
                self.error(pointer, &entry, format!("this filter can never hold: {e}"));
                continue;
            }
            match accepted_values(value.get_ref()) {
                Ok(accepted) => filter.0.push(Condition { pointer: pointer.get_ref().clone(), accepted }),
                Err(e) => self.error(value, &entry, format!("this filter can never hold: {e}")),
            }
        }
        if let Some(order_by) = &raw.order_by
            && let Err(e) = check_pointer(order_by.get_ref())
        {
            self.error(order_by, &format!("{key}.order_by"), e);
        }
        if self.errors.len() > errors_before {
            return None;
        }
        let name = raw.name.as_ref().map_or_else(|| format!("route {index}"), |n| n.get_ref().clone());
        Some(Route {
            name,
            patterns,
            source: raw.source.as_ref().map(|s| s.get_ref().clone()),
            plugin: raw.plugin.as_ref().map(|p| p.get_ref().clone()),
            to: raw.to.iter().map(|d| d.get_ref().clone()).collect(),
            filter,
            order_by: raw.order_by.as_ref().map(|p| p.get_ref().clone()),
        })
    }
}

/// The URL schemes a destination may have.
const SCHEMES: [&str; 6] = ["http", "https", "nats", "amqp", "redis", "mqtt"];

/// The scheme of a broker kind, for messages.
fn scheme(broker: Option<Broker>) -> &'static str {
    match broker {
        None => "http",
        Some(Broker::Nats) => "nats",
        Some(Broker::Amqp) => "amqp",
        Some(Broker::Redis) => "redis",
        Some(Broker::Mqtt) => "mqtt",
    }
}

/// `data.id` or `/data/id` → the JSON pointer `/data/id`.
fn pointer(field: &str) -> String {
    if field.starts_with('/') { field.to_string() } else { format!("/{}", field.replace('.', "/")) }
}

/// Stands in for a destination URL that does not parse. The config that holds it is refused
/// (its error is reported), so nothing is ever sent here.
fn unusable_url() -> url::Url {
    url::Url::parse("http://invalid.invalid/").expect("a constant URL parses")
}
