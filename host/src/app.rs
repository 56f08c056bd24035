//! Assembles a running gateway: the live config and plugin engine, the store, one [`Shared`]
//! state, and the tasks that serve: delivery, dispatch, pruning, rates, the hook check, the
//! reload loop, and the ingest and admin listeners (plain or TLS), all stopped by one token.
//! With `[server] ingest_first = true` dispatch and delivery run on threads of their
//! own, below ingest's priority ([`crate::background`]); everything else, and everything when
//! it is off, runs on the caller's runtime.
//!
//! `Gateway::start` takes an already bound listener, so tests bind `127.0.0.1:0` and read the
//! port back. This is the only place besides `cli` that wires modules together; each step is
//! a named `spawn_*`.

use crate::admin;
use crate::background::{Background, Stage};
use crate::delivery;
use crate::dispatch;
use crate::http_server::{self, HEADER_READ_TIMEOUT, Serving};
use crate::ingest::{self, Ingest};
use crate::plugin::{ComponentCache, PluginEngine};
use crate::queue::Store;
use crate::reload::{self, Reloader};
use crate::shared::Shared;
use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often delivered work older than `storage.retention_hours` is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// What a gateway needs to start.
#[derive(Debug, Default)]
pub struct Options {
    pub config: PathBuf,
    /// Where compiled plugins are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Watch the config and plugin files and reload on change.
    pub watch: bool,
    /// The admin listener, already bound (`serve` binds `[server] admin`, tests 127.0.0.1:0);
    /// `None` serves no admin endpoints.
    pub admin: Option<TcpListener>,
}

/// A gateway that is serving. Its [`Shared`] handles (store, metrics, live snapshot…) are
/// reachable through it (`gateway.store`).
pub struct Gateway {
    pub shared: Shared,
    pub ingest_addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    /// Stops the ingest listener first, so nothing new is accepted while the rest drains.
    ingest_stop: CancellationToken,
    tasks: TaskTracker,
    /// Dispatch and delivery, which end only when the gateway stops (or by a bug).
    loops: Vec<tokio::task::AbortHandle>,
    /// Stops lease renewal, which then hands the leases back.
    leases: CancellationToken,
    renewal: tokio::task::JoinHandle<()>,
    /// Where delivery and dispatch run, when not on the caller's runtime; stopped when the
    /// gateway is dropped.
    _stages: Vec<Background>,
}

impl std::ops::Deref for Gateway {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl Gateway {
    /// Loads the config, compiles the plugins, opens the store and starts serving on `listener`.
    pub async fn start(options: Options, listener: TcpListener) -> anyhow::Result<Self> {
        let ingest_addr = listener.local_addr()?;
        let admin_addr = options.admin.as_ref().map(TcpListener::local_addr).transpose()?;
        let live = load(&options, &[Some(ingest_addr), admin_addr].into_iter().flatten().collect::<Vec<_>>()).await?;
        let snapshot = live.snapshot();
        let base = config_dir(&options.config);
        let lease = snapshot.config.storage.lease;
        let store = Store::open(&snapshot.config.storage.url, &base, lease).context("cannot open the store")?;
        let shared = Shared::new(live, store);
        // Renewal outlives the loops: work still in flight during a graceful stop keeps its leases.
        let leases = CancellationToken::new();
        let renewal =
            tokio::spawn(crate::renewal::run(shared.store.clone(), lease, shared.metrics.clone(), leases.clone()));
        let tasks = TaskTracker::new();
        let (sending, calling) = match snapshot.config.server.ingest_first {
            true => (Some(start_stage(Stage::Delivery)?), Some(start_stage(Stage::Dispatch)?)),
            false => (None, None),
        };
        let on = |stage: &Option<Background>| stage.as_ref().map_or_else(Handle::current, |s| s.handle().clone());
        let delivery = spawn_delivery(&shared, &tasks, &on(&sending))?;
        let dispatch = dispatch::run(shared.clone(), snapshot.config.server.workers);
        let dispatch = tasks.spawn_on(dispatch, &on(&calling)).abort_handle();
        let stages = sending.into_iter().chain(calling).collect();
        tasks.spawn(prune(shared.clone()));
        tasks.spawn(shared.rates.clone().run(shared.metrics.clone(), shared.shutdown.child_token()));
        tasks.spawn(crate::hook_check::run(shared.clone()));
        // Without file watching the loop still serves reload requests (SIGHUP, admin API).
        tasks.spawn(reload::watch(
            shared.live.clone(),
            shared.reload.clone(),
            options.watch,
            shared.shutdown.child_token(),
        ));
        let ingest_stop = spawn_ingest(&shared, &tasks, listener)?;
        let admin_addr = match options.admin {
            Some(listener) => Some(spawn_admin(&shared, &tasks, listener)?),
            None => None,
        };
        let loops = vec![delivery, dispatch];
        Ok(Self { shared, ingest_addr, admin_addr, ingest_stop, tasks, loops, leases, renewal, _stages: stages })
    }

