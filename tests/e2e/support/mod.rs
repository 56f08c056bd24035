//! `TestGateway` (a real gateway on 127.0.0.1:0 with a temp routes.toml) and `TestDestination`
//! (a real HTTP or HTTPS server that records what it receives and answers with a settable
//! status); `tls` makes certificates at test time; `browser` drives a headless Chromium.
//!
//! Waiting is always for an observable outcome with a bound, never a fixed sleep.

pub mod bigcommerce;
pub mod bigcommerce_hooks;
pub mod brokers;
pub mod browser;
pub mod child;
pub mod pg;
pub mod polyglot;
pub mod tls;
pub mod toml;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchyard::app::{Gateway, Options};
use tokio::sync::Notify;

/// The longest any test waits for something that should take milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Paths of the built plugins, for writing routes.toml files.
pub mod wasm {
    pub use switchyard_plugin_artifacts::{
        BAD_IMPORT, BIGCOMMERCE_ENRICH, CHAOS, ENVELOPE, FILTER, HOSTILE, LEGACY_V1, LEGACY_V2, ORDER_TO_ERP, STATEFUL,
    };
}

/// Installs a test log subscriber once (RUST_LOG controls it; quiet by default).
pub fn logs() {
    switchyard::telemetry::init_for_tests();
}

/// A gateway serving a routes.toml written into its own temp directory.
pub struct TestGateway {
    pub gateway: Gateway,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    watch: bool,
}

impl TestGateway {
    /// Starts a gateway on `toml`, which may use `{wasm:NAME}` for a built plugin's path.
    pub async fn start(toml: &str) -> anyhow::Result<Self> {
        Self::start_with(toml, false).await
    }

    pub async fn start_with(toml: &str, watch: bool) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("routes.toml"), expand(toml))?;
        Self::start_in(dir, watch).await
    }

    /// Starts a gateway on the routes.toml already in `dir` (a file or a symlink), with its
    /// plugin cache in `dir/cache`.
    pub async fn start_in(dir: tempfile::TempDir, watch: bool) -> anyhow::Result<Self> {
        Self::launch(dir, watch, None).await
    }

    /// Starts a gateway on the routes.toml already in `dir`, with its admin listener.
    pub async fn start_in_with_admin(dir: tempfile::TempDir) -> anyhow::Result<Self> {
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::launch(dir, false, Some(admin)).await
    }

    /// Starts a gateway on `toml` with its admin listener on 127.0.0.1 (see [`Self::admin_url`]).
    pub async fn start_with_admin(toml: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("routes.toml"), expand(toml))?;
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::launch(dir, false, Some(admin)).await
    }

    async fn launch(
        dir: tempfile::TempDir,
        watch: bool,
        admin: Option<tokio::net::TcpListener>,
    ) -> anyhow::Result<Self> {
        logs();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let config = dir.path().join("routes.toml");
        let options = Options { config, cache_dir: Some(dir.path().join("cache")), watch, admin };
        let gateway = Gateway::start(options, listener).await?;
        Ok(Self { gateway, dir, client: reqwest::Client::new(), watch })
    }

    /// Stops this gateway and starts a new one on the same directory, config and cache.
    pub async fn restart(self) -> anyhow::Result<Self> {
        let Self { gateway, dir, watch, .. } = self;
        gateway.stop().await;
        Self::start_in(dir, watch).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway.ingest_addr)
    }

    /// A URL on the admin listener; panics when the gateway runs none.
    pub fn admin_url(&self, path: &str) -> String {
        match self.gateway.admin_addr {
            Some(addr) => format!("http://{addr}{path}"),
            None => panic!("this gateway has no admin listener: start it with `start_with_admin`"),
        }
    }

    /// POSTs `body` to `/hooks/{source}` with JSON content type.
    pub async fn post(&self, source: &str, body: &str) -> reqwest::Response {
        self.post_with(source, body, &[]).await
    }

    pub async fn post_with(&self, source: &str, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(&format!("/hooks/{source}")))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        match request.send().await {
            Ok(r) => r,
            Err(e) => panic!("POST /hooks/{source} failed: {e}"),
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("routes.toml")
    }

    pub async fn stop(self) {
        self.gateway.stop().await;
    }
}

