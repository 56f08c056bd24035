//! What a plugin instance may touch: its `HostState` and the imports offered as capabilities.
//!
//! `log` writes into the current event's tracing span under the plugin's name, escaped onto one
//! line, within a per-call budget, and keeps the first lines for the event's history; `config` reads the plugin's own table from routes.toml; `kv`
//! (`kv.rs`) is the plugin's own state; outbound HTTP goes through `http.rs`'s policy. WASI is
//! linked with an empty context: no environment, no arguments, no files, no sockets; stderr
//! goes to a capped capture (`stderr.rs`) that is logged. This file must never hand a plugin
//! anything that is not named in the WIT world.

use super::bindings::{v1, v2, v3};
use super::http::Fetcher;
use super::kv::KvSession;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Log lines one call may write before the rest are dropped (with one warning).
const LOG_LINES_PER_CALL: u32 = 100;
/// Longest log line kept, in characters; longer ones are cut.
const LOG_LINE_MAX: usize = 4096;

/// What a plugin is, as far as its imports are concerned.
#[derive(Debug)]
pub struct PluginMeta {
    pub name: Arc<str>,
    pub config: Vec<(String, String)>,
}

/// The state of one instance's `Store`: made with the instance, dropped with it.
pub struct HostState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: MemoryLimiter,
    pub(super) meta: Arc<PluginMeta>,
    pub(super) http: WasiHttpCtx,
    /// What belongs to the call in progress: replaced at every call.
    pub(super) call: CallState,
}

/// The part of the state that belongs to one call: its event, its log budget, its requests
/// and its key–value view.
pub struct CallState {
    pub(super) event_id: Arc<str>,
    pub(super) log_lines: u32,
    /// The first lines, kept with the event (the caller reads them after the call).
    pub(super) kept: Arc<super::KeptLog>,
    pub(super) fetcher: Fetcher,
    pub(super) kv: KvSession,
}

impl CallState {
    /// Time the call spent waiting (for its requests' answers and its key–value reads).
    pub(super) fn waited(&self) -> std::time::Duration {
        self.fetcher.log().waited() + self.kv.waited()
    }
}

impl HostState {
    pub(super) fn new(wasi: WasiCtx, meta: Arc<PluginMeta>, memory_bytes: u64, call: CallState) -> Self {
        let mut table = ResourceTable::new();
        table.set_max_capacity(1024);
        let limiter = MemoryLimiter::new(memory_bytes);
        Self { wasi, table, limiter, meta, http: WasiHttpCtx::new(), call }
    }

    /// Writes one line of the plugin's log into the host's, escaped, within the call's budget.
    fn log(&mut self, level: tracing::Level, message: &str) {
        self.call.log_lines += 1;
        let (plugin, event_id) = (&*self.meta.name, &*self.call.event_id);
        if self.call.log_lines > LOG_LINES_PER_CALL {
            if self.call.log_lines == LOG_LINES_PER_CALL + 1 {
                tracing::warn!(plugin, event_id, "plugin log budget spent; further lines dropped");
            }
            return;
        }
        self.call.kept.keep(level_name(level), message);
        // A plugin's text is data: one escaped line, cut at LOG_LINE_MAX characters.
        let message = crate::telemetry::Escaped::cut(message, LOG_LINE_MAX);
        match level {
            tracing::Level::TRACE => tracing::trace!(target: "plugin", plugin, event_id, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(target: "plugin", plugin, event_id, "{message}"),
            tracing::Level::INFO => tracing::info!(target: "plugin", plugin, event_id, "{message}"),
            tracing::Level::WARN => tracing::warn!(target: "plugin", plugin, event_id, "{message}"),
            _ => tracing::error!(target: "plugin", plugin, event_id, "{message}"),
        }
    }

    fn config_get(&self, key: &str) -> Option<String> {
        self.meta.config.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }
}

fn level_name(level: tracing::Level) -> &'static str {
    match level {
        tracing::Level::TRACE => "trace",
        tracing::Level::DEBUG => "debug",
        tracing::Level::INFO => "info",
        tracing::Level::WARN => "warn",
        _ => "error",
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.call.fetcher }
    }
}

/// Every version of the contract offers the same `log` and `config`.
macro_rules! log_and_config {
    ($v:ident) => {
        impl $v::switchyard::plugin::types::Host for HostState {}

        impl $v::switchyard::plugin::log::Host for HostState {
            fn log(&mut self, level: $v::switchyard::plugin::log::Level, message: String) {
                use $v::switchyard::plugin::log::Level;
                let level = match level {
                    Level::Trace => tracing::Level::TRACE,
                    Level::Debug => tracing::Level::DEBUG,
                    Level::Info => tracing::Level::INFO,
                    Level::Warn => tracing::Level::WARN,
                    Level::Error => tracing::Level::ERROR,
                };
                HostState::log(self, level, &message);
            }
        }

        impl $v::switchyard::plugin::config::Host for HostState {
            fn get(&mut self, key: String) -> Option<String> {
                self.config_get(&key)
            }

            fn all(&mut self) -> Vec<(String, String)> {
                self.meta.config.clone()
            }
        }
    };
}

log_and_config!(v1);
log_and_config!(v2);
log_and_config!(v3);

/// Caps each linear memory at the plugin's `memory_mb` and remembers whether it had to refuse,
/// so a trap that follows (a guest aborting on allocation failure) is reported as a memory cap.
pub struct MemoryLimiter {
    max_bytes: usize,
    pub(super) refused: bool,
    /// The largest linear memory granted so far, in bytes.
    pub(super) peak: usize,
}

impl MemoryLimiter {
    fn new(max_bytes: u64) -> Self {
        Self { max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX), refused: false, peak: 0 }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        let allowed = desired <= self.max_bytes;
        self.refused |= !allowed;
        if allowed {
            self.peak = self.peak.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        Ok(desired <= 100_000)
    }
}
