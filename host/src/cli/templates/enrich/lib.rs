//! {{name}}: turns a thin BigCommerce order webhook into the full order. The webhook carries
//! only `data: {type: "order", id}`; the plugin asks the store's API for the order and its
//! lines and forwards one record. A 404 drops the event (the order is gone); 429 and 5xx ask
//! the gateway to try again later.
//!
//! Config: `api_base` (default `https://api.bigcommerce.com`) and `access_token`; the plugin's
//! `allowed_hosts` must name the API. `make test` runs it against the answers in `fixtures/`.

use switchyard_plugin_sdk::prelude::*;
use switchyard_plugin_sdk::serde_json::{Value, json};

struct {{type}};

impl Plugin for {{type}} {
    fn handle(event: Event) -> Result<Vec<Action>, Error> {
        let body = event.json()?;
        let data = &body["data"];
        if data["type"].as_str() != Some("order") {
            return Ok(vec![drop_event("not an order")]);
        }
        let store = body["producer"].as_str().and_then(|p| p.strip_prefix("stores/"));
        let store = store.ok_or_else(|| Error::Fail("the webhook's producer is not stores/{hash}".into()))?;
        let api = config::get("api_base").unwrap_or_else(|| "https://api.bigcommerce.com".into());
        let token = config::get("access_token").ok_or_else(|| Error::Fail("config has no access_token".into()))?;
        let id = match &data["id"] {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        };
        let order_url = format!("{}/stores/{store}/v2/orders/{id}", api.trim_end_matches('/'));

        let order = get(&order_url, &token)?;
        if order.status == 404 {
            return Ok(vec![drop_event(format!("order {id} no longer exists"))]);
        }
        let order = order.retry_on_server_error()?.json()?;
        let lines = get(&format!("{order_url}/products?limit=250&page=1"), &token)?.retry_on_server_error()?.json()?;
        let items: Vec<Value> = lines
            .as_array()
            .map(|lines| lines.iter().map(|l| json!({ "sku": l["sku"], "quantity": l["quantity"] })).collect())
            .unwrap_or_default();
        Ok(vec![forward_json(&json!({
            "order_id": order["id"],
            "status": order["status"],
            "total": order["total_inc_tax"],
            "items": items,
        }))])
    }
}

fn get(url: &str, token: &str) -> Result<http::Response, Error> {
    Ok(http::get(url).header("X-Auth-Token", token).header("Accept", "application/json").send()?)
}

export_plugin!({{type}});
