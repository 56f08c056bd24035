//! Per-event plugin cost: fresh instance + `handle` + drop, for the example ERP plugin, one
//! event at a time and from 64 concurrent tasks, against a bare call of the same shape with no
//! wasm (the baseline).
//!
//! Run: `cargo bench -p switchyard --bench plugin`

use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard::config::model::PluginSpec;
use switchyard::plugin::{CallContext, CompiledPlugin, PluginEngine, PluginEvent as Event};

fn event() -> Event {
    let body = serde_json::json!({
        "scope": "store/order/created", "store_id": "1025646",
        "data": { "type": "order", "id": 250 },
        "hash": "dd70c0976e06b67aaf671e73f49dcb79230ebf9d", "created_at": 1561479335,
        "producer": "stores/abc123",
    });
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

fn plugin() -> Arc<CompiledPlugin> {
    let engine = PluginEngine::new().unwrap_or_else(|e| panic!("engine: {e:#}"));
    let path = switchyard_plugin_artifacts::ORDER_TO_ERP;
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let spec = PluginSpec {
        name: "order-to-erp".into(),
        path: path.into(),
        timeout: Duration::from_millis(50),
        memory_bytes: 32 << 20,
        max_output: 1 << 20,
        max_emits: 100,
        allowed_hosts: vec![],
        fetch_timeout: Duration::from_secs(10),
        max_fetches: 10,
        max_fetch_body: 4 << 20,
        call_timeout: Duration::from_secs(30),
        kv_max_value: 64 << 10,
        kv_max_keys: 100_000,
        kv_max_writes: 1_000,
        kv_max_pending: 1 << 20,
        instances: switchyard::config::model::Instances::Fresh,
        config: vec![("currency".into(), "USD".into())],
    };
    Arc::new(CompiledPlugin::new(&engine, &spec, &bytes).unwrap_or_else(|e| panic!("{e}")))
}

fn per_event(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let plugin = plugin();
    let event = event();
    // Baseline: the host-side work every event does anyway (clone the event, parse its JSON).
    c.bench_function("baseline: clone + parse event", |b| {
        b.iter(|| {
            let e = event.clone();
            std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&e.body).ok())
        })
    });
    c.bench_function("plugin: instantiate + handle (order-to-erp)", |b| {
        b.to_async(&rt).iter(|| async {
            std::hint::black_box(plugin.call(&event, CallContext::default()).await.ok());
        })
    });
    c.bench_function("plugin: 64 concurrent tasks, per event", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let plugin = plugin.clone();
            let event = event.clone();
            async move {
                let start = Instant::now();
                let per_task = iters.div_ceil(64);
                let tasks: Vec<_> = (0..64)
                    .map(|_| {
                        let (p, e) = (plugin.clone(), event.clone());
                        tokio::spawn(async move {
                            for _ in 0..per_task {
                                std::hint::black_box(p.call(&e, CallContext::default()).await.ok());
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    let _ = t.await;
                }
                start.elapsed().mul_f64(iters as f64 / (per_task * 64) as f64)
            }
        })
    });
}

criterion_group!(benches, per_event);
criterion_main!(benches);
