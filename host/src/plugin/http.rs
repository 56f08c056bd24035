//! Outbound HTTP for plugins: the host side of `wasi:http/outgoing-handler`, deciding every
//! request a plugin makes, whatever its language (the Rust SDK, JavaScript's `fetch`, Python).
//!
//! A request goes out only to an entry of the plugin's `allowed_hosts` (scheme, host, port),
//! and only to addresses that are not internal — loopback, private, link-local, the cloud
//! metadata addresses — unless an entry names that address literally. The address checked is
//! the one connected to (the name is resolved here, once), so DNS rebinding cannot get around
//! it. Redirects of GET and HEAD requests are followed here, at most [`MAX_REDIRECTS`], each hop
//! checked again; other requests get their 3xx. Each plugin call may start `max_fetches`
//! requests; each must answer within `fetch_timeout_ms` and its body may not pass
//! `max_fetch_body` (the guest reads an error past it). Everything a refusal concerns is logged
//! with the plugin, the event and the refused host; request headers and bodies never are.
//!
//! Connections are kept alive and reused, per plugin (`FetchClient`): hyper's pooled client
//! with a connector of ours, so every new connection is resolved and checked here, and a
//! pooled one is only ever to an address that was checked when it was made.
//!
//! Waiting here does not block a runtime thread: the request runs as a task of its own, and
//! the guest is suspended on its fiber until it is ready. This file must never send a request
//! it has not checked, and never follow a redirect to a host the policy refuses.

use crate::config::allowed_host::AllowedHost;
use crate::telemetry::Escaped;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// Redirects followed for one request (GET and HEAD only).
pub const MAX_REDIRECTS: usize = 5;

/// Request headers dropped when a redirect leaves the origin they were sent to.
const CREDENTIAL_HEADERS: [http::HeaderName; 3] =
    [http::header::AUTHORIZATION, http::header::COOKIE, http::header::PROXY_AUTHORIZATION];

/// Idle connections a plugin keeps per host, and how long.
const IDLE_PER_HOST: usize = 32;
const IDLE_FOR: Duration = Duration::from_secs(30);

/// A plugin's outbound HTTP rules, from its `[plugins.NAME]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchPolicy {
    pub allowed: Vec<AllowedHost>,
    /// From the request to its response's head, redirects included.
    pub timeout: Duration,
    /// Requests one call may start.
    pub max_fetches: u32,
    /// Bytes of one response body the plugin may read.
    pub max_body: u64,
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The upstream answered with this status.
    Answered(u16),
    /// The gateway did not send it; says why (the host is not allowed, an internal address…).
    Refused(String),
    /// Sent, but no answer: DNS, connection or TLS failure.
    Failed(String),
    /// No answer within `fetch_timeout_ms`.
    TimedOut,
}

impl FetchOutcome {
    /// The label for `switchyard_plugin_fetches_total{outcome}`.
    pub fn label(&self) -> &'static str {
        match self {
            FetchOutcome::Answered(s) if *s < 400 => "ok",
            FetchOutcome::Answered(_) => "http_error",
            FetchOutcome::Refused(_) => "refused",
            FetchOutcome::Failed(_) => "failed",
            FetchOutcome::TimedOut => "timeout",
        }
    }
}

/// One request a plugin made.
#[derive(Debug, Clone)]
pub struct FetchRecord {
    pub method: String,
    /// `scheme://host:port` of the first hop.
    pub target: String,
    pub outcome: FetchOutcome,
    /// Until the response's head (or the failure).
    pub took: Duration,
}

/// What one call's requests did: filled by the request tasks, read by the caller after the call
/// (metrics, `plugin run`).
#[derive(Debug, Default)]
pub struct FetchLog {
    records: Mutex<Vec<FetchRecord>>,
}

impl FetchLog {
    fn record(&self, record: FetchRecord) {
        if let Ok(mut records) = self.records.lock() {
            records.push(record);
        }
    }

