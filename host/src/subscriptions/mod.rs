//! Subscriptions: keeping BigCommerce's registered hooks in step with routes.toml.
//!
//! For each `[sources.NAME.subscribe]`, the scopes its routes need (or the ones it lists) are
//! what must be registered, per store, to its `public_url`. `plan.rs` says what to change,
//! `api.rs` speaks the management API, and `heal.rs` is the serving gateway's check that
//! reactivates hooks BigCommerce deactivated. `switchyard subscriptions plan|apply|status`
//! (cli) runs the same code. This module never touches the store or the routing snapshot's
//! state: it reads a config and talks to the platform.

pub mod api;
pub mod heal;
pub mod plan;

use crate::config::Config;
use crate::config::model::{Source, StoreCredentials, Subscribe};
use crate::scope::{Matcher, Pattern, Scope, Segment};
use api::{Api, ApiError, HookBody};
use plan::{Change, Wanted};
use std::collections::BTreeSet;

/// The webhook scopes BigCommerce documents, which a route pattern with `**`, a parameter or
/// an inner `*` is expanded to.
pub const BIGCOMMERCE_SCOPES: &[&str] = &[
    "store/app/uninstalled",
    "store/cart/created",
    "store/cart/updated",
    "store/cart/deleted",
    "store/cart/couponApplied",
    "store/cart/abandoned",
    "store/cart/converted",
    "store/cart/lineItem/created",
    "store/cart/lineItem/updated",
    "store/cart/lineItem/deleted",
    "store/category/created",
    "store/category/updated",
    "store/category/deleted",
    "store/channel/created",
    "store/channel/updated",
    "store/customer/created",
    "store/customer/updated",
    "store/customer/deleted",
    "store/customer/address/created",
    "store/customer/address/updated",
    "store/customer/address/deleted",
    "store/customer/payment/instrument/default/updated",
    "store/information/updated",
    "store/order/created",
    "store/order/updated",
    "store/order/archived",
    "store/order/statusUpdated",
    "store/order/message/created",
    "store/order/refund/created",
    "store/order/transaction/created",
    "store/order/transaction/updated",
    "store/product/created",
    "store/product/updated",
    "store/product/deleted",
    "store/product/inventory/updated",
    "store/product/inventory/order/updated",
    "store/shipment/created",
    "store/shipment/updated",
    "store/shipment/deleted",
    "store/sku/created",
    "store/sku/updated",
    "store/sku/deleted",
    "store/sku/inventory/updated",
    "store/sku/inventory/order/updated",
    "store/subscriber/created",
    "store/subscriber/updated",
    "store/subscriber/deleted",
];

/// What one source wants registered in each of its stores, with notes on route patterns that
/// gave no scope.
pub fn wanted(config: &Config, source: &Source, subscribe: &Subscribe) -> (Wanted, Vec<String>) {
    let mut notes = Vec::new();
    let scopes = match &subscribe.scopes {
        Some(listed) => listed.iter().cloned().collect(),
        None => {
            let mut scopes = BTreeSet::new();
            let routes = config.routes.iter().filter(|r| r.source.as_ref().is_none_or(|s| *s == source.name));
            for pattern in routes.flat_map(|r| &r.patterns) {
                let found = registered(pattern);
                if found.is_empty() {
                    notes.push(format!(
                        "pattern `{}` matches no BigCommerce scope: nothing registered for it",
                        pattern.as_str()
                    ));
                }
                scopes.extend(found);
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

/// The scopes one route pattern registers: itself when it is a scope (`store/order/created`)
/// or BigCommerce's own wildcard (`store/order/*`); otherwise every listed scope it matches.
fn registered(pattern: &Pattern) -> BTreeSet<String> {
    let segments = pattern.segments();
    fn literal(s: &Segment) -> Option<&str> {
        match s {
            Segment::Literal(text) => Some(text),
            _ => None,
        }
    }
    let words: Vec<&str> = segments.iter().map_while(literal).collect();
    let starts_with_store = words.first() == Some(&"store");
    if starts_with_store && words.len() == segments.len() {
        return BTreeSet::from([words.join("/")]);
    }
    if starts_with_store
        && words.len() >= 2
        && words.len() + 1 == segments.len()
        && segments.last() == Some(&Segment::Rest)
    {
        return BTreeSet::from([format!("{}/*", words.join("/"))]);
    }
    let matcher = Matcher::new(vec![vec![pattern.clone()]]);
    BIGCOMMERCE_SCOPES.iter().filter(|s| !matcher.matches(&Scope::new(s)).is_empty()).map(|s| s.to_string()).collect()
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

/// The API of one store of a subscription.
pub fn api(http: &reqwest::Client, subscribe: &Subscribe, store: &StoreCredentials) -> Api {
    Api::new(http.clone(), subscribe.api_base.clone(), &store.store_hash, &store.access_token)
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
) -> anyhow::Result<(Vec<StorePlan>, Vec<String>)> {
    let http = http_client()?;
    let mut plans = Vec::new();
    let mut notes = Vec::new();
    for (source, subscribe) in subscribing(config, only)? {
        let (wanted, source_notes) = wanted(config, source, subscribe);
        notes.extend(source_notes.into_iter().map(|n| format!("source `{}`: {n}", source.name)));
        for store in &subscribe.stores {
            let api = api(&http, subscribe, store);
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

/// Carries out one store's changes; says how many API calls changed something.
pub async fn apply(api: &Api, wanted: &Wanted, changes: &[Change]) -> Result<usize, ApiError> {
    let mut done = 0;
    for change in changes.iter().filter(|c| c.acts()) {
        let body =
            |scope| HookBody { scope, destination: &wanted.destination, is_active: true, headers: &wanted.headers };
        match change {
            Change::Create { scope } => drop(api.create(&body(scope)).await?),
            Change::Update { id, scope } | Change::Reactivate { id, scope } => {
                drop(api.update(*id, &body(scope)).await?)
            }
            Change::Delete { id, .. } | Change::Foreign { id, .. } => api.delete(*id).await?,
            Change::Keep { .. } => continue,
        }
        done += 1;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(pattern: &str) -> Vec<String> {
        Pattern::parse(pattern).map(|p| registered(&p).into_iter().collect()).unwrap_or_default()
    }

    #[test]
    fn a_scope_and_a_trailing_wildcard_register_as_written_and_the_rest_expand() {
        assert_eq!(scopes("store/order/created"), ["store/order/created"]);
        assert_eq!(scopes("store/order/*"), ["store/order/*"]);
        assert_eq!(scopes("store/cart/lineItem/*"), ["store/cart/lineItem/*"]);
        let mut orders: Vec<String> =
            BIGCOMMERCE_SCOPES.iter().filter(|s| s.starts_with("store/order/")).map(|s| s.to_string()).collect();
        orders.sort();
        assert_eq!(scopes("store/order/**"), orders);
        assert_eq!(scopes("store/{kind}/deleted").len(), 7);
        assert_eq!(scopes("**").len(), BIGCOMMERCE_SCOPES.len());
        assert!(scopes("order.created").is_empty(), "a Big Cartel scope is not a BigCommerce one");
    }
}
