//! The real binary, as an operator runs it: the admin listener named in routes.toml answers,
//! SIGHUP reloads even under `--no-watch`, and SIGTERM stops it cleanly.

#![allow(clippy::unwrap_used)] // a test that unwraps says what it expects (rust-clippy#13981)

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use switchyard_test_harness::{Process, free_port, signal};

const PATIENCE: Duration = Duration::from_secs(15);

fn table(ingest: u16, admin: u16, pattern: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:{ingest}\"\nadmin = \"127.0.0.1:{admin}\"\n\n\
         [sources.shop]\nprovider = \"generic\"\nscope_field = \"scope\"\n\n\
         [destinations.erp]\nurl = \"http://127.0.0.1:9/erp\"\n\n\
         [[routes]]\nname = \"orders\"\nmatch = \"{pattern}\"\nto = [\"erp\"]\n"
    )
}

/// GETs an admin path and parses its JSON, or `None` while the listener is not up.
async fn admin_get(client: &reqwest::Client, admin: u16, path: &str) -> Option<serde_json::Value> {
    let response = client.get(format!("http://127.0.0.1:{admin}{path}")).send().await.ok()?;
    serde_json::from_str(&response.text().await.ok()?).ok()
}

/// Polls `path` until `check` holds on its JSON, up to [`PATIENCE`].
async fn until(client: &reqwest::Client, admin: u16, path: &str, check: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = admin_get(client, admin, path).await;
        if got.as_ref().is_some_and(&check) {
            return;
        }
        assert!(Instant::now() < deadline, "{path} never satisfied the check; last: {got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sighup_reloads_without_file_watching_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.toml");
    let (ingest, admin) = (free_port(), free_port());
    std::fs::write(&config, table(ingest, admin, "order/*")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--no-watch", "--config"])
        .arg(&config)
        .env("SWITCHYARD_CACHE_DIR", dir.path().join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start switchyard");
    let mut child = Process(child);
    let client = reqwest::Client::new();
    until(&client, admin, "/health", |h| h["status"] == "ok").await;
    until(&client, admin, "/api/reload", |s| s["seq"] == 0).await;

    std::fs::write(&config, table(ingest, admin, "cart/*")).unwrap();
    signal(child.0.id(), "HUP");
    until(&client, admin, "/api/reload", |s| s["seq"] == 1 && s["applied"] == true).await;
    until(&client, admin, "/api/routes", |r| r["routes"][0]["match"][0] == "cart/*").await;

    signal(child.0.id(), "TERM");
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "switchyard did not exit within {PATIENCE:?} of SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
}
