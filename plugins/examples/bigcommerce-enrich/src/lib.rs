//! Turns a thin BigCommerce order webhook into the full order, as BigCommerce's own guidance
//! says: the webhook carries only `data: {type: "order", id}`, so the plugin asks the store's
//! API for the order and its products, and forwards one record to the route's destinations.
//!
//! Config: `api_base` (default `https://api.bigcommerce.com`) and `access_token` (the store's
//! API token; give it from the environment). The store hash comes from the body's `producer`
//! (`stores/{hash}`). The plugin's `allowed_hosts` must include the API.
//!
//! It remembers the last status it forwarded per order (kv `status:{store}:{order}`): a
//! `store/order/statusUpdated` whose fetched status is that one is dropped (`status unchanged`).
//! A 404 from the API drops the event (the order was deleted); 429 or 5xx asks to retry later.
//!
//! The products come a page at a time (`limit`, `page`): [`PAGE`] lines a page, BigCommerce's
//! documented maximum, until a page holds fewer. Every request sends `Accept` and
//! `Content-Type: application/json`, as the API's spec lists them.

use switchyard_plugin_sdk::prelude::*;
use switchyard_plugin_sdk::serde_json::{Value, json};

struct Enrich;

/// Order lines asked for per page.
const PAGE: usize = 250;
/// Pages read at most: with the order itself, within the default `max_fetches` of 10.
const MAX_PAGES: usize = 8;

impl Plugin for Enrich {
    fn handle(event: Event) -> Result<Vec<Action>, Error> {
        let body = event.json()?;
        if body["data"]["type"].as_str() != Some("order") {
            return Ok(vec![drop_event(format!("{} is not about an order", event.scope))]);
        }
        let Some(order_id) = text(&body["data"]["id"]) else {
            return Ok(vec![drop_event("the webhook carries no order id")]);
        };
        let store_hash = body["producer"]
            .as_str()
            .and_then(|p| p.strip_prefix("stores/"))
            .ok_or_else(|| Error::Fail("the webhook's producer is not stores/{hash}".into()))?;
        let api_base = config::get("api_base").unwrap_or_else(|| "https://api.bigcommerce.com".into());
        let token = config::get("access_token").ok_or_else(|| Error::Fail("config has no access_token".into()))?;
        let orders = format!("{}/stores/{store_hash}/v2/orders/{order_id}", api_base.trim_end_matches('/'));

        let order = api_get(&orders, &token)?;
        if order.status == 404 {
            return Ok(vec![drop_event(format!("order {order_id} no longer exists (404)"))]);
        }
        let order = ok(order.retry_on_server_error()?)?.json()?;
        let status = order["status"].as_str().unwrap_or_default().to_string();

        let seen_key = format!("status:{store_hash}:{order_id}");
        if event.scope.ends_with("/statusUpdated") && kv::get_string(&seen_key)?.as_deref() == Some(status.as_str()) {
            return Ok(vec![drop_event("status unchanged")]);
        }

        let items = products(&orders, &token)?;
        kv::set(&seen_key, &status)?;
        log::info(&format!("order {order_id} enriched: {status}, {} items", items.len()));
        Ok(vec![forward_json(&json!({
            "order_id": order["id"],
            "status": status,
            "total": order["total_inc_tax"],
            "customer_email": order["billing_address"]["email"],
            "items": items,
        }))])
    }
}

/// A GET of the store's API, with the headers its spec lists.
fn api_get(url: &str, token: &str) -> Result<http::Response, Error> {
    let request = http::get(url)
        .header("X-Auth-Token", token)
        .header("Accept", "application/json")
        .header("Content-Type", "application/json");
    Ok(request.send()?)
}

/// Every line of the order, page by page.
fn products(order_url: &str, token: &str) -> Result<Vec<Value>, Error> {
    let mut items = Vec::new();
    for page in 1..=MAX_PAGES {
        let url = format!("{order_url}/products?limit={PAGE}&page={page}");
        let lines = ok(api_get(&url, token)?.retry_on_server_error()?)?.json()?;
        let lines = lines.as_array().cloned().unwrap_or_default();
        let count = lines.len();
        items.extend(
            lines.iter().map(|p| json!({ "sku": p["sku"], "quantity": p["quantity"], "price": p["price_inc_tax"] })),
        );
        if count < PAGE {
            return Ok(items);
        }
    }
    Err(Error::Fail(format!("the order has more than {} lines", PAGE * MAX_PAGES)))
}

/// Any other answer than 2xx (after 404, 429 and 5xx) is a permanent problem with the request.
fn ok(response: http::Response) -> Result<http::Response, Error> {
    if (200..300).contains(&response.status) {
        Ok(response)
    } else {
        Err(Error::Fail(format!("{} answered {}", response.url, response.status)))
    }
}

/// BigCommerce sends ids as numbers in some events and strings in others.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

export_plugin!(Enrich);
