//! `switchyard serve`: bind the ingest and admin listeners, start the gateway, and run it until
//! a signal.
//!
//! SIGHUP reloads; SIGTERM or SIGINT stop accepting and let work in flight finish within the
//! grace period; a second signal exits at once. Under a service manager (systemd's
//! `Type=notify`) each of these is reported, and the watchdog is fed while the loops run.

use crate::app::{Gateway, Options};
use crate::plugin::ComponentCache;
use crate::service_manager::ServiceManager;
use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// How long a reload SIGHUP asked for may take before the service manager hears `READY=1`
/// anyway (the reload goes on; its outcome is logged).
const RELOAD_PATIENCE: Duration = Duration::from_secs(90);

/// How long an exit cut short waits for the store to take this gateway's leases back.
const HAND_BACK_WAIT: Duration = Duration::from_secs(2);

pub async fn run(config: PathBuf, watch: bool, grace: u64) -> anyhow::Result<bool> {
    let loaded = crate::config::load(&config, &crate::config::process_env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let listen = loaded.server.listen.clone();
    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let admin = match &loaded.server.admin {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (admin)"))?,
        ),
        None => None,
    };
    let cache_dir = ComponentCache::default_dir(&crate::config::process_env);
    let options = Options { config, cache_dir, watch, admin };
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let manager = std::sync::Arc::new(ServiceManager::from_env());
    let gateway = Gateway::start(options, listener).await?;
    manager.ready();

    // Ticks only under a manager that keeps a watchdog; otherwise never.
    let mut watchdog = manager.watchdog_every().map(|every| {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    let fed = async |watchdog: &mut Option<tokio::time::Interval>| match watchdog {
        Some(interval) => interval.tick().await,
        None => std::future::pending().await,
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading");
                // Waited for beside this loop, so signals and the watchdog go on meanwhile.
                let (manager, shared) = (manager.clone(), gateway.shared.clone());
                manager.reloading();
                tokio::spawn(async move {
                    if shared.reload_now(RELOAD_PATIENCE).await.is_none() {
                        tracing::warn!(patience = ?RELOAD_PATIENCE, "the reload is still running; reporting ready");
                    }
                    manager.ready();
                });
            }
            _ = fed(&mut watchdog) => {
                if gateway.loops_alive() {
                    manager.watchdog();
                } else {
                    tracing::error!("a delivery or dispatch loop has ended; the watchdog is no longer fed");
                }
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    manager.stopping();
    tracing::info!(grace_secs = grace, "shutting down: no new webhooks; finishing work in flight");
    let store = gateway.store.clone();
    let stopping = gateway.stop();
    let cut_short = tokio::select! {
        _ = stopping => { tracing::info!("stopped cleanly"); false }
        _ = tokio::time::sleep(Duration::from_secs(grace)) => { tracing::warn!("grace period over; exiting with work in flight"); true }
        _ = term.recv() => { tracing::warn!("second signal; exiting now"); true }
        _ = tokio::signal::ctrl_c() => { tracing::warn!("second signal; exiting now"); true }
    };
    if cut_short {
        // The work still in flight is given up: hand its leases back so other gateways (or the
        // next start) take it at once rather than when the leases pass.
        match tokio::time::timeout(HAND_BACK_WAIT, store.hand_back()).await {
            Ok(Ok(n)) => tracing::info!(leases = n, "handed leases back"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot hand leases back; they pass on their own"),
            Err(_) => tracing::warn!("the store did not answer in time; leases pass on their own"),
        }
    }
    Ok(true)
}