/// `[sources.NAME]`: a generic source whose body's `scope` field names the event, unsigned —
/// the source most tests post to. Further keys of the table may follow it.
pub fn generic_source(name: &str) -> String {
    format!("[sources.{name}]\nprovider = \"generic\"\nscope_field = \"scope\"\n")
}

/// Waits (at most [`PATIENCE`]) until the gateway holds at least `n` dead letters; returns
/// them, newest first.
pub async fn dead_letters(gw: &TestGateway, n: usize) -> Vec<switchyard::queue::DeadLetter> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let dead = gw.gateway.store.dead_letters(n.max(100)).await.unwrap_or_default();
        if dead.len() >= n {
            return dead;
        }
        assert!(tokio::time::Instant::now() < deadline, "expected {n} dead letters within {PATIENCE:?}, got {dead:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `switchyard ARGS…` in this process through the library, as the binary does; says
/// whether it succeeded (the command's own verdict), and panics when it cannot run at all.
pub async fn cli(args: &[&str]) -> bool {
    use clap::Parser;
    let cli = switchyard::cli::Cli::try_parse_from(std::iter::once("switchyard").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    switchyard::cli::run(cli).await.unwrap_or_else(|e| panic!("switchyard {args:?}: {e:#}"))
}

/// Replaces `{wasm:NAME}` with the path of the built plugin NAME.
pub fn expand(toml: &str) -> String {
    toml.replace("{wasm:order-to-erp}", wasm::ORDER_TO_ERP)
        .replace("{wasm:envelope}", wasm::ENVELOPE)
        .replace("{wasm:filter}", wasm::FILTER)
        .replace("{wasm:chaos}", wasm::CHAOS)
        .replace("{wasm:bad-import}", wasm::BAD_IMPORT)
        .replace("{wasm:hostile}", wasm::HOSTILE)
        .replace("{wasm:bigcommerce-enrich}", wasm::BIGCOMMERCE_ENRICH)
        .replace("{wasm:stateful}", wasm::STATEFUL)
        .replace("{wasm:legacy-v1}", wasm::LEGACY_V1)
        .replace("{wasm:legacy-v2}", wasm::LEGACY_V2)
}

/// One request a destination received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// When it arrived (before any configured delay).
    pub at: std::time::Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    arrived: Notify,
    status: AtomicU16,
    /// Each answer waits this long, plus up to `jitter_ms` more (varying per request).
    delay_ms: AtomicU64,
    jitter_ms: AtomicU64,
    /// Every n-th request is answered 503 (0: none).
    fail_every: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// An HTTP destination on 127.0.0.1 that records every request.
#[derive(Clone)]
pub struct TestDestination {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, or `https://HOST:PORT` for a TLS destination.
    base: String,
    inner: Arc<Inner>,
}

impl TestDestination {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let inner = Arc::new(Inner { status: AtomicU16::new(200), ..Default::default() });
        let app = Router::new().route("/{*path}", post(record).get(record)).with_state(inner.clone());
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("cannot bind a test destination: {e}"),
        };
        let addr = listener.local_addr().expect("no local addr");
        match tls {
            None => drop(tokio::spawn(async move { axum::serve(listener, app).await })),
            Some(acceptor) => drop(tokio::spawn(serve_tls(listener, acceptor, app))),
        }
        Self { addr, base: format!("http://{addr}"), inner }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answer every later request with `status`.
    pub fn answer(&self, status: u16) {
        self.inner.status.store(status, Ordering::SeqCst);
    }

    /// Answer every later request after `ms`, plus up to `jitter_ms` more that varies from one
    /// request to the next.
    pub fn delay(&self, ms: u64, jitter_ms: u64) {
        self.inner.delay_ms.store(ms, Ordering::SeqCst);
        self.inner.jitter_ms.store(jitter_ms, Ordering::SeqCst);
    }

    /// Answer every `n`-th request 503, whatever the status set (0 stops it).
    pub fn fail_every(&self, n: u64) {
        self.inner.fail_every.store(n, Ordering::SeqCst);
    }

    /// The most requests it has held at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits until at least `n` requests have arrived (or [`PATIENCE`] runs out) and returns all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let notified = self.inner.arrived.notified();
            let now = self.received();
            if now.len() >= n {
                return now;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("expected {n} deliveries within {PATIENCE:?}, got {}: {:#?}", now.len(), now);
            }
        }
    }

    /// Waits until a request satisfying `check` has arrived (or [`PATIENCE`] runs out) and
    /// returns the first such; only requests not yet looked at are examined on each wake-up.
    pub async fn wait_for_one(&self, what: &str, check: impl Fn(&Received) -> bool) -> Received {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut seen = 0;
        loop {
            let notified = self.inner.arrived.notified();
            let fresh: Option<Received> = match self.inner.received.lock() {
                Ok(r) => {
                    let found = r[seen.min(r.len())..].iter().find(|x| check(x)).cloned();
                    seen = r.len();
                    found
                }
                Err(_) => None,
            };
            if let Some(found) = fresh {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("expected a delivery of {what} within {PATIENCE:?}");
            }
        }
    }

    /// Received requests whose path is `path`.
    pub fn at(&self, path: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.path == path).collect()
    }
}

