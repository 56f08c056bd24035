//! Watches routes.toml and every referenced `.wasm`, and reloads when their content changes;
//! reloads on request too (SIGHUP, `POST /api/reload`), with or without file watching.
//!
//! It watches the *directories*, not the files, so every way of replacing a file is seen: an
//! editor's write-to-temp-and-rename, `cp` over the file, `cargo build` rewriting an artifact,
//! and a Kubernetes ConfigMap's `..data` symlink swap. Bursts are debounced, and a reload runs
//! only when the bytes actually changed (or when one is requested explicitly). It never swaps
//! snapshots itself: that is [`Reloader::reload`].
//!
//! The watches are registered before [`watch`] returns, and its first check compares the files
//! with the digests the current snapshot was built from, so a change made between the first
//! load and the watch is not missed.

use super::Reloader;
use notify::{RecursiveMode, Watcher};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long the watched files must be quiet before a change is acted on.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Digest of each watched file (all zeros when missing).
type Fingerprint = BTreeMap<PathBuf, [u8; 32]>;

/// Sets up the file watches (when `files`) now, and returns the loop to spawn: it runs until
/// `shutdown`, reloading on content changes and on every `requested` notification.
pub fn watch(
    live: Arc<Reloader>,
    requested: Arc<Notify>,
    files: bool,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let changed = Arc::new(Notify::new());
    let names: Names = Arc::default();
    set_names(&names, &live);
    let mut watcher = if files { file_watcher(changed.clone(), names.clone()) } else { None };
    let mut watched = BTreeSet::new();
    if let Some(w) = watcher.as_mut() {
        rewatch(w, &mut watched, directories(&live));
        // Compare what is on disk now with what the snapshot was built from.
        changed.notify_one();
    }
    let mut last: Fingerprint = live.snapshot().inputs.clone();
    async move {
        loop {
            let forced = tokio::select! {
                _ = changed.notified() => false,
                _ = requested.notified() => true,
                _ = shutdown.cancelled() => return,
            };
            if !forced {
                // Wait for a quiet period, not a fixed delay after the first event, so a burst
                // (truncate, write, rename…) is read once it is over.
                loop {
                    tokio::select! {
                        _ = changed.notified() => continue,
                        _ = tokio::time::sleep(DEBOUNCE) => break,
                    }
                }
            }
            let now = fingerprint(&live).await;
            if forced || now != last {
                let reloader = live.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || reloader.reload()).await {
                    tracing::error!(error = %e, "reload task failed");
                }
            }
            last = now;
            if let Some(w) = watcher.as_mut() {
                set_names(&names, &live);
                rewatch(w, &mut watched, directories(&live));
            }
        }
    }
}

/// File names in the watched directories whose changes matter: the config's, the plugins',
/// and Kubernetes' `..data`-style entries. Everything else there (the SQLite database beside
/// routes.toml, an editor's swap files) is ignored, or its constant writes would keep the
/// quiet period from ever ending.
type Names = Arc<std::sync::RwLock<std::collections::HashSet<std::ffi::OsString>>>;

fn set_names(names: &Names, live: &Reloader) {
    let wanted = live.watched_files().iter().filter_map(|f| f.file_name().map(|n| n.to_os_string())).collect();
    if let Ok(mut n) = names.write() {
        *n = wanted;
    }
}

fn relevant(event: &notify::Event, names: &Names) -> bool {
    let Ok(names) = names.read() else { return true };
    event
        .paths
        .iter()
        .filter_map(|p| p.file_name())
        .any(|n| names.contains(n) || n.as_encoded_bytes().starts_with(b".."))
}

fn file_watcher(changed: Arc<Notify>, names: Names) -> Option<notify::RecommendedWatcher> {
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access() && relevant(&e, &names)) {
            changed.notify_one();
        }
    });
    watcher.inspect_err(|e| tracing::error!(error = %e, "cannot watch files; reload with SIGHUP instead")).ok()
}

/// The directories holding the watched files.
fn directories(live: &Reloader) -> BTreeSet<PathBuf> {
    live.watched_files().iter().map(|f| parent(f)).collect()
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
    watched.retain(|d| wanted.contains(d));
    for dir in wanted {
        if watched.contains(&dir) {
            continue;
        }
        // A directory that cannot be watched yet (not created) is tried again next time.
        match watcher.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                watched.insert(dir);
            }
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory"),
        }
    }
}

/// The digest of every watched file, read on a blocking thread.
async fn fingerprint(live: &Arc<Reloader>) -> Fingerprint {
    let live = live.clone();
    tokio::task::spawn_blocking(move || {
        live.watched_files().into_iter().map(|f| (f.clone(), super::digest_file(&f))).collect()
    })
    .await
    .unwrap_or_default()
}
