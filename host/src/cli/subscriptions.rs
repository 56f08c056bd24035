//! `switchyard subscriptions plan|apply|status`: the platform's registered hooks against what
//! the routes need. `plan` changes nothing; `apply` does what `plan` prints (a second `apply`
//! finds nothing to do); `status` lists every hook with whether it is active. Tokens are never
//! printed: stores are named by their hash.

use super::ConfigArg;
use crate::providers::bigcommerce::hooks as subscriptions;
use clap::{Args, Subcommand};
use std::path::Path;

/// `switchyard subscriptions …`
#[derive(Debug, Subcommand)]
pub enum SubscriptionsCommand {
    /// Print, per store, what `apply` would create, update, reactivate or delete.
    Plan(PlanArgs),
    /// Make the registered hooks what the routes need.
    Apply(PlanArgs),
    /// List every registered hook of each store, with `is_active`.
    Status {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// What `plan` and `apply` are given: `apply` carries out exactly what `plan` prints.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Only this source.
    #[arg(long)]
    source: Option<String>,
    /// Also delete hooks this gateway did not make (the plan lists them).
    #[arg(long)]
    prune: bool,
    #[command(flatten)]
    config: ConfigArg,
}

pub async fn run(command: SubscriptionsCommand) -> anyhow::Result<bool> {
    match command {
        SubscriptionsCommand::Plan(args) => plan(&args, false).await,
        SubscriptionsCommand::Apply(args) => plan(&args, true).await,
        SubscriptionsCommand::Status { source, config } => status(&config, source.as_deref()).await,
    }
}

fn load(config: &Path) -> anyhow::Result<crate::config::Config> {
    crate::config::load(config, &crate::config::process_env).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Prints the plan; with `apply`, carries it out. `Ok(false)` when a store could not be read
/// or changed.
async fn plan(args: &PlanArgs, apply: bool) -> anyhow::Result<bool> {
    let config = load(&args.config)?;
    let deadline = tokio::time::Instant::now() + subscriptions::api::PATIENCE;
    let (plans, notes) = subscriptions::plan_all(&config, args.source.as_deref(), args.prune, deadline).await?;
    for note in notes {
        println!("note: {note}");
    }
    let http = subscriptions::http_client()?;
    let mut ok = true;
    for store_plan in plans {
        println!("store {} (source {}):", store_plan.store_hash, store_plan.source);
        let changes = match store_plan.changes {
            Ok(changes) => changes,
            Err(e) => {
                println!("  cannot read its hooks: {e}");
                ok = false;
                continue;
            }
        };
        if changes.is_empty() {
            println!("  (no hooks, none needed)");
        }
        for change in &changes {
            println!("  {change}");
        }
        let acting = changes.iter().filter(|c| c.acts()).count();
        if !apply {
            println!("  {acting} change(s)");
            continue;
        }
        let Some((source, subscribe)) =
            config.sources.get(&store_plan.source).and_then(|s| Some((s, s.subscribe.as_ref()?)))
        else {
            continue;
        };
        let Some(store) = subscribe.stores.iter().find(|s| s.store_hash == store_plan.store_hash) else { continue };
        let (wanted, _) = subscriptions::wanted(&config, source, subscribe);
        let api = subscriptions::api(&http, subscribe, store, deadline);
        let applied = subscriptions::apply(&api, &wanted, &changes).await;
        println!("  applied: {} change(s)", applied.done);
        for (change, e) in &applied.failed {
            println!("  failed: {}: {e}", change.to_string().trim_start_matches(['+', '~', '^', '-', '!', ' ']));
        }
        ok &= applied.failed.is_empty();
    }
    Ok(ok)
}

async fn status(config: &Path, only: Option<&str>) -> anyhow::Result<bool> {
    let config = load(config)?;
    let http = subscriptions::http_client()?;
    let deadline = tokio::time::Instant::now() + subscriptions::api::PATIENCE;
    let mut ok = true;
    for (source, subscribe) in subscriptions::subscribing(&config, only)? {
        for store in &subscribe.stores {
            println!("store {} (source {}):", store.store_hash, source.name);
            match subscriptions::api(&http, subscribe, store, deadline).list().await {
                Ok(hooks) if hooks.is_empty() => println!("  no hooks registered"),
                Ok(hooks) => {
                    for h in hooks {
                        let state = if h.is_active { "active  " } else { "INACTIVE" };
                        let ours = if h.destination == subscribe.public_url { "" } else { " (not this gateway's)" };
                        println!("  #{:<8} {state} {} → {}{ours}", h.id, h.scope, h.destination);
                    }
                }
                Err(e) => {
                    println!("  cannot read its hooks: {e}");
                    ok = false;
                }
            }
        }
    }
    Ok(ok)
}
