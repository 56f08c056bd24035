//! What a plugin costs by the language it is written in, and what its capabilities cost:
//!
//! - per event: `order-to-erp` in Rust (a fresh instance), TypeScript and Python (fresh, and
//!   with `instances = "reuse"`);
//! - loading: compiling each component (the first load) against reading it back from the
//!   plugin cache (every later start);
//! - fetch: a plugin's GET through wasi:http and the allow-list, against the same GET made by
//!   the host with reqwest, both to an axum server on loopback; the plugin's call without the
//!   fetch is measured too, so the fetch's own cost is the difference.
//!
//! The TypeScript and Python components are the ones the end-to-end tests build
//! (target/plugins/polyglot); the benchmarks that need them say so and are skipped when they
//! are missing. Run: `cargo test -p switchyard-e2e --test e2e polyglot` once, then
//! `cargo bench -p switchyard --bench languages`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use switchyard::config::model::{AllowedHost, Instances, PluginSpec};
use switchyard::plugin::{CallContext, CompiledPlugin, ComponentCache, PluginEngine, PluginEvent as Event};

fn polyglot(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins/polyglot").join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: {} is not built (run the polyglot end-to-end tests first)", path.display());
        None
    }
}

fn spec(name: &str, path: &Path, instances: Instances, allowed_hosts: Vec<AllowedHost>) -> PluginSpec {
    PluginSpec {
        name: name.into(),
        path: path.into(),
        timeout: Duration::from_millis(500),
        memory_bytes: 64 << 20,
        max_output: 1 << 20,
        max_emits: 100,
        allowed_hosts,
        fetch_timeout: Duration::from_secs(10),
        max_fetches: 10,
        max_fetch_body: 4 << 20,
        call_timeout: Duration::from_secs(30),
        kv_max_value: 64 << 10,
        kv_max_keys: 100_000,
        kv_max_writes: 1_000,
        kv_max_pending: 1 << 20,
        instances,
        config: vec![("currency".into(), "USD".into())],
    }
}

fn compiled(engine: &Arc<PluginEngine>, spec: &PluginSpec) -> Arc<CompiledPlugin> {
    let bytes = std::fs::read(&spec.path).unwrap_or_else(|e| panic!("{}: {e}", spec.path.display()));
    Arc::new(CompiledPlugin::new(engine, spec, &bytes).unwrap_or_else(|e| panic!("{e}")))
}

fn event(body: serde_json::Value) -> Event {
    Event {
        id: "evt_bench".into(),
        source: "bigcommerce".into(),
        scope: "store/order/created".into(),
        route: "orders".into(),
        params: vec![],
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(&body).unwrap_or_default(),
        received_at_ms: 0,
    }
}

fn order() -> Event {
    event(serde_json::json!({
        "scope": "store/order/created", "store_id": "1025646",
        "data": { "type": "order", "id": 250 },
        "hash": "dd70c0976e06b67aaf671e73f49dcb79230ebf9d", "created_at": 1561479335,
        "producer": "stores/abc123",
    }))
}

/// The three order-to-erp plugins: (label, path) for those that are built.
fn order_to_erp() -> Vec<(&'static str, PathBuf)> {
    let mut all = vec![("rust", PathBuf::from(switchyard_plugin_artifacts::ORDER_TO_ERP))];
    all.extend(polyglot("order-to-erp-ts.wasm").map(|p| ("typescript", p)));
    all.extend(polyglot("order-to-erp-py.wasm").map(|p| ("python", p)));
    all
}

fn per_event(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let engine = PluginEngine::new().unwrap_or_else(|e| panic!("engine: {e:#}"));
    let event = order();
    let mut group = c.benchmark_group("per event: order-to-erp");
    for (language, path) in order_to_erp() {
        let modes: &[(&str, Instances)] = if language == "rust" {
            &[("fresh", Instances::Fresh)]
        } else {
            &[("fresh", Instances::Fresh), ("reuse", Instances::Reuse { max: 1_000 })]
        };
        for (mode, instances) in modes {
            let plugin = compiled(&engine, &spec("order-to-erp", &path, *instances, vec![]));
            group.bench_function(format!("{language}, {mode}"), |b| {
                b.to_async(&rt).iter(|| async {
                    let out = plugin.call(&event, CallContext::default()).await;
                    assert!(out.is_ok(), "{language}: {:?}", out.err());
                })
            });
        }
    }
    group.finish();
}

fn loading(c: &mut Criterion) {
    let engine = PluginEngine::new().unwrap_or_else(|e| panic!("engine: {e:#}"));
    let mut group = c.benchmark_group("load: order-to-erp");
    group.sample_size(10);
    for (language, path) in order_to_erp() {
        let spec = spec("order-to-erp", &path, Instances::Fresh, vec![]);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        group.bench_function(format!("{language}, first load (compile)"), |b| {
            b.iter(|| CompiledPlugin::new(&engine, &spec, &bytes).unwrap_or_else(|e| panic!("{e}")))
        });
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cache = ComponentCache::new(Some(dir.path().to_path_buf()));
        cache.load(&engine, &spec, &bytes).unwrap_or_else(|e| panic!("{e}"));
        group.bench_function(format!("{language}, cached load"), |b| {
            b.iter(|| cache.load(&engine, &spec, &bytes).unwrap_or_else(|e| panic!("{e}")))
        });
    }
    group.finish();
}

/// An HTTP server on loopback answering every GET with a small JSON body; its address.
async fn upstream() -> std::net::SocketAddr {
    let app = axum::Router::new().fallback(|| async { r#"{"id":250,"status":"Awaiting Fulfillment"}"# });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn fetch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let addr = rt.block_on(upstream());
    let url = format!("http://{addr}/v2/orders/250");
    let engine = PluginEngine::new().unwrap_or_else(|e| panic!("engine: {e:#}"));
    let allowed: AllowedHost = format!("http://{addr}").parse().unwrap_or_else(|e| panic!("{e:?}"));
    let path = PathBuf::from(switchyard_plugin_artifacts::STATEFUL);
    let plugin = compiled(&engine, &spec("stateful", &path, Instances::Fresh, vec![allowed]));
    let fetching = event(serde_json::json!({ "mode": "fetch", "url": url }));
    let echo = event(serde_json::json!({ "mode": "echo" }));
    let client = reqwest::Client::new();

    let mut group = c.benchmark_group("fetch");
    group.bench_function("host: reqwest GET", |b| {
        b.to_async(&rt).iter(|| async {
            let got = client.get(&url).send().await.and_then(|r| r.error_for_status());
            let body = match got {
                Ok(r) => r.bytes().await,
                Err(e) => panic!("{e}"),
            };
            assert!(body.is_ok_and(|b| !b.is_empty()));
        })
    });
    group.bench_function("plugin: call without a fetch", |b| {
        b.to_async(&rt).iter(|| async { assert!(plugin.call(&echo, CallContext::default()).await.is_ok()) })
    });
    group.bench_function("plugin: call with one fetch", |b| {
        b.to_async(&rt).iter(|| async {
            let ctx = CallContext::default();
            let log = ctx.fetches.clone();
            assert!(plugin.call(&fetching, ctx).await.is_ok());
            assert_eq!(log.records().len(), 1);
        })
    });
    group.finish();
}

criterion_group!(benches, per_event, loading, fetch);
criterion_main!(benches);
