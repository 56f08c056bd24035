//! The admin listener (issue 6): health and readiness, Prometheus metrics that parse and move
//! as events flow, the JSON API, bearer-token protection, and refusing to start exposed.

use crate::support::{TestDestination, TestGateway, eventually};
use prometheus_parse::{LineInfo, Scrape, Value};
use serde_json::json;
use switchyard::app::{Gateway, Options};

const TOKEN: &str = "admin-s3cret";

/// Sources `open` (unsigned) and `signed` (HMAC), routes `wrapped` (envelope plugin, to `d`)
/// and `plain` (no plugin, to `d`); `first_to` is where `plain` goes.
fn table(dest: &TestDestination, plain_to: &str) -> String {
    format!(
        r#"[server]
admin_token = "{TOKEN}"

[sources.open]
provider = "generic"
scope_field = "scope"

[sources.signed]
provider = "generic"
scope_field = "scope"
signature_header = "X-Signature"
algorithm = "sha256"
secrets = ["hook-secret"]

[plugins.envelope]
path = "{{wasm:envelope}}"
timeout_ms = 5000
config = {{ tag = "hunter2" }}

[destinations.d]
url = "{d}"

[destinations.e]
url = "{e}"

[[routes]]
name = "wrapped"
match = "thing.wrapped"
plugin = "envelope"
to = ["d"]

[[routes]]
name = "plain"
match = "thing.*"
to = ["{plain_to}"]
"#,
        d = dest.url("/d"),
        e = dest.url("/e"),
    )
}

async fn start(dest: &TestDestination) -> TestGateway {
    TestGateway::start_with_admin(&table(dest, "d")).await.unwrap()
}

/// GETs (or POSTs) an admin path with `token`, returning the status and body text.
async fn admin(gw: &TestGateway, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let url = gw.admin_url(path);
    let mut request = if method == "POST" { gw.client.post(url) } else { gw.client.get(url) };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn admin_json(gw: &TestGateway, method: &str, path: &str) -> (u16, serde_json::Value) {
    let (status, text) = admin(gw, method, path, Some(TOKEN)).await;
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON ({e}): {text}")))
}

/// Scrapes /metrics, checking every line is valid text format, and parses it.
async fn scrape(gw: &TestGateway) -> Scrape {
    let (status, text) = admin(gw, "GET", "/metrics", Some(TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        assert!(!matches!(LineInfo::parse(line), LineInfo::Ignored), "not Prometheus text format: {line:?}");
    }
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("unparsable /metrics")
}

/// The value of the sample `metric` whose labels include all of `labels` (0 when absent).
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found =
        scrape.samples.iter().find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)));
    match found.map(|s| &s.value) {
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        Some(Value::Histogram(buckets)) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
        Some(other) => panic!("{metric}: unexpected {other:?}"),
        None => 0.0,
    }
}

#[tokio::test]
async fn health_and_ready_answer_without_a_token() {
    let dest = TestDestination::start().await;
    let gw = start(&dest).await;
    let (status, body) = admin(&gw, "GET", "/health", None).await;
    assert_eq!((status, body.contains("ok")), (200, true), "{body}");
    let (status, body) = admin(&gw, "GET", "/ready", None).await;
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!(status, 200, "{body}");
    assert_eq!(ready["checks"], json!({ "config": true, "store": true }));
    gw.stop().await;
}

