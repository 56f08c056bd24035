//! Values from a request cannot forge log lines: a source name from the URL path and a scope
//! from an unsigned body, carrying a newline, an ESC and a NUL, come out escaped on one line in
//! text and JSON logs alike, and a 100 KB scope is cut. Runs the real binary and reads its log.

#![allow(clippy::unwrap_used)] // a test that unwraps says what it expects (rust-clippy#13981)

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use switchyard_test_harness::free_port;

const PATIENCE: Duration = Duration::from_secs(15);

/// Runs a gateway logging in `format`, sends the hostile requests, and returns its log.
async fn log_of_hostile_requests(format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.toml");
    let port = free_port();
    let table = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin = \"\"\n\n\
         [sources.open]\nprovider = \"generic\"\nscope_field = \"type\"\n"
    );
    std::fs::write(&config, table).unwrap();
    let log = dir.path().join("log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["--log-format", format, "serve", "--no-watch", "--config"])
        .arg(&config)
        .env("SWITCHYARD_CACHE_DIR", dir.path().join("cache"))
        .env("RUST_LOG", "info,switchyard::dispatch=debug")
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("cannot start switchyard");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + PATIENCE;
    while client.get(format!("{base}/")).send().await.is_err() {
        assert!(Instant::now() < deadline, "switchyard did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unknown = client.post(format!("{base}/hooks/x%0aFORGED%20source%1b[31m%00")).body("{}").send().await;
    assert_eq!(unknown.map(|r| r.status().as_u16()).ok(), Some(404));
    let scope = serde_json::json!({ "type": "a\nFORGED scope\u{1b}[31m\u{0}" }).to_string();
    let accepted = client.post(format!("{base}/hooks/open")).body(scope).send().await;
    assert_eq!(accepted.map(|r| r.status().as_u16()).ok(), Some(200));
    let huge = serde_json::json!({ "type": "z".repeat(100_000) }).to_string();
    let accepted = client.post(format!("{base}/hooks/open")).body(huge).send().await;
    assert_eq!(accepted.map(|r| r.status().as_u16()).ok(), Some(200));
    // Both events are dispatched and logged as routed nowhere.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.matches("no route matches").count() >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the events were not dispatched:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&log).unwrap_or_default()
}

fn assert_nothing_forged(log: &str) {
    assert!(!log.contains('\u{1b}'), "a raw ESC reached the log");
    assert!(!log.contains('\0'), "a raw NUL reached the log");
    for line in log.lines() {
        assert!(!line.trim_start().starts_with("FORGED"), "a forged line: {line}");
        assert!(line.len() < 8_000, "a line of {} bytes: the 100 KB scope was not cut", line.len());
    }
}

#[tokio::test]
async fn text_logs_escape_request_values_and_cut_long_ones() {
    let log = log_of_hostile_requests("text").await;
    assert_nothing_forged(&log);
    assert!(log.contains(r"x\nFORGED source\u{1b}[31m\u{0}"), "{log}");
    assert!(log.contains(r"a\nFORGED scope\u{1b}[31m\u{0}"), "{log}");
    assert!(log.contains("…(+"), "the long scope is cut with a note: {log}");
}

#[tokio::test]
async fn json_logs_escape_request_values_and_cut_long_ones() {
    let log = log_of_hostile_requests("json").await;
    assert_nothing_forged(&log);
    let values: Vec<String> =
        log.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).map(|v| v.to_string()).collect();
    assert!(values.len() >= 3, "every line is JSON: {log}");
    // Inside JSON the escape's backslash is itself escaped.
    assert!(values.iter().any(|v| v.contains(r"x\\nFORGED source\\u{1b}[31m\\u{0}")), "{log}");
    assert!(values.iter().any(|v| v.contains(r"a\\nFORGED scope\\u{1b}[31m\\u{0}")), "{log}");
}
