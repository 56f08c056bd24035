//! Delivery that protects destinations and keeps order, on SQLite and on PostgreSQL (where
//! `SWITCHYARD_TEST_POSTGRES_URL` is set): rate and concurrency limits, the circuit breaker
//! pausing and resuming, ordered keys under a sink that answers after varying delays, filters
//! that keep events from plugins, and `switchyard replay` feeding a route added later.

use crate::support::pg::TestSchema;
use crate::support::{TestDestination, TestGateway, eventually};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use switchyard::metrics::Metrics;

/// Which store a case runs on: SQLite in the gateway's directory, or a PostgreSQL schema of
/// its own (`None` when PostgreSQL is not configured: the case is skipped).
fn store(postgres: bool) -> Option<(String, Option<TestSchema>)> {
    if !postgres {
        return Some((String::new(), None));
    }
    let schema = TestSchema::create()?;
    Some((schema.storage(), Some(schema)))
}

/// One case, on each store.
macro_rules! on_both_stores {
    ($case:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $case(false).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            $case(true).await;
        }
    };
}

on_both_stores!(rate_case, a_rate_limit_holds_over_a_burst_on_sqlite, a_rate_limit_holds_over_a_burst_on_postgres);
on_both_stores!(
    concurrency_case,
    a_concurrency_limit_holds_against_a_slow_sink_on_sqlite,
    a_concurrency_limit_holds_against_a_slow_sink_on_postgres
);
on_both_stores!(
    breaker_case,
    a_failing_destination_is_paused_then_resumed_by_a_probe_on_sqlite,
    a_failing_destination_is_paused_then_resumed_by_a_probe_on_postgres
);
on_both_stores!(
    ordering_case,
    each_keys_deliveries_arrive_in_acceptance_order_on_sqlite,
    each_keys_deliveries_arrive_in_acceptance_order_on_postgres
);
on_both_stores!(
    plugin_key_case,
    a_plugins_order_key_orders_its_deliveries_on_sqlite,
    a_plugins_order_key_orders_its_deliveries_on_postgres
);
on_both_stores!(
    filter_case,
    a_filtered_out_event_never_reaches_the_plugin_on_sqlite,
    a_filtered_out_event_never_reaches_the_plugin_on_postgres
);
on_both_stores!(
    replay_case,
    a_route_added_later_receives_stored_events_after_replay_on_sqlite,
    a_route_added_later_receives_stored_events_after_replay_on_postgres
);

/// A routes.toml: one source, destination `erp` (with `dest_extra` keys), route `orders`
/// (with `route_extra` keys) from `order/*` to it.
fn table(storage: &str, url: &str, dest_extra: &str, route_extra: &str) -> String {
    let source = crate::support::generic_source("shop");
    format!(
        r#"
{storage}
{source}dedup_window_secs = 0

[destinations.erp]
url = "{url}"
retry = {{ max_attempts = 100, first_ms = 50, max_ms = 200 }}
{dest_extra}

[[routes]]
name = "orders"
match = "order/*"
to = ["erp"]
{route_extra}
"#
    )
}

