//! Adaptive delivery against receivers on loopback that behave as real ones do under load: one
//! that serves 8 requests at once and slows down with every request it holds beyond them; one
//! that is down for 10 s and then comes back with that capacity; one that asks for time with
//! `Retry-After`. The gateway must find the receiver's pace, never pause a receiver that is
//! merely slow, recover from a pause without a flood, and honour `Retry-After` for the whole
//! destination.

use crate::support::pg::TestSchema;
use crate::support::toml::Toml;
use crate::support::{PATIENCE, TestGateway};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A receiver with a capacity: `CAPACITY` requests at once take `BASE`; each request it holds
/// beyond them adds `EXTRA` to every one's time. It counts what it holds, and each
/// `webhook-id` it answered 2xx.
#[derive(Default)]
struct Receiver {
    held: AtomicU32,
    /// How many it held when each request arrived, in order.
    arrivals: Mutex<Vec<u32>>,
    delivered: Mutex<HashMap<String, u32>>,
    /// 503s to answer first, with `Retry-After: 2`, and when each request came.
    busy_first: AtomicU32,
    times: Mutex<Vec<Instant>>,
    requests: AtomicU64,
}

const CAPACITY: u32 = 8;
const BASE: Duration = Duration::from_millis(20);
const EXTRA: Duration = Duration::from_millis(10);

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap) -> axum::response::Response {
    r.requests.fetch_add(1, Ordering::SeqCst);
    let held = r.held.fetch_add(1, Ordering::SeqCst) + 1;
    if let (Ok(mut arrivals), Ok(mut times)) = (r.arrivals.lock(), r.times.lock()) {
        arrivals.push(held);
        times.push(Instant::now());
    }
    let busy = r.busy_first.load(Ordering::SeqCst);
    if busy > 0 && r.busy_first.compare_exchange(busy, busy - 1, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        r.held.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "2")]).into_response();
    }
    tokio::time::sleep(BASE + EXTRA * held.saturating_sub(CAPACITY)).await;
    r.held.fetch_sub(1, Ordering::SeqCst);
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if let Ok(mut delivered) = r.delivered.lock() {
        *delivered.entry(id).or_default() += 1;
    }
    StatusCode::OK.into_response()
}

/// Starts the receiver on `listener`.
fn serve(listener: tokio::net::TcpListener, receiver: Arc<Receiver>) {
    let app = Router::new().route("/in", post(receive)).with_state(receiver);
    tokio::spawn(async move { axum::serve(listener, app).await });
}

/// A gateway with its admin listener, forwarding `scope = "order/*"` to `url`.
fn table(url: &str, destination: &str, storage: &str) -> String {
    Toml::generic("shop")
        .raw(storage)
        .destination("slow", url, destination)
        .route("order/*", None, &["slow"])
        .to_string()
}

