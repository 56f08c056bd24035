//! Wraps each event in an envelope carrying its metadata: id, source, scope, route, the
//! parameters captured by the route's pattern, and the original payload.
//!
//! Useful in front of a queue or a log store that wants self-describing records, and a plain
//! example of reading route parameters (`{channel_id}` in `store/channel/{channel_id}/cart/*`).
//! Config: `tag` (optional) is copied into the envelope.

use switchyard_plugin_sdk::prelude::*;
use switchyard_plugin_sdk::serde_json::{Map, Value, json};

struct Envelope;

impl Plugin for Envelope {
    fn handle(event: Event) -> Result<Vec<Action>, Error> {
        let params: Map<String, Value> =
            event.params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let payload = event.json().unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&event.body).into_owned()));
        let envelope = json!({
            "id": event.id,
            "source": event.source,
            "scope": event.scope,
            "route": event.route,
            "params": params,
            "received_at_ms": event.received_at_ms,
            "tag": config::get("tag"),
            "payload": payload,
        });
        Ok(vec![forward_json(&envelope)])
    }
}

export_plugin!(Envelope);