#[tokio::test]
async fn a_missing_or_wrong_token_gets_401_and_the_right_one_gets_through() {
    let dest = TestDestination::start().await;
    let gw = start(&dest).await;
    for path in ["/metrics", "/api/routes", "/api/plugins", "/api/reload"] {
        assert_eq!(admin(&gw, "GET", path, None).await.0, 401, "{path} without a token");
        assert_eq!(admin(&gw, "GET", path, Some("admin-s3creT")).await.0, 401, "{path} with a wrong token");
        assert_eq!(admin(&gw, "GET", path, Some(TOKEN)).await.0, 200, "{path} with the token");
    }
    assert_eq!(admin(&gw, "POST", "/api/reload", Some("nope")).await.0, 401, "a reload needs the token too");
    gw.stop().await;
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_counters_move_as_events_flow() {
    let dest = TestDestination::start().await;
    let gw = start(&dest).await;
    let before = scrape(&gw).await;
    assert_eq!(value(&before, "switchyard_events_accepted_total", &[]), 0.0);
    assert_eq!(value(&before, "switchyard_config_routes", &[]), 2.0);

    for n in 0..3 {
        let response = gw.post("open", &json!({ "scope": "thing.wrapped", "n": n }).to_string()).await;
        assert_eq!(response.status(), 200);
    }
    let response = gw.post("open", r#"{"scope": "thing.plain"}"#).await;
    assert_eq!(response.status(), 200);
    let refused = gw.post_with("signed", r#"{"scope": "thing.plain"}"#, &[("X-Signature", "00")]).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(gw.post("nowhere", "{}").await.status(), 404);
    // A percent-encoded name reaches the source it decodes to, and is counted there.
    assert_eq!(gw.post("op%65n", r#"{"scope": "thing.plain", "n": "encoded"}"#).await.status(), 200);
    // 3 wrapped events reach both routes (6 deliveries), the 2 plain ones reach `plain` only.
    dest.wait_for(8).await;
    let metrics = gw.gateway.metrics.clone();
    eventually("8 delivery attempts counted", || metrics.delivery_attempts.get("d", "delivered") == 8).await;

    let after = scrape(&gw).await;
    let requests = "switchyard_ingest_requests_total";
    assert_eq!(value(&after, requests, &[("source", "open"), ("status", "200")]), 5.0);
    assert_eq!(value(&after, requests, &[("source", "signed"), ("status", "401")]), 1.0);
    assert_eq!(value(&after, requests, &[("source", "_other"), ("status", "404")]), 1.0, "unknown sources fold");
    let verify = "switchyard_verify_failures_total";
    assert_eq!(value(&after, verify, &[("source", "signed"), ("reason", "bad_signature")]), 1.0);
    assert_eq!(value(&after, "switchyard_events_accepted_total", &[]), 5.0);
    assert_eq!(value(&after, "switchyard_route_events_total", &[("route", "wrapped")]), 3.0);
    assert_eq!(value(&after, "switchyard_route_events_total", &[("route", "plain")]), 5.0);
    let duration = "switchyard_plugin_duration_seconds";
    assert_eq!(value(&after, &format!("{duration}_count"), &[("plugin", "envelope")]), 3.0);
    assert!(value(&after, &format!("{duration}_sum"), &[("plugin", "envelope")]) > 0.0);
    assert_eq!(value(&after, duration, &[("plugin", "envelope")]), 3.0, "the +Inf bucket holds every call");
    let attempts = "switchyard_delivery_attempts_total";
    assert_eq!(value(&after, attempts, &[("destination", "d"), ("outcome", "delivered")]), 8.0);
    assert_eq!(value(&after, "switchyard_reloads_total", &[("outcome", "applied")]), 0.0);
    assert!(after.samples.iter().any(|s| s.metric == "switchyard_queue_events_pending"), "store gauges are there");
    let commits = value(&after, "switchyard_store_commit_seconds_count", &[]);
    assert!(commits >= 1.0, "every append was committed in some batch: {commits}");
    assert!(value(&after, "switchyard_store_commit_seconds_sum", &[]) > 0.0);

    // Every histogram's buckets are cumulative.
    for sample in &after.samples {
        if let Value::Histogram(buckets) = &sample.value {
            let counts: Vec<f64> = buckets.iter().map(|b| b.count).collect();
            assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{}: {counts:?}", sample.metric);
        }
    }
    gw.stop().await;
}

#[tokio::test]
async fn routes_and_plugins_are_listed_without_config_values() {
    let dest = TestDestination::start().await;
    let gw = start(&dest).await;
    let (status, routes) = admin_json(&gw, "GET", "/api/routes").await;
    assert_eq!(status, 200);
    assert_eq!(routes["routes"][0]["name"], "wrapped");
    assert_eq!(routes["routes"][0]["match"], json!(["thing.wrapped"]));
    assert_eq!(routes["routes"][1]["to"], json!(["d"]));

    let (status, text) = admin(&gw, "GET", "/api/plugins", Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(!text.contains("hunter2"), "plugin config values stay private: {text}");
    let plugins: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let envelope = &plugins["plugins"][0];
    assert_eq!((envelope["name"].as_str(), envelope["config_keys"].clone()), (Some("envelope"), json!(["tag"])));
    assert_eq!(envelope["sha256"].as_str().map(str::len), Some(64));
    gw.stop().await;
}

#[tokio::test]
async fn a_reload_through_the_api_applies_a_fix_and_reports_a_rejection() {
    let dest = TestDestination::start().await;
    let gw = start(&dest).await;
    std::fs::write(gw.config_path(), crate::support::expand(&table(&dest, "e"))).unwrap();
    let (status, applied) = admin_json(&gw, "POST", "/api/reload").await;
    assert_eq!((status, applied["applied"].as_bool()), (200, Some(true)), "{applied}");
    assert_eq!(gw.gateway.live.snapshot().config.routes[1].to, ["e"]);

    let broken = crate::support::expand(&table(&dest, "nowhere"));
    std::fs::write(gw.config_path(), &broken).unwrap();
    let (status, rejected) = admin_json(&gw, "POST", "/api/reload").await;
    assert_eq!(status, 422, "{rejected}");
    let line = broken.lines().position(|l| l == "to = [\"nowhere\"]").map(|i| i as u64 + 1);
    assert_eq!(rejected["errors"][0]["key"], "routes[1].to", "{rejected}");
    assert_eq!(rejected["errors"][0]["line"].as_u64(), line, "{rejected}");
    assert_eq!(gw.gateway.live.snapshot().config.routes[1].to, ["e"], "the previous config still serves");

    let (_, status) = admin_json(&gw, "GET", "/api/reload").await;
    assert_eq!((status["seq"].as_u64(), status["applied"].as_bool()), (Some(2), Some(false)));
    let metrics = scrape(&gw).await;
    assert_eq!(value(&metrics, "switchyard_reloads_total", &[("outcome", "applied")]), 1.0);
    assert_eq!(value(&metrics, "switchyard_reloads_total", &[("outcome", "rejected")]), 1.0);
    assert_eq!(value(&metrics, "switchyard_config_last_reload_successful", &[]), 0.0);
    gw.stop().await;
}

#[tokio::test]
async fn an_admin_listener_off_loopback_without_a_token_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.toml");
    std::fs::write(&config, "[sources.open]\nprovider = \"generic\"\n").unwrap();
    let bind =
        |addr: &'static str| async move { tokio::net::TcpListener::bind(addr).await.expect("bind the admin address") };
    let options = Options { config, admin: Some(bind("0.0.0.0:0").await), ..Options::default() };
    let refused = Gateway::start(options, bind("127.0.0.1:0").await).await.err().map(|e| format!("{e:#}"));
    assert!(refused.as_deref().is_some_and(|e| e.contains("admin_token")), "{refused:?}");
}

#[tokio::test]
async fn dead_letters_are_listed_and_replayed_through_the_api() {
    let dest = TestDestination::start().await;
    dest.answer(410);
    let gw = TestGateway::start_with_admin(&table(&dest, "e")).await.unwrap();
    assert_eq!(gw.post("open", r#"{"scope": "thing.gone"}"#).await.status(), 200);
    let mut listed = json!(null);
    for _ in 0..500 {
        let (status, body) = admin_json(&gw, "GET", "/api/dead-letters").await;
        assert_eq!(status, 200);
        if body["count"] == 1 {
            listed = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(listed["dead_letters"][0]["destination"], "e", "{listed}");
    assert!(listed["dead_letters"][0]["error"].as_str().unwrap_or_default().contains("410"));

    let (status, _) = admin(&gw, "POST", "/api/dead-letters/replay", Some(TOKEN)).await;
    assert_eq!(status, 400, "a replay must say what to replay");
    dest.answer(200);
    let url = gw.admin_url("/api/dead-letters/replay");
    let request = gw.client.post(url).bearer_auth(TOKEN).header("content-type", "application/json");
    let response = request.body(json!({ "destination": "e" }).to_string()).send().await;
    let body: serde_json::Value = match response {
        Ok(r) => serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or_default(),
        Err(e) => panic!("replay: {e}"),
    };
    assert_eq!(body["replayed"], 1);
    dest.wait_for_one("the replayed delivery", |r| r.path == "/e" && r.json()["scope"] == "thing.gone").await;
    let (_, after) = admin_json(&gw, "GET", "/api/dead-letters").await;
    assert_eq!(after["count"], 0);
    let (status, events) = admin_json(&gw, "GET", "/api/events?limit=5").await;
    assert_eq!(status, 200);
    assert_eq!(events["events"][0]["scope"], "thing.gone", "{events}");
    assert_eq!(events["events"][0]["deliveries"][0]["destination"], "e", "{events}");
    assert!(events["events"][0].get("body").is_none(), "bodies are never shown");
    gw.stop().await;
}
