//! `switchyard plugin run PLUGIN.wasm`: one call of a plugin, with the real runtime and its
//! limits, outside a gateway — a plugin author's loop, and a test in their own CI with
//! `--expect` (a golden JSON of the actions: exit 1 on any difference).
//!
//! The event is a file (`--event`: `{"scope", "source", "body", "headers", "params"}`) or a
//! platform's sample (`--sample bigcommerce:store/order/created`, the same samples `send`
//! makes), dated 2023-11-14T22:13:20Z with id `evt_sample` so a golden file stays valid. It
//! prints the actions (JSON bodies pretty-printed), the kv writes, the requests made, the
//! duration and the peak memory; the plugin's log lines go to stderr as the gateway's would.
//!
//! `--http FIXTURE` answers the plugin's requests from a file (`plugin::HttpFixture`) instead
//! of the network, after the same `allowed_hosts` checks; a request it has no answer for fails
//! the run. The requests made are part of the report, and so of what `--expect` compares.

use crate::config::model::PluginSpec;
use crate::plugin::{
    Action, CallContext, CompiledPlugin, ComponentCache, FetchOutcome, FetchRecord, HttpFixture, MemoryKv,
    PluginEngine, PluginEvent as Event,
};
use crate::queue::{KvOp, KvWrite};
use anyhow::Context;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// `plugin run`'s options, as the command line gives them.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The plugin component (.wasm).
    pub plugin: PathBuf,
    /// The event: a JSON file with `scope`, `source`, `body` (JSON or a string), `headers` and
    /// `params` (objects).
    #[arg(long, conflicts_with = "sample", required_unless_present = "sample")]
    pub event: Option<PathBuf>,
    /// A platform's sample event, `KIND:SCOPE` (kinds as routes.toml names providers).
    #[arg(long)]
    pub sample: Option<String>,
    /// A config entry for the plugin, `key=value`, given as text (the plugin reads JSON values
    /// with `config::json`, as for non-strings in routes.toml); repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// An `allowed_hosts` entry; repeatable.
    #[arg(long = "allow-host", value_name = "URL")]
    pub allow_host: Vec<String>,
    /// The plugin's kv state before the call: a JSON object of key to string value.
    #[arg(long)]
    pub kv: Option<PathBuf>,
    /// Answer the plugin's HTTP requests from this file instead of the network (TOML:
    /// `[[answer]]` with method, url, headers to match; status, response_headers, body, json
    /// or body_file). A request it has no answer for fails the run.
    #[arg(long, value_name = "FIXTURE")]
    pub http: Option<PathBuf>,
    /// Compare the actions (and the requests made, if any) with this golden JSON and exit 1 on
    /// a difference.
    #[arg(long)]
    pub expect: Option<PathBuf>,
    #[arg(long, default_value_t = 1000)]
    pub timeout_ms: u64,
    #[arg(long, default_value_t = 64)]
    pub memory_mb: u64,
}

/// The time samples are dated, so outputs are repeatable.
const SAMPLE_NOW: i64 = 1_700_000_000;

pub async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let event = match (&args.event, &args.sample) {
        (Some(file), _) => event_from_file(file)?,
        (None, Some(sample)) => sample_event(sample)?,
        (None, None) => anyhow::bail!("give --event FILE or --sample KIND:SCOPE"),
    };
    let spec = spec(&args)?;
    let bytes = std::fs::read(&args.plugin).with_context(|| format!("cannot read {}", args.plugin.display()))?;
    let engine = PluginEngine::new().map_err(|e| anyhow::anyhow!("{e:#}")).context("cannot create the wasm engine")?;
    let cache = ComponentCache::new(ComponentCache::default_dir(&crate::config::process_env));
    let loading = std::time::Instant::now();
    let (plugin, outcome) = {
        let (engine, spec) = (engine.clone(), spec.clone());
        tokio::task::spawn_blocking(move || cache.load(&engine, &spec, &bytes)).await??
    };
    eprintln!("loaded {} ({outcome:?}) in {:.0} ms", args.plugin.display(), loading.elapsed().as_secs_f64() * 1e3);
    let kv = initial_kv(args.kv.as_deref())?;
    let fixture = match &args.http {
        Some(file) => Some(Arc::new(HttpFixture::load(file)?)),
        None => None,
    };
    let ctx = CallContext { kv: Some(Arc::new(kv)), http_fixture: fixture, ..CallContext::default() };
    call_and_report(&plugin, &event, ctx, args.expect.as_deref()).await
}

