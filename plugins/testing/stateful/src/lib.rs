//! A plugin that exercises `kv` and `http` for the host's tests: it must never ship in a
//! routes.toml.
//!
//! The body's `"mode"` chooses:
//! - `set`: sets `key` to `value`, forwards `{"previous": …}` (what `key` held before);
//! - `get`: forwards `{"value": …}`;
//! - `count`: increments `key` and forwards `{"count": n}`;
//! - `count-then-fetch`: increments `key`, then GETs `url` (retry-later on 5xx), then forwards
//!   `{"count": n}`: a retried event must count once;
//! - `set-then-trap`: sets `key`, then panics: nothing may be written;
//! - `fetch`: GETs `url` and forwards `{"status": …, "body": …}` (errors as the SDK maps them);
//! - `fetch-with-credentials`: the same, sending `Authorization`, `Cookie` and `X-Kept` headers
//!   (wasi:http itself refuses `Proxy-Authorization` from a guest);
//! - `echo`: forwards `{}` touching neither kv nor http (a baseline for benchmarks);
//! - `ordered`: forwards the body as it is, with `key` as the forward's order key.

use switchyard_plugin_sdk::prelude::*;
use switchyard_plugin_sdk::serde_json::{Value, json};

struct Stateful;

impl Plugin for Stateful {
    fn handle(event: Event) -> Result<Vec<Action>, Error> {
        let body = event.json()?;
        let field = |name: &str| body[name].as_str().unwrap_or_default().to_string();
        let (key, url) = (field("key"), field("url"));
        if field("mode") == "ordered" {
            let forward = Forward::new().into();
            return Ok(vec![ordered_by(forward, key)]);
        }
        let out = match field("mode").as_str() {
            "set" => {
                let previous = kv::get_string(&key)?;
                kv::set(&key, field("value"))?;
                json!({ "previous": previous })
            }
            "get" => json!({ "value": kv::get_string(&key)? }),
            "count" => json!({ "count": kv::increment(&key, 1)? }),
            "count-then-fetch" => {
                let count = kv::increment(&key, 1)?;
                http::get(&url).send()?.retry_on_server_error()?;
                json!({ "count": count })
            }
            "set-then-trap" => {
                kv::set(&key, "written before the trap")?;
                panic!("stateful plugin traps after a kv write, on purpose");
            }
            "fetch" | "fetch-with-credentials" => {
                let mut request = http::get(&url);
                if field("mode") == "fetch-with-credentials" {
                    request = request
                        .header("Authorization", "Bearer plugin-secret")
                        .header("Cookie", "session=plugin-cookie")
                        .header("X-Kept", "yes");
                }
                let response = request.send()?;
                let text = String::from_utf8_lossy(&response.body).into_owned();
                json!({ "status": response.status, "body": text })
            }
            "echo" => json!({}),
            other => return Err(Error::Fail(format!("unknown mode {other:?}"))),
        };
        Ok(vec![forward_json(
            &json!({ "mode": field("mode"), "out": out, "n": body.get("n").cloned().unwrap_or(Value::Null) }),
        )])
    }
}

export_plugin!(Stateful);