    /// The requests made, in the order they finished.
    pub fn records(&self) -> Vec<FetchRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// One plugin's outbound HTTP: its policy, and its pool of kept-alive connections.
pub struct FetchClient {
    policy: Arc<FetchPolicy>,
    client: Client<Connector, WasiBody>,
}

impl FetchClient {
    pub fn new(policy: FetchPolicy, tls: Arc<rustls::ClientConfig>, own: Arc<OwnListeners>) -> Self {
        let policy = Arc::new(policy);
        let connector = Connector { policy: policy.clone(), tls, own };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(IDLE_PER_HOST)
            .pool_idle_timeout(IDLE_FOR)
            .build(connector);
        Self { policy, client }
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }
}

impl std::fmt::Debug for FetchClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchClient").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// The `send_request` hook of one plugin instance.
pub struct Fetcher {
    fetch: Arc<FetchClient>,
    log: Arc<FetchLog>,
    started: u32,
    plugin: Arc<str>,
    event_id: Arc<str>,
}

impl Fetcher {
    pub fn new(fetch: Arc<FetchClient>, log: Arc<FetchLog>, plugin: Arc<str>, event_id: Arc<str>) -> Self {
        Self { fetch, log, started: 0, plugin, event_id }
    }

    pub fn log(&self) -> &Arc<FetchLog> {
        &self.log
    }

    /// Refuses a request before anything is sent: recorded, logged, and `HttpRequestDenied`
    /// for the guest.
    fn refuse(&self, method: &str, target: &str, why: String) -> SendFuture {
        tracing::warn!(
            target: "plugin",
            plugin = %self.plugin,
            event_id = %self.event_id,
            host = %Escaped(target),
            "fetch refused: {why}"
        );
        let outcome = FetchOutcome::Refused(why);
        self.log.record(FetchRecord { method: method.into(), target: target.into(), outcome, took: Duration::ZERO });
        Box::new(async { Err(HttpError::HttpRequestDenied) })
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendFuture = Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;

impl WasiHttpHooks for Fetcher {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        let method = request.method().to_string();
        let target = match Target::of(request.uri()) {
            Ok(target) => target,
            Err(why) => return self.refuse(&method, &request.uri().to_string(), why),
        };
        let policy = self.fetch.policy();
        if self.started >= policy.max_fetches {
            let why = format!("the call already made max_fetches = {} requests", policy.max_fetches);
            return self.refuse(&method, &target.to_string(), why);
        }
        if let Err(why) = policy.allows(&target) {
            return self.refuse(&method, &target.to_string(), why);
        }
        self.started += 1;
        let (fetch, log) = (self.fetch.clone(), self.log.clone());
        let (plugin, event_id) = (self.plugin.clone(), self.event_id.clone());
        Box::new(async move {
            let started = Instant::now();
            let sent = tokio::time::timeout(fetch.policy.timeout, send(&fetch, request)).await;
            let (result, outcome) = match sent {
                Ok(Ok(response)) => {
                    let status = response.0.status().as_u16();
                    (Ok(response), FetchOutcome::Answered(status))
                }
                Ok(Err((error, outcome))) => (Err(error), outcome),
                Err(_) => (Err(HttpError::ConnectionTimeout), FetchOutcome::TimedOut),
            };
            let took = started.elapsed();
            log_outcome(&plugin, &event_id, &method, &target.to_string(), &outcome, took);
            log.record(FetchRecord { method, target: target.to_string(), outcome, took });
            result
        })
    }
}

fn log_outcome(plugin: &str, event_id: &str, method: &str, target: &str, outcome: &FetchOutcome, took: Duration) {
    let (host, millis) = (Escaped(target), took.as_millis() as u64);
    match outcome {
        FetchOutcome::Answered(status) => {
            tracing::debug!(target: "plugin", plugin, event_id, method, %host, status, millis, "fetch answered");
        }
        FetchOutcome::Refused(why) => {
            tracing::warn!(target: "plugin", plugin, event_id, method, %host, millis, "fetch refused: {why}");
        }
        FetchOutcome::Failed(why) => {
            tracing::warn!(target: "plugin", plugin, event_id, method, %host, millis, "fetch failed: {}", Escaped(why));
        }
        FetchOutcome::TimedOut => {
            tracing::warn!(target: "plugin", plugin, event_id, method, %host, millis, "fetch timed out");
        }
    }
}

/// Where a request goes: scheme, host (lower-case, IPv6 without brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    https: bool,
    host: String,
    port: u16,
}

impl Target {
    fn of(uri: &http::Uri) -> Result<Self, String> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => return Err(format!("the scheme {other:?} is not http or https")),
        };
        let host = uri.host().ok_or("the URL has no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Self { https, host, port })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => write!(f, "{scheme}://[{ip}]:{}", self.port),
            _ => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

impl FetchPolicy {
    /// Whether an entry of `allowed_hosts` covers `target`.
    fn allows(&self, target: &Target) -> Result<(), String> {
        if self.allowed.iter().any(|a| a.covers(target.https, &target.host, target.port)) {
            return Ok(());
        }
        Err(if self.allowed.is_empty() {
            "the plugin has no allowed_hosts".to_string()
        } else {
            "the host is not in the plugin's allowed_hosts".to_string()
        })
    }

    /// Whether the gateway may connect to `ip` for `target`: any public address, and an internal
    /// one only when an entry names it literally.
    fn may_connect(&self, target: &Target, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allowed.iter().any(|a| a.names_ip(target.https, ip, target.port))
    }
}

/// Addresses a request must not reach unless named literally: loopback, private ranges,
/// link-local (the cloud metadata service at 169.254.169.254 among them), unique local IPv6
/// (fd00::/8, the AWS metadata service fd00:ec2::254), carrier-grade NAT, multicast, reserved
/// and documentation ranges, and IPv6 forms that embed any of those.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (b & 0xc0) == 64)
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b & 0xfe) == 18)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || s[..6] == [0u16; 6]
                || (s[0], s[1]) == (0x64, 0xff9b)
                || s[0] == 0x2002
                || (s[0], s[1]) == (0x2001, 0xdb8)
        }
    }
}

