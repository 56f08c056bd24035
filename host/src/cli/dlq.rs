//! `switchyard dlq list|replay`: the dead-letter queue, from the command line.
//!
//! Opens the store named in the config beside a gateway that may be serving it (no lease is
//! touched); a replay makes the dead letters due now, and the serving gateway picks them up
//! within a moment, delivering to the destination as routes.toml defines it *now* — so fix the
//! destination first, then replay.

use super::DlqCommand;
use crate::queue::{ReplaySelector, Store};
use std::path::Path;

pub async fn run(command: DlqCommand) -> anyhow::Result<bool> {
    match command {
        DlqCommand::List { limit, json, config } => list(&config, limit, json).await,
        DlqCommand::Replay { id, all, destination, config } => {
            let selector = match (id, all, destination) {
                (Some(id), _, _) => ReplaySelector::Id(id),
                (None, true, _) => ReplaySelector::All,
                (None, false, Some(d)) => ReplaySelector::Destination(d),
                (None, false, None) => anyhow::bail!("say which: an ID, --all or --destination NAME"),
            };
            replay(&config, selector).await
        }
    }
}

fn open(config: &Path) -> anyhow::Result<Store> {
    super::open_store(config).map(|(_, store)| store)
}

async fn list(config: &Path, limit: usize, json: bool) -> anyhow::Result<bool> {
    let dead = open(config)?.dead_letters(limit).await?;
    if json {
        for d in &dead {
            println!("{}", serde_json::to_string(d)?);
        }
        return Ok(true);
    }
    if dead.is_empty() {
        println!("no dead letters");
        return Ok(true);
    }
    println!("{:<36}  {:<8}  {:<16}  {:>8}  error", "id", "kind", "destination", "attempts");
    for d in &dead {
        let destination = d.destination.as_deref().or(d.route.as_deref()).unwrap_or("-");
        println!("{:<36}  {:<8}  {:<16}  {:>8}  {}", d.id, d.kind, destination, d.attempts, d.error);
    }
    println!("{} dead letter(s); replay with `switchyard dlq replay ID | --all | --destination NAME`", dead.len());
    Ok(true)
}

async fn replay(config: &Path, selector: ReplaySelector) -> anyhow::Result<bool> {
    let n = open(config)?.replay(selector.clone()).await?;
    match (n, &selector) {
        (0, ReplaySelector::Id(id)) => {
            eprintln!("no dead letter has the id {id}");
            Ok(false)
        }
        (n, _) => {
            println!("{n} dead letter(s) queued for delivery again");
            Ok(true)
        }
    }
}
