//! Several gateways on one PostgreSQL schema, each a whole `switchyard serve` in a process of
//! its own, behind no balancer: the test spreads webhooks over them itself, and stops, freezes
//! and kills them with real signals under load.
//!
//! What every scenario checks at the end: every acknowledged event reached the sink, no
//! delivery arrived under two `webhook-id`s, nothing is left pending or leased, and the
//! duplicates (deliveries sent again because a gateway died or froze after sending) are
//! counted and printed. `LEASE_SECS` is short so the suite stays quick; the bound measured is
//! the issue's: the lost node's work resumes within `lease_secs` + 5 s.

use crate::support::child::{ServeChild, run_cli};
use crate::support::free_port;
use crate::support::pg::TestSchema;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LEASE_SECS: u64 = 4;
/// The sink holds each delivery this long, so every gateway always has some in flight.
const SINK_DELAY: Duration = Duration::from_millis(80);
/// One webhook every this long, over the live gateways.
const PACE: Duration = Duration::from_millis(6);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The destination: records each request's `n` and `webhook-id`; answers 200 after
/// [`SINK_DELAY`], or 503 to the first request for each `n` when `fail_first`.
#[derive(Default)]
struct Sink {
    got: Mutex<Vec<(u64, String)>>,
    fail_first: bool,
}

impl Sink {
    async fn start(fail_first: bool) -> (Arc<Self>, u16) {
        let sink = Arc::new(Sink { fail_first, ..Sink::default() });
        let app = axum::Router::new().route("/sink", axum::routing::post(receive)).with_state(sink.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().map(|a| a.port()).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (sink, port)
    }

    fn received(&self) -> Vec<(u64, String)> {
        lock(&self.got).clone()
    }
}

async fn receive(State(sink): State<Arc<Sink>>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let n = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["n"].as_u64());
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let Some(n) = n else { return StatusCode::BAD_REQUEST };
    let first = {
        let mut got = lock(&sink.got);
        let first = !got.iter().any(|(seen, _)| *seen == n);
        got.push((n, id));
        first
    };
    tokio::time::sleep(SINK_DELAY).await;
    if sink.fail_first && first { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK }
}

/// One gateway of the cluster: its config, addresses and process.
struct Node {
    config: PathBuf,
    ingest: String,
    admin: String,
    process: Option<ServeChild>,
    /// Its node id (new at every start), as its `/api/nodes` says.
    id: String,
    up: Arc<AtomicBool>,
}

impl Node {
    async fn start(dir: &Path, i: usize, common: &str) -> Self {
        let (ingest, admin) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
        let config = dir.join(format!("node{i}.toml"));
        let text = format!("[server]\nlisten = \"{ingest}\"\nadmin = \"{admin}\"\n\n{common}");
        std::fs::write(&config, text).unwrap();
        let mut node = Node { config, ingest, admin, process: None, id: String::new(), up: Arc::default() };
        node.restart().await;
        node
    }

    async fn restart(&mut self) {
        let process = ServeChild::start(&self.config, &self.admin).await.unwrap();
        self.process = Some(process);
        let nodes = self.api("/api/nodes").await;
        self.id = nodes["this_node"].as_str().unwrap_or_else(|| panic!("no this_node in {nodes}")).to_string();
        self.up.store(true, Ordering::SeqCst);
    }

    async fn api(&self, path: &str) -> serde_json::Value {
        let answer = reqwest::get(format!("http://{}{path}", self.admin)).await.unwrap();
        let text = answer.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }

    async fn metric(&self, name: &str) -> u64 {
        let text =
            reqwest::get(format!("http://{}/metrics", self.admin)).await.unwrap().text().await.unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    }

    fn process(&self) -> &ServeChild {
        self.process.as_ref().unwrap_or_else(|| panic!("node {} is not running", self.ingest))
    }
}

