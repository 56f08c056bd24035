//! Storage: dedup keys are durable (a repeat after a restart is still a duplicate), and the
//! PostgreSQL backend serves a gateway, or several sharing one database.

use crate::support::pg::TestSchema;
use crate::support::{TestDestination, TestGateway, eventually};
use switchyard::metrics::Metrics;

fn table(dest_url: &str, storage: &str) -> String {
    let source = crate::support::generic_source("shop");
    format!(
        r#"
{storage}

{source}id_field = "order_id"

[destinations.erp]
url = "{dest_url}"
retry = {{ max_attempts = 100, first_ms = 20, max_ms = 100 }}

[[routes]]
match = "order/*"
to = ["erp"]
"#
    )
}

fn order(id: &str) -> String {
    format!(r#"{{"scope": "order/created", "order_id": "{id}"}}"#)
}

async fn answer(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

#[tokio::test]
async fn a_repeat_sent_after_a_restart_is_still_a_duplicate_and_is_not_delivered_again() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&table(&dest.url("/erp"), "")).await.unwrap();
    let (status, first) = answer(gw.post("shop", &order("1001")).await).await;
    assert_eq!((status, first["status"].as_str()), (200, Some("accepted")), "{first}");
    dest.wait_for(1).await;

    let gw = gw.restart().await.unwrap();
    let (status, again) = answer(gw.post("shop", &order("1001")).await).await;
    assert_eq!((status, again["status"].as_str()), (200, Some("duplicate")), "{again}");
    assert_eq!(again["id"], first["id"], "a duplicate names the event it repeats");

    // A later, different order is delivered: had the repeat been stored, it would be too.
    assert_eq!(gw.post("shop", &order("1002")).await.status(), 200);
    dest.wait_for_one("order 1002", |r| r.json()["order_id"] == "1002").await;
    let orders: Vec<String> = dest.received().iter().map(|r| r.json()["order_id"].to_string()).collect();
    assert_eq!(orders, [r#""1001""#, r#""1002""#], "order 1001 is delivered once");
    gw.stop().await;
}

#[tokio::test]
async fn a_gateway_on_postgres_stores_and_delivers_an_event() {
    let Some(schema) = TestSchema::create() else { return };
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&table(&dest.url("/erp"), &schema.storage())).await.unwrap();
    let (status, first) = answer(gw.post("shop", &order("2001")).await).await;
    assert_eq!((status, first["status"].as_str()), (200, Some("accepted")), "{first}");
    let got = dest.wait_for(1).await;
    assert_eq!(got[0].json()["order_id"], "2001");
    let (status, again) = answer(gw.post("shop", &order("2001")).await).await;
    assert_eq!((status, again["status"].as_str(), &again["id"]), (200, Some("duplicate"), &first["id"]));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_on_one_database_share_dedup_keys_and_deliver_each_event_once() {
    let Some(schema) = TestSchema::create() else { return };
    let dest = TestDestination::start().await;
    let toml = table(&dest.url("/erp"), &schema.storage());
    let a = TestGateway::start(&toml).await.unwrap();
    let b = TestGateway::start(&toml).await.unwrap();

    let (_, first) = answer(a.post("shop", &order("3001")).await).await;
    let (status, again) = answer(b.post("shop", &order("3001")).await).await;
    assert_eq!((status, again["status"].as_str()), (200, Some("duplicate")), "{again}");
    assert_eq!(again["id"], first["id"], "the other node names the event it repeats");

    // Twenty orders spread over both nodes: every one is delivered once, by whichever node.
    for n in 0..20 {
        let gw = if n % 2 == 0 { &a } else { &b };
        assert_eq!(gw.post("shop", &order(&format!("4{n:03}"))).await.status(), 200);
    }
    dest.wait_for(21).await;
    let (ma, mb) = (a.gateway.metrics.clone(), b.gateway.metrics.clone());
    eventually("21 deliveries recorded", || Metrics::get(&ma.delivered) + Metrics::get(&mb.delivered) == 21).await;
    let mut orders: Vec<String> = dest.received().iter().map(|r| r.json()["order_id"].to_string()).collect();
    orders.sort();
    let total = orders.len();
    orders.dedup();
    assert_eq!((total, orders.len()), (21, 21), "each order delivered exactly once: {orders:?}");
    a.stop().await;
    b.stop().await;
}
