//! The serde mirror of routes.toml: exactly the file's shape, nothing resolved.
//!
//! Every struct denies unknown fields, so a typo is an error with a location rather than a
//! silently ignored setting. Values that are checked later (references, patterns, strings that
//! take `${VAR}`) are `Spanned`, so those checks can point at the right line and column. No
//! logic lives here and no `#[serde(flatten)]` (it disables `deny_unknown_fields`).
//!
//! The same types make the JSON Schema `switchyard schema` prints (`config::schema`): each doc
//! comment is a key's description there, so every key has one, and `#[schemars(…)]` says what
//! a `Spanned` value is and what a string must look like (`schema_keywords.rs`: a keyword, a
//! size, a rate…).

use super::schema_keywords as js;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// routes.toml: where the gateway listens and keeps its store, which platforms send to it,
/// which plugins run, where deliveries go, and which events take which way.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Switchyard routes.toml")]
pub struct RawConfig {
    /// The ingest and admin listeners.
    #[serde(default)]
    pub server: RawServer,
    /// Where events, deliveries, dead letters and plugins' state are kept.
    #[serde(default)]
    pub storage: RawStorage,
    /// Tracing over OTLP.
    #[serde(default)]
    pub telemetry: RawTelemetry,
    /// One ingest endpoint each, `POST /hooks/NAME`, and the platform that sends to it.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawSource>", extend("propertyNames" = js::name()))]
    pub sources: BTreeMap<Spanned<String>, RawSource>,
    /// WebAssembly components that turn an event into actions.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawPlugin>", extend("propertyNames" = js::name()))]
    pub plugins: BTreeMap<Spanned<String>, RawPlugin>,
    /// Where deliveries go: HTTP(S) receivers or NATS, RabbitMQ, Redis and MQTT brokers.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawDestination>", extend("propertyNames" = js::name()))]
    pub destinations: BTreeMap<Spanned<String>, RawDestination>,
    /// Which events take which way, in table order: every route whose patterns match an
    /// event's scope (and whose `source` and `filter` hold) receives the event.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

/// The two listeners. Every key is optional.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// The ingest listener, `host:port`: `POST /hooks/{source}`. Default `0.0.0.0:8080`.
    #[schemars(with = "Option<String>")]
    pub listen: Option<Spanned<String>>,
    /// The admin listener, `host:port` (health, readiness, metrics, the API, the console);
    /// `""` turns it off. Default `127.0.0.1:9090`.
    #[schemars(with = "Option<String>")]
    pub admin: Option<Spanned<String>>,
    /// The bearer token the admin endpoints require; required (16+ characters) when `admin`
    /// is not a loopback address. Empty means none.
    #[schemars(with = "Option<String>")]
    pub admin_token: Option<Spanned<String>>,
    /// Host names (besides localhost, 127.0.0.1 and [::1]) a tokenless admin listener answers.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub admin_hosts: Vec<Spanned<String>>,
    /// The largest webhook body, a size like `"1MiB"`; a larger one is answered 413.
    #[schemars(with = "Option<String>", pattern(js::SIZE))]
    pub max_body: Option<Spanned<String>>,
    /// Events handled at once (plugin calls in flight, waiting included), 1–4096. Default 128.
    #[schemars(with = "Option<u64>", range(min = 1, max = 4096))]
    pub workers: Option<Spanned<u64>>,
    /// Acknowledge first: plugin calls and deliveries run on threads of lower scheduling
    /// priority, so on a busy core the kernel answers webhooks before it works through the
    /// backlog. For a gateway with a CPU share of its own (a service or container cgroup):
    /// other busy processes beside it also run first. Read at start. Default false.
    pub ingest_first: Option<bool>,
    /// Serve the ingest listener over TLS with this certificate.
    pub tls: Option<RawTlsFiles>,
    /// Serve the admin listener over TLS with this certificate.
    pub admin_tls: Option<RawTlsFiles>,
}

/// `{ cert = "…", key = "…" }`: PEM files, relative to the config file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTlsFiles {
    /// The PEM certificate chain.
    #[schemars(with = "String")]
    pub cert: Spanned<String>,
    /// The PEM private key.
    #[schemars(with = "String")]
    pub key: Spanned<String>,
}

/// Where events, deliveries, dead letters, dedup keys and plugins' state are kept.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// `sqlite://PATH` (relative to routes.toml) for one gateway, or `postgres://…` for any
    /// number of gateways sharing one database. Default `sqlite://switchyard.db`.
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// Hours to keep delivered events and deliveries before pruning them. Default 168.
    #[schemars(with = "Option<u64>")]
    pub retention_hours: Option<Spanned<u64>>,
    /// Seconds a gateway holds work it took before others may take it, unless it renews.
    /// Default 15.
    #[schemars(with = "Option<u64>")]
    pub lease_secs: Option<Spanned<u64>>,
}

