//! Stop the gateway under load — `kill -9` five times at random moments, or SIGTERM once —
//! and restart it: every webhook that got a 200 is delivered within 30 s of the load ending,
//! and re-deliveries carry the same `webhook-id`. Runs the real binary as a child process.
//! One run does it as the slowest honest setup would: eight senders, a single-threaded Python
//! `http.server` receiver, and a process burning a core beside them.

#![allow(clippy::unwrap_used)] // a test that unwraps says what it expects (rust-clippy#13981)

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchyard_test_harness::{Process, free_port};

type Seen = Arc<Mutex<HashMap<u64, HashSet<String>>>>;

async fn record(State(seen): State<Seen>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let n = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["n"].as_u64());
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    if let (Some(n), Ok(mut seen)) = (n, seen.lock()) {
        seen.entry(n).or_default().insert(id);
    }
    StatusCode::OK
}

fn start(config: &std::path::Path, log: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--no-watch", "--config"])
        .arg(config)
        .env("SWITCHYARD_CACHE_DIR", config.with_file_name("cache"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("cannot start switchyard")
}

async fn wait_listening(port: u16) {
    for _ in 0..1000 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("switchyard did not start listening on {port}");
}

/// How each run of the gateway ends.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    Kill,
    Term,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_no_acknowledged_event() {
    stop_under_load(Stop::Kill, 5, Setup { senders: 4, python_sink: false, busy_core: false }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_exits_within_the_grace_period_and_loses_nothing() {
    stop_under_load(Stop::Term, 1, Setup { senders: 4, python_sink: false, busy_core: false }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_with_a_single_threaded_python_receiver_and_a_busy_core_delivers_within_30s() {
    stop_under_load(Stop::Kill, 5, Setup { senders: 8, python_sink: true, busy_core: true }).await;
}

/// What surrounds the gateway in a run.
struct Setup {
    senders: u64,
    /// A single-threaded Python `http.server` receives, instead of an axum one.
    python_sink: bool,
    /// A process burns a core meanwhile.
    busy_core: bool,
}

/// A single-threaded Python receiver: one request at a time, each body's `n` and `webhook-id`
/// written to the file it is given, 200 for all.
const PYTHON_SINK: &str = r#"
import http.server, json, sys
out = open(sys.argv[2], "a", buffering=1)
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            n = json.loads(body)["n"]
            out.write(f"{n} {self.headers.get('webhook-id', '')}\n")
        except Exception:
            pass
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
"#;

/// A receiver for the run: its address, what it saw (read on demand), and its process.
async fn receiver(setup: &Setup, dir: &std::path::Path, seen: &Seen) -> (std::net::SocketAddr, Option<Process>) {
    if !setup.python_sink {
        let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink_addr = sink.local_addr().unwrap();
        let app = Router::new().route("/erp", post(record)).with_state(seen.clone());
        tokio::spawn(async move { axum::serve(sink, app).await });
        return (sink_addr, None);
    }
    let port = free_port();
    let file = dir.join("received");
    let python = Process::spawn(
        Command::new("python3").arg("-c").arg(PYTHON_SINK).arg(port.to_string()).arg(&file).stdout(Stdio::null()),
    )
    .unwrap();
    wait_listening(port).await;
    (std::net::SocketAddr::from(([127, 0, 0, 1], port)), Some(python))
}

/// What the Python receiver wrote so far, into `seen`.
fn read_received(dir: &std::path::Path, seen: &Seen) {
    let text = std::fs::read_to_string(dir.join("received")).unwrap_or_default();
    let mut seen = seen.lock().unwrap();
    for line in text.lines() {
        if let Some((n, id)) = line.split_once(' ')
            && let Ok(n) = n.parse::<u64>()
        {
            seen.entry(n).or_default().insert(id.to_owned());
        }
    }
}

async fn stop_under_load(how: Stop, runs: usize, setup: Setup) {
    let dir = tempfile::tempdir().unwrap();
    let seen: Seen = Arc::default();
    let (sink_addr, _python) = receiver(&setup, dir.path(), &seen).await;
    let _busy = setup.busy_core.then(|| {
        Process::spawn(Command::new("python3").args(["-c", "while True: pass"]).stdout(Stdio::null())).unwrap()
    });

    let port = free_port();
    let config = dir.path().join("routes.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
admin = ""

[sources.shop]
provider = "generic"
scope_field = "scope"

[destinations.erp]
url = "http://{sink_addr}/erp"
retry = {{ max_attempts = 1000, first_ms = 20, max_ms = 200 }}

[[routes]]
match = "order/*"
to = ["erp"]
"#
        ),
    )
    .unwrap();
    let log = dir.path().join("gateway.log");

    // Clients post numbered orders as fast as the gateway answers; a 200 means "acknowledged".
    let acked: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    let mut loaders = Vec::new();
    let senders = setup.senders;
    for worker in 0..senders {
        let (acked, stop, client) = (acked.clone(), stop.clone(), client.clone());
        loaders.push(tokio::spawn(async move {
            let mut n = worker;
            while !stop.load(Ordering::Relaxed) && n < 4_000_000 {
                let body = format!(r#"{{"scope": "order/created", "n": {n}}}"#);
                let sent = client.post(format!("http://127.0.0.1:{port}/hooks/shop")).body(body).send().await;
                match sent {
                    Ok(r) if r.status() == 200 => {
                        if let Ok(mut a) = acked.lock() {
                            a.insert(n);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
                n += senders;
            }
        }));
    }

    for _ in 0..runs {
        let mut child = start(&config, &log);
        wait_listening(port).await;
        let alive = Duration::from_millis(150 + rand::random::<u64>() % 600);
        tokio::time::sleep(alive).await;
        match how {
            Stop::Kill => {
                child.kill().expect("cannot SIGKILL");
                let _ = child.wait();
            }
            Stop::Term => {
                let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
                assert!(sent.is_ok_and(|s| s.success()), "cannot send SIGTERM");
                // `serve` has a 10 s grace period by default; it must exit well within it.
                let mut exited = None;
                for _ in 0..1000 {
                    if let Ok(Some(status)) = child.try_wait() {
                        exited = Some(status);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let status = exited.unwrap_or_else(|| panic!("still running 10 s after SIGTERM"));
                assert!(status.success(), "SIGTERM should be a clean exit, got {status}");
            }
        }
    }
    let mut child = start(&config, &log);
    wait_listening(port).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for l in loaders {
        let _ = l.await;
    }

    let acked: HashSet<u64> = acked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(acked.len() > 50, "the load produced too little to mean anything: {}", acked.len());
    // Within 30 s of the load ending, every acknowledged event is delivered.
    let mut missing = acked.len();
    for _ in 0..600 {
        if setup.python_sink {
            read_received(dir.path(), &seen);
        }
        missing = seen.lock().map(|s| acked.iter().filter(|n| !s.contains_key(n)).count()).unwrap_or(usize::MAX);
        if missing == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(missing, 0, "{missing} of {} acknowledged events were never delivered; log:\n{log_text}", acked.len());
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    for (n, ids) in &seen {
        assert_eq!(ids.len(), 1, "order {n} arrived under several webhook-ids: {ids:?}");
    }
    eprintln!("{} events acknowledged across {runs} stops, all delivered", acked.len());
}
