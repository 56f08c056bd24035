//! A plugin built against `switchyard:plugin@0.2.0` (`wit/v0.2.0`), with wit-bindgen directly,
//! as plugins built before 0.3.0 were: the host must keep loading and running it unchanged,
//! its `kv` included. It must never ship in a routes.toml.
//!
//! It counts the events it has seen under the kv key `seen` and forwards the event's body
//! with `x-contract: 0.2.0` and `x-seen: N`.

wit_bindgen::generate!({
    path: "../../../wit/v0.2.0",
    world: "handler",
    // wasi:cli (a dependency of wasi:http) names an unstable interface; nothing uses it.
    features: ["clocks-timezone"],
    generate_all,
});

use switchyard::plugin::kv;
use switchyard::plugin::types::Forward;

struct LegacyV2;

impl Guest for LegacyV2 {
    fn handle(event: Event) -> Result<Vec<Action>, Error> {
        let seen = kv::increment("seen", 1).map_err(|e| Error::RetryLater(format!("kv: {e:?}")))?;
        let headers = vec![("x-contract".to_string(), "0.2.0".to_string()), ("x-seen".to_string(), seen.to_string())];
        Ok(vec![Action::Forward(Forward { destination: None, body: Some(event.body), headers })])
    }
}

export!(LegacyV2);
