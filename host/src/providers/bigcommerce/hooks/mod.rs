//! Subscriptions: keeping BigCommerce's registered hooks in step with routes.toml.
//!
//! For each `[sources.NAME.subscribe]`, the scopes its routes need (or the ones it lists) are
//! what must be registered, per store, to its `public_url`. `plan.rs` says what to change,
//! `api.rs` speaks the management API, `scopes.rs` knows BigCommerce's scopes, and
//! `checks.rs` holds what the serving gateway's check (`crate::hook_check`) last found. `switchyard subscriptions plan|apply|status`
//! (cli) runs the same code. This module never touches the store or the routing snapshot's
//! state: it reads a config and talks to the platform.

pub mod api;
pub mod checks;
pub mod plan;
pub mod scopes;

use crate::config::Config;
use crate::config::model::{Source, StoreCredentials, Subscribe};
use api::HookBody;
pub use api::{Api, ApiError};
use plan::{Change, Wanted};
use std::collections::BTreeSet;
use tokio::time::Instant;

/// What one source wants registered in each of its stores, with notes on route patterns that
/// gave no scope.
pub fn wanted(config: &Config, source: &Source, subscribe: &Subscribe) -> (Wanted, Vec<String>) {
    let mut notes = Vec::new();
    let scopes = match &subscribe.scopes {
        Some(listed) => listed.iter().cloned().collect(),
        None => {
            let mut scopes = BTreeSet::new();
            let routes = config.routes.iter().filter(|r| r.source.as_ref().is_none_or(|s| *s == source.name));
            for (route, pattern) in routes.flat_map(|r| r.patterns.iter().map(move |p| (r, p))) {
                let registration = scopes::registration(pattern);
                if let Some(note) = registration.note {
                    notes.push(format!("route `{}`: {note}", route.name));
                }
                scopes.extend(registration.scopes);
            }
            scopes
        }
    };
    let siblings = config
        .sources
        .values()
        .filter(|s| s.name != source.name)
        .filter_map(|s| Some(s.subscribe.as_ref()?.public_url.clone()))
        .filter(|url| *url != subscribe.public_url)
        .collect();
    let destination = subscribe.public_url.clone();
    let wanted = Wanted { destination, scopes, headers: subscribe.headers.clone(), siblings };
    (wanted, notes)
}

/// The HTTP client the API calls go out on (the system's roots, else webpki's).
pub fn http_client() -> Result<reqwest::Client, crate::tls::TlsError> {
    let tls = crate::tls::client_config(&crate::tls::ClientTls::default())?;
    reqwest::Client::builder()
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        .use_preconfigured_tls(tls)
        .build()
        .map_err(|e| crate::tls::TlsError::Config(e.to_string()))
}

/// The API of one store of a subscription, for a command (or check) that gives up waiting at
/// `deadline`.
pub fn api(http: &reqwest::Client, subscribe: &Subscribe, store: &StoreCredentials, deadline: Instant) -> Api {
    Api::new(http.clone(), subscribe.api_base.clone(), &store.store_hash, &store.access_token, deadline)
}

/// One store's plan, or why it could not be made.
#[derive(Debug)]
pub struct StorePlan {
    pub source: String,
    pub store_hash: String,
    pub changes: Result<Vec<Change>, ApiError>,
}

/// Plans every store of every subscribing source (or of `only`).
pub async fn plan_all(
    config: &Config,
    only: Option<&str>,
    prune: bool,
    deadline: Instant,
) -> anyhow::Result<(Vec<StorePlan>, Vec<String>)> {
    let http = http_client()?;
    let mut plans = Vec::new();
    let mut notes = Vec::new();
    for (source, subscribe) in subscribing(config, only)? {
        let (wanted, source_notes) = wanted(config, source, subscribe);
        notes.extend(source_notes.into_iter().map(|n| format!("source `{}`: {n}", source.name)));
        for store in &subscribe.stores {
            let api = api(&http, subscribe, store, deadline);
            let changes = api.list().await.map(|hooks| plan::plan(&wanted, &hooks, prune));
            plans.push(StorePlan { source: source.name.clone(), store_hash: store.store_hash.clone(), changes });
        }
    }
    Ok((plans, notes))
}

/// The sources with a `subscribe` table (only `only`, which must have one, when given).
pub fn subscribing<'a>(config: &'a Config, only: Option<&str>) -> anyhow::Result<Vec<(&'a Source, &'a Subscribe)>> {
    let found: Vec<_> = config
        .sources
        .values()
        .filter(|s| only.is_none_or(|name| s.name == name))
        .filter_map(|s| Some((s, s.subscribe.as_ref()?)))
        .collect();
    match only {
        Some(name) if found.is_empty() => anyhow::bail!("source `{name}` has no [sources.{name}.subscribe] table"),
        None if found.is_empty() => anyhow::bail!("no source has a `subscribe` table"),
        _ => Ok(found),
    }
}

/// What applying one store's changes did: how many calls changed something, and each change
/// that failed with why.
#[derive(Debug, Default)]
pub struct Applied {
    pub done: usize,
    pub failed: Vec<(Change, ApiError)>,
}

/// Carries out one store's changes, each on its own: one the platform refuses (a scope it does
/// not take) is reported and the others still happen.
pub async fn apply(api: &Api, wanted: &Wanted, changes: &[Change]) -> Applied {
    let mut applied = Applied::default();
    for change in changes.iter().filter(|c| c.acts()) {
        let body =
            |scope| HookBody { scope, destination: &wanted.destination, is_active: true, headers: &wanted.headers };
        let result = match change {
            Change::Create { scope } => api.create(&body(scope)).await,
            Change::Update { id, scope } | Change::Reactivate { id, scope } => api.update(*id, &body(scope)).await,
            Change::Delete { id, .. } | Change::Foreign { id, .. } => api.delete(*id).await,
            Change::Keep { .. } => continue,
        };
        match result {
            Ok(()) => applied.done += 1,
            Err(e) => applied.failed.push((change.clone(), e)),
        }
    }
    applied
}