/// Webhooks `{"scope":"order/created","n":N}` posted in turn to the gateways that are up, at
/// [`PACE`]; `acked` holds the `n` of each one answered 200.
struct Load {
    acked: Arc<Mutex<BTreeSet<u64>>>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(nodes: &[Node]) -> Self {
        let targets: Vec<(String, Arc<AtomicBool>)> =
            nodes.iter().map(|n| (format!("http://{}/hooks/shop", n.ingest), n.up.clone())).collect();
        let acked: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
        let (stop, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (acked_w, stop_r, sent_w) = (Arc::clone(&acked), stop.clone(), sent.clone());
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
            let mut tick = tokio::time::interval(PACE);
            let mut n = 0u64;
            // Bounded: at most ten minutes of webhooks, whatever the test does.
            while !stop_r.load(Ordering::SeqCst) && n < 100_000 {
                tick.tick().await;
                let up: Vec<&(String, Arc<AtomicBool>)> =
                    targets.iter().filter(|(_, up)| up.load(Ordering::SeqCst)).collect();
                if up.is_empty() {
                    continue;
                }
                let (url, _) = up[(n as usize) % up.len()];
                let (client, url, acked) = (client.clone(), url.clone(), Arc::clone(&acked_w));
                let body = format!(r#"{{"scope":"order/created","n":{n}}}"#);
                sent_w.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let answer = client.post(url).header("content-type", "application/json").body(body).send().await;
                    if answer.is_ok_and(|a| a.status() == StatusCode::OK) {
                        lock(&acked).insert(n);
                    }
                });
                n += 1;
            }
        });
        Load { acked, stop, sent, task }
    }

    async fn finish(self) -> BTreeSet<u64> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        // Requests still out get their answer (or time out) within the client's 2 s.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        eprintln!("load: {} webhooks sent", self.sent.load(Ordering::SeqCst));
        let acked = lock(&self.acked);
        acked.clone()
    }
}

/// Dropped in field order: the gateways stop before their schema is dropped.
struct Cluster {
    nodes: Vec<Node>,
    schema: TestSchema,
    sink: Arc<Sink>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start(size: usize, fail_first: bool, telemetry: &str) -> Option<Self> {
        let schema = TestSchema::create()?;
        let (sink, port) = Sink::start(fail_first).await;
        let common = format!(
            "{storage}\nlease_secs = {LEASE_SECS}\n\n{telemetry}\n\
             [sources.shop]\nprovider = \"generic\"\nscope_field = \"scope\"\n\n\
             [destinations.sink]\nurl = \"http://127.0.0.1:{port}/sink\"\n\
             retry = {{ max_attempts = 50, first_ms = 1500, max_ms = 2000 }}\n\n\
             [[routes]]\nname = \"orders\"\nmatch = \"order/*\"\nto = [\"sink\"]\n",
            storage = schema.storage(),
        );
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = Vec::new();
        for i in 0..size {
            nodes.push(Node::start(dir.path(), i, &common).await);
        }
        Some(Cluster { nodes, schema, sink, _dir: dir })
    }

    /// The ids of the events and deliveries `node` holds leased.
    fn held_by(&self, node: &str) -> BTreeSet<String> {
        let sql = format!(
            "SELECT id FROM events WHERE lease_owner = '{node}' AND lease_until_ms > 0 AND state = 'pending'
             UNION ALL SELECT id FROM deliveries WHERE lease_owner = '{node}' AND lease_until_ms > 0 AND state = 'pending'"
        );
        self.schema.column(&sql).into_iter().collect()
    }