/// Tracing.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// Export traces over OTLP/HTTP to this collector (`http://host:4318`).
    #[schemars(with = "Option<String>")]
    pub otlp_endpoint: Option<Spanned<String>>,
}

/// One ingest endpoint, `POST /hooks/NAME`, and the platform that sends to it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// The platform's rules: how it signs, where its scope and event id are.
    #[schemars(with = "String", extend("enum" = js::providers()))]
    pub provider: Spanned<String>,
    /// The secrets signatures are checked against, newest first (several during a rotation).
    /// Without any, unsigned webhooks are accepted.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub secrets: Vec<Spanned<String>>,
    /// The replay window in seconds, for providers that sign a timestamp. Default 300.
    #[schemars(with = "Option<i64>")]
    pub tolerance_secs: Option<Spanned<i64>>,
    /// Seconds within which a repeated event id (or body) is a duplicate; 0 turns dedup off.
    /// Default 86400.
    #[schemars(with = "Option<u64>")]
    pub dedup_window_secs: Option<Spanned<u64>>,
    /// Static headers that must be present with exactly this value.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub required_headers: BTreeMap<String, Spanned<String>>,
    /// `generic` only: the header holding the signature.
    #[schemars(with = "Option<String>")]
    pub signature_header: Option<Spanned<String>>,
    /// `generic` only: the HMAC's digest. Default `sha256`.
    #[schemars(with = "Option<String>", extend("enum" = js::algorithms()))]
    pub algorithm: Option<Spanned<String>>,
    /// `generic` only: how the MAC is written in the header. Default `hex`.
    #[schemars(with = "Option<String>", extend("enum" = js::encodings()))]
    pub encoding: Option<Spanned<String>>,
    /// `generic` only: literal text before the encoded MAC, e.g. `sha256=`.
    #[schemars(with = "Option<String>")]
    pub prefix: Option<Spanned<String>>,
    /// `generic` only: take the scope from this header.
    #[schemars(with = "Option<String>")]
    pub scope_header: Option<Spanned<String>>,
    /// `generic` only: where the scope is in the body, a JSON pointer (`/data/type`) or a
    /// dotted path (`data.type`). Default `/type`.
    #[schemars(with = "Option<String>")]
    pub scope_field: Option<Spanned<String>>,
    /// `generic` only: the dedup id in a header.
    #[schemars(with = "Option<String>")]
    pub id_header: Option<Spanned<String>>,
    /// `generic` only: the dedup id in the body, a JSON pointer or a dotted path.
    #[schemars(with = "Option<String>")]
    pub id_field: Option<Spanned<String>>,
    /// `bigcommerce` only: keep the platform's registered hooks in step with the routes.
    #[schemars(with = "Option<RawSubscribe>")]
    pub subscribe: Option<Spanned<RawSubscribe>>,
}

/// `[sources.NAME.subscribe]`: the hooks to keep registered with each store.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSubscribe {
    /// Where the platform sends: normally `https://gw.example.com/hooks/NAME`, on port 443.
    #[schemars(with = "String")]
    pub public_url: Spanned<String>,
    /// Each store and the API token that manages its hooks.
    #[serde(default)]
    pub stores: Vec<RawStore>,
    /// The scopes to register, each `store/…`. Defaults to the scopes the source's routes match.
    #[schemars(with = "Option<Vec<String>>")]
    pub scopes: Option<Vec<Spanned<String>>>,
    /// Headers the platform sends with each webhook (pair them with `required_headers`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// The management API's base. Default `https://api.bigcommerce.com`.
    #[schemars(with = "Option<String>")]
    pub api_base: Option<Spanned<String>>,
    /// How often a serving gateway checks the hooks, a duration like `"10m"`. Default 10m.
    #[schemars(with = "Option<String>", pattern(js::DURATION))]
    pub check_every: Option<Spanned<String>>,
}

/// One store whose hooks are kept in step.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// The store's hash (letters and digits), as in `stores/{hash}`.
    #[schemars(with = "String")]
    pub store_hash: Spanned<String>,
    /// An API token of the store allowed to manage its webhooks.
    #[schemars(with = "String")]
    pub access_token: Spanned<String>,
}

