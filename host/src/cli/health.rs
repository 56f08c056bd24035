//! `switchyard health`: asks a serving gateway's admin listener whether it is ready
//! (`GET /ready`) and exits 0 when it is. For container health checks and scripts, where no
//! curl may exist (the image is `FROM scratch`). Reads nothing but the answer.

use super::ConfigArg;
use super::admin_http::AdminHttp;
use crate::telemetry::Escaped;
use anyhow::Context;
use std::time::Duration;

/// How long the answer may take before the gateway counts as not ready.
const PATIENCE: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// The admin listener's base URL (default: `http://{server.admin}` from the config, which
    /// is then not needed).
    #[arg(long, visible_alias = "url")]
    admin_url: Option<String>,
    /// Ask `/health` (the process answers) instead of `/ready` (it can accept webhooks).
    #[arg(long)]
    live: bool,
    #[command(flatten)]
    config: ConfigArg,
}

/// `Ok(true)` when the gateway answered 200; `Ok(false)` (exit 1) when it answered otherwise
/// or not at all within [`PATIENCE`].
pub async fn run(args: HealthArgs) -> anyhow::Result<bool> {
    let config = match &args.admin_url {
        Some(_) => None,
        None => {
            Some(crate::config::load(&args.config, &crate::config::process_env).map_err(|e| anyhow::anyhow!("{e}"))?)
        }
    };
    let admin = AdminHttp::new(config.as_ref(), args.admin_url.as_deref(), "health")?;
    let path = if args.live { "/health" } else { "/ready" };
    let url = admin.url(path)?;
    let answer = tokio::time::timeout(PATIENCE, async {
        let response = admin.get(url).send().await.context("cannot reach the admin listener")?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        anyhow::Ok((status, body))
    })
    .await;
    match answer {
        Ok(Ok((status, _))) if status.is_success() => {
            println!("{}{path}: {status}", admin.base);
            Ok(true)
        }
        Ok(Ok((status, body))) => {
            println!("{}{path}: {status} {}", admin.base, Escaped::cut(body.trim(), 300));
            Ok(false)
        }
        Ok(Err(e)) => {
            println!("{}{path}: {e:#}", admin.base);
            Ok(false)
        }
        Err(_) => {
            println!("{}{path}: no answer within {}s", admin.base, PATIENCE.as_secs());
            Ok(false)
        }
    }
}
