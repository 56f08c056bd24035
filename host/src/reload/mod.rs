//! Live configuration: the [`Reloader`], which holds the current [`Snapshot`] behind an
//! `ArcSwap` and runs the reloads that replace it.
//!
//! A reload reads routes.toml, builds a complete new snapshot off the request path and swaps
//! it in atomically; if anything is wrong the old snapshot keeps serving and the errors are
//! kept as the [`ReloadStatus`], which anyone may wait on ([`Reloader::subscribe`]). Requests in
//! flight finish on the snapshot they loaded. `watcher.rs` turns file changes into reload
//! requests; SIGHUP and `POST /api/reload` do too (see `app.rs`). Nothing here is on the
//! request path except [`Reloader::snapshot`], one atomic load.

mod snapshot;
mod status;
mod watcher;

pub use snapshot::{BuildReport, Certs, Snapshot};
pub use status::{Problem, ReloadOutcome, ReloadStatus};
pub use watcher::watch;

use crate::config::{self, ConfigErrors};
use crate::plugin::{ComponentCache, PluginEngine};
use arc_swap::ArcSwap;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The reloader: owns the live snapshot and knows how to rebuild it from the config file.
/// Every task that reads the configuration holds one (`Arc<Reloader>`, usually named `live`).
pub struct Reloader {
    path: PathBuf,
    engine: Arc<PluginEngine>,
    cache: ComponentCache,
    current: ArcSwap<Snapshot>,
    status: watch::Sender<Arc<ReloadStatus>>,
    /// Serialises reloads (the watcher and SIGHUP may ask at once); never held by requests.
    /// It guards the input files (plugins, certificates) the last attempted config named,
    /// applied or not, so the watcher also sees a fix to a file only a rejected config names.
    reloading: Mutex<BTreeSet<PathBuf>>,
    env: fn(&str) -> Option<String>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Reloader {
    /// Loads the config and builds the first snapshot; any error is fatal here, since there is
    /// no previous snapshot to keep serving.
    pub fn start(
        path: &Path,
        engine: Arc<PluginEngine>,
        cache: ComponentCache,
        env: fn(&str) -> Option<String>,
    ) -> Result<(Self, BuildReport), ConfigErrors> {
        let config_digest = digest_file(path);
        let config = config::load(path, &env)?;
        let (mut snapshot, report) = Snapshot::build(config, &engine, &cache, None)?;
        snapshot.inputs.insert(path.to_path_buf(), config_digest);
        let attempted = input_files(&snapshot.config);
        let live = Self {
            path: path.to_path_buf(),
            engine,
            cache,
            current: ArcSwap::from_pointee(snapshot),
            status: watch::Sender::new(Arc::new(ReloadStatus::started(&report))),
            reloading: Mutex::new(attempted),
            env,
        };
        Ok((live, report))
    }

    /// The snapshot to use for one request or event.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The last reload's outcome.
    pub fn status(&self) -> Arc<ReloadStatus> {
        self.status.borrow().clone()
    }

    /// Sees every new [`ReloadStatus`] as it is published.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ReloadStatus>> {
        self.status.subscribe()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The files a change to which should cause a reload: the config, the current snapshot's
    /// plugins and certificates, and the plugins the last attempted config named.
    pub fn watched_files(&self) -> BTreeSet<PathBuf> {
        let mut files = input_files(&self.snapshot().config);
        files.insert(self.path.clone());
        let attempted = self.reloading.lock().map(|a| a.clone()).unwrap_or_default();
        files.extend(attempted);
        files
    }

    /// Rebuilds from the file; swaps on success, keeps the old snapshot on failure.
    /// Blocking (reads files, compiles wasm): call it from a blocking thread.
    pub fn reload(&self) -> ReloadOutcome {
        let mut attempted = self.reloading.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let previous = self.current.load_full();
        // Read before the config is, so a write racing the load makes the digest stale and the
        // watcher reload once more, rather than the other way round.
        let config_digest = digest_file(&self.path);
        let built = config::load(&self.path, &self.env).and_then(|c| {
            *attempted = input_files(&c);
            Snapshot::build(c, &self.engine, &self.cache, Some(&previous))
        });
        let last = self.status();
        let (outcome, status) = match built {
            Ok((mut snapshot, report)) => {
                for w in &snapshot.config.warnings {
                    tracing::warn!("{w}");
                }
                snapshot.inputs.insert(self.path.clone(), config_digest);
                self.current.store(Arc::new(snapshot));
                let status = ReloadStatus::applied(&last, &report);
                (ReloadOutcome::Applied(report), status)
            }
            Err(errors) => {
                let status = ReloadStatus::rejected(&last, &errors);
                (ReloadOutcome::Rejected(errors), status)
            }
        };
        outcome.log();
        self.status.send_replace(Arc::new(status));
        outcome
    }
}

/// The files besides itself that a config is built from: plugins, certificates and keys.
fn input_files(config: &config::Config) -> BTreeSet<PathBuf> {
    let mut files: BTreeSet<PathBuf> = config.plugins.values().map(|p| p.path.clone()).collect();
    for tls in [&config.server.tls, &config.server.admin_tls].into_iter().flatten() {
        files.extend([tls.cert.path.clone(), tls.key.path.clone()]);
    }
    files
}

/// SHA-256 of a file's bytes; all zeros when it cannot be read.
pub(crate) fn digest_file(path: &Path) -> [u8; 32] {
    std::fs::read(path).map_or([0; 32], |bytes| crate::plugin::digest(&bytes))
}
