//! The compiled, immutable configuration the rest of the host reads.
//!
//! Everything here is already valid: names resolve, patterns parse, secrets are interpolated,
//! sizes are bytes. No spans, no raw strings to re-check, no I/O.

pub use super::allowed_host::AllowedHost;
pub use super::filter::Filter;
use super::provider::{ProviderKind, ProviderSettings};
pub use super::template::{Broker, NameTemplate, NameVars};
pub use super::units::Rate;
use super::units::WhsecKey;
use crate::scope::Pattern;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was loaded from; plugin paths are relative to its directory.
    pub path: PathBuf,
    pub server: Server,
    pub storage: Storage,
    pub telemetry: Telemetry,
    pub sources: BTreeMap<String, Source>,
    pub plugins: BTreeMap<String, PluginSpec>,
    pub destinations: BTreeMap<String, Destination>,
    /// In table order: the order events fan out in.
    pub routes: Vec<Route>,
    /// Things that work but deserve a look (unsigned sources); printed by `check` and `serve`.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: String,
    pub admin: Option<String>,
    pub admin_token: Option<String>,
    /// Host names a tokenless admin listener answers besides the loopback ones, lower-case,
    /// without a port.
    pub admin_hosts: Vec<String>,
    pub max_body: usize,
    pub workers: usize,
    /// Plugin calls and deliveries run below ingest's scheduling priority (`crate::background`).
    pub ingest_first: bool,
    /// The ingest listener's certificate; `None` serves plain HTTP.
    pub tls: Option<TlsFiles>,
    /// The admin listener's certificate; `None` serves plain HTTP.
    pub admin_tls: Option<TlsFiles>,
}

/// A PEM file as it was read when the config was loaded: its bytes are what is used, its path
/// is for messages and for watching. `Debug` shows the path only (it may hold a private key).
#[derive(Clone, PartialEq, Eq)]
pub struct PemFile {
    pub path: PathBuf,
    pub bytes: Arc<[u8]>,
}

impl std::fmt::Debug for PemFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PemFile({})", self.path.display())
    }
}

/// A certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PemFile,
    pub key: PemFile,
}

#[derive(Debug, Clone)]
pub struct Storage {
    /// `sqlite://PATH`, PATH relative to the config file's directory.
    pub url: String,
    /// How long delivered work is kept before it is pruned.
    pub retention: Duration,
    /// How long a gateway holds the work it took (renewed while it works) before other
    /// gateways sharing the store may take it over.
    pub lease: Duration,
}

/// `[telemetry]`: where traces go besides the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Telemetry {
    /// The OTLP/HTTP collector's base URL (`/v1/traces` is added); `None` exports nothing.
    pub otlp_endpoint: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub provider: ProviderKind,
    pub settings: ProviderSettings,
    /// How long an event id (or body hash) is remembered to answer repeats as duplicates;
    /// `None` (`dedup_window_secs = 0`) processes every delivery.
    pub dedup_window: Option<Duration>,
    /// The platform's hook registrations this gateway keeps in step (BigCommerce).
    pub subscribe: Option<Subscribe>,
}

impl Source {
    /// Whether `header` (any case) is one this source's config holds a value for — a
    /// `required_headers` entry, or a header its hooks are registered with — and so a secret
    /// however it is named (`X-Hook-Key`).
    pub fn names_secret_header(&self, header: &str) -> bool {
        self.settings.required_headers.iter().any(|(name, _)| name.eq_ignore_ascii_case(header))
            || self.subscribe.as_ref().is_some_and(|s| s.headers.keys().any(|name| name.eq_ignore_ascii_case(header)))
    }
}

/// `[sources.NAME.subscribe]`: which hooks to keep registered with the platform, per store.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscribe {
    pub public_url: String,
    pub stores: Vec<StoreCredentials>,
    /// The scopes to register; `None`: the ones the source's routes match.
    pub scopes: Option<Vec<String>>,
    pub headers: BTreeMap<String, String>,
    pub api_base: url::Url,
    pub check_every: Duration,
}

/// A store and the API token that manages its hooks. `Debug` leaves the token out.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreCredentials {
    pub store_hash: String,
    pub access_token: String,
}

impl std::fmt::Debug for StoreCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCredentials").field("store_hash", &self.store_hash).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    pub name: String,
    /// Absolute, or relative to the config file's directory already resolved.
    pub path: PathBuf,
    pub timeout: Duration,
    pub memory_bytes: u64,
    pub max_output: u64,
    /// Derived events (emits) the whole tree under one webhook may hold when this plugin emits.
    pub max_emits: u32,
    /// Where the plugin may send requests; empty means nowhere.
    pub allowed_hosts: Vec<AllowedHost>,
    /// Each request's deadline, to its answer's head.
    pub fetch_timeout: Duration,
    /// Requests one call may make.
    pub max_fetches: u32,
    /// Bytes of one response the plugin may read.
    pub max_fetch_body: u64,
    /// The whole call's wall-clock limit, waiting included (`timeout` bounds its compute).
    pub call_timeout: Duration,
    /// Largest value the plugin may keep under one key, in bytes.
    pub kv_max_value: u64,
    /// Most keys the plugin may keep.
    pub kv_max_keys: u64,
    /// Keys one call may write, each counted once however often it is written.
    pub kv_max_writes: u64,
    /// Bytes one call's writes may hold until they are committed (keys and values).
    pub kv_max_pending: u64,
    /// How instances serve events.
    pub instances: Instances,
    /// The `config` table: strings as they are, other values as JSON text.
    pub config: Vec<(String, String)>,
}

