//! The second hardening round: what a plugin or a web page could do to the gateway, and does
//! not get to.
//!
//! - A plugin's kv writes are bounded: one call setting one key 20,000 times holds one value,
//!   a call past `kv_max_writes` or `kv_max_pending` fails, and ingest stays fast meanwhile, on
//!   SQLite and PostgreSQL. A key with NUL is refused on both stores.
//! - Waiting for a fetch's body is not compute (`timeout_ms`), and `call_timeout_ms` ends a call
//!   reading a slow body, which is tried again later.
//! - A plugin never reaches the gateway's own listeners, whatever its `allowed_hosts`, and
//!   credentials do not follow a redirect to another origin.
//! - The admin answers no cross-site request that changes something, and a tokenless admin
//!   answers only loopback `Host` names (DNS rebinding).
//! - A destination URL's password never shows, nor a header a source's config holds; failed
//!   attempts are logged at a bounded rate.

use crate::support::child::{ServeChild, run_cli};
use crate::support::pg::TestSchema;
use crate::support::toml::Toml;
use crate::support::{PATIENCE, TestDestination, TestGateway, dead_letters, expand, free_port};
use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use std::time::{Duration, Instant};

/// An answer's body as JSON (`Null` when it is not).
async fn json_of(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// kv writes

fn flood_table(dest: &TestDestination, storage: &str, ingest: u16, admin: u16) -> Toml {
    Toml::generic("test")
        .raw(&format!("{}\n{storage}", server(ingest, admin)))
        .plugin("hostile", "hostile", "timeout_ms = 60000\ncall_timeout_ms = 120000")
        .destination("sink", &dest.url("/sink"), "")
        .route("attack", Some("hostile"), &["sink"])
        .route("plain", None, &["sink"])
}

/// `[server]` listening on the given loopback ports.
fn server(ingest: u16, admin: u16) -> String {
    format!("[server]\nlisten = \"127.0.0.1:{ingest}\"\nadmin = \"127.0.0.1:{admin}\"")
}

/// The resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().strip_suffix("kB"));
    kib.and_then(|v| v.trim().parse::<u64>().ok()).map_or(0, |k| k << 10)
}

