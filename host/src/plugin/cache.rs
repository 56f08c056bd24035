//! Compiled components on disk, keyed by the `.wasm`'s SHA-256 and the engine's compatibility
//! hash, so a restart with unchanged plugins compiles nothing.
//!
//! Artifacts are written to a temporary file and renamed into place, never modified after,
//! because `Component::deserialize_file` maps them into memory. Only files this cache wrote are
//! ever loaded (they are not validated on load), and a file that fails to load is deleted and
//! the plugin compiled again. The cache is an optimisation: any error here falls back to
//! compiling, with a warning; it must never fail a load.

use super::engine::PluginEngine;
use super::{CompiledPlugin, LoadError, digest};
use crate::config::model::PluginSpec;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::Component;

/// Where compiled plugins are kept.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

/// What a load did, for the reload log and the warm-start benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
}

impl ComponentCache {
    /// A cache in `dir`; `None` disables it (every load compiles).
    pub fn new(dir: Option<PathBuf>) -> Self {
        if let Some(d) = &dir
            && let Err(e) = std::fs::create_dir_all(d)
        {
            tracing::warn!(dir = %d.display(), error = %e, "cannot create the plugin cache; compiling every time");
            return Self { dir: None };
        }
        Self { dir }
    }

    /// The default place: `$SWITCHYARD_CACHE_DIR`, else `$XDG_CACHE_HOME/switchyard`, else
    /// `~/.cache/switchyard`.
    pub fn default_dir(env: crate::config::Lookup<'_>) -> Option<PathBuf> {
        env("SWITCHYARD_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| env("XDG_CACHE_HOME").map(|d| Path::new(&d).join("switchyard")))
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".cache/switchyard")))
    }

    /// Loads `bytes` for `spec`: from the cache when it has them, else compiled and stored.
    pub fn load(
        &self,
        engine: &Arc<PluginEngine>,
        spec: &PluginSpec,
        bytes: &[u8],
    ) -> Result<(CompiledPlugin, CacheOutcome), LoadError> {
        let sum = digest(bytes);
        let Some(file) = self.file_for(engine, &sum) else {
            return CompiledPlugin::new(engine, spec, bytes).map(|p| (p, CacheOutcome::Compiled));
        };
        if file.exists() {
            match deserialize(engine, &file) {
                Ok(component) => {
                    return CompiledPlugin::from_component(engine, spec, component, sum)
                        .map(|p| (p, CacheOutcome::Hit));
                }
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "unusable cached plugin; recompiling");
                    let _ = std::fs::remove_file(&file);
                }
            }
        }
        let fail = |message: String| LoadError { plugin: spec.name.clone(), path: spec.path.clone(), message };
        let compiled =
            engine.engine.precompile_component(bytes).map_err(|e| fail(format!("not a valid component: {e:#}")))?;
        if let Err(e) = write_atomically(&file, &compiled) {
            tracing::warn!(file = %file.display(), error = %e, "cannot write the plugin cache");
        }
        let component =
            deserialize_bytes(engine, &compiled).map_err(|e| fail(format!("cannot load compiled code: {e:#}")))?;
        CompiledPlugin::from_component(engine, spec, component, sum).map(|p| (p, CacheOutcome::Compiled))
    }

    fn file_for(&self, engine: &PluginEngine, sum: &[u8; 32]) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{}-{:016x}.cwasm", hex::encode(sum), engine.compatibility_hash())))
    }
}

fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)
}

#[allow(unsafe_code)]
fn deserialize(engine: &PluginEngine, file: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `precompile_component` of an engine with the same
    // compatibility hash (it is in the file name), renamed into place whole, and never
    // modified afterwards (new versions get new names), as `deserialize_file` requires.
    unsafe { Component::deserialize_file(&engine.engine, file) }
}

#[allow(unsafe_code)]
fn deserialize_bytes(engine: &PluginEngine, bytes: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: the bytes come straight from `precompile_component` on this very engine.
    unsafe { Component::deserialize(&engine.engine, bytes) }
}
