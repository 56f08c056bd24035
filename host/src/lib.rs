//! Switchyard: an edge gateway for webhooks.
//!
//! Platforms POST webhooks to `/hooks/{source}`; Switchyard verifies each one the way its
//! platform signs it, acknowledges it, matches its scope against the routing table in
//! routes.toml, runs the matching routes' sandboxed WebAssembly plugins, and delivers what they
//! produce to HTTP destinations or message brokers. Editing routes.toml or replacing a plugin
//! takes effect live.
//!
//! # Layout
//!
//! - [`config`]: routes.toml → a validated, immutable [`config::Config`] (no I/O beyond reading
//!   it), and the plain data the layers above read: provider kinds and settings with their one
//!   check ([`config::provider`]), Standard Webhooks secrets ([`config::WhsecKey`]), header rules,
//!   broker name templates ([`config::template`]).
//! - [`scope`]: scopes, patterns and the routing trie.
//! - [`signature`]: HMAC, constant-time comparison, the replay window, hex/base64 (a leaf).
//! - [`standard_webhooks`]: the Standard Webhooks scheme both ways, sources verifying and
//!   deliveries signing with the same code.
//! - [`sources`]: the ingest endpoint and one provider per platform, each owning its
//!   signature, scope, id and sample webhook (`switchyard send`).
//! - [`plugin`]: the wasmtime runtime — the only module that uses wasmtime.
//! - [`reload`]: the [`reload::Reloader`], holding the live [`reload::Snapshot`] behind
//!   `ArcSwap`; file watching, reload status.
//! - [`queue`]: the durable store (SQLite, or PostgreSQL shared by several gateways): events,
//!   deliveries, dead letters, dedup keys; one writer thread per store, group commit; each
//!   operation written once in SQL both backends take; fresh work written already leased and
//!   handed to its loop in memory (`queue::handoff`); every lease names the gateway holding it.
//! - [`renewal`]: this gateway's heartbeat and lease renewal while it runs, and the hand-back
//!   of its leases when it stops (several gateways share a PostgreSQL store).
//! - [`dispatch`]: leased events → matching routes → plugin actions → deliveries.
//! - [`delivery`]: HTTP POSTs to destinations, signed with Standard Webhooks headers, or
//!   publishes to NATS JetStream, RabbitMQ, Redis Streams and MQTT (`delivery::brokers`);
//!   retries, limits and the breaker.
//! - [`subscriptions`]: BigCommerce's registered hooks kept in step with the routes (`plan`,
//!   `apply`), and deactivated ones reactivated while serving.
//! - [`workers`]: the lease → ready → run loop dispatch and delivery share, each as a
//!   [`workers::Work`].
//! - [`metrics`]: lock-free counters; [`rates`]: accepted and delivered per interval over the
//!   last 15 minutes, sampled from them; [`feed`]: what happens to events as it happens (a
//!   bounded broadcast ingest, dispatch and delivery publish to).
//! - [`admin`]: health, readiness, Prometheus `/metrics`, the JSON API, the live stream
//!   (`/api/stream`, which `switchyard tail` reads) and the operator's console (`admin::console`,
//!   server-rendered HTML with its assets embedded).
//! - [`explain`]: which routes a scope matches and why, for `switchyard explain` and the console.
//! - [`http_server`]: the listeners' connection loop (plain or TLS, HTTP/1.1 and HTTP/2);
//!   [`tls`]: rustls for HTTPS deliveries and TLS listeners; [`telemetry`]: logging, and
//!   [`telemetry::Escaped`] for every outside value in a log line; [`trace_export`]: spans over
//!   OTLP/HTTP, one trace per event across gateways.
//! - [`app`]: wires the above into a running [`app::Gateway`]; [`cli`]: the commands (only I/O:
//!   `send` asks the provider for its sample).
//!
//! # Who imports whom
//!
//! ```text
//! config → scope                          (the bottom: no tokio, axum, reqwest or wasmtime)
//! signature → config                      standard_webhooks → signature, config
//! sources → standard_webhooks, signature, config, queue, reload
//! delivery → standard_webhooks, config, queue, reload
//! dispatch → plugin, config, queue, reload, delivery::retry (backoff)
//! dispatch, delivery → workers → queue;  event, metrics, feed, telemetry are leaves anyone may use
//! admin → queue, reload, delivery::control, metrics, rates, feed, explain
//! renewal → queue, metrics;  trace_export → tls, config (sources, dispatch, delivery use it)
//! reload → config, scope, plugin, sources (a snapshot's providers)
//! subscriptions → config, scope, reload, metrics, tls
//! app, cli → everything (the only places that wire things together)
//! ```
//!
//! # Flow
//!
//! ```text
//! POST /hooks/{source} → body limit → provider.verify → store.append with its dedup key
//!                        (group commit, fsync; backlog full = 503) → 200
//! dispatch: event (handed off after its append, or leased) → snapshot.matcher → per route,
//!           in table order: plugin.call → actions → deliveries + emitted events committed
//!           with the event's new state
//! delivery: delivery (handed off, or leased) → POST or publish → delivered
//!           | retry at backoff(attempt) | dead letter
//! ```

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod event;
pub mod explain;
pub mod feed;
pub mod http_error;
pub mod http_server;
pub mod metrics;
pub mod plugin;
pub mod queue;
pub mod rates;
pub mod reload;
pub mod renewal;
pub mod replay;
pub mod scope;
pub mod signature;
pub mod sources;
pub mod standard_webhooks;
pub mod subscriptions;
pub mod telemetry;
pub mod tls;
pub mod trace_export;
pub mod workers;
