//! A webhook goes in, the right plugins run, and the right destinations receive their output.

use crate::support::{TestDestination, TestGateway, bigcommerce, eventually};
use serde_json::json;
use switchyard::metrics::Metrics;

fn table(dest: &TestDestination) -> String {
    format!(
        r#"
[sources.bigcommerce]
provider = "bigcommerce"

[plugins.order-to-erp]
path = "{{wasm:order-to-erp}}"
config = {{ currency = "EUR" }}

[plugins.envelope]
path = "{{wasm:envelope}}"

[destinations.erp]
url = "{erp}"

[destinations.audit]
url = "{audit}"

[[routes]]
name = "orders to ERP"
match = "store/order/*"
plugin = "order-to-erp"
to = ["erp"]

[[routes]]
name = "coupons by channel"
match = "store/channel/{{channel_id}}/cart/couponApplied"
plugin = "envelope"
to = ["audit"]

[[routes]]
name = "everything created, audited"
match = "**/created"
plugin = "envelope"
to = ["audit"]
"#,
        erp = dest.url("/erp"),
        audit = dest.url("/audit"),
    )
}

#[tokio::test]
async fn an_order_created_comes_out_of_the_erp_plugin_reshaped() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&table(&dest)).await.unwrap();
    let body = bigcommerce("store/order/created", json!({ "type": "order", "id": 250 }));
    let response = gw.post("bigcommerce", &body).await;
    assert_eq!(response.status(), 200);

    dest.wait_for(2).await;
    let erp = dest.at("/erp");
    assert_eq!(erp.len(), 1, "one record for the ERP");
    let record = erp[0].json();
    assert_eq!(record["record_type"], "sales_order");
    assert_eq!(record["order_number"], "250");
    assert_eq!(record["change"], "created");
    assert_eq!(record["store_hash"], "abc123");
    assert_eq!(record["currency"], "EUR", "config reaches the plugin");
    assert_eq!(erp[0].headers["content-type"], "application/json");
    assert!(erp[0].headers.contains_key("webhook-id"), "deliveries carry a stable id");
    gw.stop().await;
}

#[tokio::test]
async fn an_event_matching_two_routes_reaches_both() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&table(&dest)).await.unwrap();
    let body = bigcommerce("store/order/created", json!({ "type": "order", "id": 7 }));
    assert_eq!(gw.post("bigcommerce", &body).await.status(), 200);

    let got = dest.wait_for(2).await;
    let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    assert!(paths.contains(&"/erp") && paths.contains(&"/audit"), "{paths:?}");
    let audit = dest.at("/audit")[0].json();
    assert_eq!(audit["route"], "everything created, audited");
    gw.stop().await;
}

#[tokio::test]
async fn a_channel_id_in_the_scope_reaches_the_plugin_as_a_parameter() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&table(&dest)).await.unwrap();
    let body =
        bigcommerce("store/channel/1/cart/couponApplied", json!({ "type": "cart", "id": "09346904", "couponId": 1 }));
    assert_eq!(gw.post("bigcommerce", &body).await.status(), 200);

    let got = dest.wait_for(1).await;
    let envelope = got[0].json();
    assert_eq!(envelope["params"]["channel_id"], "1");
    assert_eq!(envelope["scope"], "store/channel/1/cart/couponApplied");
    assert_eq!(envelope["payload"]["data"]["couponId"], 1);
    gw.stop().await;
}

#[tokio::test]
async fn an_event_matching_no_route_is_accepted_and_delivered_nowhere() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&table(&dest)).await.unwrap();
    let body = bigcommerce("store/product/updated", json!({ "type": "product", "id": 1 }));
    let response = gw.post("bigcommerce", &body).await;
    assert_eq!(response.status(), 200);
    let metrics = gw.gateway.metrics.clone();
    eventually("the event to be found unrouted", || Metrics::get(&metrics.unrouted) == 1).await;
    assert!(dest.received().is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn a_route_without_a_plugin_forwards_the_body_as_received() {
    let dest = TestDestination::start().await;
    let toml = format!(
        "[sources.shop]\nprovider = \"generic\"\nscope_header = \"x-topic\"\n\n[destinations.d]\nurl = \"{}\"\n\n[[routes]]\nmatch = \"orders/*\"\nto = [\"d\"]\n",
        dest.url("/raw")
    );
    let gw = TestGateway::start(&toml).await.unwrap();
    let response = gw.post_with("shop", r#"{"id": 1}"#, &[("x-topic", "orders/create")]).await;
    assert_eq!(response.status(), 200);
    let got = dest.wait_for(1).await;
    assert_eq!(got[0].body, br#"{"id": 1}"#);
    assert_eq!(got[0].headers["content-type"], "application/json");
    gw.stop().await;
}
