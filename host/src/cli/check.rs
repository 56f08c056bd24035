//! `switchyard check`: validate routes.toml and compile every plugin, printing each problem
//! as `file:line:column: key: message`. Exit status 1 when anything is wrong.

use crate::plugin::{ComponentCache, PluginEngine};
use crate::reload::Snapshot;
use std::path::Path;

pub async fn run(path: &Path) -> anyhow::Result<bool> {
    let config = match crate::config::load(path, &crate::config::process_env) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{}: {} error(s)", path.display(), errors.0.len());
            return Ok(false);
        }
    };
    for w in &config.warnings {
        eprintln!("{}: warning: {w}", path.display());
    }
    let (sources, plugins, routes) = (config.sources.len(), config.plugins.len(), config.routes.len());
    let engine = PluginEngine::new().map_err(|e| anyhow::anyhow!("cannot create the wasm engine: {e:#}"))?;
    let built =
        tokio::task::spawn_blocking(move || Snapshot::build(config, &engine, &ComponentCache::new(None), None)).await?;
    match built {
        Ok(_) => {
            println!("{}: ok ({sources} sources, {plugins} plugins compiled, {routes} routes)", path.display());
            Ok(true)
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{}: {} error(s)", path.display(), errors.0.len());
            Ok(false)
        }
    }
}
