//! A plugin built against the first contract, `switchyard:plugin@0.1.0` (`wit/v0.1.0`), with
//! wit-bindgen directly, as plugins built before 0.2.0 were: the host must keep loading and
//! running it unchanged. It must never ship in a routes.toml.
//!
//! It forwards the event's body with `x-contract: 0.1.0` and its config's `tag` as `x-tag`,
//! and logs one line.

wit_bindgen::generate!({
    path: "../../../wit/v0.1.0",
    world: "handler",
});

use switchyard::plugin::types::Forward;
use switchyard::plugin::{config, log};

struct LegacyV1;

impl Guest for LegacyV1 {
    fn handle(event: Event) -> Result<Vec<Action>, Error> {
        log::log(log::Level::Info, &format!("0.1.0 plugin handles {}", event.id));
        let mut headers = vec![("x-contract".to_string(), "0.1.0".to_string())];
        if let Some(tag) = config::get("tag") {
            headers.push(("x-tag".to_string(), tag));
        }
        Ok(vec![Action::Forward(Forward { destination: None, body: Some(event.body), headers })])
    }
}

export!(LegacyV1);
