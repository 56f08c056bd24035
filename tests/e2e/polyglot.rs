//! Plugins in JavaScript, TypeScript and Python: built with the SDKs' own build commands, run
//! by the real runtime. The TypeScript and Python `order-to-erp` produce exactly what the Rust
//! one produces, event for event; a TypeScript plugin serves a route; a JavaScript plugin with
//! `instances = "reuse"` keeps its module state between events and is replaced after a trap.

use crate::support::{TestDestination, TestGateway, polyglot};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use switchyard::plugin::{
    Action, CallContext, CompiledPlugin, ComponentCache, PluginEngine, PluginError, PluginEvent as Event,
};

/// One event as webhooks deliver it: a scope and a body.
fn events() -> Vec<(&'static str, Vec<u8>)> {
    let bc = |scope: &'static str, body: Value| (scope, body.to_string().into_bytes());
    let envelope = |data: Value| {
        json!({ "scope": "store/order/created", "store_id": "1025646", "data": data,
                "hash": "dd70c0976e06b67aaf671e73f49dcb79230ebf9d", "created_at": 1561479335, "producer": "stores/abc123" })
    };
    vec![
        bc("store/order/created", envelope(json!({"type": "order", "id": 250}))),
        bc("store/order/created", envelope(json!({"type": "order", "id": "250"}))),
        bc(
            "store/order/statusUpdated",
            envelope(json!({"type": "order", "id": 251, "status": {"previous_status_id": 0, "new_status_id": 11}})),
        ),
        bc("store/order/archived", envelope(json!({"type": "order", "id": 252}))),
        bc("store/order/transaction/created", envelope(json!({"type": "transaction", "id": 9, "order_id": 253}))),
        bc("store/channel/1/order/created", envelope(json!({"type": "order", "id": 7}))),
        bc("store/cart/created", envelope(json!({"type": "cart", "id": "c-1"}))),
        bc("store/product/updated", envelope(json!({"type": "product", "id": 77}))),
        bc("store/order/created", json!({"scope": "store/order/created", "store_id": 1025646})),
        bc("store/order/created", json!({"data": null})),
        bc("store/order/created", envelope(json!({"type": "order"}))),
        bc("store/order/created", envelope(json!({"type": "order", "id": true}))),
        bc("store/order/created", json!({"data": {"type": "order", "id": 254}, "store_id": 1025646})),
        bc("store/order/created", json!({"data": {"type": "order", "id": 255}, "producer": "channels/9"})),
        bc("store/order/created", json!({"data": {"type": "order", "id": 256}, "producer": 12})),
        bc(
            "store/order/created",
            json!({"data": {"type": "order", "id": 257}, "store_id": "s-1", "created_at": "yesterday"}),
        ),
        bc("store/order/refund/created", envelope(json!({"type": "order", "id": 9007199254740991_u64}))),
        bc("order.created", json!({"data": {"type": "order", "id": "A-1"}, "hash": null})),
        bc("store/order/created", json!([1, 2, 3])),
        bc("store/order/created", json!("just a string")),
        bc("store/order/créé", envelope(json!({"type": "order", "id": "ümlaut-ø"}))),
        ("store/order/created", b"{not json".to_vec()),
        ("store/order/created", Vec::new()),
    ]
}

/// An outcome in a form the three languages can be compared in: JSON bodies as values.
fn normal(result: Result<Vec<Action>, PluginError>) -> Value {
    match result {
        Err(e) => json!({ "error": e.kind() }),
        Ok(actions) => Value::Array(
            actions
                .into_iter()
                .map(|a| match a {
                    Action::Forward(f) => json!({ "forward": {
                        "destination": f.destination,
                        "headers": f.headers,
                        "body": f.body.map(|b| serde_json::from_slice::<Value>(&b).unwrap_or(Value::String(String::from_utf8_lossy(&b).into()))),
                    }}),
                    Action::Emit(e) => json!({ "emit": e.scope }),
                    Action::Drop(reason) => json!({ "drop": reason }),
                })
                .collect(),
        ),
    }
}

