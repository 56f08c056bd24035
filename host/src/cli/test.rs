//! `switchyard test [FILE…]`: runs route test files (default: `routes.test.toml` beside the
//! config) against the config and its plugins, in process, and exits 1 when a case fails.
//! `--format junit` writes JUnit XML for CI instead of the text report.

use super::ConfigArg;
use crate::plugin::{ComponentCache, PluginEngine};
use crate::route_tests::{self, TestFile};
use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A line per case, each difference under a failed one.
    #[default]
    Text,
    /// JUnit XML.
    Junit,
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Test files (default: routes.test.toml beside the config).
    files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    config: ConfigArg,
}

pub async fn run(args: TestArgs) -> anyhow::Result<bool> {
    let files = if args.files.is_empty() {
        vec![crate::app::config_dir(&args.config).join("routes.test.toml")]
    } else {
        args.files.clone()
    };
    let engine = PluginEngine::new().map_err(|e| anyhow::anyhow!("{e:#}")).context("cannot create the wasm engine")?;
    let cache = ComponentCache::new(ComponentCache::default_dir(&crate::config::process_env));
    let mut results = Vec::new();
    for path in &files {
        let file = TestFile::load(path)?;
        let ran = route_tests::run_file(&args.config, &file, &engine, &cache)
            .await
            .with_context(|| format!("cannot run {}", path.display()))?;
        results.extend(ran);
    }
    let report = match args.format {
        Format::Text => route_tests::text(&results),
        Format::Junit => route_tests::junit(&results),
    };
    print!("{report}");
    Ok(results.iter().all(route_tests::CaseResult::passed))
}
