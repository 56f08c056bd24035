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
//!
//! A test's call (`plugin run --http`, `switchyard test`) answers from a fixture file instead
//! (`fixture.rs`), after the same checks, and sends nothing.

use crate::telemetry::Escaped;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

mod connect;
mod fixture;
mod outcome;
mod policy;

pub use connect::OwnListeners;
pub use fixture::{Canned, FixtureError, HttpFixture};
pub use outcome::{FetchLog, FetchOutcome, FetchRecord};
pub use policy::{FetchPolicy, is_internal};

use connect::{ConnectError, Connector};
use outcome::Failure;
use policy::Target;

/// Redirects followed for one request (GET and HEAD only).
pub const MAX_REDIRECTS: usize = 5;

/// Request headers dropped when a redirect leaves the origin they were sent to.
const CREDENTIAL_HEADERS: [http::HeaderName; 3] =
    [http::header::AUTHORIZATION, http::header::COOKIE, http::header::PROXY_AUTHORIZATION];

/// Idle connections a plugin keeps per host, and how long.
const IDLE_PER_HOST: usize = 32;
const IDLE_FOR: Duration = Duration::from_secs(30);
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
    /// Answers instead of the network, when the call is a test's.
    fixture: Option<Arc<HttpFixture>>,
}

impl Fetcher {
    pub fn new(fetch: Arc<FetchClient>, log: Arc<FetchLog>, plugin: Arc<str>, event_id: Arc<str>) -> Self {
        Self { fetch, log, started: 0, plugin, event_id, fixture: None }
    }

    /// Answers every request the policy allows from `fixture`, sending nothing.
    pub fn answering_from(mut self, fixture: Option<Arc<HttpFixture>>) -> Self {
        self.fixture = fixture;
        self
    }

    pub fn log(&self) -> &Arc<FetchLog> {
        &self.log
    }

    /// Refuses a request before anything is sent: recorded, logged, and `HttpRequestDenied`
    /// for the guest.
    fn refuse(&self, method: &str, target: &str, url: &str, why: String) -> SendFuture {
        tracing::warn!(
            target: "plugin",
            plugin = %self.plugin,
            event_id = %self.event_id,
            host = %Escaped(target),
            "fetch refused: {why}"
        );
        let outcome = FetchOutcome::Refused(why);
        let (method, target, url) = (method.into(), target.into(), url.into());
        self.log.record(FetchRecord { method, target, url, outcome, took: Duration::ZERO });
        Box::new(async { Err(HttpError::HttpRequestDenied) })
    }

    /// The fixture's answer to an allowed request; none is a refusal the log names.
    fn answer(&self, fixture: &HttpFixture, request: &http::Request<WasiBody>, target: &Target) -> SendFuture {
        let (method, url) = (request.method().to_string(), request.uri().to_string());
        let Some(canned) = fixture.answer(&method, &url, request.headers()) else {
            tracing::warn!(target: "plugin", plugin = %self.plugin, url = %Escaped(&url), "no answer in the fixture matches {method}");
            let (target, outcome) = (target.to_string(), FetchOutcome::NotInFixture);
            self.log.record(FetchRecord { method, target, url, outcome, took: Duration::ZERO });
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        };
        let outcome = FetchOutcome::Answered(canned.status);
        self.log.record(FetchRecord { method, target: target.to_string(), url, outcome, took: Duration::ZERO });
        let mut response = http::Response::new(
            http_body_util::Full::new(Bytes::from(canned.body)).map_err(|never| match never {}).boxed_unsync(),
        );
        *response.status_mut() = http::StatusCode::from_u16(canned.status).unwrap_or(http::StatusCode::OK);
        for (name, value) in canned.headers {
            if let (Ok(name), Ok(value)) =
                (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(&value))
            {
                response.headers_mut().append(name, value);
            }
        }
        let io: IoFuture = Box::new(async { Ok(()) });
        Box::new(async move { Ok((response, io)) })
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
        let (method, url) = (request.method().to_string(), request.uri().to_string());
        let target = match Target::of(request.uri()) {
            Ok(target) => target,
            Err(why) => return self.refuse(&method, &url, &url, why),
        };
        let policy = self.fetch.policy();
        if self.started >= policy.max_fetches {
            let why = format!("the call already made max_fetches = {} requests", policy.max_fetches);
            return self.refuse(&method, &target.to_string(), &url, why);
        }
        if let Err(why) = policy.allows(&target) {
            return self.refuse(&method, &target.to_string(), &url, why);
        }
        self.started += 1;
        if let Some(fixture) = self.fixture.clone() {
            return self.answer(&fixture, &request, &target);
        }
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
            log.record(FetchRecord { method, target: target.to_string(), url, outcome, took });
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
        FetchOutcome::NotInFixture => {}
    }
}

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
