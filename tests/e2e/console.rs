//! The operator's console (issue 17) in a real headless Chromium against a real gateway: the
//! token prompt, an event sent with `switchyard send` on the events page within 2 s without a
//! reload, its delivery attempts on its own page, a dead letter replayed from the page until it
//! is delivered, the explain box's params, pause and resume, and every control labelled and
//! reachable by keyboard. Each page is saved as a PNG under `target/console-screenshots/`.

use crate::support::browser::Browser;
use crate::support::{PATIENCE, TestDestination, TestGateway};
use std::time::{Duration, Instant};

const TOKEN: &str = "console-test-token-0123456789";

/// What the issue allows between `switchyard send` returning and the event on the page.
const LIVE: Duration = Duration::from_secs(2);

fn table(dest: &TestDestination) -> String {
    format!(
        r#"[server]
admin_token = "{TOKEN}"

[sources.bc]
provider = "bigcommerce"

[destinations.erp]
url = "{erp}"
retry = {{ max_attempts = 1, first_ms = 100, max_ms = 1000 }}

[[routes]]
name = "coupons"
match = "store/channel/{{channel_id}}/cart/couponApplied"
to = ["erp"]

[[routes]]
name = "orders"
match = "store/order/*"
to = ["erp"]
"#,
        erp = dest.url("/erp")
    )
}

/// `switchyard send` through the command line's own code, to the test gateway.
async fn send(gw: &TestGateway, scope: &str) -> String {
    let config = gw.config_path().display().to_string();
    let url = gw.url("/hooks/bc");
    let args = ["switchyard", "send", "--source", "bc", "--scope", scope, "--url", &url, "--config", &config];
    let cli = <switchyard::cli::Cli as clap::Parser>::try_parse_from(args).unwrap();
    assert!(switchyard::cli::run(cli).await.expect("switchyard send"));
    let newest = gw.gateway.store.recent_events(1).await.unwrap();
    match newest.first() {
        Some(event) => event.id.clone(),
        None => panic!("switchyard send stored no event"),
    }
}

