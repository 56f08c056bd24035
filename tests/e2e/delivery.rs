//! Deliveries survive a destination that is down, end in the dead-letter queue when it never
//! comes back, and a replay delivers them once it is fixed. Delays are configured short, and
//! the breaker is off (`pause_after = 0`): these tests are about retries (the breaker's own
//! are in `delivery_control.rs`).

use crate::support::toml::Toml;
use crate::support::{TestDestination, TestGateway, eventually};
use std::collections::{HashMap, HashSet};
use switchyard::metrics::Metrics;
use switchyard::queue::ReplaySelector;

fn table(dest_url: &str, max_attempts: u32) -> Toml {
    let retry = format!("timeout_ms = 2000\nretry = {{ max_attempts = {max_attempts}, first_ms = 20, max_ms = 100 }}");
    Toml::generic("shop").destination("erp", dest_url, &format!("{retry}\npause_after = 0")).route(
        "order/*",
        None,
        &["erp"],
    )
}

fn order(n: u32) -> String {
    format!(r#"{{"scope": "order/created", "n": {n}}}"#)
}

#[tokio::test]
async fn a_destination_that_comes_back_receives_everything_with_stable_ids() {
    let dest = TestDestination::start().await;
    dest.answer(503);
    let gw = TestGateway::start(&table(&dest.url("/erp"), 1000)).await.unwrap();
    for n in 0..10 {
        assert_eq!(gw.post("shop", &order(n)).await.status(), 200);
    }
    // Let it fail a good number of times, then come back.
    dest.wait_for(30).await;
    dest.answer(200);
    let metrics = gw.gateway.metrics.clone();
    eventually("all ten delivered", || Metrics::get(&metrics.delivered) == 10).await;

    let mut ids_by_order: HashMap<u64, HashSet<String>> = HashMap::new();
    for r in dest.received() {
        let n = r.json()["n"].as_u64().unwrap_or(u64::MAX);
        let id = r.headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        ids_by_order.entry(n).or_default().insert(id);
    }
    assert_eq!(ids_by_order.len(), 10);
    for (n, ids) in ids_by_order {
        assert_eq!(ids.len(), 1, "every attempt of order {n} carries the same webhook-id");
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_destination_that_always_fails_ends_in_dead_letters_and_replay_delivers_after_a_fix() {
    let broken = TestDestination::start().await;
    broken.answer(500);
    let gw = TestGateway::start(&table(&broken.url("/erp"), 3)).await.unwrap();
    for n in 0..3 {
        assert_eq!(gw.post("shop", &order(n)).await.status(), 200);
    }
    let store = gw.gateway.store.clone();
    let mut dead = Vec::new();
    for _ in 0..300 {
        dead = store.dead_letters(10).await.unwrap_or_default();
        if dead.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(dead.len(), 3, "{dead:#?}");
    assert!(dead.iter().all(|d| d.attempts == 3 && d.error.contains("answered 500")), "{dead:#?}");
    assert_eq!(broken.received().len(), 9, "exactly max_attempts tries each");

    // Fix the destination in routes.toml, reload, replay.
    let fixed = TestDestination::start().await;
    std::fs::write(gw.config_path(), table(&fixed.url("/erp"), 3)).unwrap();
    let live = gw.gateway.live.clone();
    let outcome = tokio::task::spawn_blocking(move || live.reload().is_applied()).await;
    assert!(matches!(outcome, Ok(true)));
    assert_eq!(store.replay(ReplaySelector::Destination("erp".into())).await.ok(), Some(3));
    let got = fixed.wait_for(3).await;
    let mut ns: Vec<u64> = got.iter().filter_map(|r| r.json()["n"].as_u64()).collect();
    ns.sort();
    assert_eq!(ns, [0, 1, 2]);
    assert!(store.dead_letters(10).await.unwrap_or_default().is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn gone_stops_retrying_at_once() {
    let dest = TestDestination::start().await;
    dest.answer(410);
    let gw = TestGateway::start(&table(&dest.url("/erp"), 10)).await.unwrap();
    assert_eq!(gw.post("shop", &order(1)).await.status(), 200);
    let metrics = gw.gateway.metrics.clone();
    eventually("a dead letter", || Metrics::get(&metrics.dead_letters) == 1).await;
    let dead = gw.gateway.store.dead_letters(10).await.unwrap_or_default();
    assert_eq!(dead[0].attempts, 1);
    assert!(dead[0].error.contains("410"));
    assert_eq!(dest.received().len(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_redirect_is_a_failed_attempt_not_followed() {
    // A destination that moved: 302 to where the real receiver is. Following it would turn
    // the POST into a bodiless GET, so the gateway must report it instead.
    let real = TestDestination::start().await;
    let location = real.url("/erp");
    let moved = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move { (axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, location)]) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, moved).await });

    let gw = TestGateway::start(&table(&format!("http://{addr}/old"), 1)).await.unwrap();
    assert_eq!(gw.post("shop", &order(1)).await.status(), 200);
    let metrics = gw.gateway.metrics.clone();
    eventually("a dead letter", || Metrics::get(&metrics.dead_letters) == 1).await;
    let dead = gw.gateway.store.dead_letters(10).await.unwrap_or_default();
    assert!(dead[0].error.contains("answered 302"), "{dead:#?}");
    assert!(real.received().is_empty(), "the redirect was not followed");
    gw.stop().await;
}

#[tokio::test]
async fn a_plugin_that_asks_to_retry_is_called_again_and_one_that_fails_dead_letters_the_event() {
    let dest = TestDestination::start().await;
    let toml = Toml::generic("test").plugin("chaos", "chaos", "").destination("ok", &dest.url("/ok"), "").route(
        "chaos",
        Some("chaos"),
        &["ok"],
    );
    let gw = TestGateway::start(&toml).await.unwrap();
    assert_eq!(gw.post("test", r#"{"scope": "chaos", "mode": "retry"}"#).await.status(), 200);
    assert_eq!(gw.post("test", r#"{"scope": "chaos", "mode": "fail"}"#).await.status(), 200);
    let metrics = gw.gateway.metrics.clone();
    eventually("a second retry-later call", || metrics.plugin_failures("retry_later") >= 2).await;
    eventually("the failed event dead-lettered", || Metrics::get(&metrics.dead_letters) >= 1).await;
    let dead = gw.gateway.store.dead_letters(10).await.unwrap_or_default();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].kind, "event");
    assert!(dead[0].error.contains("chaos fails on purpose"), "{}", dead[0].error);
    gw.stop().await;
}
