//! What a plugin instance may touch: its `HostState` and the imports offered as capabilities.
//!
//! `log` writes into the current event's tracing span under the plugin's name, escaped onto one
//! line, within a per-call budget, and keeps the first lines for the event's history; `config` reads the plugin's own table from routes.toml; `kv`
//! (`kv.rs`) is the plugin's own state; outbound HTTP goes through `http.rs`'s policy. WASI is
//! linked with an empty context: no environment, no arguments, no files, no sockets; stderr
//! goes to a capped capture (`stderr.rs`) that is logged. This file must never hand a plugin
//! anything that is not named in the WIT world.

use super::bindings::{v1, v2, v3};
use super::fetch::Fetcher;
use super::kv::KvSession;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Nanoseconds of the call that were not the guest's compute: every import's span (the
    /// store's call hook adds them: waiting for an answer's head or its body, for the store, for
    /// anything), and the time the guest spent yielded to other tasks (`instance.rs`).
    pub(super) not_compute: Arc<AtomicU64>,
    /// Since when the host has been running (an import, or the host's part of one that called
    /// back into the guest), and how deeply imports are nested.
    pub(super) entered: Option<std::time::Instant>,
    pub(super) depth: u32,
    /// Set when the deadline stopped the guest because the whole call passed
    /// `call_timeout_ms`, rather than its compute passing `timeout_ms`.
    pub(super) out_of_call_time: bool,
}

impl CallState {
    pub(super) fn new(event_id: Arc<str>, kept: Arc<super::KeptLog>, fetcher: Fetcher, kv: KvSession) -> Self {
        let (not_compute, entered, depth, out_of_call_time) = (Arc::default(), None, 0, false);
        Self { event_id, log_lines: 0, kept, fetcher, kv, not_compute, entered, depth, out_of_call_time }
    }

    /// Time of the call that was not the guest's compute so far, the import open now included.
    pub(super) fn not_compute(&self) -> std::time::Duration {
        let open = self.entered.map(|at| at.elapsed()).unwrap_or_default();
        std::time::Duration::from_nanos(self.not_compute.load(Ordering::Relaxed)) + open
    }

    /// Counts the time spent in imports, as wasmtime enters and leaves them. An import may call
    /// back into the guest (lowering a list calls its allocator, whose `memory.grow` is an import
    /// again): the guest's code run meanwhile is compute, so it pauses the count.
    pub(super) fn hook(&mut self, hook: wasmtime::CallHook) {
        use wasmtime::CallHook::*;
        match hook {
            CallingHost => {
                self.pause_host();
                self.entered = Some(std::time::Instant::now());
                self.depth += 1;
            }
            ReturningFromHost => {
                self.pause_host();
                self.depth = self.depth.saturating_sub(1);
                if self.depth > 0 {
                    self.entered = Some(std::time::Instant::now());
                }
            }
            CallingWasm => self.pause_host(),
            ReturningFromWasm if self.depth > 0 => self.entered = Some(std::time::Instant::now()),
            ReturningFromWasm => {}
        }
    }

    /// Adds the host's time since `entered` to what is not compute.
    fn pause_host(&mut self) {
        if let Some(entered) = self.entered.take() {
            let nanos = u64::try_from(entered.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.not_compute.fetch_add(nanos, Ordering::Relaxed);
        }
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
