//! The `switchyard` command line: one file per subcommand, dispatched from here.

mod check;
mod explain;
mod serve;

use crate::telemetry::LogFormat;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about = "An edge gateway for webhooks")]
pub struct Cli {
    /// Log lines as text (default) or JSON.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve webhooks as routes.toml says, reloading it when it or a plugin changes.
    Serve {
        #[arg(long, short, default_value = "routes.toml")]
        config: PathBuf,
        /// Do not watch files for changes (SIGHUP still reloads).
        #[arg(long)]
        no_watch: bool,
        /// Seconds to let work in flight finish after SIGTERM/SIGINT.
        #[arg(long, default_value_t = 10)]
        grace: u64,
    },
    /// Validate the config and compile every plugin; exit non-zero on any error.
    Check {
        #[arg(long, short, default_value = "routes.toml")]
        config: PathBuf,
    },
    /// Show which routes a scope matches, in order, with captured parameters.
    Explain {
        /// An event type, e.g. store/order/created.
        scope: String,
        /// Only consider routes open to this source.
        #[arg(long)]
        source: Option<String>,
        #[arg(long, short, default_value = "routes.toml")]
        config: PathBuf,
    },
}

/// Runs the parsed command; `Ok(false)` means "ran, but found problems" (exit status 1).
pub async fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Serve { config, no_watch, grace } => serve::run(config, !no_watch, grace).await,
        Command::Check { config } => check::run(&config).await,
        Command::Explain { scope, source, config } => explain::run(&config, &scope, source.as_deref()),
    }
}