#[tokio::test]
async fn an_operator_follows_an_event_live_and_replays_its_dead_letter_from_the_console() {
    let browser = Browser::start().await;
    let dest = TestDestination::start().await;
    let gw = TestGateway::start_with_admin(&table(&dest)).await.unwrap();

    // The page asks for the token once, and then shows the (empty) events page.
    browser.goto(&gw.admin_url("/events")).await;
    let input = browser.find("#token-prompt:not([hidden]) #token-input", PATIENCE).await;
    browser.screenshot("00-token-prompt").await;
    browser.type_into(&input, TOKEN).await;
    browser.click(&browser.find("#token-form button[type=submit]", PATIENCE).await).await;
    browser.wait_for_text("#main", "No event matches", PATIENCE).await;
    browser.wait_for_text("#live-status", "connected", PATIENCE).await;

    // An event sent now appears without a reload, within 2 s.
    let sent_at = Instant::now();
    let id = send(&gw, "store/order/created").await;
    browser.wait_for_text("#results", &id, LIVE.saturating_sub(sent_at.elapsed())).await;
    dest.wait_for(1).await;
    browser.wait_for_text("#results", "erp: delivered", PATIENCE).await;
    browser.screenshot("01-events").await;

    // Its page shows the delivery's attempt: the status the destination answered.
    browser.click(&browser.find(&format!("a[href='/events/{id}']"), PATIENCE).await).await;
    let detail = browser.wait_for_text("#main", "orders → erp: delivered", PATIENCE).await;
    assert!(detail.contains("200"), "the attempt's status is shown:\n{detail}");
    assert!(detail.contains("store/order/created"), "{detail}");
    browser.screenshot("02-event").await;

    // A delivery that fails its one attempt is a dead letter; replayed from the page, it is delivered.
    dest.answer(500);
    let dead = send(&gw, "store/order/updated").await;
    let deadline = Instant::now() + PATIENCE;
    while gw.gateway.store.dead_letters(10).await.map_or(true, |d| d.is_empty()) {
        assert!(Instant::now() < deadline, "the failed delivery never became a dead letter");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dest.answer(200);
    browser.goto(&gw.admin_url("/dead-letters")).await;
    browser.wait_for_text("#main", &dead, PATIENCE).await;
    browser.screenshot("03-dead-letters").await;
    browser.click(&browser.find("button[name=one]", PATIENCE).await).await;
    let asked = browser.accept_dialog(PATIENCE).await;
    assert!(asked.starts_with("Replay dlv_"), "{asked}");
    browser.wait_for_text("#main", "Replayed 1 dead letter(s)", PATIENCE).await;
    browser.goto(&gw.admin_url(&format!("/events/{dead}"))).await;
    let replayed = browser.wait_for_text("#main", "orders → erp: delivered", PATIENCE).await;
    assert!(replayed.contains("500") && replayed.contains("200"), "both attempts are listed:\n{replayed}");
    browser.screenshot("04-event-replayed").await;

    // The explain box shows the params a route's pattern captures.
    browser.goto(&gw.admin_url("/routes")).await;
    let scope = browser.find("#explain-scope", PATIENCE).await;
    browser.type_into(&scope, "store/channel/1/cart/couponApplied").await;
    browser.click(&browser.find("#explain-title + form button[type=submit]", PATIENCE).await).await;
    let explained = browser.wait_for_text("#explain-result", "channel_id", PATIENCE).await;
    assert!(explained.contains("coupons") && explained.contains("1 route(s) match"), "{explained}");
    browser.screenshot("05-routes").await;

    // Pause and resume a destination.
    browser.goto(&gw.admin_url("/destinations")).await;
    browser.click(&browser.find("button[aria-label='Pause erp']", PATIENCE).await).await;
    let asked = browser.accept_dialog(PATIENCE).await;
    assert!(asked.starts_with("Pause erp?"), "{asked}");
    browser.wait_for_text("#main", "erp paused.", PATIENCE).await;
    browser.screenshot("06-destinations-paused").await;
    browser.click(&browser.find("button[aria-label='Resume erp']", PATIENCE).await).await;
    browser.wait_for_text("#main", "erp resumed.", PATIENCE).await;

    // The other pages load, and on every page each control is labelled and reachable.
    for (path, heading, shot) in [
        ("/", "Overview", "07-overview"),
        ("/plugins", "Plugins", "08-plugins"),
        ("/destinations", "Destinations", "06-destinations"),
        ("/events", "Events", "01-events"),
        (&*format!("/events/{id}"), "Deliveries", "02-event"),
        ("/dead-letters", "Dead letters", "03-dead-letters-empty"),
        ("/routes", "Routes", "05-routes-table"),
    ] {
        browser.goto(&gw.admin_url(path)).await;
        browser.wait_for_text("#main", heading, PATIENCE).await;
        let unlabelled = browser.unlabelled_controls().await;
        assert!(unlabelled.is_empty(), "{path}: controls without a name or out of keyboard reach: {unlabelled:#?}");
        if path == "/" || path == "/plugins" || path == "/dead-letters" {
            browser.screenshot(shot).await;
        }
    }
    gw.stop().await;
}

#[tokio::test]
async fn the_console_shell_holds_no_data_and_its_fragments_need_the_token() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start_with_admin(&table(&dest)).await.unwrap();
    let client = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut request = client.get(gw.admin_url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let shell = get("/events", None).await.unwrap();
    assert_eq!(shell.status(), 200);
    let csp = shell.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = shell.text().await.unwrap_or_default();
    assert!(html.contains(r#"hx-get="/console/events""#) && !html.contains("erp"), "{html}");
    for path in ["/console/events", "/console/overview", "/console/routes", "/api/stream"] {
        let refused = get(path, None).await.unwrap();
        assert_eq!(refused.status(), 401, "{path}");
    }
    let fragment = get("/console/routes", Some(TOKEN)).await.unwrap();
    assert_eq!(fragment.status(), 200);
    assert!(fragment.text().await.unwrap_or_default().contains("store/order/*"));
    let asset = get("/assets/htmx.min.js", None).await.unwrap();
    assert_eq!(asset.status(), 200, "assets are embedded and open");
    assert_eq!(get("/health", None).await.map(|r| r.status().as_u16()).unwrap_or(0), 200);
    gw.stop().await;
}

/// A config with the admin token and a generic source `test` (scope in the body's `scope`),
/// followed by `rest`.
fn generic(rest: &str) -> String {
    format!(
        "[server]\nadmin_token = \"{TOKEN}\"\n\n[sources.test]\nprovider = \"generic\"\nscope_field = \"scope\"\n{rest}"
    )
}

/// Posts `body` to the source `test` and returns the id the gateway answered with.
async fn post_id(gw: &TestGateway, body: &str) -> String {
    let text = gw.post("test", body).await.text().await.unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    answer["id"].as_str().unwrap_or_else(|| panic!("no id in {answer}")).to_owned()
}

/// GET `path` on the admin listener with the token; it must answer 200.
async fn admin_get(gw: &TestGateway, path: &str) -> reqwest::Response {
    let response = reqwest::Client::new()
        .get(gw.admin_url(path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(response.status(), 200, "GET {path}");
    response
}

/// Reads `/api/stream?QUERY` until the digests it sent add up to `want` (kind → count), within
/// [`PATIENCE`]; returns what they added up to.
async fn digests_until(
    gw: &TestGateway,
    query: &str,
    want: &[(&str, u64)],
    while_open: impl AsyncFnOnce(),
) -> std::collections::BTreeMap<String, u64> {
    let response = admin_get(gw, &format!("/api/stream?{query}")).await;
    while_open().await;
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let mut total = std::collections::BTreeMap::<String, u64>::new();
    let deadline = Instant::now() + PATIENCE;
    while want.iter().any(|(kind, n)| total.get(*kind).copied().unwrap_or(0) < *n) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = match tokio::time::timeout(left, futures_util::StreamExt::next(&mut body)).await {
            Ok(Some(Ok(chunk))) => chunk,
            other => panic!("the stream ended or stalled ({:?}) with {total:?}, want {want:?}", other.is_ok()),
        };
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            assert!(block.starts_with(':') || block.contains("event: digest"), "{block}");
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) {
                let counts: std::collections::BTreeMap<String, u64> =
                    serde_json::from_str(data.trim()).unwrap_or_else(|e| panic!("{e}: {data}"));
                for (kind, n) in counts {
                    *total.entry(kind).or_default() += n;
                }
            }
        }
    }
    total
}

#[tokio::test]
async fn a_digest_counts_what_happened_and_an_unfiltered_one_costs_the_gateway_no_happening() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start_with_admin(&table(&dest)).await.unwrap();
    let want = [("accepted", 2), ("routed", 2), ("delivered", 2)];
    // Unfiltered: the feed's counters, nothing built per event for this stream.
    let total = digests_until(&gw, "digest=100", &want, async || {
        assert!(!gw.gateway.feed.listened(), "an unfiltered digest listens to nothing");
        send(&gw, "store/order/created").await;
        send(&gw, "store/channel/1/cart/couponApplied").await;
    })
    .await;
    assert_eq!(total.keys().map(String::as_str).collect::<Vec<_>>(), ["accepted", "delivered", "routed"], "{total:?}");
    // Filtered by scope: counts only what passes (deliveries named by their event).
    let total =
        digests_until(&gw, "digest=100&scope=store/order/*", &[("accepted", 1), ("delivered", 1)], async || {
            assert!(gw.gateway.feed.listened(), "a filtered digest follows the happenings");
            send(&gw, "store/channel/2/cart/couponApplied").await;
            send(&gw, "store/order/updated").await;
        })
        .await;
    assert_eq!(total.get("accepted"), Some(&1), "{total:?}");
    // Failures only, unfiltered: nothing failed, so nothing is sent; an empty digest never is.
    let response = admin_get(&gw, "/api/stream?digest=100&failed=true").await;
    send(&gw, "store/order/created").await;
    let mut body = response.bytes_stream();
    let quiet = tokio::time::timeout(Duration::from_millis(500), futures_util::StreamExt::next(&mut body)).await;
    assert!(quiet.is_err(), "a failures-only digest sent something with no failure: {quiet:?}");
    gw.stop().await;
}

#[tokio::test]
async fn an_events_page_shows_what_its_plugins_logged_even_when_they_failed() {
    let dest = TestDestination::start().await;
    let toml = generic(&format!(
        r#"
[plugins.chaos]
path = "{{wasm:chaos}}"

[destinations.ok]
url = "{ok}"
retry = {{ max_attempts = 1 }}

[[routes]]
name = "noisy"
match = "chaos"
plugin = "chaos"
to = ["ok"]
"#,
        ok = dest.url("/ok")
    ));
    let gw = TestGateway::start_with_admin(&toml).await.unwrap();
    let post =
        async |mode: &str| post_id(&gw, &serde_json::json!({ "scope": "chaos", "mode": mode }).to_string()).await;
    let settled = async |id: &str| {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let record = gw.gateway.store.event_record(id).await.unwrap();
            match record {
                Some(r) if r.summary.state != "pending" => return r,
                _ if Instant::now() > deadline => panic!("event {id} never settled"),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    };
    let page = async |id: &str| admin_get(&gw, &format!("/console/events/{id}")).await.text().await.unwrap_or_default();

    // 25 lines and one to stderr: the first 20 are kept, and the page says how many more.
    let chatty = post("log").await;
    let record = settled(&chatty).await;
    assert_eq!(record.summary.state, "done");
    assert_eq!(record.plugin_log.len(), 21, "{:?}", record.plugin_log);
    let first = &record.plugin_log[0];
    assert_eq!((first.route.as_str(), first.plugin.as_str(), first.level.as_str()), ("noisy", "chaos", "info"));
    assert_eq!(first.message, "chaos line 1 of 25 for chaos");
    let html = page(&chatty).await;
    assert!(html.contains("chaos line 20 of 25") && !html.contains("chaos line 21 of 25"), "{html}");
    assert!(html.contains("6 more lines in the gateway"), "{html}");

    // A plugin that fails: what it logged before, and what it printed as it panicked.
    let failing = post("fail").await;
    let record = settled(&failing).await;
    assert_eq!(record.summary.state, "dead");
    assert!(page(&failing).await.contains("chaos is about to fail"));
    let panicking = post("panic").await;
    let record = settled(&panicking).await;
    let stderr = record.plugin_log.iter().find(|l| l.level == "stderr").map(|l| l.message.as_str());
    assert!(stderr.is_some_and(|s| s.contains("panicked on purpose")), "{:?}", record.plugin_log);

    // A plugin that logs nothing keeps nothing.
    let quiet = post("forward").await;
    assert!(settled(&quiet).await.plugin_log.is_empty());
    assert!(page(&quiet).await.contains("No plugin logged anything"));
    gw.stop().await;
}

#[tokio::test]
async fn a_filtered_stream_names_the_retries_of_events_accepted_before_it_opened() {
    let dest = TestDestination::start().await;
    dest.answer(503);
    let toml = generic(&format!(
        r#"
[destinations.flaky]
url = "{flaky}"
retry = {{ max_attempts = 50, first_ms = 200, max_ms = 200 }}

[[routes]]
match = "store/order/*"
to = ["flaky"]
"#,
        flaky = dest.url("/flaky")
    ));
    let gw = TestGateway::start_with_admin(&toml).await.unwrap();
    let response = gw.post("test", r#"{"scope":"store/order/created"}"#).await;
    let answer: serde_json::Value =
        serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or_default();
    let id = answer["id"].as_str().unwrap_or_else(|| panic!("no id in {answer}")).to_owned();
    dest.wait_for(1).await;
    // Opened after the event was accepted: the stream never saw its name, and asks the store.
    let stream = admin_get(&gw, "/api/stream?scope=store/order/*&failed=true").await;
    let mut body = stream.bytes_stream();
    let mut text = String::new();
    let deadline = Instant::now() + PATIENCE;
    let failed = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, futures_util::StreamExt::next(&mut body)).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => panic!("no failed attempt of {id} was streamed: {text}"),
        }
        if let Some(block) = text.split("\n\n").find(|b| b.starts_with("event: failed")) {
            break block.to_owned();
        }
    };
    let data = failed.lines().find_map(|l| l.strip_prefix("data:")).unwrap_or_default();
    let happening: serde_json::Value = serde_json::from_str(data.trim()).unwrap_or_else(|e| panic!("{e}: {data}"));
    assert_eq!(happening["event_id"], id.as_str());
    assert_eq!(happening["source"], "test");
    assert_eq!(happening["scope"], "store/order/created");
    assert_eq!(happening["destination"], "flaky");
    dest.answer(200);
    gw.stop().await;
}
