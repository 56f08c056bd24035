//! `Snapshot`: one complete, immutable generation of the gateway's configuration — the
//! config, its routing table, its providers, its compiled plugins and its listeners'
//! certificates.
//!
//! A snapshot is built whole, off the request path, and only then published; requests and
//! events hold an `Arc` to the one they started with. Building reuses the previous snapshot's
//! plugins whose bytes are unchanged (relinked if only their settings changed), so a reload
//! compiles only what changed. It records the digest of every file it was built from, so the
//! watcher can tell a real change from a touch. Building never publishes anything itself.

use crate::config::{Config, ConfigError, ConfigErrors, Location};
use crate::plugin::{CacheOutcome, CompiledPlugin, ComponentCache, PluginEngine};
use crate::providers::{self as provider, Provider};
use crate::routing::Table;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// One generation of configuration, compiled and ready to serve.
pub struct Snapshot {
    pub config: Arc<Config>,
    /// Which routes an event takes.
    pub routes: Table,
    pub providers: HashMap<String, Arc<dyn Provider>>,
    pub plugins: HashMap<String, Arc<CompiledPlugin>>,
    pub built_at: SystemTime,
    /// SHA-256 of each file this snapshot was built from: its plugins (the bytes compiled), its
    /// certificates and keys, and, once [`Reloader`](super::Reloader) adds it, the config file.
    pub inputs: BTreeMap<PathBuf, [u8; 32]>,
    /// What the TLS listeners present, when the config gives them certificates.
    pub certs: Certs,
}

/// The certificates the listeners present, read at this snapshot's build.
#[derive(Debug, Default, Clone)]
pub struct Certs {
    pub ingest: Option<Arc<rustls::sign::CertifiedKey>>,
    pub admin: Option<Arc<rustls::sign::CertifiedKey>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("routes", &self.config.routes.len())
            .field("plugins", &self.plugins.len())
            .finish_non_exhaustive()
    }
}

/// What a build did with each plugin, for the reload log.
#[derive(Debug, Default, Clone)]
pub struct BuildReport {
    pub compiled: Vec<String>,
    pub from_cache: Vec<String>,
    pub reused: Vec<String>,
}

impl Snapshot {
    /// Compiles `config` into a snapshot, reusing what `previous` already compiled.
    pub fn build(
        config: Config,
        engine: &Arc<PluginEngine>,
        cache: &ComponentCache,
        previous: Option<&Snapshot>,
    ) -> Result<(Self, BuildReport), ConfigErrors> {
        let mut errors = Vec::new();
        let mut report = BuildReport::default();
        let mut plugins = HashMap::new();
        let mut inputs = BTreeMap::new();
        for (name, spec) in &config.plugins {
            let bytes = match std::fs::read(&spec.path) {
                Ok(b) => b,
                Err(e) => {
                    errors.push(plugin_error(&config, name, format!("cannot read {}: {e}", spec.path.display())));
                    continue;
                }
            };
            let sum = crate::plugin::digest(&bytes);
            inputs.insert(spec.path.clone(), sum);
            let old = previous.and_then(|p| p.plugins.get(name)).filter(|p| p.digest() == sum);
            let loaded = match old {
                Some(old) if old.spec() == spec => {
                    report.reused.push(name.clone());
                    Ok(old.clone())
                }
                Some(old) => old.with_spec(spec).map(Arc::new).inspect(|_| report.reused.push(name.clone())),
                None => cache.load(engine, spec, &bytes).map(|(p, outcome)| {
                    match outcome {
                        CacheOutcome::Hit => report.from_cache.push(name.clone()),
                        CacheOutcome::Compiled => report.compiled.push(name.clone()),
                    }
                    Arc::new(p)
                }),
            };
            match loaded {
                Ok(p) => {
                    plugins.insert(name.clone(), p);
                }
                Err(e) => errors.push(plugin_error(&config, name, e.message)),
            }
        }
        let mut certs = Certs::default();
        let listeners = [
            ("server.tls", &config.server.tls, &mut certs.ingest),
            ("server.admin_tls", &config.server.admin_tls, &mut certs.admin),
        ];
        for (key, files, slot) in listeners {
            let Some(files) = files else { continue };
            for pem in [&files.cert, &files.key] {
                inputs.insert(pem.path.clone(), crate::plugin::digest(&pem.bytes));
            }
            match crate::tls::certified_key(&files.cert.bytes, &files.key.bytes) {
                Ok(certified) => *slot = Some(certified),
                Err(e) => errors.push(ConfigError::new(
                    &config.path,
                    None,
                    format!("{key}: {} and {}: {e}", files.cert.path.display(), files.key.path.display()),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let providers = config
            .sources
            .iter()
            .map(|(name, s)| (name.clone(), Arc::from(provider::build(s.provider, s.settings.clone()))))
            .collect();
        let built_at = SystemTime::now();
        let config = Arc::new(config);
        let routes = Table::new(config.clone());
        Ok((Self { config, routes, providers, plugins, built_at, inputs, certs }, report))
    }
}

/// An error about plugin `name`, located at its `path` key in the config file when it is found.
fn plugin_error(config: &Config, name: &str, message: String) -> ConfigError {
    let key = format!("plugins.{name}.path");
    match locate_plugin_path(&config.path, name) {
        Some((line, column)) => ConfigError::new(&config.path, Some(Location { line, column, key }), message),
        None => ConfigError::new(&config.path, None, format!("{key}: {message}")),
    }
}

/// Line and column of the value of `path` in the `[plugins.NAME]` table, read from the file
/// again (the compiled config keeps no spans). `None` when the file is written another way.
fn locate_plugin_path(file: &Path, name: &str) -> Option<(usize, usize)> {
    let text = std::fs::read_to_string(file).ok()?;
    let headers = [format!("[plugins.{name}]"), format!("[plugins.\"{name}\"]")];
    let mut lines = text.lines().enumerate();
    let (header, _) = lines.by_ref().find(|(_, l)| headers.iter().any(|h| l.trim() == h))?;
    for (i, line) in lines {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            break;
        }
        if let Some((key, value)) = trimmed.split_once('=')
            && key.trim() == "path"
        {
            let value_start = line.len() - value.trim_start().len();
            return Some((i + 1, line[..value_start].chars().count() + 1));
        }
    }
    Some((header + 1, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_error_points_at_its_path_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("routes.toml");
        let text = "[plugins.other]\npath = \"o.wasm\"\n\n[plugins.p]\ntimeout_ms = 5\npath  = \"p.wasm\"\n";
        std::fs::write(&file, text).unwrap();
        assert_eq!(locate_plugin_path(&file, "p"), Some((6, 9)));
        assert_eq!(locate_plugin_path(&file, "missing"), None);
    }
}
