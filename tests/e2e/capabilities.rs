//! Plugins that do real work (`switchyard:plugin@0.2.0`): the `bigcommerce-enrich` example
//! calls a fake BigCommerce API through the allow-list and keeps state in kv; the `stateful`
//! test plugin shows what kv guarantees (writes commit with the event, a retried event counts
//! once, plugins are kept apart) and what the SSRF guard refuses; a plugin built against 0.1.0
//! still runs.

use crate::support::bigcommerce::{FakeBigCommerce, Order};
use crate::support::{TestDestination, TestGateway, bigcommerce, dead_letters};
use serde_json::json;

const TOKEN: &str = "bc-access-token";

fn enrich_table(api: &FakeBigCommerce, allowed: &str, dest: &TestDestination) -> String {
    format!(
        r#"
[sources.bigcommerce]
provider = "bigcommerce"

[plugins.enrich]
path = "{{wasm:bigcommerce-enrich}}"
allowed_hosts = [{allowed}]
config = {{ api_base = "{base}", access_token = "{TOKEN}" }}

[destinations.erp]
url = "{erp}"

[[routes]]
match = "store/order/*"
plugin = "enrich"
to = ["erp"]
"#,
        base = api.base(),
        erp = dest.url("/erp"),
    )
}

fn order_250() -> Order {
    Order {
        status: "Awaiting Fulfillment".into(),
        total_inc_tax: "56.0000".into(),
        email: "jane@example.com".into(),
        items: vec![("SKU-RED".into(), 2, "20.0000".into()), ("SKU-BLUE".into(), 1, "16.0000".into())],
    }
}

/// A BigCommerce order webhook; `hash` makes each one a new event (BigCommerce dedups on it).
fn webhook(scope: &str, id: u64, hash: &str) -> String {
    let mut body: serde_json::Value =
        serde_json::from_str(&bigcommerce(scope, json!({"type": "order", "id": id}))).unwrap_or_default();
    body["hash"] = json!(hash);
    body.to_string()
}

#[tokio::test]
async fn an_order_webhook_is_enriched_from_the_store_api_with_its_line_items_and_the_token() {
    let (api, dest) = (FakeBigCommerce::start(TOKEN).await, TestDestination::start().await);
    api.put_order(250, order_250());
    let allowed = format!("\"http://{}\"", api.addr);
    let gw = TestGateway::start(&enrich_table(&api, &allowed, &dest)).await.unwrap();
    assert_eq!(gw.post("bigcommerce", &webhook("store/order/created", 250, "h1")).await.status(), 200);
    let got = dest.wait_for(1).await.remove(0).json();
    assert_eq!(got["order_id"], 250);
    assert_eq!(got["status"], "Awaiting Fulfillment");
    assert_eq!(got["total"], "56.0000");
    assert_eq!(got["customer_email"], "jane@example.com");
    assert_eq!(
        got["items"],
        json!([
            {"sku": "SKU-RED", "quantity": 2, "price": "20.0000"},
            {"sku": "SKU-BLUE", "quantity": 1, "price": "16.0000"},
        ])
    );
    let seen = api.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|(_, token)| token.as_deref() == Some(TOKEN)), "the token reached the API: {seen:?}");
    assert_eq!(seen[0].0, "/stores/abc123/v2/orders/250");
    assert_eq!(seen[1].0, "/stores/abc123/v2/orders/250/products?limit=250&page=1");
    gw.stop().await;
}

#[tokio::test]
async fn an_order_of_more_lines_than_a_page_is_forwarded_with_every_line() {
    let (api, dest) = (FakeBigCommerce::start(TOKEN).await, TestDestination::start().await);
    let items = (1..=620).map(|i| (format!("SKU-{i}"), 1, "1.0000".to_string())).collect();
    api.put_order(250, Order { items, ..order_250() });
    let allowed = format!("\"http://{}\"", api.addr);
    let gw = TestGateway::start(&enrich_table(&api, &allowed, &dest)).await.unwrap();
    assert_eq!(gw.post("bigcommerce", &webhook("store/order/created", 250, "h1")).await.status(), 200);
    let got = dest.wait_for(1).await.remove(0).json();
    let skus: Vec<&str> =
        got["items"].as_array().map(|a| a.iter().filter_map(|i| i["sku"].as_str()).collect()).unwrap_or_default();
    assert_eq!(skus.len(), 620, "every line, in order");
    assert_eq!((skus[0], skus[249], skus[250], skus[619]), ("SKU-1", "SKU-250", "SKU-251", "SKU-620"));
    let pages: Vec<String> = api.seen().into_iter().map(|(path, _)| path).filter(|p| p.contains("/products")).collect();
    assert_eq!(pages.len(), 3, "three pages of up to 250: {pages:?}");
    assert!(pages[2].ends_with("?limit=250&page=3"));
    gw.stop().await;
}

