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
//! From the bottom up; each floor imports only from the floors below it (and its own).
//! `tools/layers.txt` lists the same floors and `python3 tools/layers.py` checks the arrows.
//!
//! - Leaves anyone may use: [`event`] (an accepted webhook), [`metrics`] (lock-free counters),
//!   [`feed`] (what happens to events, as it happens: a bounded broadcast), [`tls`] (rustls for
//!   deliveries and listeners), [`http_error`], [`http_server`] (the listeners' connection loop),
//!   [`build_info`] (what `--version` and `/api/version` say), [`background`] (with
//!   `[server] ingest_first`, the runtimes dispatch and delivery run on, niced below ingest).
//! - [`config`]: routes.toml → a validated, immutable [`config::Config`] (no I/O beyond reading
//!   it; `config::defaults` says what an unwritten key is); [`scope`]: scopes, patterns and the
//!   routing trie.
//! - [`signature`]: HMAC, constant-time comparison, the replay window; [`routing`]: which
//!   routes an event takes — match, source, filter, order key — the one place that rule is
//!   written, for ingest, dispatch, `explain`, the console and `switchyard test`.
//! - [`standard_webhooks`]: the scheme both ways; [`telemetry`]: logging, and
//!   [`telemetry::Escaped`] for every outside value in a log line; [`trace_export`]: spans over
//!   OTLP/HTTP, one trace per event across gateways.
//! - [`queue`]: the durable store (SQLite, or PostgreSQL shared by several gateways): group
//!   commit, leases, each operation written once in SQL both backends take. [`providers`]: each
//!   platform's rules (verify, sign, sample) and BigCommerce's hook registrations
//!   (`providers::bigcommerce::hooks`).
//! - [`plugin`]: the wasmtime runtime, the only module that uses wasmtime; [`workers`]: the
//!   lease → ready → run loop dispatch and delivery share; [`renewal`]: lease renewal and
//!   hand-back; [`rates`]: accepted and delivered per interval; [`control`]: each destination's
//!   limits and breaker state; [`replay`]: which stored events to run again.
//! - [`reload`]: the [`reload::Reloader`], holding the live [`reload::Snapshot`] (config,
//!   routing table, providers, compiled plugins) behind `ArcSwap`; file watching.
//! - [`shared`]: the handles of one running gateway its parts share.
//! - The parts that serve, each reading [`shared::Shared`]: [`ingest`] (`POST /hooks/{source}`),
//!   [`dispatch`] (leased events → routes → plugin actions → deliveries), [`delivery`] (HTTP or
//!   broker publishes, retries, the breaker), [`hook_check`] (deactivated BigCommerce hooks
//!   reactivated while serving).
//! - [`admin`]: health, readiness, Prometheus `/metrics`, the JSON API, the live stream and the
//!   operator's console; it reads every part's state.
//! - [`app`]: wires the above into a running [`app::Gateway`]; [`cli`]: the commands.
//!
//! # Flow
//!
//! ```text
//! POST /hooks/{source} → body limit → provider.verify → store.append with its dedup key and
//!                        the ordered lanes routing gives it (group commit, fsync;
//!                        backlog full = 503) → 200
//! dispatch: event (handed off after its append, or leased) → routing.select → per route
//!           taken, in table order: plugin.call → actions → deliveries + emitted events
//!           committed with the event's new state
//! delivery: delivery (handed off, or leased) → control (rate, concurrency, pause) → POST or
//!           publish → delivered | retry at backoff(attempt) | dead letter
//! ```

pub mod admin;
pub mod app;
pub mod background;
pub mod build_info;
pub mod cli;
pub mod config;
pub mod control;
pub mod delivery;
pub mod dispatch;
pub mod event;
pub mod feed;
pub mod hook_check;
pub mod http_error;
pub mod http_server;
pub mod ingest;
pub mod metrics;
pub mod plugin;
pub mod providers;
pub mod queue;
pub mod rates;
pub mod reload;
pub mod renewal;
pub mod replay;
pub mod route_tests;
pub mod routing;
pub mod scope;
pub mod service_manager;
pub mod shared;
pub mod signature;
pub mod standard_webhooks;
pub mod telemetry;
pub mod tls;
pub mod trace_export;
pub mod workers;