fn order(n: usize, key: usize) -> String {
    format!(r#"{{"scope": "order/updated", "n": {n}, "data": {{"type": "order", "id": {key}}}}}"#)
}

async fn post_all(gw: &TestGateway, bodies: impl IntoIterator<Item = String>) {
    for body in bodies {
        let status = gw.post("shop", &body).await.status();
        assert_eq!(status, 200, "{body}");
    }
}

/// Waits up to `bound` for `n` requests at the sink.
async fn arrivals(dest: &TestDestination, n: usize, bound: Duration) -> Vec<crate::support::Received> {
    let deadline = Instant::now() + bound;
    loop {
        let got = dest.received();
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "expected {n} deliveries within {bound:?}, got {}", got.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn rate_case(postgres: bool) {
    let Some((storage, _schema)) = store(postgres) else { return };
    let dest = TestDestination::start().await;
    let toml = table(&storage, &dest.url("/erp"), r#"rate = "20/s""#, "");
    let gw = TestGateway::start_with_admin(&toml).await.unwrap();
    post_all(&gw, (0..200).map(|n| order(n, n))).await;
    let got = arrivals(&dest, 200, Duration::from_secs(40)).await;
    let span = got[got.len() - 1].at.duration_since(got[0].at).as_secs_f64();
    let rate = (got.len() - 1) as f64 / span;
    assert!(rate <= 22.0, "200 deliveries at {rate:.1}/s, over the 20/s limit (+10%)");
    assert_eq!(Metrics::get(&gw.gateway.metrics.delivery_failures), 0, "waiting is not failing");

    let api = gw.client.get(gw.admin_url("/api/destinations")).send().await.unwrap();
    let api: serde_json::Value = serde_json::from_str(&api.text().await.unwrap_or_default()).unwrap_or_default();
    assert_eq!(api["destinations"][0]["limits"]["rate"], "20/s", "{api}");
    let metrics = gw.client.get(gw.admin_url("/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap_or_default();
    assert!(text.contains("switchyard_destination_rate_limit{destination=\"erp\"} 20"), "{text}");
    assert!(text.contains("switchyard_delivery_waits_total{destination=\"erp\",reason=\"rate\"}"), "{text}");
    gw.stop().await;
}

async fn concurrency_case(postgres: bool) {
    let Some((storage, _schema)) = store(postgres) else { return };
    let dest = TestDestination::start().await;
    dest.delay(100, 0);
    let gw = TestGateway::start(&table(&storage, &dest.url("/erp"), "concurrency = 2", "")).await.unwrap();
    post_all(&gw, (0..20).map(|n| order(n, n))).await;
    arrivals(&dest, 20, Duration::from_secs(30)).await;
    let metrics = gw.gateway.metrics.clone();
    eventually("all 20 delivered", || Metrics::get(&metrics.delivered) == 20).await;
    assert_eq!(dest.max_in_flight(), 2, "never more than 2 requests at once, and the 2 were used");
    gw.stop().await;
}

async fn breaker_case(postgres: bool) {
    let Some((storage, _schema)) = store(postgres) else { return };
    let dest = TestDestination::start().await;
    dest.answer(500);
    let limits = "pause_after = 5\nprobe_every = \"1s\"";
    let gw = TestGateway::start(&table(&storage, &dest.url("/erp"), limits, "")).await.unwrap();
    post_all(&gw, (0..10).map(|n| order(n, n))).await;
    let store = gw.gateway.store.clone();
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.destination_pauses().await.unwrap_or_default().is_empty() {
        assert!(Instant::now() < deadline, "the destination was never paused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Paused: only probes go out (one a second), and no delivery spends its attempts.
    let at_pause = dest.received().len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let while_paused = dest.received().len() - at_pause;
    assert!(while_paused <= 4, "{while_paused} attempts in 2.5 s while paused: only a probe a second may go");
    assert!(store.dead_letters(10).await.unwrap_or_default().is_empty(), "nothing dead-lettered while paused");
    let depth = store.depth().await.unwrap_or_default();
    assert!(depth.deliveries_held > 0, "the deliveries wait in the store: {depth:?}");

    // The sink recovers: the next probe resumes the destination and everything is delivered.
    dest.answer(200);
    let recovered = Instant::now();
    let deadline = recovered + Duration::from_secs(15);
    while !store.destination_pauses().await.unwrap_or_default().is_empty() {
        assert!(Instant::now() < deadline, "the destination never resumed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = recovered.elapsed();
    assert!(took <= Duration::from_millis(2500), "resumed {took:?} after the sink recovered (probe_every = 1s)");
    let metrics = gw.gateway.metrics.clone();
    eventually("all ten delivered", || Metrics::get(&metrics.delivered) == 10).await;
    assert_eq!(gw.gateway.metrics.destination_changes.get("erp", "paused"), 1);
    assert_eq!(gw.gateway.metrics.destination_changes.get("erp", "resumed"), 1);
    gw.stop().await;
}

async fn ordering_case(postgres: bool) {
    let Some((storage, _schema)) = store(postgres) else { return };
    let dest = TestDestination::start().await;
    dest.delay(0, 20);
    // Every 7th request fails once: without ordering, its retry would land after later events.
    dest.fail_every(7);
    let gw = TestGateway::start(&table(&storage, &dest.url("/erp"), "", r#"order_by = "/data/id""#)).await.unwrap();
    // 500 events over 20 keys, each acknowledged before the next is sent: acceptance order is n.
    post_all(&gw, (0..500).map(|n| order(n, n % 20))).await;
    let metrics = gw.gateway.metrics.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Metrics::get(&metrics.delivered) < 500 {
        assert!(Instant::now() < deadline, "500 deliveries within 60 s: {}", Metrics::get(&metrics.delivered));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every attempt, failed ones included, in the order it arrived: a key's sequence never goes
    // back (a retry of n comes before n + 1 is tried).
    let mut by_key: HashMap<u64, Vec<u64>> = HashMap::new();
    for r in dest.received() {
        let body = r.json();
        let (key, n) = (body["data"]["id"].as_u64(), body["n"].as_u64());
        by_key.entry(key.unwrap_or(u64::MAX)).or_default().push(n.unwrap_or(u64::MAX));
    }
    assert_eq!(by_key.len(), 20);
    for (key, ns) in &by_key {
        assert!(ns.windows(2).all(|w| w[0] <= w[1]), "key {key} out of order: {ns:?}");
        let mut distinct = ns.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 25, "key {key}: {ns:?}");
    }
    assert!(Metrics::get(&metrics.delivery_failures) > 0, "some first attempts failed, as the sink was told");
    assert!(dest.max_in_flight() > 1, "keys do not wait on each other: several were in flight at once");
    gw.stop().await;
}

async fn plugin_key_case(postgres: bool) {
    let Some((storage, _schema)) = store(postgres) else { return };
    let dest = TestDestination::start().await;
    dest.delay(0, 10);
    dest.fail_every(5);
    let toml = table(&storage, &dest.url("/erp"), "", "plugin = \"keyed\"")
        + "\n[plugins.keyed]\npath = \"{wasm:stateful}\"\n";
    let gw = TestGateway::start(&toml).await.unwrap();
    let body = |n: usize| format!(r#"{{"scope": "order/updated", "mode": "ordered", "key": "k{}", "n": {n}}}"#, n % 4);
    post_all(&gw, (0..100).map(body)).await;
    let metrics = gw.gateway.metrics.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Metrics::get(&metrics.delivered) < 100 {
        assert!(Instant::now() < deadline, "100 deliveries within 30 s: {}", Metrics::get(&metrics.delivered));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut by_key: HashMap<String, Vec<u64>> = HashMap::new();
    for r in dest.received() {
        let body = r.json();
        by_key
            .entry(body["key"].as_str().unwrap_or_default().into())
            .or_default()
            .push(body["n"].as_u64().unwrap_or(0));
    }
    assert_eq!(by_key.len(), 4);
    for (key, ns) in &by_key {
        assert!(ns.windows(2).all(|w| w[0] <= w[1]), "key {key} out of order: {ns:?}");
    }
    gw.stop().await;
}

async fn filter_case(postgres: bool) {
    let Some((storage, _schema)) = store(postgres) else { return };
    let dest = TestDestination::start().await;
    let route = "plugin = \"echo\"\nfilter = { \"/data/type\" = \"order\", \"/data/status\" = [10, 11] }";
    let toml = table(&storage, &dest.url("/erp"), "", route) + "\n[plugins.echo]\npath = \"{wasm:stateful}\"\n";
    let gw = TestGateway::start(&toml).await.unwrap();
    let body = |kind: &str, status: u32| {
        format!(
            r#"{{"scope": "order/updated", "mode": "echo", "n": {status}, "data": {{"type": "{kind}", "status": {status}}}}}"#
        )
    };
    post_all(&gw, [body("product", 10), body("order", 12), body("order", 11)]).await;
    let got = dest.wait_for(1).await;
    assert_eq!(got[0].json()["n"], 11);
    let metrics = gw.gateway.metrics.clone();
    eventually("two events filtered", || metrics.route_filtered.get("orders") == 2).await;
    assert_eq!(Metrics::get(&metrics.plugin_calls), 1, "the plugin saw only the event the filter let through");
    assert_eq!(dest.received().len(), 1);
    gw.stop().await;
}

async fn replay_case(postgres: bool) {
    let Some((storage, _schema)) = store(postgres) else { return };
    let (erp, audit) = (TestDestination::start().await, TestDestination::start().await);
    let toml = table(&storage, &erp.url("/erp"), "", "");
    let gw = TestGateway::start(&toml).await.unwrap();
    post_all(&gw, (0..3).map(|n| order(n, n))).await;
    erp.wait_for(3).await;
    let metrics = gw.gateway.metrics.clone();
    eventually("three delivered", || Metrics::get(&metrics.delivered) == 3).await;

    // A route added after the events arrived…
    let added = format!(
        "{toml}\n[destinations.audit]\nurl = \"{}\"\n\n[[routes]]\nname = \"audit\"\nmatch = \"order/*\"\nto = [\"audit\"]\n",
        audit.url("/audit")
    );
    std::fs::write(gw.config_path(), &added).unwrap();
    let live = gw.gateway.live.clone();
    assert!(matches!(tokio::task::spawn_blocking(move || live.reload().is_applied()).await, Ok(true)));
    assert!(audit.received().is_empty(), "a new route does not see old events by itself");

    // …receives them after `switchyard replay --since`, and the old route is not run again.
    let config = gw.config_path().display().to_string();
    let dry = ["switchyard", "replay", "--since", "1h", "--route", "audit", "--dry-run", "-c", &config];
    assert!(cli(&dry).await);
    let args = ["switchyard", "replay", "--since", "1h", "--route", "audit", "-c", &config];
    assert!(cli(&args).await);
    let got = audit.wait_for(3).await;
    let mut ns: Vec<u64> = got.iter().filter_map(|r| r.json()["n"].as_u64()).collect();
    ns.sort_unstable();
    assert_eq!(ns, [0, 1, 2]);
    eventually("six delivered", || Metrics::get(&metrics.delivered) == 6).await;
    assert_eq!(erp.received().len(), 3, "the old route was not run again");
    let missing = ["switchyard", "replay", "--event", "evt_0190a00000007000800000000000dead", "-c", &config];
    assert!(!cli(&missing).await, "an event no longer stored is reported, not ignored");
    gw.stop().await;
}

/// `args` starts with `switchyard`, as a command line does.
async fn cli(args: &[&str]) -> bool {
    crate::support::cli(&args[1..]).await
}
