//! Bad input is answered with a precise status and a reason, and nothing else is disturbed.

use crate::support::{TestDestination, TestGateway};

async fn gateway() -> (TestGateway, TestDestination) {
    let dest = TestDestination::start().await;
    let toml = format!(
        "[server]\nmax_body = \"1KiB\"\n\n[sources.bigcommerce]\nprovider = \"bigcommerce\"\n\n[destinations.d]\nurl = \"{}\"\n\n[[routes]]\nmatch = \"**\"\nto = [\"d\"]\n",
        dest.url("/d")
    );
    (TestGateway::start(&toml).await.unwrap(), dest)
}

async fn reason(response: reqwest::Response) -> String {
    let bytes = response.bytes().await.unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    body["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_unknown_source_is_404() {
    let (gw, _dest) = gateway().await;
    let response = gw.post("nope", r#"{"scope": "a"}"#).await;
    assert_eq!(response.status(), 404);
    assert!(reason(response).await.contains("nope"));
    gw.stop().await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (gw, _dest) = gateway().await;
    let response = gw.post("bigcommerce", "{not json").await;
    assert_eq!(response.status(), 400);
    assert!(!reason(response).await.is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn a_body_without_a_scope_is_400() {
    let (gw, _dest) = gateway().await;
    let response = gw.post("bigcommerce", r#"{"store_id": "1"}"#).await;
    assert_eq!(response.status(), 400);
    assert!(reason(response).await.contains("scope"));
    gw.stop().await;
}

#[tokio::test]
async fn a_body_over_max_body_is_413() {
    let (gw, _dest) = gateway().await;
    let big = format!(r#"{{"scope": "a", "pad": "{}"}}"#, "x".repeat(2048));
    assert_eq!(gw.post("bigcommerce", &big).await.status(), 413);
    // Chunked, without a content-length, too.
    let stream = futures_body(big);
    let response = gw.client.post(gw.url("/hooks/bigcommerce")).body(stream).send().await;
    assert_eq!(response.map(|r| r.status().as_u16()).unwrap_or(413), 413);
    gw.stop().await;
}

fn futures_body(text: String) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = text.into_bytes().chunks(100).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

#[tokio::test]
async fn a_get_is_405() {
    let (gw, _dest) = gateway().await;
    let response = gw.client.get(gw.url("/hooks/bigcommerce")).send().await.map(|r| r.status().as_u16());
    assert_eq!(response.ok(), Some(405));
    gw.stop().await;
}

#[tokio::test]
async fn good_events_still_flow_after_bad_ones() {
    let (gw, dest) = gateway().await;
    for bad in ["{", "[]", r#"{"scope": 5}"#, ""] {
        assert_eq!(gw.post("bigcommerce", bad).await.status(), 400, "body {bad:?}");
    }
    assert_eq!(gw.post("bigcommerce", r#"{"scope": "store/order/created"}"#).await.status(), 200);
    dest.wait_for(1).await;
    gw.stop().await;
}
