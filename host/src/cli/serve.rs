//! `switchyard serve`: bind the ingest and admin listeners, start the gateway, and run it until
//! a signal.
//!
//! SIGHUP reloads; SIGTERM or SIGINT stop accepting and let work in flight finish within the
//! grace period; a second signal exits at once.

use crate::app::{Gateway, Options};
use crate::plugin::ComponentCache;
use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

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
    let gateway = Gateway::start(options, listener).await?;

    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading");
                gateway.reload.notify_one();
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    tracing::info!(grace_secs = grace, "shutting down: no new webhooks; finishing work in flight");
    let stopping = gateway.stop();
    tokio::select! {
        _ = stopping => tracing::info!("stopped cleanly"),
        _ = tokio::time::sleep(Duration::from_secs(grace)) => tracing::warn!("grace period over; exiting with work in flight"),
        _ = term.recv() => tracing::warn!("second signal; exiting now"),
        _ = tokio::signal::ctrl_c() => tracing::warn!("second signal; exiting now"),
    }
    Ok(true)
}