async fn call_and_report(
    plugin: &CompiledPlugin,
    event: &Event,
    ctx: CallContext,
    expect: Option<&Path>,
) -> anyhow::Result<bool> {
    let (fetches, memory) = (ctx.fetches.clone(), ctx.peak_memory.clone());
    let started = std::time::Instant::now();
    let result = plugin.call(event, ctx).await;
    let took = started.elapsed();
    let requests = fetches.records();
    for f in &requests {
        println!("fetch: {} {} → {:?} in {} ms", f.method, f.url, f.outcome, f.took.as_millis());
    }
    let unanswered: Vec<&FetchRecord> = requests.iter().filter(|f| f.outcome == FetchOutcome::NotInFixture).collect();
    for f in &unanswered {
        println!("error: no answer in the fixture matches {} {}", f.method, f.url);
    }
    let peak = memory.load(Ordering::Relaxed);
    // A failed call reports its kind (`retry-later`, `failed`, …): a golden file may expect it.
    let mut report = match result {
        Ok(outcome) => json!({ "actions": outcome.actions.iter().map(action_json).collect::<Vec<_>>(),
                               "kv": outcome.kv.iter().map(kv_json).collect::<Vec<_>>() }),
        Err(e) => {
            println!("error ({}): {e}", e.kind());
            json!({ "error": e.kind() })
        }
    };
    if !requests.is_empty() {
        report["requests"] = requests.iter().map(request_json).collect();
    }
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    println!("took {:.2} ms, peak memory {:.1} MiB", took.as_secs_f64() * 1e3, peak as f64 / 1048576.0);
    if !unanswered.is_empty() {
        return Ok(false);
    }
    let Some(expect) = expect else { return Ok(report.get("error").is_none()) };
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(expect).with_context(|| format!("cannot read {}", expect.display()))?,
    )
    .with_context(|| format!("{} is not JSON", expect.display()))?;
    let mut got = report;
    if want.get("kv").is_none()
        && let Some(fields) = got.as_object_mut()
    {
        fields.remove("kv");
    }
    if got == want {
        println!("matches {}", expect.display());
        return Ok(true);
    }
    println!("DIFFERS from {}:\n  expected: {}\n  got:      {}", expect.display(), want, got);
    Ok(false)
}

/// An action as the report and golden files show it: JSON bodies parsed.
fn action_json(action: &Action) -> Value {
    let body = |b: &[u8]| {
        serde_json::from_slice::<Value>(b).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into()))
    };
    match action {
        Action::Forward(f) => json!({ "forward": {
            "destination": f.destination, "headers": f.headers, "body": f.body.as_deref().map(body) } }),
        Action::Emit(e) => json!({ "emit": { "scope": e.scope, "body": body(&e.body) } }),
        Action::Drop(reason) => json!({ "drop": reason }),
    }
}

/// A request as the report shows it: what was asked, and the status it got.
fn request_json(f: &FetchRecord) -> Value {
    let status = match &f.outcome {
        FetchOutcome::Answered(status) => json!(status),
        other => json!(other.label()),
    };
    json!({ "method": f.method, "url": f.url, "status": status })
}

