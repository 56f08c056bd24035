//! Hot reload (issue 3): routes.toml and plugins change while the gateway serves, however the
//! file is replaced; a broken change keeps the old behaviour and says where it is wrong; a
//! restart with a warm cache compiles nothing; reloads under load lose nothing.
//!
//! Every wait is for an observable outcome (a published snapshot or reload status, a
//! delivery), bounded by `PATIENCE`; nothing sleeps a fixed time to let a reload happen.

use crate::support::{PATIENCE, Received, TestDestination, TestGateway, wasm};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use switchyard::reload::{ReloadStatus, Snapshot};

/// A table routing `ping` events from the generic source `test` to destination `to`, and
/// `store/order/*` events from `bigcommerce` through plugin `p` (`p.wasm` beside the table).
/// The plugin's deadline is generous: on a starved CI machine a 50 ms deadline can fire, and
/// a timed-out event is dead-lettered, which is not what these tests are about.
fn table(dest: &TestDestination, to: &str) -> String {
    let source = crate::support::generic_source("test");
    format!(
        r#"{source}
[sources.bigcommerce]
provider = "bigcommerce"

[plugins.p]
path = "p.wasm"
timeout_ms = 5000

[destinations.a]
url = "{a}"

[destinations.b]
url = "{b}"

[[routes]]
name = "pings"
match = "ping"
to = ["{to}"]

[[routes]]
name = "orders"
match = "store/order/*"
plugin = "p"
to = ["a"]
"#,
        a = dest.url("/a"),
        b = dest.url("/b"),
    )
}

/// A temp directory with `p.wasm` (a copy of `plugin`) and routes.toml routing pings to `to`.
fn directory(dest: &TestDestination, to: &str, plugin: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy(plugin, &dir.path().join("p.wasm"));
    write_in_place(&dir.path().join("routes.toml"), &table(dest, to));
    dir
}

async fn start(dest: &TestDestination, to: &str, plugin: &str) -> TestGateway {
    TestGateway::start_in(directory(dest, to, plugin), true).await.unwrap()
}

fn copy(from: &str, to: &Path) {
    std::fs::copy(from, to).expect("copy a plugin");
}

/// `cp`-style: truncate the file and write the new bytes into it.
fn write_in_place(file: &Path, text: &str) {
    std::fs::write(file, text).expect("write the file");
}

/// Editor-style: write a temporary file beside it, then rename it over the original.
fn write_and_rename(file: &Path, bytes: &[u8]) {
    let tmp = file.with_extension("swp");
    std::fs::write(&tmp, bytes).expect("write the temporary file");
    std::fs::rename(&tmp, file).expect("rename the temporary file over the file");
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(file).expect("read the file")
}

/// Waits until the published snapshot satisfies `check`.
async fn until_snapshot(gw: &TestGateway, what: &str, check: impl Fn(&Snapshot) -> bool) {
    let live = &gw.gateway.live;
    let mut changes = live.subscribe();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check(&live.snapshot()) {
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("no snapshot with {what} within {PATIENCE:?}; last reload: {:#?}", live.status()),
        }
    }
}

/// Waits until the last reload status satisfies `check`, and returns it.
async fn until_status(gw: &TestGateway, what: &str, check: impl Fn(&ReloadStatus) -> bool) -> Arc<ReloadStatus> {
    let live = &gw.gateway.live;
    let mut changes = live.subscribe();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status = live.status();
        if check(&status) {
            return status;
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("no reload with {what} within {PATIENCE:?}; last reload: {status:#?}"),
        }
    }
}

fn pings_go_to(to: &'static str) -> impl Fn(&Snapshot) -> bool {
    move |s| s.config.routes.first().is_some_and(|r| r.to == [to])
}

fn plugin_is(bytes: &[u8]) -> impl Fn(&Snapshot) -> bool {
    let want = switchyard::plugin::digest(bytes);
    move |s| s.plugins.get("p").is_some_and(|p| p.digest() == want)
}

