//! Assembles a running gateway: live config, plugin engine, queues, and the ingest, dispatch,
//! delivery and reload tasks, all stopped by one shutdown token.
//!
//! `Gateway::start` takes an already bound listener, so tests bind `127.0.0.1:0` and read the
//! port back. This is the only place besides `cli` that wires modules together.

use crate::delivery::{self, Outbox};
use crate::dispatch::{self, Queue};
use crate::metrics::Metrics;
use crate::plugin::{ComponentCache, PluginEngine};
use crate::reload::{self, Live};
use crate::sources::{self, Ingest};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a gateway needs to start.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    /// Where compiled plugins are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Watch the config and plugin files and reload on change.
    pub watch: bool,
}

/// A gateway that is serving.
pub struct Gateway {
    pub live: Arc<Live>,
    pub ingest_addr: SocketAddr,
    /// Ask for a reload now (what SIGHUP does).
    pub reload: Arc<Notify>,
    pub metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Gateway {
    /// Loads the config, compiles the plugins and starts serving on `listener`.
    pub async fn start(options: Options, listener: TcpListener) -> anyhow::Result<Self> {
        let engine =
            PluginEngine::new().map_err(|e| anyhow::anyhow!("{e:#}")).context("cannot create the wasm engine")?;
        let cache = ComponentCache::new(options.cache_dir.clone());
        let path = options.config.clone();
        let (live, report) =
            tokio::task::spawn_blocking(move || Live::start(&path, engine, cache, crate::config::process_env))
                .await
                .context("config loader panicked")?
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        let live = Arc::new(live);
        let snapshot = live.snapshot();
        for w in &snapshot.config.warnings {
            tracing::warn!("{w}");
        }
        tracing::info!(compiled = ?report.compiled, from_cache = ?report.from_cache, routes = snapshot.config.routes.len(), "config loaded");

        let server = &snapshot.config.server;
        let (queue, events) = Queue::bounded(server.queue);
        let (outbox, deliveries) = Outbox::bounded(server.queue);
        let client = delivery::client().context("cannot build the HTTP client")?;
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let reload = Arc::new(Notify::new());
        let metrics = Arc::new(Metrics::default());

        tasks.spawn(delivery::run(deliveries, client, metrics.clone(), shutdown.child_token()));
        let ctx = dispatch::Ctx { outbox: outbox.clone(), metrics: metrics.clone() };
        tasks.spawn(dispatch::run(live.clone(), events, ctx, server.workers, shutdown.child_token()));
        // Without file watching the loop still serves reload requests (SIGHUP, admin API).
        tasks.spawn(reload::watch(live.clone(), reload.clone(), options.watch, shutdown.child_token()));
        let ingest_addr = listener.local_addr()?;
        let app = sources::router(Ingest { live: live.clone(), queue, metrics: metrics.clone() });
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await;
            if let Err(e) = served {
                tracing::error!(error = %e, "ingest server failed");
            }
        });
        tracing::info!(%ingest_addr, "ingest listening: POST /hooks/{{source}}");
        drop(outbox);
        Ok(Self { live, ingest_addr, reload, metrics, shutdown, tasks })
    }

    /// Stops accepting, lets work in flight finish, and returns when every task has ended.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// A token that, when cancelled, stops the gateway.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}
