//! A compiled plugin and one call of it: fresh `Store`, memory cap, deadline, output cap, and
//! the call's capabilities (its key–value view, its request policy).
//!
//! Compilation and the link check (`instantiate_pre`) happen once, when a snapshot is built;
//! a plugin importing something the host does not offer fails there, never per event. Each
//! call instantiates from the `InstancePre` into a new store, runs `handle` under an epoch
//! deadline (plus a wall-clock guard for host time), and classifies any failure. Nothing
//! here decides what to do with the actions: that is `dispatch`'s job.

use super::bindings::v3::switchyard::plugin::types;
use super::engine::PluginEngine;
use super::fetch::{FetchClient, FetchLog, FetchPolicy, Fetcher};
use super::host::{CallState, HostState, PluginMeta};
use super::kv::{KvLimits, KvReader, KvSession};
use super::stderr::CapturedStderr;
use super::versions::{Bound, Pre};
use super::{LoadError, PluginError};
use crate::config::model::{Instances, PluginSpec};
use crate::queue::KvWrite;
use crate::telemetry::{Escaped, one_line};
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::Component;
use wasmtime::{Store as WasmStore, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

/// How much of a plugin's stderr (a panic message, usually) is kept for the log and the error
/// report; the rest is counted and dropped.
const STDERR_CAPTURE: usize = 4096;

/// Data one guest→host crossing may move at least: wasmtime counts it as "hostcall fuel",
/// both for import arguments (log lines) and for `handle`'s return value, so it is raised to
/// the plugin's `max_output` and its exhaustion reported as an output overflow.
const HOSTCALL_FUEL_MIN: usize = 256 << 10;

/// What wasmtime says when hostcall fuel runs out (it has no distinct error type for it).
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// What a call may use besides its event: where its plugin's state is read from, and where
/// its requests and its memory are recorded (read by the caller after the call, whatever its
/// outcome).
#[derive(Clone, Default)]
pub struct CallContext {
    pub kv: Option<Arc<dyn KvReader>>,
    pub fetches: Arc<FetchLog>,
    /// The largest linear memory the instance had, in bytes.
    pub peak_memory: Arc<std::sync::atomic::AtomicU64>,
    /// The first lines the plugin logged (and printed to stderr), for the event's history.
    pub log: Arc<super::KeptLog>,
    /// Answers for the plugin's requests instead of the network (tests only).
    pub http_fixture: Option<Arc<super::fetch::HttpFixture>>,
}

/// What a call that succeeded produced.
#[derive(Debug)]
pub struct CallOutcome {
    pub actions: Vec<types::Action>,
    /// Key–value writes to commit with the event's outcome.
    pub kv: Vec<KvWrite>,
}

/// Idle instances one plugin keeps at most (`instances = "reuse"`); each holds an instance
/// slot of the engine's pool.
const MAX_IDLE: usize = 8;

/// An instance with its store, between two events of a plugin that reuses instances.
struct Warm {
    store: WasmStore<HostState>,
    bound: Bound,
    stderr: CapturedStderr,
    served: u32,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// A plugin ready to run: compiled, linked and pre-instantiated.
pub struct CompiledPlugin {
    /// Instances kept for the next event (`instances = "reuse"` only).
    idle: std::sync::Mutex<Vec<Warm>>,
    engine: Arc<PluginEngine>,
    pre: Pre,
    fetch: Arc<FetchClient>,
    /// Kept so a reload that changes only the plugin's settings relinks without recompiling.
    component: Component,
    meta: Arc<PluginMeta>,
    spec: PluginSpec,
    /// SHA-256 of the `.wasm` bytes: unchanged bytes are not recompiled on reload.
    digest: [u8; 32],
}

impl std::fmt::Debug for CompiledPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPlugin").field("name", &self.meta.name).finish_non_exhaustive()
    }
}

