//! The `switchyard` command line: one file per subcommand, dispatched from here.

mod admin_http;
mod check;
mod destinations;
mod dlq;
pub(crate) mod explain;
mod health;
pub mod init;
mod kv;
mod nodes;
pub mod plugin_new;
mod plugin_run;
pub mod plugin_sdk;
mod replay;
pub(crate) mod schema;
pub mod send;
mod serve;
mod subscriptions;
mod tail;
mod test;

use crate::config::Config;
use crate::queue::Store;
use crate::telemetry::LogFormat;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use tokio::runtime::Handle;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version = crate::build_info::SHORT_VERSION,
    long_version = crate::build_info::long_version(),
    about = "An edge gateway for webhooks"
)]
pub struct Cli {
    /// Log lines as text (default) or JSON.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// `--config FILE`: the routing table a command reads, `routes.toml` in the working directory
/// unless given here or in `SWITCHYARD_CONFIG` (what the container image sets).
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArg {
    /// The routing table.
    #[arg(long = "config", short = 'c', default_value = "routes.toml", env = "SWITCHYARD_CONFIG")]
    pub path: PathBuf,
}

impl std::ops::Deref for ConfigArg {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starter routes.toml and the example plugins into a directory, ready to serve.
    Init(init::InitArgs),
    /// Serve webhooks as routes.toml says, reloading it when it or a plugin changes.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Do not watch files for changes (SIGHUP still reloads).
        #[arg(long)]
        no_watch: bool,
        /// Seconds to let work in flight finish after SIGTERM/SIGINT.
        #[arg(long, default_value_t = 10)]
        grace: u64,
    },
    /// Validate the config and compile every plugin; exit non-zero on any error.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Run route tests (routes.test.toml) against the config and its plugins; exit 1 on a failure.
    Test(test::TestArgs),
    /// Print the JSON Schema of routes.toml (for editors and `taplo check`).
    Schema(schema::SchemaArgs),
    /// Show which routes a scope matches, in order, with captured parameters and filters.
    Explain {
        /// An event type, e.g. store/order/created.
        scope: String,
        /// Only consider routes open to this source.
        #[arg(long)]
        source: Option<String>,
        /// A body (JSON file): say whether each route's filter holds for it, and its order key.
        #[arg(long)]
        body: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Run stored events through the current routes and plugins again.
    Replay(replay::ReplayArgs),
    /// List destinations with their limits and state; pause or resume one.
    Destinations {
        #[command(subcommand)]
        command: destinations::DestinationsCommand,
    },
    /// Keep the platform's registered webhooks (BigCommerce) in step with the routes.
    Subscriptions {
        #[command(subcommand)]
        command: subscriptions::SubscriptionsCommand,
    },
    /// Follow events as they are accepted, routed, delivered or failed (from the admin listener).
    Tail(tail::TailArgs),
    /// Exit 0 when a serving gateway is ready (`GET /ready` on its admin listener), else 1.
    Health(health::HealthArgs),
    /// The gateways sharing this store: id, host, version, heartbeat, leases held.
    Nodes {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Inspect and replay the dead-letter queue.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Make a plugin project, or run a plugin once outside a gateway.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Look at and change plugins' key–value state.
    Kv {
        #[command(subcommand)]
        command: KvCommand,
    },
    /// POST a correctly signed sample webhook to a source, as its platform would send it.
    Send {
        /// The `[sources.NAME]` to send to; its provider shapes and signs the webhook.
        #[arg(long)]
        source: String,
        /// The event type (each provider has a sample one), e.g. store/order/created.
        #[arg(long)]
        scope: Option<String>,
        /// The event's data as JSON, put inside the platform's envelope.
        #[arg(long, conflicts_with = "file")]
        data: Option<String>,
        /// Read the data from a JSON file instead.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Where to POST (default: http://{server.listen}/hooks/{source}).
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

impl Command {
    /// Whether the command's output is its report (`test`, `schema`, `health`, `init`), so the
    /// log shows only warnings unless `RUST_LOG` asks for more.
    pub fn reports_alone(&self) -> bool {
        matches!(self, Command::Test(_) | Command::Schema(_) | Command::Health(_) | Command::Init(_))
    }

    /// The OTLP endpoint `serve`'s config names, read before logging starts (the exporter is
    /// part of the log setup); a config that does not load names none, and `serve` reports it.
    pub fn otlp_endpoint(&self) -> Option<String> {
        let Command::Serve { config, .. } = self else { return None };
        crate::config::load(config, &crate::config::process_env).ok()?.telemetry.otlp_endpoint
    }
}

/// `switchyard dlq …`
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters, newest first.
    List {
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Send dead letters again: one by id, all of them, or those of one destination.
    Replay {
        /// A dead letter's id (`dlv_…` or `evt_…`).
        #[arg(required_unless_present_any = ["all", "destination"], conflicts_with_all = ["all", "destination"])]
        id: Option<String>,
        #[arg(long, conflicts_with = "destination")]
        all: bool,
        #[arg(long)]
        destination: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `switchyard plugin …`
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Write a plugin project (Rust, JavaScript, TypeScript or Python) that builds with one
    /// command and has one passing test.
    New(plugin_new::NewArgs),
    /// Call a plugin once, with the real runtime and limits, and print what it did.
    Run(plugin_run::RunArgs),
    /// Write the SDK this binary carries for a language (a crate, an npm package, a wheel).
    Sdk(plugin_sdk::SdkArgs),
}

/// `switchyard kv …`
#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// List a plugin's keys (with their values), in byte order.
    List {
        plugin: String,
        /// Only keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON lines instead of `key<TAB>value`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print the value of one key.
    Get {
        plugin: String,
        key: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Delete one key.
    Delete {
        plugin: String,
        key: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// The whole program once its arguments are parsed: logging (and OTLP export, for `serve`
/// with `[telemetry] otlp_endpoint`), the command, and its exit status: 0, 1 when it ran but
/// found problems, 2 on an error, printed with its whole chain (`{:#}`).
pub async fn main(cli: Cli) -> std::process::ExitCode {
    use std::process::ExitCode;
    let export = match cli.command.otlp_endpoint().map(|e| crate::trace_export::exporter(&e, Handle::current())) {
        Some(Ok(exporter)) => Some(exporter),
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        None => None,
    };
    crate::telemetry::init(cli.log_format, export.as_ref(), cli.command.reports_alone());
    let status = match run(cli).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    };
    // The last spans are sent before the process ends.
    if let Some(exporter) = export {
        exporter.shutdown().await;
    }
    status
}

/// Runs the parsed command; `Ok(false)` means "ran, but found problems" (exit status 1).
pub async fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Init(args) => init::run(args),
        Command::Test(args) => test::run(args).await,
        Command::Schema(args) => schema::run(args),
        Command::Health(args) => health::run(args).await,
        Command::Serve { config, no_watch, grace } => serve::run(config.path, !no_watch, grace).await,
        Command::Check { config } => check::run(&config).await,
        Command::Dlq { command } => dlq::run(command).await,
        Command::Kv { command } => kv::run(command).await,
        Command::Plugin { command: PluginCommand::New(args) } => plugin_new::run(args),
        Command::Plugin { command: PluginCommand::Run(args) } => plugin_run::run(args).await,
        Command::Plugin { command: PluginCommand::Sdk(args) } => plugin_sdk::run(args),
        Command::Explain { scope, source, body, config } => {
            explain::run(&config, &scope, source.as_deref(), body.as_deref())
        }
        Command::Replay(args) => replay::run(args).await,
        Command::Tail(args) => tail::run(args).await,
        Command::Destinations { command } => destinations::run(command).await,
        Command::Subscriptions { command } => subscriptions::run(command).await,
        Command::Nodes { json, config } => nodes::run(&config, json).await,
        Command::Send { source, scope, data, file, url, config } => {
            send::run(&config, send::Request { source, scope, data: None, url }, data, file).await
        }
    }
}

/// Loads `config` and opens its store beside a gateway that may be serving it.
pub(crate) fn open_store(config: &Path) -> anyhow::Result<(Config, Store)> {
    let loaded = crate::config::load(config, &crate::config::process_env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = Store::open_shared(&loaded.storage.url, &crate::app::config_dir(config), loaded.storage.lease)
        .context("cannot open the store")?;
    Ok((loaded, store))
}
