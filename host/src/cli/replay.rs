//! `switchyard replay`: run stored events through the current routes and plugins again.
//!
//! Opens the store beside a gateway that may be serving it; the replayed events become pending,
//! and the serving gateway runs them within a moment under the routes.toml it serves — so add
//! or fix the route first, then replay. What is selected and how is [`crate::replay`].

use super::ConfigArg;
use crate::replay::{self, ReplayError, Request};

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["event", "since"]))]
pub struct ReplayArgs {
    /// One event, by id (`evt_…`).
    #[arg(long, conflicts_with_all = ["since", "until", "source", "state"])]
    event: Option<String>,
    /// Events received since: a duration ago (`2h`, `30m`) or a time (`2026-12-03T10:00:00Z`).
    #[arg(long)]
    since: Option<String>,
    /// …and before this (same forms); default now.
    #[arg(long)]
    until: Option<String>,
    /// Only events that arrived on this source.
    #[arg(long)]
    source: Option<String>,
    /// Run only this route (the others are not run again).
    #[arg(long)]
    route: Option<String>,
    /// Which finished events: `dead` (or with a dead delivery), `delivered`, or `any`.
    #[arg(long, default_value = "any")]
    state: String,
    /// Say what would be replayed, and change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    config: ConfigArg,
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<bool> {
    let (config, store) = super::open_store(&args.config)?;
    let request = Request {
        event: args.event,
        since: args.since,
        until: args.until,
        source: args.source,
        route: args.route,
        state: Some(args.state),
        dry_run: args.dry_run,
    };
    let report = match replay::run(&store, &config, &request).await {
        Ok(report) => report,
        Err(ReplayError::Request(why)) => anyhow::bail!("{why}"),
        Err(ReplayError::Store(e)) => return Err(anyhow::Error::new(e).context("cannot replay")),
    };
    if let Some(note) = &report.note {
        eprintln!("note: {note}");
    }
    if let Some(why) = &report.refused {
        eprintln!("{why}");
        return Ok(false);
    }
    for id in &report.events {
        println!("{id}");
    }
    if report.events.len() < report.count {
        println!("… and {} more", report.count - report.events.len());
    }
    let only = request.route.as_deref().map(|r| format!(" (route `{r}` only)")).unwrap_or_default();
    if report.dry_run {
        println!("{} event(s) would be replayed{only}; nothing was changed", report.count);
    } else {
        println!("{} event(s) replayed{only}: the gateway runs them within a moment", report.count);
    }
    Ok(true)
}
