//! Watches routes.toml and every referenced `.wasm`, and reloads when their content changes.
//!
//! It watches the *directories*, not the files, so every way of replacing a file is seen: an
//! editor's write-to-temp-and-rename, `cp` over the file, `cargo build` rewriting an artifact,
//! and a Kubernetes ConfigMap's `..data` symlink swap. Bursts are debounced, and a reload runs
//! only when the bytes actually changed (or when one is requested explicitly, by SIGHUP). It
//! never swaps snapshots itself: that is [`Live::reload`].

use super::Live;
use notify::{RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long a burst of file events may last before it is acted on.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Runs until `shutdown`: reloads on file changes, and on `requested` (SIGHUP, admin API).
pub async fn watch(live: Arc<Live>, requested: Arc<Notify>, shutdown: CancellationToken) {
    let changed = Arc::new(Notify::new());
    let on_event = changed.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            on_event.notify_one();
        }
    });
    let mut watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(error = %e, "cannot watch files; reload with SIGHUP instead");
            None
        }
    };
    let mut watched = BTreeSet::new();
    let mut last = fingerprint(&live).await;
    loop {
        if let Some(w) = watcher.as_mut() {
            rewatch(w, &mut watched, directories(&live));
        }
        let forced = tokio::select! {
            _ = changed.notified() => false,
            _ = requested.notified() => true,
            _ = shutdown.cancelled() => return,
        };
        tokio::time::sleep(DEBOUNCE).await;
        let now = fingerprint(&live).await;
        if !forced && now == last {
            continue;
        }
        last = now;
        let reloader = live.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || reloader.reload()).await {
            tracing::error!(error = %e, "reload task failed");
        }
    }
}

/// The directories holding the config file and every plugin of the current snapshot.
fn directories(live: &Live) -> BTreeSet<PathBuf> {
    let snapshot = live.snapshot();
    let mut dirs = BTreeSet::new();
    dirs.insert(parent(live.path()));
    for spec in snapshot.config.plugins.values() {
        dirs.insert(parent(&spec.path));
    }
    dirs
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn rewatch(watcher: &mut notify::RecommendedWatcher, watched: &mut BTreeSet<PathBuf>, wanted: BTreeSet<PathBuf>) {
    for gone in watched.difference(&wanted) {
        let _ = watcher.unwatch(gone);
    }
    for new in wanted.difference(watched) {
        if let Err(e) = watcher.watch(new, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %new.display(), error = %e, "cannot watch directory");
        }
    }
    *watched = wanted;
}

/// A digest of the config file and every plugin file of the current snapshot.
async fn fingerprint(live: &Arc<Live>) -> [u8; 32] {
    let live = live.clone();
    tokio::task::spawn_blocking(move || {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        let snapshot = live.snapshot();
        let files =
            std::iter::once(live.path().to_path_buf()).chain(snapshot.config.plugins.values().map(|p| p.path.clone()));
        for file in files {
            h.update(file.as_os_str().as_encoded_bytes());
            match std::fs::read(&file) {
                Ok(bytes) => h.update(crate::plugin::digest(&bytes)),
                Err(_) => h.update(b"\0missing"),
            }
        }
        h.finalize().into()
    })
    .await
    .unwrap_or_default()
}