#[tokio::test]
async fn a_5xx_is_retried_and_succeeds_and_a_404_is_dropped() {
    let (api, dest) = (FakeBigCommerce::start(TOKEN).await, TestDestination::start().await);
    api.put_order(250, order_250());
    let allowed = format!("\"http://{}\"", api.addr);
    let gw = TestGateway::start(&enrich_table(&api, &allowed, &dest)).await.unwrap();
    api.fail_next(1);
    assert_eq!(gw.post("bigcommerce", &webhook("store/order/created", 250, "h1")).await.status(), 200);
    assert_eq!(dest.wait_for(1).await[0].json()["order_id"], 250, "delivered after the retry");
    assert!(api.seen().len() >= 3, "the failed call, then the order and its products");

    let dropped = switchyard::metrics::Metrics::get(&gw.gateway.metrics.dropped);
    assert_eq!(gw.post("bigcommerce", &webhook("store/order/created", 999, "h2")).await.status(), 200);
    let metrics = gw.gateway.metrics.clone();
    crate::support::eventually("the 404 dropped", || {
        switchyard::metrics::Metrics::get(&metrics.dropped) == dropped + 1
    })
    .await;
    assert_eq!(dest.received().len(), 1, "nothing forwarded for a deleted order");
    assert!(gw.gateway.store.dead_letters(10).await.unwrap_or_default().is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn a_status_update_to_the_status_already_sent_is_dropped_through_kv() {
    let (api, dest) = (FakeBigCommerce::start(TOKEN).await, TestDestination::start().await);
    api.put_order(250, order_250());
    let allowed = format!("\"http://{}\"", api.addr);
    let gw = TestGateway::start(&enrich_table(&api, &allowed, &dest)).await.unwrap();
    assert_eq!(gw.post("bigcommerce", &webhook("store/order/statusUpdated", 250, "h1")).await.status(), 200);
    dest.wait_for(1).await;
    // The same status again: dropped, with no delivery.
    assert_eq!(gw.post("bigcommerce", &webhook("store/order/statusUpdated", 250, "h2")).await.status(), 200);
    let metrics = gw.gateway.metrics.clone();
    crate::support::eventually("the repeat dropped", || switchyard::metrics::Metrics::get(&metrics.dropped) == 1).await;
    // A new status: forwarded.
    api.set_status(250, "Shipped");
    assert_eq!(gw.post("bigcommerce", &webhook("store/order/statusUpdated", 250, "h3")).await.status(), 200);
    let got = dest.wait_for(2).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].json()["status"], "Shipped");
    let kept = gw.gateway.store.kv_get("enrich", "status:abc123:250").await.ok().flatten();
    assert_eq!(kept.as_deref(), Some(&b"Shipped"[..]));
    gw.stop().await;
}

#[tokio::test]
async fn a_host_missing_from_allowed_hosts_is_refused_and_the_event_dead_lettered_naming_it() {
    let (api, dest) = (FakeBigCommerce::start(TOKEN).await, TestDestination::start().await);
    api.put_order(250, order_250());
    let gw = TestGateway::start(&enrich_table(&api, "\"https://api.bigcommerce.com\"", &dest)).await.unwrap();
    assert_eq!(gw.post("bigcommerce", &webhook("store/order/created", 250, "h1")).await.status(), 200);
    let dead = dead_letters(&gw, 1).await.remove(0);
    assert_eq!((dead.kind, dead.attempts), ("event", 1), "failed at once, not retried");
    assert!(dead.error.contains("refused") && dead.error.contains(&api.addr.to_string()), "{}", dead.error);
    assert!(api.seen().is_empty(), "no request reached the API");
    gw.stop().await;
}

#[tokio::test]
async fn a_hostname_resolving_to_loopback_is_refused_unless_the_address_is_listed() {
    let (api, dest) = (FakeBigCommerce::start(TOKEN).await, TestDestination::start().await);
    api.put_order(250, order_250());
    let by_name = format!("http://localhost:{}", api.addr.port());
    let table = |allowed: &str| {
        enrich_table(&api, allowed, &dest)
            .replace(&format!("api_base = \"{}\"", api.base()), &format!("api_base = \"{by_name}\""))
    };
    let gw = TestGateway::start(&table(&format!("\"{by_name}\""))).await.unwrap();
    assert_eq!(gw.post("bigcommerce", &webhook("store/order/created", 250, "h1")).await.status(), 200);
    let dead = dead_letters(&gw, 1).await.remove(0);
    assert!(dead.error.contains("internal address"), "{}", dead.error);
    assert!(api.seen().is_empty());
    gw.stop().await;

    let listed = format!("\"{by_name}\", \"http://127.0.0.1:{}\"", api.addr.port());
    let gw = TestGateway::start(&table(&listed)).await.unwrap();
    assert_eq!(gw.post("bigcommerce", &webhook("store/order/created", 250, "h2")).await.status(), 200);
    assert_eq!(dest.wait_for(1).await[0].json()["order_id"], 250);
    gw.stop().await;
}