/// Posts a ping and returns the path it was delivered to.
async fn ping(gw: &TestGateway, dest: &TestDestination) -> String {
    static NONCE: AtomicU64 = AtomicU64::new(0);
    let nonce = NONCE.fetch_add(1, Ordering::Relaxed);
    accepted_id(gw.post("test", &json!({ "scope": "ping", "nonce": nonce }).to_string()).await).await;
    dest.wait_for_one(&format!("ping {nonce}"), |r| r.json()["nonce"] == nonce).await.path
}

/// A BigCommerce order webhook with a `hash` of its own, so dedup never folds two together.
fn order_body(order_id: u64) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut body = serde_json::from_str::<serde_json::Value>(&crate::support::bigcommerce(
        "store/order/created",
        json!({ "type": "order", "id": order_id }),
    ))
    .unwrap_or_default();
    body["hash"] = json!(format!("{:040x}", NEXT.fetch_add(1, Ordering::Relaxed)));
    body.to_string()
}

/// Posts an order and returns its delivered body: `record_type` comes from order-to-erp,
/// `payload` from envelope.
async fn order(gw: &TestGateway, dest: &TestDestination) -> serde_json::Value {
    let id = accepted_id(gw.post("bigcommerce", &order_body(7)).await).await;
    dest.wait_for_one(&format!("order {id}"), |r| event_id(r).as_deref() == Some(id.as_str())).await.json()
}

async fn accepted_id(response: reqwest::Response) -> String {
    let status = response.status();
    let body = json_of(&response.bytes().await.unwrap_or_default());
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().unwrap_or_default().to_string()
}

fn json_of(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_default()
}

/// The event a delivery came from, as the plugins name it in their output.
fn event_id(r: &Received) -> Option<String> {
    let body = r.json();
    body["source_event_id"].as_str().or(body["id"].as_str()).map(String::from)
}

#[tokio::test]
async fn a_rename_save_of_routes_toml_moves_a_route() {
    let dest = TestDestination::start().await;
    let gw = start(&dest, "a", wasm::ORDER_TO_ERP).await;
    assert_eq!(ping(&gw, &dest).await, "/a");
    write_and_rename(&gw.config_path(), table(&dest, "b").as_bytes());
    until_snapshot(&gw, "pings to b", pings_go_to("b")).await;
    assert_eq!(ping(&gw, &dest).await, "/b");
    gw.stop().await;
}

#[tokio::test]
async fn an_in_place_write_of_routes_toml_moves_a_route() {
    let dest = TestDestination::start().await;
    let gw = start(&dest, "a", wasm::ORDER_TO_ERP).await;
    assert_eq!(ping(&gw, &dest).await, "/a");
    write_in_place(&gw.config_path(), &table(&dest, "b"));
    until_snapshot(&gw, "pings to b", pings_go_to("b")).await;
    assert_eq!(ping(&gw, &dest).await, "/b");
    gw.stop().await;
}

