//! {{name}}: a Switchyard plugin. Build with
//! `cargo build --release --target wasm32-wasip2`; the component is
//! `target/wasm32-wasip2/release/{{crate}}.wasm`.

use switchyard_plugin_sdk::prelude::*;
use switchyard_plugin_sdk::serde_json::{Value, json};

struct {{type}};

impl Plugin for {{type}} {
    fn handle(event: Event) -> Result<Vec<Action>, Error> {
        let body = event.json()?;
        match summarize(&event.scope, &body) {
            Some(summary) => {
                log::info(&format!("{} handled", event.scope));
                Ok(vec![forward_json(&summary)])
            }
            None => Ok(vec![drop_event("not an order")]),
        }
    }
}

/// The record this plugin forwards for an order event, or `None` for anything else.
fn summarize(scope: &str, body: &Value) -> Option<Value> {
    let data = &body["data"];
    if data["type"].as_str() != Some("order") {
        return None;
    }
    Some(json!({ "scope": scope, "order_id": data["id"] }))
}

export_plugin!({{type}});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_event_is_summarized_and_anything_else_is_not() {
        let order = json!({ "data": { "type": "order", "id": 250 } });
        assert_eq!(summarize("store/order/created", &order), Some(json!({ "scope": "store/order/created", "order_id": 250 })));
        assert_eq!(summarize("store/cart/created", &json!({ "data": { "type": "cart" } })), None);
    }
}
