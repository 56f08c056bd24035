//! The one wasmtime `Engine` of the process, its epoch ticker and the `Linker` with the host's
//! imports, all made once at start.
//!
//! The engine uses the pooling allocator (instantiation in microseconds) when the machine lets
//! it reserve the address space, and falls back to on-demand allocation, with a warning, when it
//! does not. A semaphore holds concurrent instances under the pool's size, because an exhausted
//! pool is an error, not a wait. This file must never compile plugins or run them: see
//! `instance.rs` for that.

use super::bindings::{v1, v2, v3};
use super::host::HostState;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of plugin deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Concurrent plugin instances the pool is sized for.
const SLOTS: u32 = 128;

/// The largest linear memory any plugin may grow to (`memory_mb` is checked against it).
const MAX_MEMORY: usize = 1 << 30;

/// The shared engine, linker and instance budget.
pub struct PluginEngine {
    pub(super) engine: Engine,
    pub(super) linker: Linker<HostState>,
    pub(super) slots: Arc<Semaphore>,
    /// TLS for plugins' outbound requests (HTTP/1.1 only, the default roots).
    pub(super) fetch_tls: Arc<rustls::ClientConfig>,
    /// The gateway's own listeners, which plugins' requests never reach.
    pub(super) own: Arc<super::fetch::OwnListeners>,
    pooling: bool,
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEngine").field("pooling", &self.pooling).finish_non_exhaustive()
    }
}

impl PluginEngine {
    /// Makes the engine, preferring the pooling allocator, and starts its epoch ticker.
    pub fn new() -> wasmtime::Result<Arc<Self>> {
        let (engine, pooling) = match Engine::new(&config(true)) {
            Ok(engine) => (engine, true),
            Err(e) => {
                tracing::warn!(error = %e, "pooling allocator unavailable, using on-demand instantiation");
                (Engine::new(&config(false))?, false)
            }
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        v1::Handler::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        {
            use v2::switchyard::plugin::{config, kv, log, types};
            types::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
            log::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
            config::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
            kv::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        }
        {
            use v3::switchyard::plugin::{config, kv, log, types};
            types::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
            log::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
            config::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
            kv::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        }
        start_epoch_ticker(&engine);
        let fetch_tls = Arc::new(crate::tls::fetch_client_config().map_err(|e| wasmtime::format_err!("{e}"))?);
        let slots = Arc::new(Semaphore::new(SLOTS as usize));
        let own = Arc::default();
        Ok(Arc::new(Self { engine, linker, slots, fetch_tls, own, pooling }))
    }

    /// Names the gateway's own listeners (ingest, admin): no plugin request reaches them,
    /// whatever a plugin's `allowed_hosts` say.
    pub fn guard_listeners(&self, addrs: &[std::net::SocketAddr]) {
        self.own.set(addrs);
    }

    /// Whether instances come from the pooling allocator.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// The largest `memory_mb` a plugin may ask for.
    pub fn max_memory_bytes() -> u64 {
        MAX_MEMORY as u64
    }

    /// A fingerprint of everything that makes compiled artifacts compatible with this engine.
    pub fn compatibility_hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        h.finish()
    }
}

fn config(pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if pooling {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(SLOTS)
            // A Python component instantiates 14 core instances (interpreter, libc, adapters),
            // a JavaScript one 4, a Rust one 1–3: 16 per slot lets any of them fill the pool.
            .total_core_instances(SLOTS * 16)
            .total_memories(SLOTS * 2)
            .total_tables(SLOTS * 4)
            .total_stacks(SLOTS)
            .max_memory_size(MAX_MEMORY)
            // Keeping a little memory resident and batching decommits removes most of the
            // kernel VM work (madvise calls and the TLB shootdowns they cause) that otherwise
            // limits multi-core throughput: a bare wasmtime 48 host measured 16–18k
            // instantiate-call-teardown cycles/s on 64 tasks with the pool's defaults, 24–27k
            // with these settings (at 1 MiB resident). "Resident" memory is memset on every instance's teardown,
            // though: at 1 MiB that memset was 15% of a core in our end-to-end profile, so
            // keep only the first 128 KiB.
            .linear_memory_keep_resident(128 << 10)
            .table_keep_resident(64 << 10)
            .async_stack_keep_resident(64 << 10)
            .decommit_batch_size(32);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a plain thread, which ends by itself
/// once the engine is dropped (it holds only a weak reference).
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new().name("wasm-epoch".into()).spawn(move || {
        while let Some(engine) = weak.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(EPOCH_TICK);
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the epoch thread: plugin deadlines will not fire");
    }
}
