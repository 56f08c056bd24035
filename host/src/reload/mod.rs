//! Live configuration: the current [`Snapshot`] behind an `ArcSwap`, and the reloads that
//! replace it.
//!
//! A reload reads routes.toml, builds a complete new snapshot off the request path and swaps
//! it in atomically; if anything is wrong the old snapshot keeps serving and the errors are
//! kept as the [`ReloadStatus`]. Requests in flight finish on the snapshot they loaded.
//! `watcher.rs` turns file changes into reload requests; SIGHUP does too (see `app.rs`).

mod snapshot;
mod status;
mod watcher;

pub use snapshot::{BuildReport, Snapshot};
pub use status::{ReloadOutcome, ReloadStatus};
pub use watcher::watch;

use crate::config::{self, ConfigErrors};
use crate::plugin::{ComponentCache, PluginEngine};
use arc_swap::ArcSwap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Owns the live snapshot and knows how to rebuild it from the config file.
pub struct Live {
    path: PathBuf,
    engine: Arc<PluginEngine>,
    cache: ComponentCache,
    current: ArcSwap<Snapshot>,
    status: ArcSwap<ReloadStatus>,
    /// Serialises reloads (the watcher and SIGHUP may ask at once); never held by requests.
    reloading: Mutex<()>,
    env: fn(&str) -> Option<String>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Live {
    /// Loads the config and builds the first snapshot; any error is fatal here, since there is
    /// no previous snapshot to keep serving.
    pub fn start(
        path: &Path,
        engine: Arc<PluginEngine>,
        cache: ComponentCache,
        env: fn(&str) -> Option<String>,
    ) -> Result<(Self, BuildReport), ConfigErrors> {
        let config = config::load(path, &env)?;
        let (snapshot, report) = Snapshot::build(config, &engine, &cache, None)?;
        let status = ReloadStatus::applied(&report);
        let live = Self {
            path: path.to_path_buf(),
            engine,
            cache,
            current: ArcSwap::from_pointee(snapshot),
            status: ArcSwap::from_pointee(status),
            reloading: Mutex::new(()),
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
        self.status.load_full()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rebuilds from the file; swaps on success, keeps the old snapshot on failure.
    /// Blocking (reads files, compiles wasm): call it from a blocking thread.
    pub fn reload(&self) -> ReloadOutcome {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let previous = self.current.load_full();
        let built = config::load(&self.path, &self.env)
            .and_then(|c| Snapshot::build(c, &self.engine, &self.cache, Some(&previous)));
        let outcome = match built {
            Ok((snapshot, report)) => {
                for w in &snapshot.config.warnings {
                    tracing::warn!("{w}");
                }
                self.current.store(Arc::new(snapshot));
                self.status.store(Arc::new(ReloadStatus::applied(&report)));
                ReloadOutcome::Applied(report)
            }
            Err(errors) => {
                self.status.store(Arc::new(ReloadStatus::rejected(&errors)));
                ReloadOutcome::Rejected(errors)
            }
        };
        outcome.log();
        outcome
    }
}