/// A failed request: the error the guest sees, and how it is recorded.
type Failure = (HttpError, FetchOutcome);

/// Sends `request`, following redirects of GET and HEAD within the policy.
async fn send(
    fetch: &FetchClient,
    request: http::Request<WasiBody>,
) -> Result<(http::Response<WasiBody>, IoFuture), Failure> {
    let (parts, body) = request.into_parts();
    let follows = parts.method == http::Method::GET || parts.method == http::Method::HEAD;
    let mut uri = parts.uri.clone();
    let mut headers = parts.headers;
    let mut body = Some(body);
    let mut origin = None;
    for hop in 0..=MAX_REDIRECTS {
        let target = Target::of(&uri).map_err(|why| (HttpError::HttpRequestUriInvalid, FetchOutcome::Refused(why)))?;
        if hop > 0 {
            fetch.policy.allows(&target).map_err(|why| {
                let why = format!("a redirect to {target}: {why}");
                (HttpError::HttpRequestDenied, FetchOutcome::Refused(why))
            })?;
        }
        // Credentials meant for one origin never follow a redirect to another (as curl and
        // browsers do): once the origin changes they are gone, even if it changes back.
        if origin.get_or_insert_with(|| target.clone()) != &target {
            for credential in CREDENTIAL_HEADERS {
                headers.remove(credential);
            }
        }
        let mut request = http::Request::new(body.take().unwrap_or_else(empty));
        *request.method_mut() = parts.method.clone();
        *request.headers_mut() = headers.clone();
        if hop > 0 {
            let host = uri.authority().map(|a| a.as_str().to_string()).unwrap_or_default();
            if let Ok(value) = http::HeaderValue::from_str(&host) {
                request.headers_mut().insert(http::header::HOST, value);
            }
        }
        *request.uri_mut() = uri.clone();
        let (response, io) = exchange(fetch, &target, request).await?;
        let location = response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok());
        let redirect = response.status().is_redirection() && follows && hop < MAX_REDIRECTS;
        match location.filter(|_| redirect).map(|l| resolve_location(&uri, l)) {
            Some(Ok(next)) => uri = next,
            Some(Err(why)) => return Err((HttpError::HttpRequestUriInvalid, FetchOutcome::Refused(why))),
            None => return Ok((response, io)),
        }
    }
    Err((HttpError::LoopDetected, FetchOutcome::Refused(format!("more than {MAX_REDIRECTS} redirects"))))
}