/// Loads a plugin for comparing outputs. Its compute deadline is generous: this test is about
/// what each language returns, and a fresh JavaScript instance's first call can pass the default
/// on a machine busy with the rest of the suite (componentize builds run beside it).
async fn load(engine: &Arc<PluginEngine>, cache: &ComponentCache, name: &str, path: &Path) -> CompiledPlugin {
    let toml = format!(
        "[sources.s]\nprovider = \"generic\"\n\n[plugins.{name}]\npath = {:?}\ntimeout_ms = 10000\nconfig = {{ currency = \"EUR\" }}\n",
        path.display().to_string()
    );
    let config = switchyard::config::load_str(Path::new("routes.toml"), &toml, &|_| None).unwrap();
    let spec = config.plugins[name].clone();
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (engine, cache) = (engine.clone(), cache.clone());
    tokio::task::spawn_blocking(move || cache.load(&engine, &spec, &bytes).map(|(p, _)| p)).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_and_python_order_to_erp_match_the_rust_one_event_for_event() {
    let ts = tokio::task::spawn_blocking(|| polyglot::js("examples-js/order-to-erp/plugin.ts", "order-to-erp-ts"));
    let py = tokio::task::spawn_blocking(|| polyglot::python("examples-python/order-to-erp/app.py", "order-to-erp-py"));
    let (ts, py) = (ts.await.unwrap(), py.await.unwrap());
    let engine = PluginEngine::new().unwrap();
    let cache = ComponentCache::new(Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-tools/cache")));
    let rust = load(&engine, &cache, "rust", Path::new(crate::support::wasm::ORDER_TO_ERP)).await;
    let ts = load(&engine, &cache, "ts", &ts).await;
    let py = load(&engine, &cache, "py", &py).await;
    let all = events();
    assert!(all.len() >= 20);
    for (i, (scope, body)) in all.into_iter().enumerate() {
        let event = Event {
            id: format!("evt_{i}"),
            source: "bigcommerce".into(),
            scope: scope.into(),
            route: "r".into(),
            params: vec![],
            headers: vec![("content-type".into(), "application/json".into())],
            body,
            received_at_ms: 1_700_000_000_000,
        };
        let want = normal(rust.call(&event, CallContext::default()).await.map(|o| o.actions));
        let from_ts = normal(ts.call(&event, CallContext::default()).await.map(|o| o.actions));
        let from_py = normal(py.call(&event, CallContext::default()).await.map(|o| o.actions));
        assert_eq!(from_ts, want, "TypeScript, event {i} ({scope})");
        assert_eq!(from_py, want, "Python, event {i} ({scope})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typescript_plugin_serves_a_route_and_a_reused_javascript_instance_keeps_its_state_until_it_traps() {
    let ts = tokio::task::spawn_blocking(|| polyglot::js("examples-js/order-to-erp/plugin.ts", "order-to-erp-ts"));
    let counter = tokio::task::spawn_blocking(|| polyglot::js("testing-js/counter.js", "counter-js"));
    let (ts, counter) = (ts.await.unwrap(), counter.await.unwrap());
    let dest = TestDestination::start().await;
    let source = crate::support::generic_source("test");
    let table = format!(
        r#"
[sources.bigcommerce]
provider = "bigcommerce"

{source}dedup_window_secs = 0

[plugins.order-to-erp-ts]
path = {ts:?}
config = {{ currency = "USD" }}

[plugins.counter]
path = {counter:?}
instances = "reuse"
reuse_max = 100

[destinations.out]
url = "{out}"

[[routes]]
match = "store/order/*"
plugin = "order-to-erp-ts"
to = ["out"]

[[routes]]
match = "count"
plugin = "counter"
to = ["out"]
"#,
        ts = ts.display().to_string(),
        counter = counter.display().to_string(),
        out = dest.url("/out"),
    );
    let gw = TestGateway::start(&table).await.unwrap();
    let order = crate::support::bigcommerce("store/order/created", json!({"type": "order", "id": 250}));
    assert_eq!(gw.post("bigcommerce", &order).await.status(), 200);
    let got = dest.wait_for(1).await.remove(0).json();
    assert_eq!((got["order_number"].as_str(), got["record_type"].as_str()), (Some("250"), Some("sales_order")));

    let count = |mode: &str| json!({"scope": "count", "mode": mode}).to_string();
    for n in 1..=3 {
        assert_eq!(gw.post("test", &count("count")).await.status(), 200);
        let got = dest.wait_for(1 + n).await;
        assert_eq!(got[n].json()["n"], n, "module state kept between events");
    }
    assert_eq!(gw.post("test", &count("trap")).await.status(), 200);
    let metrics = gw.gateway.metrics.clone();
    crate::support::eventually("the trap counted", || metrics.plugin_failures("trap") == 1).await;
    assert_eq!(gw.post("test", &count("count")).await.status(), 200);
    let got = dest.wait_for(5).await;
    assert_eq!(got[4].json()["n"], 1, "a trapped instance is replaced by a fresh one");
    gw.stop().await;
}