/// A gateway in a child process floods kv from plugin calls while webhooks keep arriving: the
/// gateway's memory grows by less than 64 MiB and the webhooks are acknowledged within 100 ms
/// (p99). `storage` is the `[storage]` table.
async fn kv_flood_is_bounded(storage: &str) {
    let dest = TestDestination::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (ingest, admin) = (free_port(), free_port());
    std::fs::write(dir.path().join("routes.toml"), expand(&flood_table(&dest, storage, ingest, admin))).unwrap();
    let child = ServeChild::start(&dir.path().join("routes.toml"), &format!("127.0.0.1:{admin}")).await.unwrap();
    let ingest = format!("127.0.0.1:{ingest}");
    let client = reqwest::Client::new();
    let post = |body: String| client.post(format!("http://{ingest}/hooks/test")).body(body).send();
    // Warm up: a plugin call and a plain webhook, so the baseline holds the compiled plugin.
    assert!(post(r#"{"scope":"attack","attack":"none"}"#.into()).await.is_ok_and(|r| r.status() == 200));
    dest.wait_for(1).await;
    let baseline = rss(child.pid());

    // One flood is 20,000 crossings of 64 KiB: about 13 s of a debug build's CPU.
    let floods = [("kv-flood", 1), ("kv-wide", 4), ("kv-keys", 2)];
    let mut sent = 0;
    for (attack, n) in floods {
        for i in 0..n {
            let body = format!(r#"{{"scope":"attack","attack":"{attack}","n":{i}}}"#);
            assert_eq!(post(body).await.map(|r| r.status().as_u16()).ok(), Some(200));
            sent += 1;
        }
    }
    // Webhooks keep arriving, one after another, until every flood has ended.
    let mut latencies = Vec::new();
    let mut peak = baseline;
    let deadline = Instant::now() + PATIENCE * 8;
    let admin_client = reqwest::Client::new();
    for i in 0.. {
        let started = Instant::now();
        let answer = post(format!(r#"{{"scope":"plain","n":{i}}}"#)).await;
        latencies.push(started.elapsed());
        assert_eq!(answer.map(|r| r.status().as_u16()).ok(), Some(200));
        peak = peak.max(rss(child.pid()));
        if i % 20 != 0 {
            continue;
        }
        let dead = admin_client.get(format!("http://127.0.0.1:{admin}/api/dead-letters?limit=100")).send().await;
        let dead = match dead {
            Ok(r) => json_of(r).await,
            Err(_) => serde_json::Value::Null,
        };
        let errors: Vec<&str> = dead["dead_letters"]
            .as_array()
            .map(|d| d.iter().filter_map(|x| x["error"].as_str()).collect())
            .unwrap_or_default();
        let forwarded = dest.received().iter().filter(|r| r.json()["attack"] == "kv-flood").count();
        if forwarded == 1 && errors.len() == sent - 1 {
            assert!(errors.iter().all(|e| e.contains("kv_max_pending") || e.contains("kv_max_writes")), "{errors:#?}");
            break;
        }
        assert!(Instant::now() < deadline, "the floods did not end: {forwarded} forwarded, dead: {errors:#?}");
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100 - 1];
    let growth = peak.saturating_sub(baseline);
    let n = latencies.len();
    eprintln!("kv flood: RSS {} MiB → peak {} MiB; ingest p99 {p99:?} over {n} webhooks", baseline >> 20, peak >> 20);
    assert!(growth < 64 << 20, "the gateway grew by {} MiB", growth >> 20);
    assert!(p99 < Duration::from_millis(100), "ingest p99 {p99:?} during the flood");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kv_flood_from_plugins_keeps_memory_bounded_and_ingest_fast() {
    kv_flood_is_bounded("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kv_flood_from_plugins_keeps_memory_bounded_and_ingest_fast_on_postgres() {
    let Some(schema) = TestSchema::create() else { return };
    kv_flood_is_bounded(&schema.storage()).await;
}

fn kv_table(dest: &TestDestination, storage: &str) -> Toml {
    Toml::generic("test")
        .raw(storage)
        .plugin("hostile", "hostile", "timeout_ms = 5000\nkv_max_writes = 500")
        .plugin("stateful", "stateful", "")
        .destination("sink", &dest.url("/sink"), "")
        .route("attack", Some("hostile"), &["sink"])
        .route("state", Some("stateful"), &["sink"])
}

/// A call past `kv_max_writes` fails with the reason, and none of its writes is committed; a
/// key holding NUL is refused, and does not reach the key with U+FFFD in its place.
async fn kv_caps_and_nul(storage: &str) {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&kv_table(&dest, storage)).await.unwrap();
    assert_eq!(gw.post("test", r#"{"scope":"attack","attack":"kv-keys"}"#).await.status(), 200);
    let dead = dead_letters(&gw, 1).await;
    assert!(dead[0].error.contains("kv_max_writes = 500"), "{}", dead[0].error);
    assert_eq!(gw.gateway.store.kv_count("hostile").await.ok(), Some(0), "nothing of the failed call");

    let set = |key: &str, value: &str| serde_json::json!({"scope": "state", "mode": "set", "key": key, "value": value});
    assert_eq!(gw.post("test", &set("a\u{FFFD}b", "kept").to_string()).await.status(), 200);
    dest.wait_for(1).await;
    assert_eq!(gw.post("test", &set("a\u{0}b", "forged").to_string()).await.status(), 200);
    let dead = dead_letters(&gw, 2).await;
    assert!(dead.iter().any(|d| d.error.contains("without NUL")), "{dead:?}");
    let kept = gw.gateway.store.kv_get("stateful", "a\u{FFFD}b").await.ok().flatten();
    assert_eq!(kept, Some(b"kept".to_vec()), "the NUL key did not overwrite its U+FFFD twin");
    gw.stop().await;
}

#[tokio::test]
async fn a_call_past_kv_max_writes_commits_nothing_and_nul_keys_are_refused() {
    kv_caps_and_nul("").await;
}

#[tokio::test]
async fn a_call_past_kv_max_writes_commits_nothing_and_nul_keys_are_refused_on_postgres() {
    let Some(schema) = TestSchema::create() else { return };
    kv_caps_and_nul(&schema.storage()).await;
}

// ---------------------------------------------------------------------------------------------
// fetch deadlines

/// An upstream whose `/late` answers its head at once and its body `delay` later, and whose
/// `/trickle` sends one byte every 200 ms for 20 s; the second says when its body was dropped
/// (the client went away).
async fn slow_upstream(delay: Duration) -> (std::net::SocketAddr, std::sync::Arc<std::sync::Mutex<Option<Instant>>>) {
    let dropped = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = dropped.clone();
    let late = move || async move {
        let body = futures_util::stream::once(async move {
            tokio::time::sleep(delay).await;
            Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"hello"))
        });
        Response::new(Body::from_stream(body))
    };
    let trickle = move || {
        let seen = seen.clone();
        async move {
            struct Mark(std::sync::Arc<std::sync::Mutex<Option<Instant>>>);
            impl Drop for Mark {
                fn drop(&mut self) {
                    if let Ok(mut at) = self.0.lock() {
                        *at = Some(Instant::now());
                    }
                }
            }
            let mark = Mark(seen);
            let body = futures_util::stream::unfold((0, mark), |(n, mark)| async move {
                if n >= 100 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"x")), (n + 1, mark)))
            });
            Response::new(Body::from_stream(body))
        }
    };
    let app = Router::new().route("/late", get(late)).route("/trickle", get(trickle));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, dropped)
}

/// The `stateful` plugin on route `fetch`, fetching from `allowed` hosts, with `settings`.
fn fetching(dest: &TestDestination, allowed: &str, settings: &str) -> Toml {
    Toml::generic("test")
        .plugin("stateful", "stateful", &format!("allowed_hosts = [{allowed}]\n{settings}"))
        .destination("sink", &dest.url("/sink"), "")
        .route("fetch", Some("stateful"), &["sink"])
}

fn fetch_table(dest: &TestDestination, upstream: std::net::SocketAddr, limits: &str) -> Toml {
    fetching(dest, &format!("\"http://{upstream}\""), limits)
}

#[tokio::test]
async fn waiting_a_second_for_a_fetchs_body_is_not_compute() {
    let (upstream, _) = slow_upstream(Duration::from_secs(1)).await;
    let dest = TestDestination::start().await;
    let gw = TestGateway::start(&fetch_table(&dest, upstream, "timeout_ms = 50")).await.unwrap();
    let body = serde_json::json!({"scope": "fetch", "mode": "fetch", "url": format!("http://{upstream}/late")});
    assert_eq!(gw.post("test", &body.to_string()).await.status(), 200);
    let got = dest.wait_for(1).await.remove(0).json();
    assert_eq!(got["out"], serde_json::json!({"status": 200, "body": "hello"}));
    assert!(gw.gateway.store.dead_letters(10).await.unwrap_or_default().is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn call_timeout_ms_ends_a_call_reading_a_slow_body_and_the_event_is_tried_again_later() {
    let (upstream, dropped) = slow_upstream(Duration::ZERO).await;
    let dest = TestDestination::start().await;
    let limits = "timeout_ms = 10000\ncall_timeout_ms = 3000";
    let gw = TestGateway::start(&fetch_table(&dest, upstream, limits)).await.unwrap();
    let body = serde_json::json!({"scope": "fetch", "mode": "fetch", "url": format!("http://{upstream}/trickle")});
    let sent = Instant::now();
    assert_eq!(gw.post("test", &body.to_string()).await.status(), 200);
    let store = gw.gateway.store.clone();
    let deadline = Instant::now() + PATIENCE;
    let event = loop {
        let events = store.recent_events(1).await.unwrap_or_default();
        if let Some(e) = events.into_iter().find(|e| e.last_error.is_some()) {
            break e;
        }
        assert!(Instant::now() < deadline, "the call never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let ended = dropped.lock().ok().and_then(|at| *at).map(|at| at.duration_since(sent));
    assert!(ended.is_some_and(|t| t < Duration::from_millis(3500)), "the upstream was let go after {ended:?}");
    assert_eq!(event.state, "pending", "retry-later, not a dead letter: {event:?}");
    assert!(event.last_error.as_deref().is_some_and(|e| e.contains("call_timeout_ms")), "{event:?}");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// what a plugin's requests reach

#[tokio::test]
async fn a_plugin_never_reaches_the_gateways_own_listeners_and_the_log_says_why() {
    let dest = TestDestination::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (ingest, admin) = (free_port(), free_port());
    let everywhere = "\"http://127.0.0.1:*\", \"http://localhost:*\"";
    let table = fetching(&dest, everywhere, "").raw(&server(ingest, admin));
    std::fs::write(dir.path().join("routes.toml"), expand(&table)).unwrap();
    let log = dir.path().join("log");
    let child =
        ServeChild::start_logging(&dir.path().join("routes.toml"), &format!("127.0.0.1:{admin}"), &log).await.unwrap();
    let client = reqwest::Client::new();
    let targets = [
        format!("http://127.0.0.1:{admin}/api/kv/stateful"),
        format!("http://localhost:{admin}/api/destinations/sink/pause"),
        format!("http://127.0.0.1:{ingest}/hooks/test"),
    ];
    for url in &targets {
        let body = serde_json::json!({"scope": "fetch", "mode": "fetch", "url": url});
        let answer = client.post(format!("http://127.0.0.1:{ingest}/hooks/test")).body(body.to_string()).send().await;
        assert_eq!(answer.map(|r| r.status().as_u16()).ok(), Some(200));
    }
    let dead = |_: ()| async {
        let answer = client.get(format!("http://127.0.0.1:{admin}/api/dead-letters")).send().await.ok()?;
        Some(json_of(answer).await)
    };
    let deadline = Instant::now() + PATIENCE;
    let errors = loop {
        let found = dead(()).await.unwrap_or_default();
        let errors: Vec<String> = found["dead_letters"]
            .as_array()
            .map(|d| d.iter().filter_map(|x| x["error"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        if errors.len() == targets.len() {
            break errors;
        }
        assert!(Instant::now() < deadline, "expected {} dead letters: {errors:?}", targets.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(errors.iter().all(|e| e.contains("refused by the gateway")), "{errors:?}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let refusals = text.lines().filter(|l| l.contains("is the gateway's own listener")).count();
    assert_eq!(refusals, targets.len(), "each refusal is logged with why:\n{text}");
    assert!(dest.received().is_empty(), "no request reached anything");
    drop(child);
}

#[tokio::test]
async fn credentials_do_not_follow_a_redirect_to_another_origin_but_do_within_one() {
    let landing = TestDestination::start().await;
    let to = landing.url("/landed");
    let app = Router::new()
        .route("/away", get(move || async move { Redirect::temporary(&to).into_response() }))
        .route("/home", get(|| async { Redirect::temporary("/here").into_response() }))
        .route("/here", get(|headers: axum::http::HeaderMap| async move { home_answer(&headers) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dest = TestDestination::start().await;
    let table = fetching(&dest, &format!("\"http://{origin}\", \"http://{}\"", landing.addr), "");
    let gw = TestGateway::start(&table).await.unwrap();
    for path in ["away", "home"] {
        let url = format!("http://{origin}/{path}");
        let body = serde_json::json!({"scope": "fetch", "mode": "fetch-with-credentials", "url": url});
        assert_eq!(gw.post("test", &body.to_string()).await.status(), 200);
    }
    let arrived = landing.wait_for(1).await.remove(0);
    for credential in ["authorization", "cookie", "proxy-authorization"] {
        assert!(arrived.headers.get(credential).is_none(), "{credential} crossed to another origin");
    }
    assert_eq!(arrived.headers.get("x-kept").and_then(|v| v.to_str().ok()), Some("yes"), "other headers go on");
    let home = dest.wait_for(2).await.into_iter().map(|r| r.json()).find(|j| j["out"]["body"] != "");
    let said = home.map(|j| j["out"]["body"].clone()).unwrap_or_default();
    assert_eq!(said, "Bearer plugin-secret|session=plugin-cookie", "kept within one origin");
    gw.stop().await;
}

/// What `/here` answers: the credentials it was sent.
fn home_answer(headers: &axum::http::HeaderMap) -> String {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    format!("{}|{}", get("authorization"), get("cookie"))
}

// ---------------------------------------------------------------------------------------------
// the admin and a browser

fn admin_table(dest: &TestDestination, server: &str) -> Toml {
    Toml::generic("test").raw(&format!("[server]\n{server}")).destination("erp", &dest.url("/erp"), "").route(
        "order",
        None,
        &["erp"],
    )
}

#[tokio::test]
async fn a_cross_site_form_post_changes_nothing_on_the_admin_and_curl_still_does() {
    let dest = TestDestination::start().await;
    let gw = TestGateway::start_with_admin(&admin_table(&dest, "")).await.unwrap();
    let client = reqwest::Client::new();
    let form = |path: &str, body: &str, sneaky: &[(&str, &str)]| {
        let mut request = client
            .post(gw.admin_url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        for (k, v) in sneaky {
            request = request.header(*k, *v);
        }
        request.send()
    };
    let cross_site = [("origin", "http://evil.example"), ("sec-fetch-site", "cross-site")];
    let older_browser = [("origin", "http://evil.example")];
    let routes = [
        ("/console/destinations/erp/pause", ""),
        ("/console/destinations/erp/resume", ""),
        ("/console/dead-letters/replay", "all=true"),
        ("/api/destinations/erp/pause", ""),
        ("/api/destinations/erp/resume", ""),
        ("/api/reload", ""),
        ("/api/dead-letters/replay", r#"{"all": true}"#),
        ("/api/events/replay", r#"{"since": "2h"}"#),
    ];
    for (path, body) in routes {
        for sneaky in [&cross_site[..], &older_browser[..]] {
            let status = form(path, body, sneaky).await.map(|r| r.status().as_u16()).ok();
            assert_eq!(status, Some(403), "{path} with {sneaky:?}");
        }
    }
    let deleted = client
        .delete(gw.admin_url("/api/kv/none/key"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(deleted.ok(), Some(403));
    let paused = gw.gateway.store.destination_pauses().await.unwrap_or_default();
    assert!(paused.is_empty(), "nothing was paused: {paused:?}");
    // Without a browser's headers (curl, `switchyard`), and from the console's own page.
    let pause = client.post(gw.admin_url("/api/destinations/erp/pause")).send().await;
    assert_eq!(pause.map(|r| r.status().as_u16()).ok(), Some(200));
    let own = format!("http://{}", gw.gateway.admin_addr.map(|a| a.to_string()).unwrap_or_default());
    let same = [("origin", own.as_str()), ("sec-fetch-site", "same-origin")];
    let resume = form("/console/destinations/erp/resume", "", &same).await;
    assert_eq!(resume.map(|r| r.status().as_u16()).ok(), Some(200));
    assert!(gw.gateway.store.destination_pauses().await.unwrap_or_default().is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn a_tokenless_admin_answers_only_loopback_host_names_and_listed_ones() {
    let dest = TestDestination::start().await;
    let server = r#"admin_hosts = ["switchyard.internal"]"#;
    let gw = TestGateway::start_with_admin(&admin_table(&dest, server)).await.unwrap();
    let port = gw.gateway.admin_addr.map_or(0, |a| a.port());
    let client = reqwest::Client::new();
    let status_for = |host: String, path: &'static str| {
        let request = client.get(gw.admin_url(path)).header("host", host);
        async move { request.send().await.map(|r| r.status().as_u16()).ok() }
    };
    for path in ["/api/events", "/api/kv/none", "/console/events", "/metrics"] {
        assert_eq!(status_for(format!("rebind.evil.example:{port}"), path).await, Some(421), "{path}");
    }
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}"), format!("[::1]:{port}")] {
        assert_eq!(status_for(host.clone(), "/api/events").await, Some(200), "{host}");
    }
    assert_eq!(status_for(format!("switchyard.internal:{port}"), "/api/events").await, Some(200));
    assert_eq!(status_for("rebind.evil.example".into(), "/ready").await, Some(200), "probes name any host");
    gw.stop().await;

    let token = "a-long-random-admin-token";
    let server = format!("admin_token = \"{token}\"");
    let gw = TestGateway::start_with_admin(&admin_table(&dest, &server)).await.unwrap();
    let port = gw.gateway.admin_addr.map_or(0, |a| a.port());
    let with_token = client
        .get(gw.admin_url("/api/events"))
        .header("host", format!("gateway.example.com:{port}"))
        .bearer_auth(token)
        .send()
        .await;
    assert_eq!(with_token.map(|r| r.status().as_u16()).ok(), Some(200), "a token protects any Host");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// secrets in what operators see

/// A gateway in a child process on free loopback ports, its log kept: `table` gets its
/// `[server]`; everything it needs to be talked to and read.
struct Logged {
    child: ServeChild,
    dir: tempfile::TempDir,
    ingest: u16,
    admin: u16,
    client: reqwest::Client,
}

impl Logged {
    async fn start(table: Toml) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (ingest, admin) = (free_port(), free_port());
        let config = dir.path().join("routes.toml");
        std::fs::write(&config, expand(&table.raw(&server(ingest, admin)))).unwrap();
        let log = dir.path().join("log");
        let child = ServeChild::start_logging(&config, &format!("127.0.0.1:{admin}"), &log).await.unwrap();
        Self { child, dir, ingest, admin, client: reqwest::Client::new() }
    }

    /// POSTs `body` to the `test` source; its status.
    async fn post(&self, body: String) -> Option<u16> {
        let url = format!("http://127.0.0.1:{}/hooks/test", self.ingest);
        self.client.post(url).body(body).send().await.ok().map(|r| r.status().as_u16())
    }

    /// An admin path's body, as text.
    async fn admin(&self, path: &str) -> Option<String> {
        let url = format!("http://127.0.0.1:{}{path}", self.admin);
        self.client.get(url).send().await.ok()?.text().await.ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

#[tokio::test]
async fn a_destination_urls_password_shows_nowhere() {
    let closed = free_port();
    let url = format!("http://erp-user:hunter2-secret@127.0.0.1:{closed}/orders");
    let retry = "retry = { max_attempts = 2, first_ms = 10, max_ms = 10 }";
    let gw = Logged::start(Toml::generic("test").destination("erp", &url, retry).route("order", None, &["erp"])).await;
    assert_eq!(gw.post(r#"{"scope":"order"}"#.into()).await, Some(200));
    let get = |path: String| {
        let gw = &gw;
        async move { gw.admin(&path).await }
    };
    let deadline = Instant::now() + PATIENCE;
    let dead = loop {
        let dead = get("/api/dead-letters".into()).await.unwrap_or_default();
        if dead.contains("erp-user") {
            break dead;
        }
        assert!(Instant::now() < deadline, "no dead letter: {dead}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let event_id = serde_json::from_str::<serde_json::Value>(&dead).unwrap_or_default()["dead_letters"][0]["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let seen = [
        ("/api/dead-letters", dead.clone()),
        ("/api/events", get("/api/events".into()).await.unwrap_or_default()),
        ("the event page", get(format!("/console/events/{event_id}")).await.unwrap_or_default()),
        ("the dead letters page", get("/console/dead-letters".into()).await.unwrap_or_default()),
        ("the log", gw.log()),
    ];
    for (what, text) in &seen {
        assert!(text.contains("erp-user:***@"), "{what} names the URL, masked:\n{text}");
        assert!(!text.contains("hunter2"), "{what} shows the password:\n{text}");
    }
    let config = gw.dir.path().join("routes.toml");
    let (_, listed) = run_cli(&["dlq", "list", "--config", &config.to_string_lossy()]).unwrap();
    let listed = listed.join("\n");
    assert!(listed.contains("erp-user:***@") && !listed.contains("hunter2"), "{listed}");
    drop(gw.child);
}

#[tokio::test]
async fn the_event_page_masks_every_header_a_source_holds_in_its_config() {
    let dest = TestDestination::start().await;
    let table = Toml::generic("test")
        .raw(r#"required_headers = { "X-Hook-Key" = "registration-value-1234" }"#)
        .destination("erp", &dest.url("/erp"), "")
        .route("order", None, &["erp"]);
    let gw = TestGateway::start_with_admin(&table).await.unwrap();
    let accepted = gw
        .post_with("test", r#"{"scope":"order"}"#, &[("X-Hook-Key", "registration-value-1234"), ("X-Plain", "visible")])
        .await;
    assert_eq!(accepted.status(), 200);
    let id = json_of(accepted).await["id"].as_str().unwrap_or_default().to_string();
    let page = reqwest::get(gw.admin_url(&format!("/console/events/{id}"))).await;
    let page = match page {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => panic!("{e}"),
    };
    assert!(!page.contains("registration-value-1234"), "the registration header's value is masked:\n{page}");
    assert!(page.contains("x-hook-key") || page.contains("X-Hook-Key"));
    assert!(page.contains("visible"), "other headers are shown");
    gw.stop().await;
}

#[tokio::test]
async fn failed_attempts_during_an_outage_are_logged_at_most_about_once_a_second() {
    let down = format!("http://127.0.0.1:{}/", free_port());
    // A fixed limit: an adaptive one stays at 1 while nothing answers, which makes the
    // hundreds of failures this test needs take minutes.
    let settings = "pause_after = 0\nconcurrency = 32\nretry = { max_attempts = 100000, first_ms = 1, max_ms = 2 }";
    let gw =
        Logged::start(Toml::generic("test").destination("down", &down, settings).route("order", None, &["down"])).await;
    for i in 0..20 {
        assert_eq!(gw.post(format!(r#"{{"scope":"order","n":{i}}}"#)).await, Some(200));
    }
    let started = Instant::now();
    let retries = "switchyard_delivery_attempts_total{destination=\"down\",outcome=\"retry\"}";
    let deadline = Instant::now() + PATIENCE;
    loop {
        let attempts = gw.admin("/metrics").await.and_then(|t| {
            let line = t.lines().find(|l| l.starts_with(retries))?.to_string();
            line.rsplit(' ').next()?.parse::<f64>().ok()
        });
        if attempts.is_some_and(|n| n > 300.0) {
            break;
        }
        assert!(Instant::now() < deadline, "not hundreds of failed attempts: {attempts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failing_for = started.elapsed();
    let lines = gw.log().lines().filter(|l| l.contains("delivery failed")).count();
    let seconds = failing_for.as_secs() + 2;
    assert!(lines as u64 <= seconds, "{lines} failure lines in about {failing_for:?}");
    assert!(lines >= 1, "the outage is logged");
}
