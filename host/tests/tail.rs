//! `switchyard tail`, as an operator runs it beside `switchyard serve`: it prints one line as
//! each event is accepted, routed and delivered (or fails), in plain text when stdout is not a
//! terminal, and exits with status 0 on Ctrl-C (SIGINT).

#![allow(clippy::unwrap_used)] // a test that unwraps says what it expects (rust-clippy#13981)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use switchyard_test_harness::{Process, free_port, signal};

const PATIENCE: Duration = Duration::from_secs(15);

/// A destination on 127.0.0.1 that answers 200 to everything (on a worker thread: the test
/// blocks its own while it reads `tail`'s lines).
async fn sink() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().map(|a| a.port()).unwrap();
    let app = axum::Router::new().fallback(|| async { "ok" });
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

fn table(ingest: u16, admin: u16, sink: u16) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:{ingest}\"\nadmin = \"127.0.0.1:{admin}\"\nadmin_token = \"tail-test-token-0123456789\"\n\n\
         [sources.shop]\nprovider = \"generic\"\nscope_field = \"scope\"\n\n\
         [destinations.erp]\nurl = \"http://127.0.0.1:{sink}/erp\"\n\n\
         [[routes]]\nname = \"orders\"\nmatch = \"order/*\"\nto = [\"erp\"]\n"
    )
}

/// Reads `tail`'s stdout lines on a thread, so the test can wait for them with a deadline.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("tail has no stdout"));
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits until, for each word list in `wanted`, a line holds all its words (in any order of
/// lines: dispatch may announce an event before ingest does); returns those lines. Every line
/// read is kept in `seen`.
fn expect_lines(rx: &mpsc::Receiver<String>, seen: &mut Vec<String>, wanted: &[&[&str]]) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let found: Vec<Option<&String>> =
            wanted.iter().map(|words| seen.iter().find(|l| words.iter().all(|w| l.contains(w)))).collect();
        if found.iter().all(Option::is_some) {
            return found.into_iter().flatten().cloned().collect();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no lines with {wanted:?} within {PATIENCE:?}; saw: {seen:#?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_each_event_as_it_is_accepted_routed_and_delivered_and_ctrl_c_ends_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.toml");
    let (ingest, admin) = (free_port(), free_port());
    std::fs::write(&config, table(ingest, admin, sink().await)).unwrap();
    let serve = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--no-watch", "--config"])
        .arg(&config)
        .env("SWITCHYARD_CACHE_DIR", dir.path().join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start switchyard serve");
    let _serve = Process(serve);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + PATIENCE;
    while client.get(format!("http://127.0.0.1:{admin}/ready")).send().await.map_or(true, |r| r.status() != 200) {
        assert!(Instant::now() < deadline, "the gateway did not become ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let tail = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["tail", "--scope", "order/*", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start switchyard tail");
    let mut tail = Process(tail);
    let stderr = tail.0.stderr.take().unwrap_or_else(|| panic!("tail has no stderr"));
    let mut stderr = BufReader::new(stderr).lines();
    // `tail` says on stderr when it follows; events sent before that would not be shown.
    let started = stderr.next().and_then(Result::ok).unwrap_or_default();
    assert!(started.contains("following events"), "{started}");
    let out = lines(&mut tail.0);

    for scope in ["cart/created", "order/created"] {
        let body = format!(r#"{{"scope":"{scope}","id":1}}"#);
        let answer = client.post(format!("http://127.0.0.1:{ingest}/hooks/shop")).body(body).send().await;
        assert!(answer.is_ok_and(|a| a.status() == 200));
    }
    let mut seen = Vec::new();
    let found = expect_lines(
        &out,
        &mut seen,
        &[
            &["accepted", "shop", "order/created"],
            &["routed", "order/created", "orders → erp"],
            &["delivered", "order/created", "→ erp (orders) 200"],
        ],
    );
    assert!(found.iter().all(|l| !l.contains('\x1b')), "no colors when stdout is a pipe: {found:?}");

    signal(tail.0.id(), "INT");
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = tail.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "tail did not exit within {PATIENCE:?} of SIGINT");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "tail exits with status 0 on Ctrl-C, not {status}");
    seen.extend(out.try_iter());
    assert!(seen.iter().all(|l| !l.contains("cart/created")), "the scope filter holds: {seen:#?}");
}
