//! A deliberately misbehaving plugin for the host's tests: it must never ship in a routes.toml.
//!
//! Config `mode` chooses the misbehaviour, or the body's `"mode"` field when config has none:
//! `loop` spins forever, `alloc` allocates without end, `panic` panics, `retry` and `fail`
//! return those errors (`fail` logs a warning first), `huge` returns 4 MiB of output, over the
//! default cap, `emit` emits a derived `chaos/emitted` event, `log` logs 25 lines and prints one
//! to stderr before forwarding, anything else forwards the event unchanged.

use switchyard_plugin_sdk::prelude::*;

struct Chaos;

impl Plugin for Chaos {
    fn handle(event: Event) -> Result<Vec<Action>, Error> {
        let mode = config::get("mode")
            .or_else(|| event.json().ok()?.get("mode")?.as_str().map(String::from))
            .unwrap_or_default();
        match mode.as_str() {
            "loop" => spin(),
            "alloc" => hoard(),
            "panic" => panic!("chaos plugin panicked on purpose"),
            "retry" => Err(Error::RetryLater("chaos asks for a retry".into())),
            "fail" => {
                log::warn("chaos is about to fail");
                Err(Error::Fail("chaos fails on purpose".into()))
            }
            "log" => {
                for i in 1..=25 {
                    log::info(&format!("chaos line {i} of 25 for {}", event.scope));
                }
                eprintln!("chaos wrote this to stderr");
                Ok(vec![forward()])
            }
            "huge" => Ok(vec![Action::Drop("x".repeat(4 << 20))]),
            "emit" => Ok(vec![Emit::new("chaos/emitted", event.body).into()]),
            _ => Ok(vec![forward()]),
        }
    }
}

fn forward() -> Action {
    Forward::new().into()
}

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn hoard() -> Result<Vec<Action>, Error> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

export_plugin!(Chaos);
