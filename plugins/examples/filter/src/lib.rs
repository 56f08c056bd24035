//! Drops events that do not satisfy a rule from the plugin's config; forwards the rest unchanged.
//!
//! Config:
//! - `field`: a JSON pointer into the body, e.g. `"/data/status/new_status_id"`.
//! - `keep`: the values to let through, e.g. `[11, 2]`; anything else is dropped.
//!
//! Numbers and strings compare by their text, so `keep = ["11"]` also keeps `11`. A missing
//! field is dropped too. A misconfigured plugin fails the event rather than guessing.

use switchyard_plugin_sdk::prelude::*;
use switchyard_plugin_sdk::serde_json::Value;

struct Filter;

impl Plugin for Filter {
    fn handle(event: Event) -> Result<Vec<Action>, Error> {
        let field = config::get("field").ok_or_else(|| Error::Fail("config has no `field`".into()))?;
        let keep = match config::json("keep") {
            Some(Value::Array(values)) => values,
            Some(single) => vec![single],
            None => return Err(Error::Fail("config has no `keep` list".into())),
        };
        let body = event.json()?;
        let Some(value) = body.pointer(&field) else {
            return Ok(vec![drop_event(format!("{field} is missing"))]);
        };
        if keep.iter().any(|k| text(k) == text(value)) {
            Ok(vec![Forward::new().into()])
        } else {
            Ok(vec![drop_event(format!("{field} = {value} is not kept"))])
        }
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

export_plugin!(Filter);