fn kv_json(w: &KvWrite) -> Value {
    match &w.op {
        KvOp::Set { value, ttl_ms } => {
            json!({ "set": w.key, "value": String::from_utf8_lossy(value), "ttl_ms": ttl_ms })
        }
        KvOp::Delete => json!({ "delete": w.key }),
        KvOp::Add(n) => json!({ "increment": w.key, "by": n }),
    }
}

/// A plugin spec with the command line's settings, and the config defaults for the rest.
fn spec(args: &RunArgs) -> anyhow::Result<PluginSpec> {
    let mut toml = format!(
        "[sources.s]\nprovider = \"generic\"\n\n[plugins.plugin]\npath = {:?}\ntimeout_ms = {}\nmemory_mb = {}\n",
        args.plugin.display().to_string(),
        args.timeout_ms,
        args.memory_mb
    );
    let hosts: Vec<String> = args.allow_host.iter().map(|h| format!("{h:?}")).collect();
    toml.push_str(&format!("allowed_hosts = [{}]\n[plugins.plugin.config]\n", hosts.join(", ")));
    for entry in &args.config {
        let (k, v) = entry.split_once('=').with_context(|| format!("--config {entry:?} is not key=value"))?;
        toml.push_str(&format!("{:?} = {:?}\n", k, v));
    }
    let config = crate::config::load_str(Path::new("plugin-run.toml"), &toml, &crate::config::process_env)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    config.plugins.get("plugin").cloned().context("internal: the plugin spec is missing")
}

fn initial_kv(file: Option<&Path>) -> anyhow::Result<MemoryKv> {
    let Some(file) = file else { return Ok(MemoryKv::default()) };
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let map: std::collections::BTreeMap<String, Value> =
        serde_json::from_str(&text).with_context(|| format!("{} is not a JSON object", file.display()))?;
    let value = |v: Value| match v {
        Value::String(s) => s.into_bytes(),
        other => other.to_string().into_bytes(),
    };
    Ok(MemoryKv(map.into_iter().map(|(k, v)| (k, value(v))).collect()))
}

fn event_from_file(file: &Path) -> anyhow::Result<Event> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let doc: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let str_of = |k: &str, default: &str| doc.get(k).and_then(Value::as_str).unwrap_or(default).to_string();
    let pairs = |k: &str| -> Vec<(String, String)> {
        doc.get(k)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_lowercase(), v.as_str().map_or_else(|| v.to_string(), String::from)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let body = match doc.get("body") {
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
        None => Vec::new(),
    };
    Ok(Event {
        id: str_of("id", "evt_sample"),
        source: str_of("source", "sample"),
        scope: str_of("scope", "sample"),
        route: str_of("route", "sample"),
        params: doc.get("params").and_then(Value::as_object).map_or_else(Vec::new, |m| {
            m.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), String::from))).collect()
        }),
        headers: pairs("headers"),
        body,
        received_at_ms: (SAMPLE_NOW as u64) * 1000,
    })
}

/// A platform's sample webhook as an event: `KIND:SCOPE`.
fn sample_event(sample: &str) -> anyhow::Result<Event> {
    let (kind, scope) =
        sample.split_once(':').context("--sample is KIND:SCOPE, like bigcommerce:store/order/created")?;
    let toml = format!("[sources.sample]\nprovider = {kind:?}\n");
    let config =
        crate::config::load_str(Path::new("sample.toml"), &toml, &|_| None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let request = super::send::Request {
        source: "sample".into(),
        scope: Some(scope.to_string()),
        data: None,
        url: Some("http://sample".into()),
    };
    let sample = super::send::build(&config, &request, SAMPLE_NOW, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")?;
    let mut headers: Vec<(String, String)> = sample.headers.into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect();
    headers.sort();
    Ok(Event {
        id: "evt_sample".into(),
        source: kind.to_string(),
        scope: sample.scope,
        route: "sample".into(),
        params: Vec::new(),
        headers,
        body: sample.body,
        received_at_ms: (SAMPLE_NOW as u64) * 1000,
    })
}
