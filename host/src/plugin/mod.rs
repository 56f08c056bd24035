//! The plugin runtime: the only module that uses wasmtime.
//!
//! - `engine.rs`: the one `Engine` (pooling allocator, epoch interruption), its ticker, the `Linker`.
//! - `host.rs`: the imports a plugin gets (log, config) and the per-store state and memory cap.
//! - `fetch/`: outbound HTTP (`wasi:http`), decided request by request by the plugin's policy
//!   (`policy.rs`), on connections checked as they are made (`connect.rs`).
//! - `kv.rs`: the plugin's key–value state during a call; its writes go back with the outcome.
//! - `kept_log.rs`: the first lines a call logged, kept with its event for the console.
//! - `versions.rs`: the contract versions run side by side (0.1.0, 0.2.0, 0.3.0).
//! - `instance.rs`: compile + link once; per event, a fresh instance with deadline and caps.
//! - `cache.rs`: compiled components on disk, keyed by content hash and engine compatibility.
//! - `stderr.rs`: a plugin's stderr, kept up to a cap and never a reason to trap.
//! - `bindings.rs`: `bindgen!` output for each version of the contract in `wit/`.
//!
//! Everything that can go wrong in a call comes back as a [`PluginError`] for that event alone;
//! nothing a plugin does can take the process down.

mod bindings;
mod cache;
mod engine;
pub mod fetch;
mod host;
mod instance;
mod kept_log;
pub mod kv;
mod stderr;
mod versions;

/// What a plugin is called with is the contract's `event`: named `PluginEvent` here, apart
/// from the gateway's own [`crate::event::Event`] it is made from.
pub use bindings::v3::switchyard::plugin::types::{Action, Emit, Event as PluginEvent, Forward};
pub use cache::{CacheOutcome, ComponentCache};
pub use engine::PluginEngine;
pub use fetch::{FetchLog, FetchOutcome, FetchRecord, FixtureError, HttpFixture};
pub use instance::{CallContext, CallOutcome, CompiledPlugin};
pub use kept_log::{KeptLine, KeptLog};
pub use kv::{KvReader, MemoryKv, StoreKv};

use std::path::PathBuf;
use std::time::Duration;

/// Why one call of a plugin produced no actions.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PluginError {
    /// The guest ran past `timeout_ms` (an endless loop, or just too slow).
    #[error("timed out after {after:?}")]
    Timeout { after: Duration },
    /// The whole call, waiting included, ran past `call_timeout_ms` (a slow upstream, usually):
    /// the event is tried again later.
    #[error("took longer than call_timeout_ms ({after:?}) in all, waiting included; tried again later")]
    CallTimeout { after: Duration },
    /// The guest tried to grow its memory past `memory_mb`.
    #[error("exceeded its memory cap of {} MiB", limit >> 20)]
    MemoryExceeded { limit: u64 },
    /// The guest trapped: a panic, `unreachable`, a bad memory access…
    #[error("trapped: {message}{}", if stderr.is_empty() { String::new() } else { format!(" (stderr: {stderr})") })]
    Trap { message: String, stderr: String },
    /// The actions returned were larger than `max_output`.
    #[error("returned {} of actions, over its cap of {limit} bytes", size.map_or("too many bytes".into(), |s| format!("{s} bytes")))]
    OutputTooLarge { size: Option<u64>, limit: u64 },
    /// The plugin asked to be called again later.
    #[error("asked to retry later: {0}")]
    RetryLater(String),
    /// The plugin said the event can never be handled.
    #[error("failed the event: {0}")]
    Failed(String),
}

impl PluginError {
    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Timeout { .. } => "timeout",
            PluginError::CallTimeout { .. } => "call_timeout",
            PluginError::MemoryExceeded { .. } => "memory",
            PluginError::Trap { .. } => "trap",
            PluginError::OutputTooLarge { .. } => "output",
            PluginError::RetryLater(_) => "retry_later",
            PluginError::Failed(_) => "failed",
        }
    }
}

/// A plugin that could not be loaded: unreadable, not a component, or not fitting the world.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("plugin `{plugin}` ({}): {message}", path.display())]
pub struct LoadError {
    pub plugin: String,
    pub path: PathBuf,
    pub message: String,
}

/// SHA-256 of a component's bytes.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
