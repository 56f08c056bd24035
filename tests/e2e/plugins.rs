//! A plugin that loops, hoards memory, panics or floods output fails its own event only.

use crate::support::toml::Toml;
use crate::support::{TestDestination, TestGateway, eventually};
use switchyard::metrics::Metrics;

fn table(dest: &TestDestination) -> Toml {
    Toml::generic("test")
        .plugin("chaos", "chaos", "timeout_ms = 100\nmemory_mb = 16")
        .destination("ok", &dest.url("/ok"), "")
        .route("chaos", Some("chaos"), &["ok"])
}

async fn misbehaviour_fails_alone(mode: &str, kind: &str) {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&table(&dest)).await.unwrap();
    let bad = format!(r#"{{"scope": "chaos", "mode": "{mode}"}}"#);
    assert_eq!(gw.post("test", &bad).await.status(), 200);
    // While the bad event runs, good ones keep flowing.
    for i in 0..5 {
        let good = format!(r#"{{"scope": "chaos", "mode": "ok", "n": {i}}}"#);
        assert_eq!(gw.post("test", &good).await.status(), 200);
    }
    let got = dest.wait_for(5).await;
    assert!(got.iter().all(|r| r.json()["mode"] == "ok"), "only good events are delivered");
    let metrics = gw.gateway.metrics.clone();
    eventually(&format!("a `{kind}` failure"), || metrics.plugin_failures(kind) == 1).await;
    // And after it, the plugin still works.
    assert_eq!(gw.post("test", r#"{"scope": "chaos", "mode": "ok", "n": 99}"#).await.status(), 200);
    dest.wait_for(6).await;
    assert_eq!(Metrics::get(&metrics.plugin_calls), 6);
    gw.stop().await;
}

#[tokio::test]
async fn an_endless_loop_times_out_alone() {
    misbehaviour_fails_alone("loop", "timeout").await;
}

#[tokio::test]
async fn a_memory_bomb_hits_the_cap_alone() {
    misbehaviour_fails_alone("alloc", "memory").await;
}

#[tokio::test]
async fn a_panic_traps_alone() {
    misbehaviour_fails_alone("panic", "trap").await;
}

#[tokio::test]
async fn oversized_output_is_refused_alone() {
    misbehaviour_fails_alone("huge", "output").await;
}

#[tokio::test]
async fn plugin_errors_are_reported_by_kind() {
    misbehaviour_fails_alone("fail", "failed").await;
}