/// A WebAssembly component and the limits it runs within.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    /// The `.wasm` component, relative to routes.toml.
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    /// The plugin's own compute per event, in milliseconds. Default 50.
    #[schemars(with = "Option<u64>")]
    pub timeout_ms: Option<Spanned<u64>>,
    /// The instance's linear memory cap, in MiB. Default 32.
    #[schemars(with = "Option<u64>")]
    pub memory_mb: Option<Spanned<u64>>,
    /// Bytes of actions one call may return, a size. Default `"1MiB"`.
    #[schemars(with = "Option<String>", pattern(js::SIZE))]
    pub max_output: Option<Spanned<String>>,
    /// Derived events one webhook's tree may hold when this plugin emits. Default 100.
    #[schemars(with = "Option<u32>")]
    pub max_emits: Option<Spanned<u32>>,
    /// `scheme://host[:port]` entries the plugin may fetch from (`https://*.example.com` for
    /// subdomains, `:*` for any port).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub allowed_hosts: Vec<Spanned<String>>,
    /// Each request's deadline, to its answer's head, in milliseconds. Default 10000.
    #[schemars(with = "Option<u64>")]
    pub fetch_timeout_ms: Option<Spanned<u64>>,
    /// Requests one call may make. Default 10.
    #[schemars(with = "Option<u32>")]
    pub max_fetches: Option<Spanned<u32>>,
    /// Bytes of one response the plugin may read, a size. Default `"4MiB"`.
    #[schemars(with = "Option<String>", pattern(js::SIZE))]
    pub max_fetch_body: Option<Spanned<String>>,
    /// The whole call's wall-clock limit (waiting included), in milliseconds. Default 30000.
    #[schemars(with = "Option<u64>")]
    pub call_timeout_ms: Option<Spanned<u64>>,
    /// Largest value the plugin may keep under one key, a size. Default `"64KiB"`.
    #[schemars(with = "Option<String>", pattern(js::SIZE))]
    pub kv_max_value: Option<Spanned<String>>,
    /// Most keys the plugin may keep. Default 100000.
    #[schemars(with = "Option<u64>")]
    pub kv_max_keys: Option<Spanned<u64>>,
    /// Keys one call may write (each key once, however often it is written). Default 1000.
    #[schemars(with = "Option<u64>")]
    pub kv_max_writes: Option<Spanned<u64>>,
    /// Bytes one call's writes may hold until they are committed (keys and values), a size.
    /// Default `"1MiB"`.
    #[schemars(with = "Option<String>", pattern(js::SIZE))]
    pub kv_max_pending: Option<Spanned<String>>,
    /// `"fresh"` (an instance per event, the default) or `"reuse"`.
    #[schemars(with = "Option<String>", extend("enum" = ["fresh", "reuse"]))]
    pub instances: Option<Spanned<String>>,
    /// Events one reused instance serves before it is replaced. Default 1000.
    #[schemars(with = "Option<u32>")]
    pub reuse_max: Option<Spanned<u32>>,
    /// Values the plugin reads through its `config` import: strings as written, anything else
    /// as JSON text.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub config: BTreeMap<String, Spanned<toml::Value>>,
}