fn empty() -> WasiBody {
    Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync()
}

/// A `Location` header, absolute or relative to the URL it answered.
fn resolve_location(base: &http::Uri, location: &str) -> Result<http::Uri, String> {
    if let Ok(absolute) = location.parse::<http::Uri>()
        && absolute.scheme().is_some()
    {
        return Ok(absolute);
    }
    let (scheme, authority) = (base.scheme_str().unwrap_or("https"), base.authority().map_or("", |a| a.as_str()));
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{dir}/{location}")
    };
    format!("{scheme}://{authority}{path}").parse().map_err(|_| "a redirect to a URL that is not valid".to_string())
}

/// The addresses to connect to for `target`: every one the name resolves to must be allowed
/// (one internal address among public ones refuses the request: a rebinding answer cannot
/// slip through), and only those are connected to.
async fn resolve(policy: &FetchPolicy, target: &Target) -> Result<Vec<SocketAddr>, Failure> {
    let addrs: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| {
                let why = format!("cannot resolve {}: {e}", target.host);
                (HttpError::DnsError { rcode: Some(e.to_string()), info_code: None }, FetchOutcome::Failed(why))
            })?
            .collect(),
    };
    if addrs.is_empty() {
        let why = format!("{} resolves to no address", target.host);
        return Err((HttpError::DestinationNotFound, FetchOutcome::Failed(why)));
    }
    if let Some(internal) = addrs.iter().find(|a| !policy.may_connect(target, a.ip())) {
        let why = format!(
            "{} resolves to the internal address {}, which allowed_hosts does not name",
            target.host,
            internal.ip()
        );
        return Err((HttpError::DestinationIpProhibited, FetchOutcome::Refused(why)));
    }
    Ok(addrs)
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Makes the connections of one plugin's pool: the URL's host resolved and checked against the
/// policy (`resolve`), then TCP to an allowed address, and TLS with the URL's host name for
/// https. A refusal or failure travels to `exchange` inside a [`ConnectError`].
#[derive(Clone)]
struct Connector {
    policy: Arc<FetchPolicy>,
    tls: Arc<rustls::ClientConfig>,
    own: Arc<OwnListeners>,
}

/// The addresses the gateway itself listens on. A plugin's request never reaches them, whatever
/// its `allowed_hosts` say (`http://127.0.0.1:*` would otherwise reach the admin API, and with it
/// other plugins' state): each new connection is checked once it is made, before anything is
/// sent on it.
#[derive(Debug, Default)]
pub struct OwnListeners(std::sync::RwLock<Vec<SocketAddr>>);

impl OwnListeners {
    pub(super) fn set(&self, addrs: &[SocketAddr]) {
        if let Ok(mut own) = self.0.write() {
            *own = addrs.to_vec();
        }
    }

    /// Whether a connection from `local` to `peer` reaches one of the listeners: `peer` is on
    /// this machine (loopback, or the connection's own address) and its port is a listener's
    /// whose address is `peer`'s or unspecified (`0.0.0.0`, `::`).
    fn reached_by(&self, local: SocketAddr, peer: SocketAddr) -> Option<SocketAddr> {
        let (peer_ip, local_ip) = (peer.ip().to_canonical(), local.ip().to_canonical());
        let this_machine = peer_ip.is_loopback() || peer_ip == local_ip;
        let own = self.0.read().ok()?;
        own.iter().copied().find(|l| {
            let ip = l.ip().to_canonical();
            l.port() == peer.port() && (ip == peer_ip || (ip.is_unspecified() && this_machine))
        })
    }
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<Stream>, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let (policy, tls, own) = (self.policy.clone(), self.tls.clone(), self.own.clone());
        Box::pin(async move {
            let target = Target::of(&uri)
                .map_err(|why| ConnectError((HttpError::HttpRequestUriInvalid, FetchOutcome::Refused(why))))?;
            let addrs = resolve(&policy, &target).await.map_err(ConnectError)?;
            connect(&tls, &own, &target, &addrs).await.map(|io| TokioIo::new(Stream(io))).map_err(ConnectError)
        })
    }
}

