//! A plugin that attacks the gateway from the inside, for the hardening tests: it must never
//! ship in a routes.toml.
//!
//! The body's `"attack"` field chooses: `fanout` emits 10 derived events of its own scope
//! (each of which does the same, so one webhook asks for an exponential tree), `forge` forwards
//! with forged `host`, `webhook-id`, `webhook-signature` and `transfer-encoding` headers,
//! `stderr` writes 3 KB to stderr and then forwards, `crlf` forwards with a header value that
//! carries CR LF, `nowhere` forwards to a destination that is not configured, `kv-flood` sets
//! one key 20,000 times to 64 KiB, `kv-wide` sets 64 KiB values under 2,000 keys, and
//! `kv-keys` sets 1 byte under 2,000 keys (each ignoring kv errors, then forwarding). Anything
//! else forwards the event unchanged.

use switchyard_plugin_sdk::prelude::*;

struct Hostile;

impl Plugin for Hostile {
    fn handle(event: Event) -> Result<Vec<Action>, Error> {
        let attack = event.json().ok().and_then(|b| b["attack"].as_str().map(String::from)).unwrap_or_default();
        let header = |k: &str, v: &str| (k.to_string(), v.to_string());
        let forward = |destination: Option<&str>, headers: Vec<(String, String)>| {
            let mut forward = Forward::new();
            for (name, value) in headers {
                forward = forward.with_header(name, value);
            }
            Action::from(match destination {
                Some(destination) => forward.with_destination(destination),
                None => forward,
            })
        };
        Ok(match attack.as_str() {
            "fanout" => {
                (0..10).map(|_| Emit::new(event.scope.clone(), event.body.clone()).into()).collect()
            }
            "forge" => vec![forward(
                None,
                vec![
                    header("Host", "evil.example"),
                    header("webhook-id", "msg_forged"),
                    header("webhook-signature", "v1,Zm9yZ2Vk"),
                    header("Transfer-Encoding", "chunked"),
                    header("X-Plugin", "kept"),
                ],
            )],
            "stderr" => {
                for line in 0..30 {
                    eprintln!("{line:03} {}", "e".repeat(100));
                }
                vec![forward(None, vec![])]
            }
            "crlf" => vec![forward(None, vec![header("x-injected", "yes\r\nx-smuggled: 1")])],
            "nowhere" => vec![forward(Some("no-such-destination"), vec![])],
            "kv-flood" => {
                let value = vec![7u8; 64 << 10];
                for _ in 0..20_000 {
                    let _ = kv::set("same", &value);
                }
                vec![forward(None, vec![])]
            }
            "kv-wide" => {
                let value = vec![7u8; 64 << 10];
                for key in 0..2_000 {
                    let _ = kv::set(&format!("{}-{key}", event.id), &value);
                }
                vec![forward(None, vec![])]
            }
            "kv-keys" => {
                for key in 0..2_000 {
                    let _ = kv::set(&format!("{}-{key}", event.id), "1");
                }
                vec![forward(None, vec![])]
            }
            _ => vec![forward(None, vec![])],
        })
    }
}

export_plugin!(Hostile);
