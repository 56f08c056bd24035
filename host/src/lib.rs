//! Switchyard: an edge gateway for webhooks.
//!
//! Platforms POST webhooks to `/hooks/{source}`; Switchyard verifies each one the way its
//! platform signs it, acknowledges it, matches its scope against the routing table in
//! routes.toml, runs the matching routes' sandboxed WebAssembly plugins, and delivers what they
//! produce to HTTP destinations. Editing routes.toml or replacing a plugin takes effect live.
//!
//! # Layout
//!
//! - [`config`]: routes.toml → a validated, immutable [`config::Config`] (no I/O beyond reading it).
//! - [`scope`]: scopes, patterns and the routing trie.
//! - [`sources`]: the ingest endpoint and one provider per platform (signatures, scope, id).
//! - [`plugin`]: the wasmtime runtime — the only module that uses wasmtime.
//! - [`reload`]: the live [`reload::Snapshot`] behind `ArcSwap`, file watching, reload status.
//! - [`dispatch`]: queued events → matching routes → plugin actions → deliveries.
//! - [`delivery`]: HTTP POSTs to destinations, signed with Standard Webhooks headers.
//! - [`metrics`]: lock-free counters; [`admin`]: health, readiness, Prometheus `/metrics`, JSON API.
//! - [`app`]: wires the above into a running [`app::Gateway`]; [`cli`]: the commands.
//!
//! # Flow
//!
//! ```text
//! POST /hooks/{source} → body limit → provider.verify → dedup → store (full = 503) → 200
//! dispatch: event → snapshot.matcher → per route, in table order: plugin.call → actions
//!           forward → outbox → delivery (POST) ; emit → routed again ; drop → logged
//! ```

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod event;
pub mod http_error;
pub mod metrics;
pub mod plugin;
pub mod queue;
pub mod reload;
pub mod scope;
pub mod sources;
pub mod telemetry;
pub mod workers;
