//! Assembles a running gateway: live config, plugin engine, store, and the ingest (plain or
//! TLS), dispatch, delivery, pruning and reload tasks, all stopped by one shutdown token.
//!
//! `Gateway::start` takes an already bound listener, so tests bind `127.0.0.1:0` and read the
//! port back. This is the only place besides `cli` that wires modules together.

use crate::admin;
use crate::delivery;
use crate::dispatch;
use crate::http_server::{self, HEADER_READ_TIMEOUT, Serving};
use crate::metrics::Metrics;
use crate::plugin::{ComponentCache, PluginEngine};
use crate::queue::Store;
use crate::reload::{self, Reloader};
use crate::sources::{self, Ingest};
use crate::subscriptions;
use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
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

/// A gateway that is serving.
pub struct Gateway {
    pub live: Arc<Reloader>,
    pub store: Store,
    pub ingest_addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    /// Ask for a reload now (what SIGHUP does).
    pub reload: Arc<Notify>,
    pub metrics: Arc<Metrics>,
    /// Each destination's limits and breaker state in this gateway.
    pub control: Arc<delivery::Control>,
    /// The last check of each source's registered hooks.
    pub subscriptions: Arc<subscriptions::heal::Checks>,
    /// What happens to events as it happens (the console and `switchyard tail` follow it).
    pub feed: crate::feed::Feed,
    shutdown: CancellationToken,
    ingest_stop: CancellationToken,
    tasks: TaskTracker,
    /// Stops lease renewal, which then hands the leases back.
    leases: CancellationToken,
    renewal: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// Loads the config, compiles the plugins, opens the store and starts serving on `listener`.
    pub async fn start(options: Options, listener: TcpListener) -> anyhow::Result<Self> {
        let engine =
            PluginEngine::new().map_err(|e| anyhow::anyhow!("{e:#}")).context("cannot create the wasm engine")?;
        let admin_addr = options.admin.as_ref().map(TcpListener::local_addr).transpose()?;
        engine.guard_listeners(&[Some(listener.local_addr()?), admin_addr].into_iter().flatten().collect::<Vec<_>>());
        let cache = ComponentCache::new(options.cache_dir.clone());
        let path = options.config.clone();
        let (live, report) =
            tokio::task::spawn_blocking(move || Reloader::start(&path, engine, cache, crate::config::process_env))
                .await
                .context("config loader panicked")?
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        let live = Arc::new(live);
        let snapshot = live.snapshot();
        for w in &snapshot.config.warnings {
            tracing::warn!("{w}");
        }
        tracing::info!(compiled = ?report.compiled, from_cache = ?report.from_cache, routes = snapshot.config.routes.len(), "config loaded");
        if let Some(admin) = &options.admin {
            admin::check_exposure(admin.local_addr()?, snapshot.config.server.admin_token.as_deref())?;
        }

        let base = config_dir(&options.config);
        let lease = snapshot.config.storage.lease;
        let store = Store::open(&snapshot.config.storage.url, &base, lease).context("cannot open the store")?;
        let clients = delivery::Clients::new().context("cannot build the HTTP client")?;
        let shutdown = CancellationToken::new();
        let ingest_stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let reload = Arc::new(Notify::new());
        let metrics = Arc::new(Metrics::default());
        // Renewal outlives the loops: work still in flight during a graceful stop keeps its leases.
        let leases = CancellationToken::new();
        let renewal = tokio::spawn(crate::renewal::run(store.clone(), lease, metrics.clone(), leases.clone()));

        let control = Arc::new(delivery::Control::default());
        // What happens to events, as it happens: for the console and `switchyard tail`.
        let feed = crate::feed::Feed::default();
        let parts = delivery::Parts {
            live: live.clone(),
            store: store.clone(),
            clients,
            metrics: metrics.clone(),
            control: control.clone(),
            feed: feed.clone(),
        };
        tasks.spawn(delivery::run(parts, shutdown.child_token()));
        let ctx = dispatch::Ctx {
            store: store.clone(),
            metrics: metrics.clone(),
            unrecorded: Arc::default(),
            feed: feed.clone(),
        };
        tasks.spawn(dispatch::run(live.clone(), ctx, snapshot.config.server.workers, shutdown.child_token()));
        tasks.spawn(prune(live.clone(), store.clone(), shutdown.child_token()));
        let rates = Arc::new(crate::rates::Rates::default());
        tasks.spawn(rates.clone().run(metrics.clone(), shutdown.child_token()));
        let checks = Arc::new(subscriptions::heal::Checks::default());
        let healing = subscriptions::heal::Parts {
            live: live.clone(),
            metrics: metrics.clone(),
            checks: checks.clone(),
            ready: Box::new({
                let store = store.clone();
                move || store.health().is_ok()
            }),
        };
        tasks.spawn(subscriptions::heal::run(healing, shutdown.child_token()));
        // Without file watching the loop still serves reload requests (SIGHUP, admin API).
        tasks.spawn(reload::watch(live.clone(), reload.clone(), options.watch, shutdown.child_token()));
        let ingest_addr = listener.local_addr()?;
        let app = sources::router(Ingest {
            live: live.clone(),
            store: store.clone(),
            metrics: metrics.clone(),
            store_errors: Arc::default(),
            feed: feed.clone(),
        });
        let ingest_tls = tls_for(&live, snapshot.certs.ingest.is_some(), |certs| certs.ingest.clone())?;
        let scheme = if ingest_tls.is_some() { "https" } else { "http" };
        let serving = Serving { router: app, tls: ingest_tls, header_timeout: HEADER_READ_TIMEOUT };
        tasks.spawn(http_server::serve(listener, serving, ingest_stop.clone()));
        tracing::info!(%ingest_addr, scheme, "ingest listening: POST /hooks/{{source}}");
        let admin_addr = match options.admin {
            Some(listener) => {
                let state = admin::Admin {
                    live: live.clone(),
                    metrics: metrics.clone(),
                    store: store.clone(),
                    control: control.clone(),
                    reload: reload.clone(),
                    subscriptions: checks.clone(),
                    loopback: false,
                    feed: feed.clone(),
                    rates: rates.clone(),
                    stopping: CancellationToken::new(),
                };
                let tls = tls_for(&live, snapshot.certs.admin.is_some(), |certs| certs.admin.clone())?;
                let (addr, server) = admin::start(listener, state, tls, shutdown.child_token())?;
                tasks.spawn(server);
                Some(addr)
            }
            None => None,
        };
        let subscriptions = checks;
        Ok(Self {
            live,
            store,
            ingest_addr,
            admin_addr,
            reload,
            metrics,
            control,
            subscriptions,
            feed,
            shutdown,
            ingest_stop,
            tasks,
            leases,
            renewal,
        })
    }

    /// Stops accepting webhooks, then lets dispatch and delivery finish what they hold, and
    /// returns when every task has ended and the leases still held are handed back (work not
    /// finished is due at once, for another gateway or the next start).
    pub async fn stop(self) {
        self.ingest_stop.cancel();
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.leases.cancel();
        let _ = self.renewal.await;
    }
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
async fn prune(live: Arc<Reloader>, store: Store, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = shutdown.cancelled() => return,
        }
        let retention = live.snapshot().config.storage.retention;
        let cutoff = crate::event::now_ms().saturating_sub(retention.as_millis() as u64);
        match store.prune(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "pruned delivered work past its retention"),
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
    }
}