/// Where deliveries go: the URL's scheme says whether it is an HTTP(S) receiver or a broker.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDestination {
    /// `http://` or `https://` (a POST to it), or `nats://`, `amqp://`, `redis://`, `mqtt://`.
    #[schemars(with = "String")]
    pub url: Spanned<String>,
    /// One attempt's deadline in milliseconds (for a broker, also the time to connect).
    /// Default 5000.
    #[schemars(with = "Option<u64>")]
    pub timeout_ms: Option<Spanned<u64>>,
    /// The retry schedule: `first_ms` doubling up to `max_ms`, ±20% jitter, at most
    /// `max_attempts` tries.
    #[schemars(with = "Option<RawRetry>")]
    pub retry: Option<Spanned<RawRetry>>,
    /// A Standard Webhooks key (`whsec_…`): deliveries carry a `webhook-signature` made with it.
    #[schemars(with = "Option<String>")]
    pub signing_secret: Option<Spanned<String>>,
    /// Extra request headers.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// A PEM CA certificate to trust besides the system's, for a receiver with a private CA.
    #[schemars(with = "Option<String>")]
    pub ca_file: Option<Spanned<String>>,
    /// A PEM client certificate, for receivers that require mutual TLS (with `client_key`).
    #[schemars(with = "Option<String>")]
    pub client_cert: Option<Spanned<String>>,
    /// The PEM key of `client_cert`.
    #[schemars(with = "Option<String>")]
    pub client_key: Option<Spanned<String>>,
    /// At most this many deliveries started per second, minute or hour: `"50/s"`, `"600/min"`.
    #[schemars(with = "Option<String>", pattern(js::RATE))]
    pub rate: Option<Spanned<String>>,
    /// Requests in flight at once: `"adaptive"` (the default: as many as the receiver answers
    /// promptly, learned from its round trips and back-pressure) or a fixed number.
    #[schemars(with = "Option<RawConcurrency>")]
    pub concurrency: Option<Spanned<RawConcurrency>>,
    /// The most an adaptive concurrency may reach. Default 256.
    #[schemars(with = "Option<u32>", range(min = 1, max = 10000))]
    pub concurrency_max: Option<Spanned<u32>>,
    /// Consecutive failed attempts that pause the destination; 0 never pauses. Default 20.
    #[schemars(with = "Option<u32>")]
    pub pause_after: Option<Spanned<u32>>,
    /// How often a paused destination is probed with one attempt, a duration. Default `"30s"`.
    #[schemars(with = "Option<String>", pattern(js::DURATION))]
    pub probe_every: Option<Spanned<String>>,
    /// `nats://`: the subject template messages are published to.
    #[schemars(with = "Option<String>")]
    pub subject: Option<Spanned<String>>,
    /// `amqp://`: the exchange (empty or absent: the default exchange).
    #[schemars(with = "Option<String>")]
    pub exchange: Option<Spanned<String>>,
    /// `amqp://`: the routing key template.
    #[schemars(with = "Option<String>")]
    pub routing_key: Option<Spanned<String>>,
    /// `redis://`: the stream key template.
    #[schemars(with = "Option<String>")]
    pub stream: Option<Spanned<String>>,
    /// `redis://`: the approximate length the stream is trimmed to.
    #[schemars(with = "Option<u64>")]
    pub maxlen: Option<Spanned<u64>>,
    /// `mqtt://`: the topic template.
    #[schemars(with = "Option<String>")]
    pub topic: Option<Spanned<String>>,
    /// `mqtt://`: the QoS, 1 (the only level offered).
    #[schemars(with = "Option<u8>", range(min = 1, max = 1))]
    pub qos: Option<Spanned<u8>>,
}

/// `{ max_attempts, first_ms, max_ms }`; any may be left out.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Tries in all, at least 1. Default 18.
    pub max_attempts: Option<u32>,
    /// The first retry's delay in milliseconds. Default 5000.
    pub first_ms: Option<u64>,
    /// The longest delay in milliseconds. Default 36000000 (10 h).
    pub max_ms: Option<u64>,
}

/// One way events take: the scopes it matches, an optional plugin, its destinations.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// How logs, metrics, the console and `replay --route` name it. Default `route N`.
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// The scopes this route takes: a pattern or a list of them. `*` is one segment (a trailing
    /// one, one or more), `**` zero or more, `{name}` one segment handed to the plugin.
    #[serde(rename = "match")]
    #[schemars(with = "OneOrMany")]
    pub patterns: Spanned<OneOrMany>,
    /// Only events from this `[sources.NAME]`.
    #[schemars(with = "Option<String>")]
    pub source: Option<Spanned<String>>,
    /// The `[plugins.NAME]` that turns the event into actions; without one, the body is
    /// forwarded as received.
    #[schemars(with = "Option<String>")]
    pub plugin: Option<Spanned<String>>,
    /// The route's destinations, `[destinations.NAME]` names.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub to: Vec<Spanned<String>>,
    /// JSON pointer → value (or list of values) the body must hold for the route to run.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>", extend("propertyNames" = js::pointer()))]
    pub filter: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    /// A JSON pointer into the body: deliveries sharing its value go out one at a time, in order.
    #[schemars(with = "Option<String>", pattern(js::POINTER))]
    pub order_by: Option<Spanned<String>>,
}

/// `concurrency = "adaptive"` or `concurrency = 8`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "\"adaptive\" or a number of requests")]
pub enum RawConcurrency {
    Fixed(u32),
    Mode(String),
}

impl JsonSchema for RawConcurrency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Concurrency".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`\"adaptive\"` or a fixed number of requests in flight (1–10000).",
            "anyOf": [
                { "type": "integer", "minimum": 1, "maximum": 10000 },
                { "type": "string", "enum": ["adaptive"] },
            ],
        })
    }
}

/// `match = "a/*"` or `match = ["a/*", "b/**"]`. (Untagged enums cannot hold `Spanned`
/// values, so errors point at the whole `match` value.)
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(description = "A scope pattern, or a list of them.")]
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
