//! `switchyard destinations list|pause|resume`: destinations' limits and state, and the
//! operator's switch.
//!
//! Opens the store beside a gateway that may be serving it: a pause or resume is in the store,
//! and every gateway sharing it acts on it within a second. Requests in flight are in each
//! gateway's memory, so they are on `GET /api/destinations`, not here.

use super::ConfigArg;
use crate::queue::PausedBy;
use clap::Subcommand;

/// `switchyard destinations …`
#[derive(Debug, Subcommand)]
pub enum DestinationsCommand {
    /// Each destination: limits, state, and its deliveries by state.
    List {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Stop sending to a destination: its deliveries wait, keeping their attempts.
    Pause {
        name: String,
        /// Why, for whoever looks next.
        #[arg(long, default_value = "paused by an operator")]
        reason: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Send to a paused destination again: its waiting deliveries go out within its limits.
    Resume {
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub async fn run(command: DestinationsCommand) -> anyhow::Result<bool> {
    match command {
        DestinationsCommand::List { json, config } => list(&config, json).await,
        DestinationsCommand::Pause { name, reason, config } => {
            let (loaded, store) = super::open_store(&config)?;
            known(&loaded, &name)?;
            let newly = store.pause_destination(&name, PausedBy::Operator, &reason, None).await?;
            let was = if newly { "" } else { " (it was paused already; the reason is updated)" };
            println!("{name} paused{was}: its deliveries wait until `switchyard destinations resume {name}`");
            Ok(true)
        }
        DestinationsCommand::Resume { name, config } => {
            let (loaded, store) = super::open_store(&config)?;
            known(&loaded, &name)?;
            if store.resume_destination(&name, false).await? {
                println!("{name} resumed: its waiting deliveries go out within its limits");
            } else {
                println!("{name} was not paused");
            }
            Ok(true)
        }
    }
}

fn known(config: &crate::config::Config, name: &str) -> anyhow::Result<()> {
    if !config.destinations.contains_key(name) {
        let names: Vec<&str> = config.destinations.keys().map(String::as_str).collect();
        anyhow::bail!("no destination is named `{name}` (destinations: {})", names.join(", "));
    }
    Ok(())
}

async fn list(config: &std::path::Path, json: bool) -> anyhow::Result<bool> {
    let (loaded, store) = super::open_store(config)?;
    let pauses = store.destination_pauses().await?;
    let counts = store.destination_counts().await?;
    if !json {
        println!(
            "{:<16}  {:<28}  {:>8}  {:>5}  {:>8}  {:>7}  {:>7}  {:>6}",
            "destination", "state", "rate", "conc", "pending", "paused", "waiting", "dead"
        );
    }
    for d in loaded.destinations.values() {
        let pause = pauses.iter().find(|p| p.destination == d.name);
        let c = counts.get(&d.name).cloned().unwrap_or_default();
        if json {
            let line = serde_json::json!({
                "name": d.name,
                "state": if pause.is_some() { "paused" } else { "active" },
                "pause": pause,
                "rate": d.limits.rate.map(|r| r.to_string()),
                "concurrency": d.limits.concurrency,
                "deliveries": c,
            });
            println!("{line}");
            continue;
        }
        let state = pause.map_or_else(|| "active".to_string(), |p| format!("paused by {}", p.paused_by.as_str()));
        let rate = d.limits.rate.map_or_else(|| "-".into(), |r| r.to_string());
        let conc = d.limits.concurrency.map_or_else(|| "-".into(), |c| c.to_string());
        println!(
            "{:<16}  {:<28}  {:>8}  {:>5}  {:>8}  {:>7}  {:>7}  {:>6}",
            d.name, state, rate, conc, c.pending, c.paused, c.waiting, c.dead
        );
        if let Some(p) = pause {
            println!("{:<16}  reason: {}", "", crate::telemetry::Escaped(&p.reason));
        }
    }
    Ok(true)
}
