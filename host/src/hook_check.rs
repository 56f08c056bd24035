//! The serving gateway's check of its registrations: every `check_every`, each subscribing
//! source's hooks are listed per store, and this gateway's hooks that BigCommerce deactivated
//! (after deliveries failed) are reactivated — only while the gateway is ready to take what
//! the platform will send again. Each reactivation is logged and counted; the last check of
//! each source is kept for `GET /api/subscriptions`. Nothing is created or deleted here:
//! that is `switchyard subscriptions apply`.

use crate::config::model::{Source, Subscribe};
use crate::metrics::Metrics;
use crate::providers::bigcommerce::hooks::checks::{SourceCheck, StoreCheck};
use crate::providers::bigcommerce::hooks::plan::{self, Change};
use crate::providers::bigcommerce::hooks::{self, Api};
use crate::shared::Shared;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// How long a gateway that cannot take webhooks waits before it looks again.
const NOT_READY_WAIT: Duration = Duration::from_secs(1);

/// Runs until the gateway stops. Sleeps until the next source's check is due, or until a
/// reload (which may add, drop or change a subscription); with no subscribing source it only
/// waits for a reload. Checks only while the store writes (the gateway can take webhooks).
pub async fn run(shared: Shared) {
    // Made when a source first subscribes: most gateways never need it.
    let mut http: Option<reqwest::Client> = None;
    let mut last: HashMap<String, Instant> = HashMap::new();
    let mut reloads = shared.live.subscribe();
    let mut not_ready_until: Option<Instant> = None;
    loop {
        let due =
            next_due(&shared.live.snapshot().config, &last).map(|due| not_ready_until.map_or(due, |t| due.max(t)));
        tokio::select! {
            _ = sleep_until(due) => {}
            changed = reloads.changed() => {
                if changed.is_err() {
                    // The reloader is gone: nothing will change any more.
                    return shared.shutdown.cancelled().await;
                }
                continue;
            }
            _ = shared.shutdown.cancelled() => return,
        }
        if shared.store.health().is_err() {
            not_ready_until = Some(Instant::now() + NOT_READY_WAIT);
            continue;
        }
        not_ready_until = None;
        let snapshot = shared.live.snapshot();
        for source in snapshot.config.sources.values() {
            let Some(subscribe) = &source.subscribe else { continue };
            if last.get(&source.name).is_some_and(|at| at.elapsed() < subscribe.check_every) {
                continue;
            }
            last.insert(source.name.clone(), Instant::now());
            if http.is_none() {
                match hooks::http_client() {
                    Ok(client) => http = Some(client),
                    Err(e) => return tracing::error!("subscriptions cannot be checked: {e}"),
                }
            }
            let Some(http) = &http else { return };
            let checking = check_source(&shared, http, source, subscribe);
            let check = tokio::select! { check = checking => check, _ = shared.shutdown.cancelled() => return };
            shared.checks.record(&source.name, check);
        }
    }
}

/// Checks every store of one subscribing source.
async fn check_source(shared: &Shared, http: &reqwest::Client, source: &Source, subscribe: &Subscribe) -> SourceCheck {
    let (wanted, _) = hooks::wanted(&shared.live.snapshot().config, source, subscribe);
    let mut stores = Vec::with_capacity(subscribe.stores.len());
    for store in &subscribe.stores {
        let api = hooks::api(http, subscribe, store, Instant::now() + hooks::api::PATIENCE);
        stores.push(check_store(&api, &wanted, &shared.metrics, &source.name).await);
    }
    SourceCheck { checked_at_ms: crate::event::now_ms(), stores }
}

/// When the next subscribing source's check is due (now for one never checked); `None` when
/// no source subscribes.
fn next_due(config: &crate::config::model::Config, last: &HashMap<String, Instant>) -> Option<Instant> {
    let now = Instant::now();
    config
        .sources
        .values()
        .filter_map(|source| {
            let every = source.subscribe.as_ref()?.check_every;
            Some(last.get(&source.name).map_or(now, |at| *at + every))
        })
        .min()
}

/// Sleeps until `at`, or forever when it is `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn check_store(api: &Api, wanted: &plan::Wanted, metrics: &Metrics, source: &str) -> StoreCheck {
    let store_hash = api.store().to_string();
    let mut check = StoreCheck { store_hash, hooks: 0, active: 0, reactivated: Vec::new(), error: None };
    let hooks = match api.list().await {
        Ok(hooks) => hooks,
        Err(e) => {
            tracing::warn!(source, "subscriptions: cannot list hooks: {e}");
            check.error = Some(e.to_string());
            return check;
        }
    };
    let ours: Vec<_> = hooks.iter().filter(|h| h.destination == wanted.destination).collect();
    check.hooks = ours.len();
    check.active = ours.iter().filter(|h| h.is_active).count();
    let reactivations = plan::plan(wanted, &hooks, false)
        .into_iter()
        .filter(|c| matches!(c, Change::Reactivate { .. }))
        .collect::<Vec<_>>();
    for change in &reactivations {
        let Change::Reactivate { scope, id } = change else { continue };
        match hooks::apply(api, wanted, std::slice::from_ref(change)).await.failed.pop().map(|(_, e)| e) {
            None => {
                Metrics::inc(&metrics.subscriptions_reactivated);
                tracing::warn!(source, store = %check.store_hash, hook = id, %scope, "subscriptions: BigCommerce had deactivated this hook; reactivated it");
                check.reactivated.push(scope.clone());
                check.active += 1;
            }
            Some(e) => {
                tracing::warn!(source, hook = id, %scope, "subscriptions: cannot reactivate a deactivated hook: {e}");
                check.error = Some(e.to_string());
            }
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(subscribe: bool) -> crate::config::model::Config {
        let section = "[sources.bigcommerce.subscribe]\npublic_url = \"https://hooks.example.com\"\n\
                       stores = [{ store_hash = \"abc123\", access_token = \"t\" }]\ncheck_every = \"30s\"\n";
        let text = format!(
            "[sources.bigcommerce]\nprovider = \"bigcommerce\"\nsecrets = [\"s\"]\n{}\n\
             [sources.bigcartel]\nprovider = \"bigcartel\"\nsecrets = [\"s\"]\n\n\
             [destinations.erp]\nurl = \"http://127.0.0.1:9/erp\"\n\n\
             [[routes]]\nmatch = \"store/order/*\"\nsource = \"bigcommerce\"\nto = [\"erp\"]\n",
            if subscribe { section } else { "" }
        );
        let env = |_: &str| None;
        crate::config::load_str(std::path::Path::new("routes.toml"), &text, &env).unwrap()
    }

    #[test]
    fn the_loop_sleeps_until_a_check_is_due_and_without_subscriptions_for_good() {
        let mut last = HashMap::new();
        assert_eq!(next_due(&config(false), &last), None, "nothing to check: wait for a reload");
        let subscribing = config(true);
        let due = next_due(&subscribing, &last).unwrap_or_else(|| panic!("a subscribing source"));
        assert!(due <= Instant::now(), "a source never checked is due now");
        let checked = Instant::now();
        last.insert("bigcommerce".to_string(), checked);
        assert_eq!(next_due(&subscribing, &last), Some(checked + Duration::from_secs(30)));
    }
}