/// Why the connector made no connection, as the guest sees it and as it is recorded.
#[derive(Debug)]
struct ConnectError(Failure);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.1 {
            FetchOutcome::Refused(why) | FetchOutcome::Failed(why) => f.write_str(why),
            other => write!(f, "{other:?}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// A connection to an upstream, plain or TLS.
struct Stream(Box<dyn Io>);

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

/// A new connection to one of `addrs`, with TLS for https; refused, before anything is sent,
/// when it reached one of the gateway's own listeners.
async fn connect(
    tls: &Arc<rustls::ClientConfig>,
    own: &OwnListeners,
    target: &Target,
    addrs: &[SocketAddr],
) -> Result<Box<dyn Io>, Failure> {
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(tcp) = tcp else {
        let e = last.map_or_else(|| "no address".to_string(), |e| e.to_string());
        return Err((HttpError::ConnectionRefused, FetchOutcome::Failed(format!("cannot connect to {target}: {e}"))));
    };
    if let (Ok(local), Ok(peer)) = (tcp.local_addr(), tcp.peer_addr())
        && let Some(listener) = own.reached_by(local, peer)
    {
        let why = format!("{target} is the gateway's own listener on {listener}, which plugins never reach");
        return Err((HttpError::DestinationIpProhibited, FetchOutcome::Refused(why)));
    }
    let _ = tcp.set_nodelay(true);
    if !target.https {
        return Ok(Box::new(tcp));
    }
    let failed =
        |error: HttpError, what: &str, e: &dyn std::fmt::Display| (error, FetchOutcome::Failed(format!("{what}: {e}")));
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|e| failed(HttpError::HttpRequestUriInvalid, "not a TLS server name", &e))?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| failed(HttpError::TlsCertificateError, "TLS", &e))?;
    Ok(Box::new(stream))
}

/// One HTTP/1.1 exchange on a pooled connection (or a new one from the connector). The
/// response body is cut off at `max_body`.
async fn exchange(
    fetch: &FetchClient,
    target: &Target,
    request: http::Request<WasiBody>,
) -> Result<(http::Response<WasiBody>, IoFuture), Failure> {
    let response = fetch.client.request(request).await.map_err(|e| {
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            if let Some(ConnectError((error, outcome))) = s.downcast_ref::<ConnectError>() {
                return (clone_error(error), outcome.clone());
            }
            source = s.source();
        }
        (HttpError::HttpProtocolError, FetchOutcome::Failed(format!("HTTP: {}", error_chain(&e))))
    })?;
    let max = fetch.policy.max_body;
    let declared = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared.filter(|n| *n > max) {
        let why = format!("{target} answered with {length} bytes, over max_fetch_body = {max}");
        return Err((HttpError::HttpResponseBodySize(Some(length)), FetchOutcome::Failed(why)));
    }
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    let response = response.map(move |body| {
        Limited::new(body, limit)
            .map_err(move |e: Box<dyn std::error::Error + Send + Sync>| {
                if e.is::<LengthLimitError>() {
                    return HttpError::HttpResponseBodySize(Some(max));
                }
                match e.downcast::<hyper::Error>() {
                    Ok(h) => HttpError::Hyper(*h),
                    Err(e) => HttpError::InternalError(Some(e.to_string())),
                }
            })
            .boxed_unsync()
    });
    // The pool's own task drives the connection: nothing is left for the guest to wait on.
    let io: IoFuture = Box::new(async { Ok(()) });
    Ok((response, io))
}

