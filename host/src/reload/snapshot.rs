//! `Snapshot`: one complete, immutable generation of the gateway's configuration — the
//! config, its routing trie, its providers and its compiled plugins.
//!
//! A snapshot is built whole, off the request path, and only then published; requests and
//! events hold an `Arc` to the one they started with. Building reuses the previous snapshot's
//! plugins whose bytes are unchanged (relinked if only their settings changed), so a reload
//! compiles only what changed. Building never publishes anything itself.

use crate::config::{Config, ConfigError, ConfigErrors};
use crate::plugin::{CacheOutcome, CompiledPlugin, ComponentCache, PluginEngine};
use crate::scope::Matcher;
use crate::sources::provider::{self, Provider};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

/// One generation of configuration, compiled and ready to serve.
pub struct Snapshot {
    pub config: Arc<Config>,
    pub matcher: Matcher,
    pub providers: HashMap<String, Arc<dyn Provider>>,
    pub plugins: HashMap<String, Arc<CompiledPlugin>>,
    pub built_at: SystemTime,
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
        for (name, spec) in &config.plugins {
            let bytes = match std::fs::read(&spec.path) {
                Ok(b) => b,
                Err(e) => {
                    errors.push(plugin_error(&config, name, format!("cannot read {}: {e}", spec.path.display())));
                    continue;
                }
            };
            let sum = crate::plugin::digest(&bytes);
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
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let matcher = Matcher::new(config.routes.iter().map(|r| r.patterns.clone()).collect());
        let providers = config
            .sources
            .iter()
            .map(|(name, s)| (name.clone(), Arc::from(provider::build(s.provider, s.settings.clone()))))
            .collect();
        Ok((Self { config: Arc::new(config), matcher, providers, plugins, built_at: SystemTime::now() }, report))
    }
}

fn plugin_error(config: &Config, name: &str, message: String) -> ConfigError {
    ConfigError::new(&config.path, None, format!("plugins.{name}.path: {message}"))
}