/// Serves `app` over TLS, one task per connection; failed handshakes are the test's point,
/// so they are only dropped.
async fn serve_tls(listener: tokio::net::TcpListener, acceptor: tokio_rustls::TlsAcceptor, app: Router) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(stream).await else { return };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn record(
    State(inner): State<Arc<Inner>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let at = std::time::Instant::now();
    let n = match inner.received.lock() {
        Ok(mut r) => {
            r.push(Received { path: uri.path().to_string(), headers, body: body.to_vec(), at });
            r.len() as u64
        }
        Err(_) => 0,
    };
    inner.arrived.notify_waiters();
    let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    inner.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let (delay, jitter) = (inner.delay_ms.load(Ordering::SeqCst), inner.jitter_ms.load(Ordering::SeqCst));
    if delay + jitter > 0 {
        // A spread that varies per request without a random source: Knuth's multiplicative hash.
        let spread = if jitter == 0 { 0 } else { n.wrapping_mul(2_654_435_761) % (jitter + 1) };
        tokio::time::sleep(Duration::from_millis(delay + spread)).await;
    }
    inner.in_flight.fetch_sub(1, Ordering::SeqCst);
    let every = inner.fail_every.load(Ordering::SeqCst);
    if every > 0 && n % every == 0 {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    StatusCode::from_u16(inner.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
}

pub use switchyard_test_harness::free_port;

/// A server that takes TCP connections and never says a word (a hung broker or collector, or
/// a firewall that lets SYNs through): its port, how many connections it took, and its task.
/// Connections are held open, at most 1000.
pub async fn silent_listener() -> (u16, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().map(|a| a.port()).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while held.len() < 1000 {
            let Ok((stream, _)) = listener.accept().await else { return };
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (port, accepted, task)
}

pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A BigCommerce webhook body, as the docs show it.
pub fn bigcommerce(scope: &str, data: serde_json::Value) -> String {
    serde_json::json!({
        "scope": scope,
        "store_id": "1025646",
        "data": data,
        "hash": "dd70c0976e06b67aaf671e73f49dcb79230ebf9d",
        "created_at": 1561479335,
        "producer": "stores/abc123",
    })
    .to_string()
}