/// The guest-facing error of a failed connection (the connector's errors carry no payload
/// that cannot be rebuilt).
fn clone_error(error: &HttpError) -> HttpError {
    match error {
        HttpError::HttpRequestUriInvalid => HttpError::HttpRequestUriInvalid,
        HttpError::DestinationIpProhibited => HttpError::DestinationIpProhibited,
        HttpError::DestinationNotFound => HttpError::DestinationNotFound,
        HttpError::DnsError { rcode, info_code } => HttpError::DnsError { rcode: rcode.clone(), info_code: *info_code },
        HttpError::TlsCertificateError => HttpError::TlsCertificateError,
        HttpError::ConnectionRefused => HttpError::ConnectionRefused,
        _ => HttpError::ConnectionRefused,
    }
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn internal_addresses_are_recognised_and_public_ones_are_not() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "198.18.0.1",
        ] {
            assert!(is_internal(ip(internal)), "{internal}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "52.0.0.1"] {
            assert!(!is_internal(ip(public)), "{public}");
        }
    }

    fn policy(allowed: &[&str]) -> FetchPolicy {
        FetchPolicy {
            allowed: allowed.iter().map(|a| a.parse().unwrap_or_else(|e| panic!("{e}"))).collect(),
            timeout: Duration::from_secs(1),
            max_fetches: 1,
            max_body: 1,
        }
    }

    fn target(url: &str) -> Target {
        Target::of(&url.parse().unwrap_or_else(|e| panic!("{e}"))).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_name_allowed_by_entry_may_reach_public_addresses_but_not_internal_ones_unless_named() {
        let named = policy(&["http://localhost:8080"]);
        let t = target("http://localhost:8080/x");
        assert!(named.allows(&t).is_ok());
        assert!(!named.may_connect(&t, ip("127.0.0.1")));
        assert!(named.may_connect(&t, ip("93.184.216.34")));
        let literal = policy(&["http://localhost:8080", "http://127.0.0.1:8080"]);
        assert!(literal.may_connect(&t, ip("127.0.0.1")));
        assert!(!literal.may_connect(&target("http://localhost:9090/"), ip("127.0.0.1")), "another port");
    }

    #[test]
    fn a_host_outside_the_list_is_refused_with_the_reason() {
        assert_eq!(policy(&[]).allows(&target("https://a.com/")), Err("the plugin has no allowed_hosts".into()));
        let only = policy(&["https://api.bigcommerce.com"]);
        assert!(only.allows(&target("https://evil.example/")).is_err());
        assert_eq!(target("https://API.Example.com./p").to_string(), "https://api.example.com:443");
    }

    #[test]
    fn the_gateways_own_listeners_are_recognised_on_every_address_that_reaches_them() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap_or_else(|e| panic!("{s}: {e}"));
        let own = OwnListeners::default();
        own.set(&[addr("0.0.0.0:8080"), addr("127.0.0.1:9090")]);
        let from = addr("127.0.0.1:40000");
        assert_eq!(own.reached_by(from, addr("127.0.0.1:9090")), Some(addr("127.0.0.1:9090")));
        assert_eq!(own.reached_by(from, addr("127.0.0.1:8080")), Some(addr("0.0.0.0:8080")));
        assert_eq!(own.reached_by(from, addr("127.0.0.2:8080")), Some(addr("0.0.0.0:8080")), "all of 127/8");
        let lan = addr("10.0.0.5:41000");
        assert_eq!(
            own.reached_by(lan, addr("10.0.0.5:8080")),
            Some(addr("0.0.0.0:8080")),
            "this machine's LAN address"
        );
        assert_eq!(own.reached_by(lan, addr("10.0.0.6:8080")), None, "another machine");
        assert_eq!(own.reached_by(from, addr("127.0.0.1:9091")), None, "another port");
        assert_eq!(own.reached_by(lan, addr("10.0.0.5:9090")), None, "the admin listens on loopback only");
        let v6 = addr("[::1]:40000");
        own.set(&[addr("[::]:8080")]);
        assert_eq!(own.reached_by(v6, addr("[::1]:8080")), Some(addr("[::]:8080")));
        assert_eq!(own.reached_by(from, addr("[::ffff:127.0.0.1]:8080")), Some(addr("[::]:8080")));
    }

    #[test]
    fn relative_and_absolute_locations_resolve_against_the_url() {
        let base: http::Uri = "https://api.example.com/v2/orders/1".parse().unwrap_or_default();
        assert_eq!(
            resolve_location(&base, "/v3/x").ok().map(|u| u.to_string()),
            Some("https://api.example.com/v3/x".into())
        );
        assert_eq!(
            resolve_location(&base, "2").ok().map(|u| u.to_string()),
            Some("https://api.example.com/v2/orders/2".into())
        );
        assert_eq!(
            resolve_location(&base, "http://o.com/a").ok().map(|u| u.to_string()),
            Some("http://o.com/a".into())
        );
    }
}