    /// Waits until no row of `rows` is held by `node` any more: another gateway took it over,
    /// or finished it. Returns how long that took.
    async fn released(&self, node: &str, rows: &BTreeSet<String>, within: Duration) -> Duration {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.held_by(node).intersection(rows).next().is_none() {
                return start.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{node} still holds some of {} rows after {within:?}", rows.len());
    }

    /// Waits until every acknowledged event reached the sink and the store is settled, then
    /// checks ids and reports duplicates.
    async fn settled(&self, acked: &BTreeSet<u64>, what: &str) {
        assert!(acked.len() > 200, "{what}: only {} webhooks were acknowledged", acked.len());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got: BTreeSet<u64> = self.sink.received().iter().map(|(n, _)| *n).collect();
            let missing: Vec<&u64> = acked.difference(&got).collect();
            let open = self.schema.count(
                "SELECT COUNT(*)::text FROM (SELECT id FROM events WHERE state = 'pending'
                 UNION ALL SELECT id FROM deliveries WHERE state <> 'delivered') AS open",
            );
            if missing.is_empty() && open == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {} acknowledged events never arrived (first: {:?}); {open} rows still open",
                missing.len(),
                missing.iter().take(5).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let received = self.sink.received();
        let mut ids: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
        for (n, id) in &received {
            ids.entry(*n).or_default().insert(id.as_str());
        }
        for (n, set) in &ids {
            assert_eq!(set.len(), 1, "{what}: event {n} was delivered under several webhook-ids: {set:?}");
        }
        let leased = self.schema.count(
            "SELECT COUNT(*)::text FROM (SELECT id FROM events WHERE lease_until_ms > 0
             UNION ALL SELECT id FROM deliveries WHERE lease_until_ms > 0) AS leased",
        );
        assert_eq!(leased, 0, "{what}: leases left behind");
        let duplicates = received.len() - ids.len();
        eprintln!(
            "{what}: {} acknowledged, {} delivered, {} requests to the sink, {duplicates} duplicates \
             (each with its delivery's one webhook-id)",
            acked.len(),
            ids.len(),
            received.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_under_load_has_its_work_resumed_within_a_lease_and_nothing_is_lost() {
    let Some(mut cluster) = Cluster::start(3, false, "").await else { return };
    let load = Load::start(&cluster.nodes);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let victim = &cluster.nodes[1];
    victim.process().signal("KILL");
    victim.up.store(false, Ordering::SeqCst);
    let in_flight = cluster.held_by(&victim.id);
    assert!(!in_flight.is_empty(), "the killed node held no work; the test proves nothing");
    let took = cluster.released(&victim.id, &in_flight, Duration::from_secs(LEASE_SECS + 30)).await;
    eprintln!("SIGKILL: {} rows of the killed node resumed elsewhere after {took:?}", in_flight.len());
    assert!(took <= Duration::from_secs(LEASE_SECS + 5), "resumed after {took:?}");

    tokio::time::sleep(Duration::from_secs(2)).await;
    let acked = load.finish().await;
    cluster.settled(&acked, "SIGKILL").await;
    let nodes = cluster.nodes[0].api("/api/nodes").await;
    let gone = nodes["nodes"].as_array().into_iter().flatten().find(|n| n["id"] == cluster.nodes[1].id.as_str());
    assert_eq!(gone.map(|n| n["state"].clone()), Some(serde_json::json!("gone")), "{nodes}");
    cluster.nodes[1].process = None;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_node_loses_its_work_and_commits_none_of_it_when_it_wakes() {
    let Some(cluster) = Cluster::start(3, false, "").await else { return };
    let load = Load::start(&cluster.nodes);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let frozen = &cluster.nodes[2];
    frozen.up.store(false, Ordering::SeqCst);
    frozen.process().signal("STOP");
    let in_flight = cluster.held_by(&frozen.id);
    assert!(!in_flight.is_empty(), "the frozen node held no work; the test proves nothing");
    let took = cluster.released(&frozen.id, &in_flight, Duration::from_secs(LEASE_SECS + 30)).await;
    eprintln!("SIGSTOP: {} rows of the frozen node resumed elsewhere after {took:?}", in_flight.len());
    assert!(took <= Duration::from_secs(LEASE_SECS + 5), "resumed after {took:?}");

    // Woken, it finishes what it was doing, and must write none of it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    frozen.process().signal("CONT");
    frozen.up.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let acked = load.finish().await;
    cluster.settled(&acked, "SIGSTOP").await;
    let lost = frozen.metric("switchyard_leases_lost_total").await;
    assert!(lost > 0, "the woken node wrote no outcome of the work it lost, and says so in /metrics");
    // Every delivery was answered 200 at its first attempt: an outcome written twice (once by
    // the node that took it over, once by the woken one) would show as a second attempt.
    let twice = cluster.schema.count("SELECT COUNT(*)::text FROM deliveries WHERE attempts <> 1");
    assert_eq!(twice, 0, "a delivery's outcome was written by a node that no longer held it");
    eprintln!("SIGSTOP: the woken node dropped {lost} outcomes it no longer held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_under_load_loses_nothing_and_leaves_no_lease_waiting() {
    let Some(mut cluster) = Cluster::start(3, false, "").await else { return };
    let load = Load::start(&cluster.nodes);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..cluster.nodes.len() {
        let node = &mut cluster.nodes[i];
        node.up.store(false, Ordering::SeqCst);
        let old = node.id.clone();
        node.process().signal("TERM");
        let status = match node.process.as_mut() {
            Some(p) => p.wait(Duration::from_secs(20)).await,
            None => None,
        };
        assert!(status.is_some_and(|s| s.success()), "node {i} did not stop cleanly: {status:?}");
        let waiting = cluster.held_by(&old);
        assert!(waiting.is_empty(), "node {i} left {} leases waiting", waiting.len());
        let node = &mut cluster.nodes[i];
        node.restart().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let acked = load.finish().await;
    cluster.settled(&acked, "rolling SIGTERM").await;
    let nodes = cluster.nodes[0].api("/api/nodes").await;
    let states: Vec<&str> =
        nodes["nodes"].as_array().into_iter().flatten().filter_map(|n| n["state"].as_str()).collect();
    assert_eq!(states.iter().filter(|s| **s == "stopped").count(), 3, "{nodes}");
    assert_eq!(states.iter().filter(|s| **s == "live").count(), 3, "{nodes}");
    // `switchyard nodes` reads the same list from the store.
    let config = cluster.nodes[0].config.display().to_string();
    let (ok, lines) = run_cli(&["nodes", "--json", "--config", &config]).unwrap();
    assert!(ok, "switchyard nodes failed: {lines:?}");
    let listed: Vec<serde_json::Value> = lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(listed.len(), 6, "{lines:?}");
    for node in &cluster.nodes {
        let row = listed.iter().find(|n| n["id"] == node.id.as_str()).unwrap_or_else(|| panic!("{lines:?}"));
        assert_eq!(row["state"], "live");
        assert!(row["heartbeat_age_ms"].as_u64().is_some_and(|age| age < LEASE_SECS * 1000), "{row}");
    }
    let (ok, table) = run_cli(&["nodes", "--config", &config]).unwrap();
    assert!(ok && table.first().is_some_and(|h| h.starts_with("ID ")), "{table:?}");
    assert_eq!(table.len(), 7, "a header and six gateways: {table:?}");
}

/// An OTLP/HTTP receiver: every span posted to `/v1/traces`, decoded.
#[derive(Default)]
struct Collector {
    spans: Mutex<Vec<Span>>,
}

#[derive(Debug, Clone)]
struct Span {
    trace_id: Vec<u8>,
    name: String,
    attributes: BTreeMap<String, String>,
}

async fn collect(State(collector): State<Arc<Collector>>, body: axum::body::Bytes) -> StatusCode {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message;
    let Ok(request) = ExportTraceServiceRequest::decode(body) else { return StatusCode::BAD_REQUEST };
    let mut spans = lock(&collector.spans);
    for scope in request.resource_spans.iter().flat_map(|r| &r.scope_spans) {
        for span in &scope.spans {
            let attributes = span
                .attributes
                .iter()
                .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some((kv.key.clone(), s.clone())),
                    other => Some((kv.key.clone(), format!("{other:?}"))),
                })
                .collect();
            spans.push(Span { trace_id: span.trace_id.clone(), name: span.name.clone(), attributes });
        }
    }
    StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_event_is_one_trace_across_the_gateways_that_ran_it() {
    let collector = Arc::new(Collector::default());
    let app = axum::Router::new().route("/v1/traces", axum::routing::post(collect)).with_state(collector.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().map(|a| a.port()).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let telemetry = format!("[telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\n");
    // The sink refuses each event's first attempt: the retry is due 1.5 s later, and the node
    // that ingested the event has stopped by then, so the other one makes it.
    let Some(mut cluster) = Cluster::start(2, true, &telemetry).await else { return };
    let (first, second) = (cluster.nodes[0].id.clone(), cluster.nodes[1].id.clone());
    let answer = reqwest::Client::new()
        .post(format!("http://{}/hooks/shop", cluster.nodes[0].ingest))
        .body(r#"{"scope":"order/created","n":1}"#)
        .send()
        .await
        .unwrap();
    let text = answer.text().await.unwrap();
    let accepted: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let event_id = accepted["id"].as_str().unwrap_or_else(|| panic!("{accepted}")).to_string();
    crate::support::eventually("the first attempt", || !cluster.sink.received().is_empty()).await;
    cluster.nodes[0].process().signal("TERM");
    let stopped = match cluster.nodes[0].process.as_mut() {
        Some(p) => p.wait(Duration::from_secs(20)).await,
        None => None,
    };
    assert!(stopped.is_some_and(|s| s.success()));
    cluster.nodes[0].process = None;

    let of_event = || -> Vec<Span> {
        lock(&collector.spans).iter().filter(|s| s.attributes.get("event_id") == Some(&event_id)).cloned().collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !of_event().iter().any(|s| s.name == "delivery" && s.attributes.get("switchyard.node") == Some(&second)) {
        assert!(Instant::now() < deadline, "no delivery span from the second node: {:?}", of_event());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let spans = of_event();
    let names: BTreeSet<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert!(["ingest", "event", "delivery"].iter().all(|n| names.contains(n)), "{names:?}");
    let traces: BTreeSet<&Vec<u8>> = spans.iter().map(|s| &s.trace_id).collect();
    assert_eq!(traces.len(), 1, "one trace for the event: {spans:?}");
    let nodes: BTreeSet<&str> =
        spans.iter().filter_map(|s| s.attributes.get("switchyard.node")).map(String::as_str).collect();
    assert_eq!(nodes, BTreeSet::from([first.as_str(), second.as_str()]), "{spans:?}");
    assert_eq!(cluster.sink.received().len(), 2, "refused once, then delivered");
}

/// A collector that takes connections and never answers (hung, or behind a firewall that
/// drops its replies): every acknowledged event is still delivered, and a SIGTERM still stops
/// the gateway, the spans it could not send given up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_collector_that_never_answers_holds_up_neither_deliveries_nor_shutdown() {
    let (port, connections, silent) = crate::support::silent_listener().await;
    let telemetry = format!("[telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\n");
    let Some(mut cluster) = Cluster::start(1, false, &telemetry).await else { return };
    let load = Load::start(&cluster.nodes);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let acked = load.finish().await;
    cluster.settled(&acked, "collector that never answers").await;
    assert!(connections.load(Ordering::SeqCst) >= 1, "the gateway did try to export");

    let asked = Instant::now();
    cluster.nodes[0].process().signal("TERM");
    let stopped = match cluster.nodes[0].process.as_mut() {
        Some(p) => p.wait(Duration::from_secs(30)).await,
        None => None,
    };
    eprintln!("collector that never answers: stopped {:?} after SIGTERM", asked.elapsed());
    assert!(stopped.is_some_and(|s| s.success()), "SIGTERM stops the gateway: {stopped:?}");
    cluster.nodes[0].process = None;
    silent.abort();
}
