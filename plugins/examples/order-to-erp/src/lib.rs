//! Reshapes a BigCommerce order webhook into the flat document an ERP import expects.
//!
//! BigCommerce sends thin events (`{scope, store_id, data: {type, id}, hash, created_at,
//! producer}`); the ERP wants one record per order change with its own field names. Config:
//! `currency` (default "USD") is stamped on every record. Events that are not about an order are
//! dropped with a reason, so a broad route (`store/**`) can point here safely.

use switchyard_plugin_sdk::prelude::*;
use switchyard_plugin_sdk::serde_json::{Value, json};

struct OrderToErp;

impl Plugin for OrderToErp {
    fn handle(event: Event) -> Result<Vec<Action>, Error> {
        let body = event.json()?;
        let Some(order_id) = order_id(&body) else {
            return Ok(vec![drop_event(format!("{} carries no order id", event.scope))]);
        };
        let change = event.scope.rsplit(['/', '.']).next().unwrap_or_default();
        let store_hash = body["producer"].as_str().and_then(|p| p.strip_prefix("stores/"));
        let currency = config::get("currency").unwrap_or_else(|| "USD".into());
        let record = json!({
            "record_type": "sales_order",
            "change": change,
            "order_number": order_id,
            "store_id": text(&body["store_id"]),
            "store_hash": store_hash,
            "currency": currency,
            "status_id": body["data"]["status"]["new_status_id"],
            "occurred_at": body["created_at"],
            "source_event_id": event.id,
            "dedup_hash": body["hash"],
        });
        log::debug(&format!("order {order_id} {change} reshaped for the ERP"));
        Ok(vec![forward_json(&record)])
    }
}

/// The order id: `data.id` for order events, `data.order_id` for transactions and channel orders.
fn order_id(body: &Value) -> Option<String> {
    let data = &body["data"];
    let is_order = data["type"].as_str() == Some("order");
    let id = if is_order { &data["id"] } else { &data["order_id"] };
    text(id)
}

/// BigCommerce sends ids as numbers in some events and strings in others.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

export_plugin!(OrderToErp);