#[tokio::test]
async fn a_configmap_symlink_swap_moves_a_route() {
    // What the kubelet does: routes.toml -> ..data/routes.toml, ..data -> ..<timestamp>/, and an
    // update renames a fresh symlink over ..data, then deletes the old timestamped directory.
    let dest = TestDestination::start().await;
    let dir = tempfile::tempdir().unwrap();
    let configmap = |stamp: &str, to: &str| -> PathBuf {
        let generation = dir.path().join(stamp);
        std::fs::create_dir(&generation).unwrap();
        write_in_place(&generation.join("routes.toml"), &table(&dest, to));
        generation
    };
    let symlink = |target: &str, link: &str| {
        std::os::unix::fs::symlink(target, dir.path().join(link)).expect("make the symlink");
    };
    let first = configmap("..2025_01_01_00_00_00.1", "a");
    symlink("..2025_01_01_00_00_00.1", "..data");
    symlink("..data/routes.toml", "routes.toml");
    copy(wasm::ORDER_TO_ERP, &dir.path().join("p.wasm"));
    let gw = TestGateway::start_in(dir, true).await.unwrap();
    assert_eq!(ping(&gw, &dest).await, "/a");

    let dir = gw.dir.path();
    let second = dir.join("..2025_01_01_00_01_00.2");
    std::fs::create_dir(&second).unwrap();
    write_in_place(&second.join("routes.toml"), &table(&dest, "b"));
    std::os::unix::fs::symlink("..2025_01_01_00_01_00.2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    std::fs::remove_dir_all(&first).unwrap();

    until_snapshot(&gw, "pings to b", pings_go_to("b")).await;
    assert_eq!(ping(&gw, &dest).await, "/b");
    gw.stop().await;
}

/// One broken edit of the pings route: `(what, from, to, key)` replaces the first `from` (where
/// `{to}` is the destination pings go to) by `to`; the error must be on the last line of `to`,
/// under `key`.
const BROKEN: [(&str, &str, &str, &str); 4] = [
    ("a TOML syntax error", "match = \"ping\"", "match = \"ping", "routes[0]"),
    ("an unknown key", "match = \"ping\"", "match = \"ping\"\ntoo = [\"b\"]", "routes[0].too"),
    ("an unknown destination", "to = [\"{to}\"]", "to = [\"nowhere\"]", "routes[0].to"),
    ("a bad pattern", "match = \"ping\"", "match = \"ping/x*\"", "routes[0].match"),
];

#[tokio::test]
async fn a_broken_config_keeps_the_old_routes_says_where_and_a_fix_applies() {
    let dest = TestDestination::start().await;
    let gw = start(&dest, "a", wasm::ORDER_TO_ERP).await;
    let mut serving = "a";
    for (what, from, to, key) in BROKEN {
        let good = table(&dest, serving);
        let first_line_of_to = to.lines().last().unwrap_or_default();
        let broken = good.replacen(&from.replace("{to}", serving), to, 1);
        assert_ne!(broken, good, "{what}: the edit must change the table");
        let line = broken.lines().position(|l| l == first_line_of_to).map(|i| i + 1);
        let before = gw.gateway.live.status().seq;
        write_in_place(&gw.config_path(), &broken);
        let status = until_status(&gw, &format!("{what} rejected"), |s| s.seq > before && !s.applied).await;
        let problem = status.errors.iter().find(|p| p.key.as_deref().is_some_and(|k| k.starts_with(key)));
        let problem = problem.unwrap_or_else(|| panic!("{what}: no error about `{key}` in {:#?}", status.errors));
        assert_eq!(problem.line, line, "{what}: {}", problem.text);
        assert!(problem.column.is_some(), "{what}: {}", problem.text);
        assert!(problem.text.contains("routes.toml:"), "{what}: {}", problem.text);
        let path = format!("/{serving}");
        assert_eq!(ping(&gw, &dest).await, path, "{what}: the old routes keep serving");

        serving = if serving == "a" { "b" } else { "a" };
        write_in_place(&gw.config_path(), &table(&dest, serving));
        until_snapshot(&gw, &format!("the fix of {what}"), pings_go_to(serving)).await;
        assert_eq!(ping(&gw, &dest).await, format!("/{serving}"), "{what}: the fix applies");
    }
    gw.stop().await;
}

/// Replaces p.wasm with `bytes` and checks the reload is rejected at `plugins.p.path` with a
/// message containing `says`, that the old plugin keeps serving, and that restoring it applies.
async fn a_bad_plugin_is_rejected(bytes: &[u8], says: &str) {
    let dest = TestDestination::start().await;
    let gw = start(&dest, "a", wasm::ORDER_TO_ERP).await;
    assert_eq!(order(&gw, &dest).await["record_type"], "sales_order");
    let plugin = gw.dir.path().join("p.wasm");
    let before = gw.gateway.live.status().seq;
    write_and_rename(&plugin, bytes);
    let status = until_status(&gw, "the plugin rejected", |s| s.seq > before && !s.applied).await;
    let line = table(&dest, "a").lines().position(|l| l == "path = \"p.wasm\"").map(|i| i + 1);
    let problem = status.errors.iter().find(|p| p.key.as_deref() == Some("plugins.p.path"));
    let problem = problem.unwrap_or_else(|| panic!("no error about plugins.p.path in {:#?}", status.errors));
    assert_eq!((problem.line, problem.column), (line, Some(8)), "{}", problem.text);
    assert!(problem.message.contains(says), "{}", problem.text);
    assert_eq!(order(&gw, &dest).await["record_type"], "sales_order", "the old plugin keeps serving");

    let before = gw.gateway.live.status().seq;
    copy(wasm::ORDER_TO_ERP, &plugin);
    until_status(&gw, "the restored plugin applied", |s| s.seq > before && s.applied).await;
    assert_eq!(order(&gw, &dest).await["record_type"], "sales_order");
    gw.stop().await;
}

#[tokio::test]
async fn a_corrupt_wasm_is_rejected_and_the_old_plugin_keeps_serving() {
    a_bad_plugin_is_rejected(b"\0asm but not really: garbage bytes", "not a valid component").await;
}

#[tokio::test]
async fn a_plugin_importing_what_the_host_does_not_offer_is_rejected() {
    a_bad_plugin_is_rejected(&read(wasm::BAD_IMPORT), "switchyard:bad-import/secrets").await;
}

#[tokio::test]
async fn replacing_a_plugin_with_another_component_changes_the_output() {
    let dest = TestDestination::start().await;
    let gw = start(&dest, "a", wasm::ORDER_TO_ERP).await;
    assert_eq!(order(&gw, &dest).await["record_type"], "sales_order");
    copy(wasm::ENVELOPE, &gw.dir.path().join("p.wasm"));
    until_snapshot(&gw, "the envelope plugin", plugin_is(&read(wasm::ENVELOPE))).await;
    let wrapped = order(&gw, &dest).await;
    assert_eq!((wrapped["route"].as_str(), wrapped["payload"]["data"]["id"].as_i64()), (Some("orders"), Some(7)));
    gw.stop().await;
}

#[tokio::test]
async fn a_restart_with_a_warm_cache_compiles_nothing() {
    let dest = TestDestination::start().await;
    let gw = start(&dest, "a", wasm::ORDER_TO_ERP).await;
    let cold = gw.gateway.live.status();
    assert_eq!((cold.compiled.as_slice(), cold.from_cache.len()), (["p".to_string()].as_slice(), 0));
    let gw = gw.restart().await.unwrap();
    let warm = gw.gateway.live.status();
    assert_eq!((warm.compiled.len(), warm.from_cache.as_slice()), (0, ["p".to_string()].as_slice()));
    assert_eq!(order(&gw, &dest).await["record_type"], "sales_order", "the cached plugin runs");
    gw.stop().await;
}

#[tokio::test]
async fn a_reload_request_applies_a_change_without_file_watching() {
    // What SIGHUP (and POST /api/reload) do: `serve --no-watch` must still reload on request.
    let dest = TestDestination::start().await;
    let gw = TestGateway::start_in(directory(&dest, "a", wasm::ORDER_TO_ERP), false).await.unwrap();
    write_in_place(&gw.config_path(), &table(&dest, "b"));
    gw.gateway.reload.notify_one();
    until_snapshot(&gw, "pings to b", pings_go_to("b")).await;
    assert_eq!(ping(&gw, &dest).await, "/b");
    gw.stop().await;
}

#[tokio::test]
async fn a_reload_request_reloads_even_when_nothing_changed() {
    let dest = TestDestination::start().await;
    let gw = start(&dest, "a", wasm::ORDER_TO_ERP).await;
    let before = gw.gateway.live.status().seq;
    gw.gateway.reload.notify_one();
    let status = until_status(&gw, "a forced reload", |s| s.seq > before).await;
    assert!(status.applied && status.compiled.is_empty(), "{status:#?}");
    assert_eq!(status.reused, ["p".to_string()], "an unchanged plugin is reused, not recompiled");
    gw.stop().await;
}

/// What one load task saw.
#[derive(Default)]
struct Load {
    accepted: Vec<String>,
    failures: Vec<String>,
}

/// Posts BigCommerce orders to `url`, at most `per_second`, until `stop`.
async fn load(url: String, stop: Arc<AtomicBool>, per_second: u64) -> Load {
    let client = reqwest::Client::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = Load::default();
    for n in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        tick.tick().await;
        let sent = client.post(&url).header("content-type", "application/json").body(order_body(n)).send().await;
        match sent {
            Ok(r) if r.status().is_success() => {
                let answer = json_of(&r.bytes().await.unwrap_or_default());
                seen.accepted.push(answer["id"].as_str().unwrap_or_default().to_string());
            }
            Ok(r) => seen.failures.push(format!("answered {}", r.status())),
            Err(e) => seen.failures.push(format!("{e}")),
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reloads_under_load_answer_every_request_and_lose_no_event() {
    let dest = TestDestination::start().await;
    let gw = start(&dest, "a", wasm::ORDER_TO_ERP).await;
    let stop = Arc::new(AtomicBool::new(false));
    let loads: Vec<_> = (0..4).map(|_| tokio::spawn(load(gw.url("/hooks/bigcommerce"), stop.clone(), 100))).collect();
    let (config, plugin) = (gw.config_path(), gw.dir.path().join("p.wasm"));
    let (erp, envelope) = (read(wasm::ORDER_TO_ERP), read(wasm::ENVELOPE));
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        // A config edit moving pings to the other destination, saved one way or the other.
        let to = if i % 2 == 0 { "b" } else { "a" };
        let written = Instant::now();
        match i % 2 {
            0 => write_and_rename(&config, table(&dest, to).as_bytes()),
            _ => write_in_place(&config, &table(&dest, to)),
        }
        until_snapshot(&gw, &format!("edit {i}: pings to {to}"), pings_go_to(to)).await;
        assert_eq!(ping(&gw, &dest).await, format!("/{to}"), "edit {i}");
        slowest = slowest.max(written.elapsed());

        // A plugin swap to the other component, whose output has another shape.
        let (bytes, field) = if i % 2 == 0 { (&envelope, "payload") } else { (&erp, "record_type") };
        let written = Instant::now();
        match i % 2 {
            0 => write_and_rename(&plugin, bytes),
            _ => std::fs::write(&plugin, bytes).unwrap(),
        }
        until_snapshot(&gw, &format!("swap {i}: plugin with `{field}`"), plugin_is(bytes)).await;
        assert!(order(&gw, &dest).await.get(field).is_some(), "swap {i}: output has `{field}`");
        slowest = slowest.max(written.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    let mut accepted = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for task in loads {
        let seen = task.await.expect("load task");
        accepted.extend(seen.accepted);
        failures.extend(seen.failures);
    }
    assert!(
        failures.is_empty(),
        "{} requests failed during reloads: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(accepted.len() > 100, "the load ran ({} accepted)", accepted.len());

    // Every accepted event is delivered, once.
    let deadline = Instant::now() + PATIENCE * 4;
    let delivered = loop {
        let delivered: Vec<String> =
            dest.at("/a").iter().filter_map(event_id).filter(|id| accepted.contains(id)).collect();
        if delivered.len() >= accepted.len() || Instant::now() > deadline {
            break delivered;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let unique: std::collections::HashSet<&String> = delivered.iter().collect();
    let missing: Vec<&String> = accepted.iter().filter(|id| !unique.contains(id)).take(5).collect();
    assert_eq!(unique.len(), accepted.len(), "accepted events delivered; not delivered: {missing:?}");
    assert_eq!(delivered.len(), accepted.len(), "no event delivered twice");
    eprintln!(
        "{} events under 20 config edits and 20 plugin swaps: 0 failed, all delivered; slowest change seen in a delivery after {slowest:?}",
        accepted.len()
    );
    gw.stop().await;
}
