//! What a routes.toml key is when it is not written: every default in one place, each with why
//! it is that. Plain constants; the config stage and the reference read them.

/// Ingest on every interface: platforms must reach it.
pub const LISTEN: &str = "0.0.0.0:8080";
/// The admin listener on loopback only, where it needs no token.
pub const ADMIN: &str = "127.0.0.1:9090";
/// Larger than any platform's webhook (BigCommerce's are thin; Stripe's are < 256 KiB).
pub const MAX_BODY: usize = 1 << 20;
/// Events handled at once. Plugin calls are async and cheap to hold; what bounds throughput
/// is the store's commit latency, so many events in flight keep group commits full.
pub const WORKERS: u64 = 128;
/// A plugin's own compute per event: a JSON reshape takes well under a millisecond.
pub const PLUGIN_TIMEOUT_MS: u64 = 50;
/// Linear memory per instance: a Rust plugin needs one or two; JS and Python ten or so.
pub const PLUGIN_MEMORY_MB: u64 = 32;
/// The most memory one plugin instance may be given; the pooling allocator reserves for it.
pub const PLUGIN_MEMORY_MB_MAX: u64 = 1024;
/// Bytes of actions one call may return: far above any reshaped webhook.
pub const PLUGIN_MAX_OUTPUT: u64 = 1 << 20;
/// Enough for any fan-out a handler means (an order split into its line items), far below
/// what a plugin emitting its own scope would set off (10 per call is 10⁸ at depth 8).
pub const PLUGIN_MAX_EMITS: u32 = 100;
/// An API that has not answered within 10 s is better retried later.
pub const FETCH_TIMEOUT_MS: u64 = 10_000;
/// Requests per call: an order and a few pages of its lines.
pub const MAX_FETCHES: u64 = 10;
/// Bytes of one answer a plugin may read.
pub const MAX_FETCH_BODY: u64 = 4 << 20;
/// The whole call, waiting included.
pub const CALL_TIMEOUT_MS: u64 = 30_000;
/// One value under one key.
pub const KV_MAX_VALUE: u64 = 64 << 10;
/// Keys one plugin keeps in all.
pub const KV_MAX_KEYS: u64 = 100_000;
/// One call's writes: enough for any plugin that keeps state per event, small enough that
/// one event's commit holds the store's writer for milliseconds, not seconds.
pub const KV_MAX_WRITES: u64 = 1_000;
/// Bytes one call's writes hold until they are committed.
pub const KV_MAX_PENDING: u64 = 1 << 20;
/// Events one reused instance serves before a fresh one replaces it.
pub const REUSE_MAX: u64 = 1_000;
/// A receiver that has not answered within 5 s is better tried again later.
pub const DESTINATION_TIMEOUT_MS: u64 = 5_000;
/// The highest an adaptive concurrency limit goes: the delivery loop's own bound on requests in
/// flight across destinations.
pub const CONCURRENCY_MAX: u32 = 256;
/// Enough failures in a row that a destination is down, not flaky.
pub const PAUSE_AFTER: u32 = 20;
/// How often a paused destination is tried with one delivery.
pub const PROBE_EVERY_SECS: u64 = 30;
/// The replay window where a platform signs a timestamp: what the Standard Webhooks and
/// Stripe libraries use (5 minutes).
pub const TOLERANCE_SECS: i64 = 300;
/// A day: platforms retry a delivery whose answer was lost within minutes to hours.
pub const DEDUP_WINDOW_SECS: u64 = 86_400;
/// BigCommerce's management API.
pub const BIGCOMMERCE_API: &str = "https://api.bigcommerce.com";
/// How often a serving gateway checks its registered hooks.
pub const SUBSCRIPTIONS_CHECK_EVERY_SECS: u64 = 600;
/// The embedded store, beside routes.toml.
pub const STORAGE_URL: &str = "sqlite://switchyard.db";
/// Delivered work is kept a week, for the console and for replays.
pub const RETENTION_HOURS: u64 = 7 * 24;
/// How soon work a silent gateway held passes to the others.
pub const LEASE_SECS: u64 = 15;