fn stateful_table(dest: &TestDestination, allowed: &str) -> String {
    let source = crate::support::generic_source("test");
    format!(
        r#"
{source}dedup_window_secs = 0

[plugins.a]
path = "{{wasm:stateful}}"
allowed_hosts = [{allowed}]

[plugins.b]
path = "{{wasm:stateful}}"

[plugins.legacy]
path = "{{wasm:legacy-v1}}"
config = {{ tag = "old" }}

[plugins.legacy2]
path = "{{wasm:legacy-v2}}"

[destinations.out]
url = "{out}"

[[routes]]
match = "a"
plugin = "a"
to = ["out"]

[[routes]]
match = "b"
plugin = "b"
to = ["out"]

[[routes]]
match = "legacy"
plugin = "legacy"
to = ["out"]

[[routes]]
match = "legacy2"
plugin = "legacy2"
to = ["out"]
"#,
        out = dest.url("/out")
    )
}

#[tokio::test]
async fn a_plugin_that_writes_kv_and_then_traps_leaves_nothing_written() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&stateful_table(&dest, "")).await.unwrap();
    let body = json!({"scope": "a", "mode": "set-then-trap", "key": "poison"}).to_string();
    assert_eq!(gw.post("test", &body).await.status(), 200);
    let dead = dead_letters(&gw, 1).await.remove(0);
    assert!(dead.error.contains("trapped"), "{}", dead.error);
    assert_eq!(gw.gateway.store.kv_get("a", "poison").await.ok(), Some(None));
    gw.stop().await;
}

#[tokio::test]
async fn an_event_retried_three_times_increments_its_counter_once() {
    let (upstream, dest) = (TestDestination::start().await, TestDestination::start().await);
    upstream.answer(503);
    let allowed = format!("\"http://{}\"", upstream.addr);
    let gw = TestGateway::start(&stateful_table(&dest, &allowed)).await.unwrap();
    let body = json!({"scope": "a", "mode": "count-then-fetch", "key": "events", "url": upstream.url("/flaky")});
    assert_eq!(gw.post("test", &body.to_string()).await.status(), 200);
    // It fails (and retries) until the upstream answers; its writes are discarded each time.
    upstream.wait_for(3).await;
    upstream.answer(200);
    let got = dest.wait_for(1).await;
    assert_eq!(got[0].json()["out"]["count"], 1);
    assert_eq!(gw.gateway.store.kv_get("a", "events").await.ok().flatten().as_deref(), Some(&b"1"[..]));
    gw.stop().await;
}

#[tokio::test]
async fn concurrent_increments_add_up_and_two_plugins_cannot_see_each_others_keys() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&stateful_table(&dest, "")).await.unwrap();
    let posts = (0..40).map(|n| {
        let body = json!({"scope": "a", "mode": "count", "key": "hits", "n": n}).to_string();
        let gw = &gw;
        async move { gw.post("test", &body).await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(posts).await;
    assert!(statuses.iter().all(|s| *s == 200));
    dest.wait_for(40).await;
    assert_eq!(gw.gateway.store.kv_get("a", "hits").await.ok().flatten().as_deref(), Some(&b"40"[..]));

    let set = json!({"scope": "a", "mode": "set", "key": "secret", "value": "only a"}).to_string();
    assert_eq!(gw.post("test", &set).await.status(), 200);
    dest.wait_for(41).await;
    let peek = json!({"scope": "b", "mode": "get", "key": "secret"}).to_string();
    assert_eq!(gw.post("test", &peek).await.status(), 200);
    let got = dest.wait_for(42).await;
    assert_eq!(got[41].json()["out"]["value"], serde_json::Value::Null, "plugin b does not see a's key");
    assert_eq!(gw.gateway.store.kv_get("a", "secret").await.ok().flatten().as_deref(), Some(&b"only a"[..]));
    gw.stop().await;
}

#[tokio::test]
async fn a_plugin_built_against_contract_0_1_0_still_runs() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&stateful_table(&dest, "")).await.unwrap();
    assert_eq!(gw.post("test", r#"{"scope": "legacy", "x": 1}"#).await.status(), 200);
    let got = dest.wait_for(1).await.remove(0);
    assert_eq!(got.headers.get("x-contract").and_then(|v| v.to_str().ok()), Some("0.1.0"));
    assert_eq!(got.headers.get("x-tag").and_then(|v| v.to_str().ok()), Some("old"));
    assert_eq!(got.json()["x"], 1);
    let plugins = gw.gateway.live.snapshot().plugins.get("legacy").map(|p| p.contract());
    assert_eq!(plugins, Some("0.1.0"));
    gw.stop().await;
}

#[tokio::test]
async fn a_plugin_built_against_contract_0_2_0_still_runs_with_its_kv() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&stateful_table(&dest, "")).await.unwrap();
    for x in 1..=2 {
        assert_eq!(gw.post("test", &format!(r#"{{"scope": "legacy2", "x": {x}}}"#)).await.status(), 200);
        dest.wait_for(x).await;
    }
    let got = dest.received();
    let header = |i: usize, name: &str| got[i].headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
    assert_eq!(header(0, "x-contract").as_deref(), Some("0.2.0"));
    assert_eq!((header(0, "x-seen").as_deref(), header(1, "x-seen").as_deref()), (Some("1"), Some("2")));
    let contract = gw.gateway.live.snapshot().plugins.get("legacy2").map(|p| p.contract());
    assert_eq!(contract, Some("0.2.0"));
    gw.stop().await;
}