impl CompiledPlugin {
    /// Compiles `bytes` for `spec`, checking that its imports are all offered by the host.
    pub fn new(engine: &Arc<PluginEngine>, spec: &PluginSpec, bytes: &[u8]) -> Result<Self, LoadError> {
        let fail = |message: String| LoadError { plugin: spec.name.clone(), path: spec.path.clone(), message };
        let component =
            Component::new(&engine.engine, bytes).map_err(|e| fail(format!("not a valid component: {e:#}")))?;
        Self::from_component(engine, spec, component, super::digest(bytes))
    }

    /// Links an already compiled component (from the cache or from `new`).
    pub(super) fn from_component(
        engine: &Arc<PluginEngine>,
        spec: &PluginSpec,
        component: Component,
        digest: [u8; 32],
    ) -> Result<Self, LoadError> {
        let fail = |message: String| LoadError { plugin: spec.name.clone(), path: spec.path.clone(), message };
        if spec.memory_bytes > PluginEngine::max_memory_bytes() {
            return Err(fail(format!(
                "memory_mb is over the host's maximum of {} MiB",
                PluginEngine::max_memory_bytes() >> 20
            )));
        }
        let pre = engine
            .linker
            .instantiate_pre(&component)
            .and_then(Pre::new)
            .map_err(|e| fail(format!("does not fit the host's `handler` world: {e:#}")))?;
        let meta = Arc::new(PluginMeta { name: spec.name.as_str().into(), config: spec.config.clone() });
        let policy = FetchPolicy {
            allowed: spec.allowed_hosts.clone(),
            timeout: spec.fetch_timeout,
            max_fetches: spec.max_fetches,
            max_body: spec.max_fetch_body,
        };
        let fetch = Arc::new(FetchClient::new(policy, engine.fetch_tls.clone(), engine.own.clone()));
        let idle = std::sync::Mutex::default();
        Ok(Self { idle, engine: engine.clone(), pre, fetch, component, meta, spec: spec.clone(), digest })
    }

    /// The same code with new settings (config, limits): relinked, not recompiled.
    pub fn with_spec(&self, spec: &PluginSpec) -> Result<Self, LoadError> {
        Self::from_component(&self.engine, spec, self.component.clone(), self.digest)
    }

    pub fn name(&self) -> &str {
        &self.meta.name
    }

