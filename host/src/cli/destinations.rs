//! `switchyard destinations list|pause|resume`: destinations' limits and state, and the
//! operator's switch.
//!
//! Opens the store beside a gateway that may be serving it: a pause or resume is in the store,
//! and every gateway sharing it acts on it within a second. The concurrency limit as it stands,
//! requests in flight and the round-trip baseline are in a serving gateway's memory: `list`
//! asks its admin listener for them (`GET /api/destinations`) and shows `-` when none answers.

use super::ConfigArg;
use crate::config::model::Concurrency;
use crate::queue::PausedBy;
use clap::Subcommand;
use std::collections::HashMap;

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

/// Each destination's live view (`gateway` of `GET /api/destinations`) from a gateway serving
/// this config, if its admin listener answers within a second; empty otherwise.
async fn live_views(config: &crate::config::Config) -> HashMap<String, serde_json::Value> {
    let ask = async {
        let admin = super::admin_http::AdminHttp::new(Some(config), None, "destinations list").ok()?;
        let answer = admin.get(admin.url("/api/destinations").ok()?).send().await.ok()?;
        let bytes = answer.error_for_status().ok()?.bytes().await.ok()?;
        let body: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let list = body.get("destinations")?.as_array()?.clone();
        Some(
            list.into_iter()
                .filter_map(|d| Some((d.get("name")?.as_str()?.to_owned(), d.get("gateway")?.clone())))
                .collect(),
        )
    };
    tokio::time::timeout(std::time::Duration::from_secs(1), ask).await.ok().flatten().unwrap_or_default()
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
    let live = live_views(&loaded).await;
    if !json {
        println!(
            "{:<16}  {:<28}  {:>8}  {:>14}  {:>6}  {:>9}  {:>8}  {:>7}  {:>7}  {:>6}",
            "destination", "state", "rate", "concurrency", "flying", "baseline", "pending", "paused", "waiting", "dead"
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
                "gateway": live.get(&d.name),
                "deliveries": c,
            });
            println!("{line}");
            continue;
        }
        let state = pause.map_or_else(|| "active".to_string(), |p| format!("paused by {}", p.paused_by.as_str()));
        let rate = d.limits.rate.map_or_else(|| "-".into(), |r| r.to_string());
        let view = live.get(&d.name);
        let field = |key: &str| view.and_then(|v| v.get(key)).filter(|v| !v.is_null());
        let conc = match (&d.limits.concurrency, field("concurrency_limit")) {
            (Concurrency::Fixed(n), _) => n.to_string(),
            (Concurrency::Adaptive { .. }, Some(now)) => format!("{now} adaptive"),
            (Concurrency::Adaptive { .. }, None) => "adaptive".into(),
        };
        let flying = field("in_flight").map_or_else(|| "-".into(), |v| v.to_string());
        let baseline =
            field("rtt_baseline_ms").and_then(|v| v.as_f64()).map_or_else(|| "-".into(), |ms| format!("{ms:.1}ms"));
        println!(
            "{:<16}  {:<28}  {:>8}  {:>14}  {:>6}  {:>9}  {:>8}  {:>7}  {:>7}  {:>6}",
            d.name, state, rate, conc, flying, baseline, c.pending, c.paused, c.waiting, c.dead
        );
        if let Some(p) = pause {
            println!("{:<16}  reason: {}", "", crate::telemetry::Escaped(&p.reason));
        }
    }
    Ok(true)
}