/// How a plugin's instances serve events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instances {
    /// A fresh instance for every event: nothing a plugin keeps in memory survives it.
    Fresh,
    /// An instance serves up to `max` events, one at a time; its globals persist between
    /// them. A trap, a timeout or a failed call throws it away.
    Reuse { max: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub name: String,
    /// Parsed once per config, not once per attempt: `url::Url` is the type the HTTP client takes,
    /// so an attempt clones it instead of parsing text again. Its scheme selects `target`.
    pub url: url::Url,
    /// Where on the receiver a delivery goes: the URL itself, or a broker's subject, key or topic.
    pub target: Target,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// The key deliveries are signed with (Standard Webhooks headers); `None` sends the id and
    /// timestamp headers unsigned.
    pub signing_secret: Option<WhsecKey>,
    /// Extra request headers in table order, each a valid HTTP header name and an ASCII value
    /// without control characters (`headers::check`); delivery turns them into a request's.
    pub headers: Vec<(String, String)>,
    /// A CA to trust besides the system's roots.
    pub ca: Option<PemFile>,
    /// A client certificate to present to receivers that require one.
    pub identity: Option<TlsFiles>,
    /// How hard this gateway may push the destination, and when it stops trying for a while.
    pub limits: Limits,
}

/// What a destination publishes to, besides its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `http://` or `https://`: a POST to the URL.
    Http,
    /// `nats://`: a JetStream publish to `subject`, acknowledged by the stream.
    Nats { subject: NameTemplate },
    /// `amqp://`: a persistent, mandatory publish to `exchange` with `routing_key`, confirmed.
    Amqp { exchange: String, routing_key: NameTemplate },
    /// `redis://`: an XADD to `stream`, trimmed to about `maxlen` entries when set.
    Redis { stream: NameTemplate, maxlen: Option<u64> },
    /// `mqtt://`: an MQTT 5 publish to `topic` at QoS 1, acknowledged by PUBACK.
    Mqtt { topic: NameTemplate },
}

impl Target {
    /// The broker this target publishes to; `None` for HTTP.
    pub fn broker(&self) -> Option<Broker> {
        match self {
            Self::Http => None,
            Self::Nats { .. } => Some(Broker::Nats),
            Self::Amqp { .. } => Some(Broker::Amqp),
            Self::Redis { .. } => Some(Broker::Redis),
            Self::Mqtt { .. } => Some(Broker::Mqtt),
        }
    }

    /// The name template of a broker target.
    pub fn template(&self) -> Option<&NameTemplate> {
        match self {
            Self::Http => None,
            Self::Nats { subject: t } | Self::Amqp { routing_key: t, .. } => Some(t),
            Self::Redis { stream: t, .. } | Self::Mqtt { topic: t } => Some(t),
        }
    }
}

/// A destination's protection, per gateway: deliveries over a limit wait in the store (they
/// are neither attempts nor failures); a run of failures pauses the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Deliveries started per second or minute at most.
    pub rate: Option<Rate>,
    /// Requests in flight at most: fixed, or adaptive (the default).
    pub concurrency: Concurrency,
    /// Consecutive failed attempts that pause the destination; `None` never pauses.
    pub pause_after: Option<u32>,
    /// While paused by failures, one delivery is tried this often.
    pub probe_every: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rate: None,
            concurrency: Concurrency::Adaptive { max: defaults::CONCURRENCY_MAX },
            pause_after: Some(defaults::PAUSE_AFTER),
            probe_every: Duration::from_secs(defaults::PROBE_EVERY_SECS),
        }
    }
}

/// How many requests a destination may have in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Concurrency {
    /// Exactly this many at most (`concurrency = N`).
    Fixed(u32),
    /// As many as the receiver answers promptly, learned from its answers, at most `max`
    /// (`concurrency = "adaptive"`, the default; `concurrency_max`).
    Adaptive { max: u32 },
}

impl Concurrency {
    /// `"adaptive"` or the fixed number, as routes.toml writes it.
    pub fn shown(&self) -> String {
        match self {
            Concurrency::Fixed(n) => n.to_string(),
            Concurrency::Adaptive { max } => format!("adaptive (≤{max})"),
        }
    }
}

/// When to try a failed delivery again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// 5 s doubling up to 10 h between tries, 18 attempts: the last one about 51 hours after
    /// the first, so an outage as long as BigCommerce's own retry window (48 h) loses nothing.
    fn default() -> Self {
        Self { max_attempts: 18, first: Duration::from_secs(5), max: Duration::from_secs(10 * 3600) }
    }
}

impl RetryPolicy {
    /// How long to wait before try `attempt` + 1 (`attempt` ≥ 1): `first` doubling with each
    /// attempt up to `max`, spread ±20% by `jitter` (0 to 1) so that work failed together is
    /// not retried together. Both dispatch (plugins asking to retry) and delivery use it.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let base = self.first.saturating_mul(1u32 << exponent).min(self.max);
        base.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0)).min(self.max)
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub patterns: Vec<Pattern>,
    pub source: Option<String>,
    pub plugin: Option<String>,
    pub to: Vec<String>,
    /// Conditions on the body, checked before the plugin runs.
    pub filter: Filter,
    /// A JSON pointer whose value orders this route's deliveries (per destination).
    pub order_by: Option<String>,
}

pub use super::defaults;