    pub fn spec(&self) -> &PluginSpec {
        &self.spec
    }

    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// The contract version the plugin was built against (`0.1.0`, `0.2.0` or `0.3.0`).
    pub fn contract(&self) -> &'static str {
        self.pre.version()
    }

    /// Runs `handle(event)` and returns its actions and key–value writes: in a fresh instance,
    /// or with `instances = "reuse"` in one that served earlier events (made fresh when there
    /// is none idle).
    ///
    /// `timeout_ms` bounds the plugin's compute: time it spends in imports (waiting for its
    /// requests, their bodies, its key–value reads) is not counted, and `call_timeout_ms`
    /// bounds the whole call on the wall clock; a call stopped by it is tried again later.
    pub async fn call(&self, event: &types::Event, ctx: CallContext) -> Result<CallOutcome, PluginError> {
        let event_id: Arc<str> = event.id.as_str().into();
        let fetcher = Fetcher::new(self.fetch.clone(), ctx.fetches, self.meta.name.clone(), event_id.clone())
            .answering_from(ctx.http_fixture);
        let limits = KvLimits {
            max_value: self.spec.kv_max_value,
            max_keys: self.spec.kv_max_keys,
            max_writes: self.spec.kv_max_writes,
            max_pending: self.spec.kv_max_pending,
        };
        let kv = KvSession::new(self.meta.name.clone(), ctx.kv, limits);
        let call = CallState::new(event_id, ctx.log.clone(), fetcher, kv);

        // Epochs stop guest code (`arm`), not imports; the wall-clock guard covers those.
        let guard = self.spec.call_timeout;
        let started = Instant::now();
        let mut warm = match self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None) {
            Some(mut warm) => {
                warm.store.data_mut().call = call;
                warm
            }
            None => match tokio::time::timeout(guard, self.instantiate(call)).await {
                Ok(instance) => instance?,
                Err(_) => return Err(PluginError::CallTimeout { after: guard }),
            },
        };
        self.arm(&mut warm.store, started);
        let outcome = tokio::time::timeout(guard, warm.bound.handle(&mut warm.store, event)).await;
        self.log_stderr(&warm.stderr, &event.id, &ctx.log);
        ctx.peak_memory.fetch_max(warm.store.data().limiter.peak as u64, std::sync::atomic::Ordering::Relaxed);
        let result = match outcome {
            Err(_) => return Err(PluginError::CallTimeout { after: guard }),
            Ok(Err(trap)) => {
                let error = self.classify(trap, &warm.store, &warm.stderr);
                if let (PluginError::MemoryExceeded { limit }, true) = (&error, warm.served > 0) {
                    // What the instance kept from earlier events filled it, not this event: it is
                    // thrown away, and the event runs again on a fresh one.
                    return Err(PluginError::RetryLater(format!(
                        "a reused instance reached memory_mb ({} MiB) after {} events; the event runs again on a fresh one",
                        limit >> 20,
                        warm.served
                    )));
                }
                return Err(error);
            }
            Ok(Ok(result)) => result,
        };
        // From here the instance is sound: a failed call still throws it away, as documented.
        let actions = result.map_err(|e| match e {
            types::Error::RetryLater(message) => PluginError::RetryLater(message),
            types::Error::Fail(message) => PluginError::Failed(message),
        })?;
        let size: u64 = actions.iter().map(action_size).sum();
        if size > self.spec.max_output {
            return Err(PluginError::OutputTooLarge { size: Some(size), limit: self.spec.max_output });
        }
        let kv = std::mem::replace(&mut warm.store.data_mut().call.kv, KvSession::idle());
        let kv = kv.finish().map_err(PluginError::Failed)?;
        self.keep(warm);
        Ok(CallOutcome { actions, kv })
    }

    /// A new instance in a new store, holding one of the engine's instance slots.
    async fn instantiate(&self, call: CallState) -> Result<Warm, PluginError> {
        let permit = self.engine.slots.clone().acquire_owned().await.map_err(|_| PluginError::Trap {
            message: "the plugin engine is shutting down".into(),
            stderr: String::new(),
        })?;
        let stderr = CapturedStderr::new(STDERR_CAPTURE);
        let wasi = WasiCtxBuilder::new().stderr(stderr.clone()).build();
        let mut store =
            WasmStore::new(&self.engine.engine, HostState::new(wasi, self.meta.clone(), self.spec.memory_bytes, call));
        store.limiter(|s| &mut s.limiter);
        store.call_hook(|mut store, hook| {
            store.data_mut().call.hook(hook);
            Ok(())
        });
        // Instantiation runs the guest's start code: give it the call's deadline too.
        self.arm(&mut store, Instant::now());
        match self.pre.instantiate(&mut store).await {
            Ok(bound) => Ok(Warm { store, bound, stderr, served: 0, _permit: permit }),
            Err(trap) => Err(self.classify(trap, &store, &stderr)),
        }
    }

    /// Sets a call's limits on `store`: hostcall fuel, and a deadline for the guest's code. Its
    /// compute is the time since `started` less the time spent in imports (`CallState::hook`:
    /// waiting for an answer, its body or the store is not compute) and yielded. The guest is
    /// stopped when its compute reaches `timeout_ms` or the whole call reaches
    /// `call_timeout_ms`; until then it yields to the runtime at every epoch tick, so a plugin
    /// computing for milliseconds never holds a runtime thread from ingest for that long.
    fn arm(&self, store: &mut WasmStore<HostState>, started: Instant) {
        let max_output = usize::try_from(self.spec.max_output).unwrap_or(usize::MAX);
        store.set_hostcall_fuel(max_output.saturating_mul(2).max(HOSTCALL_FUEL_MIN));
        store.set_epoch_deadline(1);
        let (timeout, call_timeout) = (self.spec.timeout, self.spec.call_timeout);
        store.epoch_deadline_callback(move |mut store| {
            let elapsed = started.elapsed();
            let computed = elapsed.saturating_sub(store.data().call.not_compute());
            if computed >= timeout {
                return Ok(UpdateDeadline::Interrupt);
            }
            if elapsed >= call_timeout {
                store.data_mut().call.out_of_call_time = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            let yielded = store.data().call.not_compute.clone();
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(async move {
                    let at = Instant::now();
                    tokio::task::yield_now().await;
                    let nanos = u64::try_from(at.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    yielded.fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
                }),
            ))
        });
    }

    /// Keeps an instance that served a call well for the next one, when the plugin reuses
    /// instances, this one has served fewer than `reuse_max` events, and its memory has not
    /// grown past three quarters of `memory_mb` (a garbage-collected language's heap grows
    /// with the events it serves; retiring it early keeps it from failing an event at the limit).
    fn keep(&self, mut warm: Warm) {
        let Instances::Reuse { max } = self.spec.instances else { return };
        warm.served += 1;
        let peak = warm.store.data().limiter.peak as u64;
        if warm.served >= max || peak > self.spec.memory_bytes / 4 * 3 {
            return;
        }
        warm.stderr.clear();
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(warm);
        }
    }

    /// Writes what the plugin printed to stderr into the host's log, as one escaped line, and
    /// keeps it with the call's lines.
    fn log_stderr(&self, stderr: &CapturedStderr, event_id: &str, log: &super::KeptLog) {
        let (kept, dropped) = stderr.contents();
        if kept.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&kept);
        log.keep("stderr", text.trim_end());
        let (plugin, stderr) = (&*self.meta.name, Escaped::cut(text.trim_end(), STDERR_CAPTURE));
        tracing::warn!(target: "plugin", plugin, event_id, dropped_bytes = dropped, "stderr: {stderr}");
    }

    fn classify(&self, error: wasmtime::Error, store: &WasmStore<HostState>, stderr: &CapturedStderr) -> PluginError {
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            if store.data().call.out_of_call_time {
                return PluginError::CallTimeout { after: self.spec.call_timeout };
            }
            return PluginError::Timeout { after: self.spec.timeout };
        }
        if store.data().limiter.refused {
            return PluginError::MemoryExceeded { limit: self.spec.memory_bytes };
        }
        if format!("{error:#}").contains(HOSTCALL_FUEL_EXHAUSTED) {
            return PluginError::OutputTooLarge { size: None, limit: self.spec.max_output };
        }
        let (kept, _) = stderr.contents();
        let stderr = one_line(String::from_utf8_lossy(&kept).trim(), 512);
        // The full chain carries a wasm backtrace; the trap code alone reads better in a log
        // line, and an `exit()` or a host error is kept to its first line.
        let message = error.downcast_ref::<Trap>().map_or_else(|| error.to_string(), |t| t.to_string());
        let message = one_line(message.lines().next().unwrap_or_default().trim(), 512);
        PluginError::Trap { message, stderr }
    }
}

/// Bytes an action carries out of the plugin.
fn action_size(action: &types::Action) -> u64 {
    let headers = |h: &[(String, String)]| h.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let n = match action {
        types::Action::Forward(f) => {
            f.body.as_ref().map_or(0, Vec::len) + headers(&f.headers) + f.destination.as_ref().map_or(0, String::len)
        }
        types::Action::Emit(e) => e.scope.len() + e.body.len(),
        types::Action::Drop(reason) => reason.len(),
    };
    n as u64
}
