//! A plugin that attacks the gateway from the inside (`plugins/testing/hostile`) gets nowhere:
//! an exponential emit fan-out stops at `max_emits` derived events, forged transport and
//! signature headers are replaced by the gateway's own, a header carrying CR LF and a forward
//! to an unknown destination dead-letter the event at once with the reason, and 3 KB of stderr
//! is logged, not a trap.

use crate::support::toml::Toml;
use crate::support::{PATIENCE, TestDestination, TestGateway, dead_letters};

fn table(dest: &TestDestination) -> Toml {
    Toml::generic("test")
        .plugin("hostile", "hostile", "max_emits = 30")
        .destination("ok", &dest.url("/ok"), "signing_secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"")
        .route("attack", Some("hostile"), &["ok"])
}

fn attack(kind: &str) -> String {
    format!(r#"{{"scope": "attack", "attack": "{kind}"}}"#)
}

#[tokio::test]
async fn forged_host_id_and_signature_headers_are_replaced_by_the_gateways_own_once() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&table(&dest)).await.unwrap();
    assert_eq!(gw.post("test", &attack("forge")).await.status(), 200);
    let got = dest.wait_for(1).await.remove(0);
    let all = |name: &str| {
        got.headers.get_all(name).iter().map(|v| v.to_str().unwrap_or("?").to_string()).collect::<Vec<_>>()
    };
    let ids = all("webhook-id");
    assert_eq!(ids.len(), 1, "one webhook-id: {ids:?}");
    assert!(ids[0].starts_with("dlv_"), "the gateway's own id: {ids:?}");
    let signatures = all("webhook-signature");
    assert_eq!(signatures.len(), 1, "{signatures:?}");
    assert_ne!(signatures[0], "v1,Zm9yZ2Vk");
    assert_eq!(all("host"), vec![dest.addr.to_string()], "the host the gateway connected to");
    assert!(all("transfer-encoding").is_empty(), "the body was not re-framed by the plugin");
    assert_eq!(all("x-plugin"), vec!["kept".to_string()], "ordinary headers pass");
    assert_eq!(got.json()["attack"], "forge", "the body arrived whole");
    gw.stop().await;
}

#[tokio::test]
async fn a_header_with_crlf_and_a_forward_to_an_unknown_destination_are_dead_lettered_at_once() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&table(&dest)).await.unwrap();
    assert_eq!(gw.post("test", &attack("crlf")).await.status(), 200);
    assert_eq!(gw.post("test", &attack("nowhere")).await.status(), 200);
    let dead = dead_letters(&gw, 2).await;
    assert!(dead.iter().all(|d| d.kind == "event" && d.attempts == 1), "at once, not retried: {dead:#?}");
    let errors: Vec<&str> = dead.iter().map(|d| d.error.as_str()).collect();
    assert!(errors.iter().any(|e| e.contains("header `x-injected`") && e.contains("CR, LF")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("destination `no-such-destination`, which is not configured")),
        "{errors:?}"
    );
    assert!(dest.received().is_empty(), "nothing was sent");
    gw.stop().await;
}

#[tokio::test]
async fn three_kilobytes_of_stderr_are_logged_and_the_event_is_delivered() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&table(&dest)).await.unwrap();
    assert_eq!(gw.post("test", &attack("stderr")).await.status(), 200);
    let got = dest.wait_for(1).await;
    assert_eq!(got[0].json()["attack"], "stderr");
    assert_eq!(switchyard::metrics::Metrics::get(&gw.gateway.metrics.plugin_calls), 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_fan_out_of_ten_emits_on_its_own_scope_stops_at_max_emits() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&table(&dest)).await.unwrap();
    assert_eq!(gw.post("test", &attack("fanout")).await.status(), 200);
    let store = gw.gateway.store.clone();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let depth = store.depth().await.unwrap_or_default();
        if depth.events_pending == 0 && depth.dead > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the tree never settled: {depth:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let events = store.recent_events(10_000).await.unwrap_or_default();
    assert_eq!(events.len(), 1 + 30, "the webhook and exactly max_emits derived events were stored");
    let dead = store.dead_letters(1_000).await.unwrap_or_default();
    assert!(!dead.is_empty() && dead.iter().all(|d| d.kind == "event"), "{dead:#?}");
    let first = &dead[dead.len() - 1];
    assert!(first.error.starts_with("emit limit reached") && first.error.contains("max_emits = 30"), "{}", first.error);
    // Nothing else moves: no pending work is left to grow the store.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(store.recent_events(10_000).await.unwrap_or_default().len(), 31);
    gw.stop().await;
}
