//! The serde mirror of routes.toml: exactly the file's shape, nothing resolved.
//!
//! Every struct denies unknown fields, so a typo is an error with a location rather than a
//! silently ignored setting. Values that are checked later (references, patterns, strings that
//! take `${VAR}`) are `Spanned`, so those checks can point at the right line and column. No
//! logic lives here and no `#[serde(flatten)]` (it disables `deny_unknown_fields`).

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub storage: RawStorage,
    #[serde(default)]
    pub telemetry: RawTelemetry,
    #[serde(default)]
    pub sources: BTreeMap<Spanned<String>, RawSource>,
    #[serde(default)]
    pub plugins: BTreeMap<Spanned<String>, RawPlugin>,
    #[serde(default)]
    pub destinations: BTreeMap<Spanned<String>, RawDestination>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub admin: Option<Spanned<String>>,
    pub admin_token: Option<Spanned<String>>,
    /// Host names (besides localhost, 127.0.0.1 and [::1]) a tokenless admin listener answers.
    #[serde(default)]
    pub admin_hosts: Vec<Spanned<String>>,
    pub max_body: Option<Spanned<String>>,
    /// Concurrent event handlers (plugin calls).
    pub workers: Option<Spanned<u64>>,
    /// Serve the ingest listener over TLS with this certificate.
    pub tls: Option<RawTlsFiles>,
    /// Serve the admin listener over TLS with this certificate.
    pub admin_tls: Option<RawTlsFiles>,
}

/// `{ cert = "…", key = "…" }`: PEM files, relative to the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTlsFiles {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub url: Option<Spanned<String>>,
    /// Hours to keep delivered events and deliveries before pruning them.
    pub retention_hours: Option<Spanned<u64>>,
    /// Seconds a gateway holds work it took before others may take it, unless it renews.
    pub lease_secs: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// Export traces over OTLP/HTTP to this collector (`http://host:4318`).
    pub otlp_endpoint: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub provider: Spanned<String>,
    #[serde(default)]
    pub secrets: Vec<Spanned<String>>,
    pub tolerance_secs: Option<Spanned<i64>>,
    /// Seconds within which a repeated event id (or body) is a duplicate; 0 turns dedup off.
    pub dedup_window_secs: Option<Spanned<u64>>,
    #[serde(default)]
    pub required_headers: BTreeMap<String, Spanned<String>>,
    // `generic` provider only:
    pub signature_header: Option<Spanned<String>>,
    pub algorithm: Option<Spanned<String>>,
    pub encoding: Option<Spanned<String>>,
    pub prefix: Option<Spanned<String>>,
    pub scope_header: Option<Spanned<String>>,
    pub scope_field: Option<Spanned<String>>,
    pub id_header: Option<Spanned<String>>,
    pub id_field: Option<Spanned<String>>,
    /// `bigcommerce` only: keep the platform's registered hooks in step with the routes.
    pub subscribe: Option<Spanned<RawSubscribe>>,
}

/// `[sources.NAME.subscribe]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubscribe {
    /// Where the platform sends: normally `https://gw.example.com/hooks/NAME`.
    pub public_url: Spanned<String>,
    #[serde(default)]
    pub stores: Vec<RawStore>,
    /// Defaults to the scopes the source's routes match.
    pub scopes: Option<Vec<Spanned<String>>>,
    /// Headers the platform sends with each webhook (pair them with `required_headers`).
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    pub api_base: Option<Spanned<String>>,
    /// How often a serving gateway checks the hooks: `"10m"`.
    pub check_every: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub store_hash: Spanned<String>,
    pub access_token: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub path: Spanned<String>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub memory_mb: Option<Spanned<u64>>,
    pub max_output: Option<Spanned<String>>,
    /// Derived events one webhook's tree may hold when this plugin emits.
    pub max_emits: Option<Spanned<u32>>,
    /// `scheme://host[:port]` entries the plugin may fetch from.
    #[serde(default)]
    pub allowed_hosts: Vec<Spanned<String>>,
    /// Each request's deadline, to its answer's head.
    pub fetch_timeout_ms: Option<Spanned<u64>>,
    /// Requests one call may make.
    pub max_fetches: Option<Spanned<u32>>,
    /// Bytes of one response the plugin may read.
    pub max_fetch_body: Option<Spanned<String>>,
    /// The whole call's wall-clock limit (waiting included).
    pub call_timeout_ms: Option<Spanned<u64>>,
    /// Largest value the plugin may keep under one key.
    pub kv_max_value: Option<Spanned<String>>,
    /// Most keys the plugin may keep.
    pub kv_max_keys: Option<Spanned<u64>>,
    /// Keys one call may write (each key once, however often it is written).
    pub kv_max_writes: Option<Spanned<u64>>,
    /// Bytes one call's writes may hold until they are committed (keys and values).
    pub kv_max_pending: Option<Spanned<String>>,
    /// `"fresh"` (an instance per event, the default) or `"reuse"`.
    pub instances: Option<Spanned<String>>,
    /// Events one reused instance serves before it is replaced.
    pub reuse_max: Option<Spanned<u32>>,
    #[serde(default)]
    pub config: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDestination {
    pub url: Spanned<String>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub retry: Option<Spanned<RawRetry>>,
    pub signing_secret: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// A PEM CA certificate to trust besides the system's, for a receiver with a private CA.
    pub ca_file: Option<Spanned<String>>,
    /// A PEM client certificate and key, for receivers that require mutual TLS.
    pub client_cert: Option<Spanned<String>>,
    pub client_key: Option<Spanned<String>>,
    /// At most this many deliveries started per second or minute: `"50/s"`, `"600/min"`.
    pub rate: Option<Spanned<String>>,
    /// At most this many requests in flight at once.
    pub concurrency: Option<Spanned<u32>>,
    /// Consecutive failed attempts that pause the destination; 0 never pauses.
    pub pause_after: Option<Spanned<u32>>,
    /// How often a paused destination is probed with one attempt: `"30s"`.
    pub probe_every: Option<Spanned<String>>,
    /// `nats://`: the subject template messages are published to.
    pub subject: Option<Spanned<String>>,
    /// `amqp://`: the exchange (empty or absent: the default exchange) and the routing key template.
    pub exchange: Option<Spanned<String>>,
    pub routing_key: Option<Spanned<String>>,
    /// `redis://`: the stream key template, and the approximate length it is trimmed to.
    pub stream: Option<Spanned<String>>,
    pub maxlen: Option<Spanned<u64>>,
    /// `mqtt://`: the topic template and the QoS (1).
    pub topic: Option<Spanned<String>>,
    pub qos: Option<Spanned<u8>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub max_attempts: Option<u32>,
    pub first_ms: Option<u64>,
    pub max_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: Option<Spanned<String>>,
    #[serde(rename = "match")]
    pub patterns: Spanned<OneOrMany>,
    pub source: Option<Spanned<String>>,
    pub plugin: Option<Spanned<String>>,
    #[serde(default)]
    pub to: Vec<Spanned<String>>,
    /// JSON pointer → value (or list of values) the body must hold for the route to run.
    #[serde(default)]
    pub filter: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    /// A JSON pointer into the body: deliveries sharing its value go out one at a time, in order.
    pub order_by: Option<Spanned<String>>,
}

/// `match = "a/*"` or `match = ["a/*", "b/**"]`. (Untagged enums cannot hold `Spanned`
/// values, so errors point at the whole `match` value.)
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a pattern string or a list of pattern strings")]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn items(&self) -> Vec<&String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v.iter().collect(),
        }
    }
}