/// Posts `n` numbered events, 16 at a time; every one must be acknowledged.
async fn send(gw: &TestGateway, n: usize) {
    let gw = Arc::new((gw.client.clone(), gw.url("/hooks/shop")));
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let gw = gw.clone();
        tasks.push(tokio::spawn(async move {
            for i in (worker..n).step_by(16) {
                let body = format!(r#"{{"scope": "order/created", "n": {i}}}"#);
                let sent = gw.0.post(&gw.1).header("content-type", "application/json").body(body).send().await;
                assert_eq!(sent.map(|r| r.status().as_u16()).ok(), Some(200), "event {i} acknowledged");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// The destination as `GET /api/destinations` shows it.
async fn destination(gw: &TestGateway) -> serde_json::Value {
    let answer = gw.client.get(gw.admin_url("/api/destinations")).send().await.unwrap();
    let list: serde_json::Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    list["destinations"][0].clone()
}

fn attempts(gw: &TestGateway, outcome: &str) -> u64 {
    gw.gateway.metrics.delivery_attempts.get("slow", outcome)
}

/// Waits (bounded) until `receiver` has answered `n` distinct webhook-ids.
async fn all_delivered(receiver: &Receiver, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got = receiver.delivered.lock().map(|d| d.len()).unwrap_or(0);
        if got >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{got} of {n} delivered within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_slows_with_load_gets_its_pace_with_no_pause_and_few_timeouts() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    let receiver = Arc::new(Receiver::default());
    serve(listener, receiver.clone());
    let gw = TestGateway::start_with_admin(&table(&url, "timeout_ms = 2000", "")).await.unwrap();

    send(&gw, 3000).await;
    let mut limits = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while receiver.delivered.lock().map(|d| d.len()).unwrap_or(0) < 3000 {
        assert!(Instant::now() < deadline, "the burst was not delivered within 2 minutes");
        let view = destination(&gw).await;
        assert_eq!(view["state"], "active", "never paused: {view}");
        if let Some(limit) = view["gateway"]["concurrency_limit"].as_u64() {
            limits.push(limit);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let timeouts = attempts(&gw, "retry");
    let all = attempts(&gw, "delivered") + timeouts + attempts(&gw, "dead");
    assert!(timeouts * 100 <= all, "{timeouts} of {all} attempts failed (timed out)");
    let settled = &limits[limits.len() / 2..];
    assert!(settled.iter().all(|l| (4..=16).contains(l)), "the limit settled at {settled:?} (all: {limits:?})");
    let max_held = receiver.arrivals.lock().map(|a| a.iter().copied().max().unwrap_or(0)).unwrap_or(0);
    eprintln!("limit {settled:?}; most held at once: {max_held}; {timeouts} retries of {all} attempts");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_back_from_an_outage_is_ramped_up_from_one_and_not_paused_again() {
    // Its port is taken only after 10 s: until then, connections are refused.
    let port = crate::support::free_port();
    let url = format!("http://127.0.0.1:{port}/in");
    let settings = "timeout_ms = 2000\nprobe_every = \"1s\"";
    let gw = TestGateway::start_with_admin(&table(&url, settings, "")).await.unwrap();
    send(&gw, 2000).await;
    let paused = tokio::time::timeout(PATIENCE, async {
        while destination(&gw).await["state"] != "paused" {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(paused.is_ok(), "the destination is paused while the receiver is down");
    let pause = destination(&gw).await["pause"]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(pause.starts_with("failing"), "the pause says the receiver was failing: {pause}");
    tokio::time::sleep(Duration::from_secs(10)).await;

    let receiver = Arc::new(Receiver::default());
    serve(tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap(), receiver.clone());
    all_delivered(&receiver, 2000, Duration::from_secs(120)).await;

    let arrivals = receiver.arrivals.lock().unwrap().clone();
    assert!(arrivals[..3].iter().all(|held| *held == 1), "it starts at 1: {:?}", &arrivals[..10]);
    assert!(arrivals.iter().any(|held| *held >= 4), "and rises: most held {:?}", arrivals.iter().max());
    let pauses = gw.gateway.metrics.destination_changes.get("slow", "paused");
    assert_eq!(pauses, 1, "paused once, for the outage, and not again while draining");
    let once = receiver.delivered.lock().unwrap().values().all(|n| *n == 1);
    assert!(once, "every webhook-id delivered once");
    gw.stop().await;
}

async fn retry_after_holds_the_destination(storage: &str) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    let receiver = Arc::new(Receiver::default());
    receiver.busy_first.store(1, Ordering::SeqCst);
    serve(listener, receiver.clone());
    let gw = TestGateway::start_with_admin(&table(&url, "", storage)).await.unwrap();
    send(&gw, 20).await;
    all_delivered(&receiver, 20, PATIENCE).await;
    let times = receiver.times.lock().unwrap().clone();
    let quiet = times[1].duration_since(times[0]);
    assert!(quiet >= Duration::from_millis(1900), "the next request came {quiet:?} after the 503 with Retry-After: 2");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_keeps_every_delivery_away_from_the_destination() {
    retry_after_holds_the_destination("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_keeps_every_delivery_away_on_postgresql_too() {
    let Some(schema) = TestSchema::create() else { return };
    retry_after_holds_the_destination(&schema.storage()).await;
}
