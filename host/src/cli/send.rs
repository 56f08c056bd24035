//! `switchyard send`: build a correctly signed sample webhook for one configured source, POST
//! it, print the answer. The local way to try a route, as the platforms' docs suggest
//! simulating events.
//!
//! What the webhook looks like (body shape, scope placement, id form, signature) is the
//! source's provider's (`Provider::sample`); this module only reads the command line and the
//! config, POSTs, and prints. It never verifies anything and never prints a secret.

use crate::config::Config;
use crate::providers::{self as provider, SampleError};
use anyhow::Context;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long `send` waits for the gateway's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// What to send, as the command line says it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The `[sources.NAME]` to send to.
    pub source: String,
    /// The event type; each provider has a sample one.
    pub scope: Option<String>,
    /// The event's own data (the part inside the platform's envelope); a sample when `None`.
    pub data: Option<Value>,
    /// Where to POST; `http://{server.listen}/hooks/{source}` when `None`.
    pub url: Option<String>,
}

/// A webhook ready to POST.
#[derive(Debug, Clone)]
pub struct Sample {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub scope: String,
    /// Whether the source has a secret to sign with (else it accepts unsigned webhooks).
    pub signed: bool,
}

/// The gateway's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Why a sample cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// `--source` names no `[sources.NAME]`.
    #[error("no source named `{name}` in the config (sources: {known})")]
    UnknownSource { name: String, known: String },
    /// The provider cannot make a sample of this data.
    #[error(transparent)]
    Sample(#[from] SampleError),
}

/// `switchyard send …`: load the config, build, POST, print; `Ok(false)` on a non-2xx answer.
pub async fn run(config: &Path, request: Request, data: Option<String>, file: Option<PathBuf>) -> anyhow::Result<bool> {
    let config = crate::config::load(config, &crate::config::process_env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = match (data, file) {
        (Some(text), _) => Some(text),
        (None, Some(path)) => {
            Some(std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?)
        }
        (None, None) => None,
    };
    let data = text.map(|t| serde_json::from_str(&t).context("--data/--file is not JSON")).transpose()?;
    let sample = build(&config, &Request { data, ..request }, now_unix(), &uuid::Uuid::now_v7().to_string())?;
    let unsigned = if sample.signed { "" } else { ", unsigned: the source has no secrets" };
    eprintln!("POST {} (scope {}{unsigned})", sample.url, sample.scope);
    let answer = post(&sample).await?;
    println!("HTTP {}", answer.status);
    println!("{}", answer.body);
    Ok((200..300).contains(&answer.status))
}

/// Builds the webhook `request` describes, signed at `now_unix`; `id` makes it unique (it
/// becomes the delivery id, message id or event id, as the platform names it).
pub fn build(config: &Config, request: &Request, now_unix: i64, id: &str) -> Result<Sample, SendError> {
    let source = config.sources.get(&request.source).ok_or_else(|| SendError::UnknownSource {
        name: request.source.clone(),
        known: config.sources.keys().map(String::as_str).collect::<Vec<_>>().join(", "),
    })?;
    let sender = provider::build(source.provider, source.settings.clone());
    let sample = sender.sample(request.scope.as_deref(), request.data.clone(), now_unix, id)?;
    let url = request.url.clone().unwrap_or_else(|| default_url(&config.server.listen, &request.source));
    let signed = !source.settings.secrets.is_empty();
    Ok(Sample { url, headers: sample.headers, body: sample.body, scope: sample.scope, signed })
}

/// POSTs a sample and reads the answer, whatever its status.
pub async fn post(sample: &Sample) -> anyhow::Result<Answer> {
    let client = reqwest::Client::builder().timeout(ANSWER_TIMEOUT).build().context("cannot build an HTTP client")?;
    let mut request = client.post(&sample.url).body(sample.body.clone());
    for (name, value) in &sample.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.with_context(|| format!("cannot POST to {}", sample.url))?;
    let status = response.status().as_u16();
    let body = response.text().await.context("cannot read the answer")?;
    Ok(Answer { status, body })
}

/// Where a gateway listening on `listen` takes webhooks for `source`; an unspecified address
/// (all interfaces) is reached through loopback.
fn default_url(listen: &str, source: &str) -> String {
    let host = listen.replacen("0.0.0.0", "127.0.0.1", 1).replacen("[::]", "[::1]", 1);
    format!("http://{host}/hooks/{source}")
}

fn now_unix() -> i64 {
    i64::try_from(crate::event::now_ms() / 1000).unwrap_or(i64::MAX)
}

/// Every provider's sample, through this module's API (the platform names live in that file).
#[cfg(test)]
#[path = "send_tests.rs"]
mod tests;
