//! Logging setup: `tracing` with human-readable lines by default, JSON with `--log-format json`.
//!
//! The filter comes from `RUST_LOG`, defaulting to `info` for Switchyard and plugin logs and
//! `warn` for dependencies. Span and field names used across modules: `event` (event_id,
//! source, scope), `route` (route, plugin), `delivery` (delivery_id, destination).

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,switchyard=info,plugin=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
}

/// For tests: lines go through the test harness (shown only for failing tests), filtered by
/// `RUST_LOG` (default `warn`). A second call is a no-op.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}
