//! What a plugin instance may touch: its `HostState` and the imports offered as capabilities.
//!
//! `log` writes into the current event's tracing span under the plugin's name, escaped onto one
//! line, within a per-call budget; `config` reads the plugin's own table from routes.toml. WASI
//! is linked with an empty context: no environment, no arguments, no files, no sockets; stderr
//! goes to a capped capture (`stderr.rs`) that is logged. This file must never hand a plugin
//! anything that is not named in the WIT world.

use super::bindings::switchyard::plugin::{config, log, types};
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Log lines one call may write before the rest are dropped (with one warning).
const LOG_LINES_PER_CALL: u32 = 100;
/// Longest log line kept, in characters; longer ones are cut.
const LOG_LINE_MAX: usize = 4096;

/// What a plugin is, as far as its imports are concerned.
#[derive(Debug)]
pub struct PluginMeta {
    pub name: String,
    pub config: Vec<(String, String)>,
}

/// The state of one instance's `Store`: made fresh for every event, dropped after it.
pub struct HostState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: MemoryLimiter,
    pub(super) meta: Arc<PluginMeta>,
    pub(super) event_id: String,
    log_lines: u32,
}

impl HostState {
    pub(super) fn new(wasi: WasiCtx, meta: Arc<PluginMeta>, memory_bytes: u64, event_id: String) -> Self {
        let mut table = ResourceTable::new();
        table.set_max_capacity(1024);
        Self { wasi, table, limiter: MemoryLimiter::new(memory_bytes), meta, event_id, log_lines: 0 }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        self.log_lines += 1;
        if self.log_lines > LOG_LINES_PER_CALL {
            if self.log_lines == LOG_LINES_PER_CALL + 1 {
                tracing::warn!(plugin = %self.meta.name, event_id = %self.event_id, "plugin log budget spent; further lines dropped");
            }
            return;
        }
        // A plugin's text is data: one escaped line, cut at LOG_LINE_MAX characters.
        let message = crate::telemetry::Escaped::cut(&message, LOG_LINE_MAX);
        let plugin = self.meta.name.as_str();
        let event_id = self.event_id.as_str();
        match level {
            log::Level::Trace => tracing::trace!(target: "plugin", plugin, event_id, "{message}"),
            log::Level::Debug => tracing::debug!(target: "plugin", plugin, event_id, "{message}"),
            log::Level::Info => tracing::info!(target: "plugin", plugin, event_id, "{message}"),
            log::Level::Warn => tracing::warn!(target: "plugin", plugin, event_id, "{message}"),
            log::Level::Error => tracing::error!(target: "plugin", plugin, event_id, "{message}"),
        }
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.meta.config.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }

    fn all(&mut self) -> Vec<(String, String)> {
        self.meta.config.clone()
    }
}

/// Caps each linear memory at the plugin's `memory_mb` and remembers whether it had to refuse,
/// so a trap that follows (a guest aborting on allocation failure) is reported as a memory cap.
pub struct MemoryLimiter {
    max_bytes: usize,
    pub(super) refused: bool,
}

impl MemoryLimiter {
    fn new(max_bytes: u64) -> Self {
        Self { max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX), refused: false }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        let allowed = desired <= self.max_bytes;
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        Ok(desired <= 100_000)
    }
}