    /// Whether dispatch and delivery still run: what a service manager's watchdog hears.
    pub fn loops_alive(&self) -> bool {
        self.loops.iter().all(|handle| !handle.is_finished())
    }

    /// Stops accepting webhooks, then lets dispatch and delivery finish what they hold, and
    /// returns when every task has ended and the leases still held are handed back (work not
    /// finished is due at once, for another gateway or the next start).
    pub async fn stop(self) {
        self.ingest_stop.cancel();
        self.shared.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.leases.cancel();
        let _ = self.renewal.await;
    }
}

/// The plugin engine (which never reaches the gateway's own `listeners`) and the live config,
/// compiled: the first snapshot.
async fn load(options: &Options, listeners: &[SocketAddr]) -> anyhow::Result<Arc<Reloader>> {
    let engine = PluginEngine::new().map_err(|e| anyhow::anyhow!("{e:#}")).context("cannot create the wasm engine")?;
    engine.guard_listeners(listeners);
    let cache = ComponentCache::new(options.cache_dir.clone());
    let path = options.config.clone();
    let (live, report) =
        tokio::task::spawn_blocking(move || Reloader::start(&path, engine, cache, crate::config::process_env))
            .await
            .context("config loader panicked")?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let snapshot = live.snapshot();
    for w in &snapshot.config.warnings {
        tracing::warn!("{w}");
    }
    tracing::info!(compiled = ?report.compiled, from_cache = ?report.from_cache, routes = snapshot.config.routes.len(), "config loaded");
    if let Some(admin) = options.admin.as_ref() {
        admin::check_exposure(admin.local_addr()?, snapshot.config.server.admin_token.as_deref())?;
    }
    Ok(Arc::new(live))
}

/// `stage`'s own runtime, below ingest's priority.
fn start_stage(stage: Stage) -> anyhow::Result<Background> {
    Background::start(stage).with_context(|| format!("cannot start the {} threads", stage.thread_name()))
}

/// The delivery loop, with its HTTP clients, on `runtime`.
fn spawn_delivery(shared: &Shared, tasks: &TaskTracker, runtime: &Handle) -> anyhow::Result<tokio::task::AbortHandle> {
    let clients = delivery::Clients::new().context("cannot build the HTTP client")?;
    Ok(tasks.spawn_on(delivery::run(shared.clone(), clients), runtime).abort_handle())
}

/// The ingest listener (plain or TLS); returns what stops it.
fn spawn_ingest(shared: &Shared, tasks: &TaskTracker, listener: TcpListener) -> anyhow::Result<CancellationToken> {
    let addr = listener.local_addr()?;
    let certified = shared.live.snapshot().certs.ingest.is_some();
    let tls = tls_for(&shared.live, certified, |certs| certs.ingest.clone())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let serving =
        Serving { router: ingest::router(Ingest::new(shared.clone())), tls, header_timeout: HEADER_READ_TIMEOUT };
    let stop = CancellationToken::new();
    tasks.spawn(http_server::serve(listener, serving, stop.clone()));
    tracing::info!(ingest_addr = %addr, scheme, "ingest listening: POST /hooks/{{source}}");
    Ok(stop)
}

/// The admin listener (plain or TLS); returns its address.
fn spawn_admin(shared: &Shared, tasks: &TaskTracker, listener: TcpListener) -> anyhow::Result<SocketAddr> {
    let certified = shared.live.snapshot().certs.admin.is_some();
    let tls = tls_for(&shared.live, certified, |certs| certs.admin.clone())?;
    let (addr, server) = admin::start(listener, shared.clone(), tls)?;
    tasks.spawn(server);
    Ok(addr)
}

/// A TLS config for a listener whose certificate the first snapshot has (`enabled`), reading
/// the certificate from the live snapshot at each handshake, so renewed files serve the next
/// connection. Whether a listener speaks TLS at all is fixed at start.
fn tls_for(
    live: &Arc<Reloader>,
    enabled: bool,
    pick: fn(&reload::Certs) -> Option<Arc<rustls::sign::CertifiedKey>>,
) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    if !enabled {
        return Ok(None);
    }
    let live = live.clone();
    let current: crate::tls::CurrentCert = Arc::new(move || pick(&live.snapshot().certs));
    Ok(Some(crate::tls::server_config(current).context("cannot set up TLS")?))
}

/// The directory relative paths in the config start from.
pub fn config_dir(config: &Path) -> PathBuf {
    match config.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Deletes delivered work older than the retention, every [`PRUNE_EVERY`].
async fn prune(shared: Shared) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = shared.shutdown.cancelled() => return,
        }
        let retention = shared.live.snapshot().config.storage.retention;
        let cutoff = crate::event::now_ms().saturating_sub(retention.as_millis() as u64);
        match shared.store.prune(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "pruned delivered work past its retention"),
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
    }
}
