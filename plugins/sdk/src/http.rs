//! Outbound HTTP from a plugin, over the standard `wasi:http/outgoing-handler`: the gateway
//! sends each request only to the plugin's `allowed_hosts`, within its fetch limits.
//!
//! ```ignore
//! let order = http::get(&url).header("X-Auth-Token", &token).send()?.retry_on_server_error()?.json()?;
//! ```
//!
//! `?` on a [`FetchError`] gives the right plugin error: a network failure or a timeout is
//! `retry-later`; a request the gateway refused (a host not allowed, an internal address) is
//! `fail`, with the host in the message, so the event is dead-lettered at once.

use crate::Error;
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::bindings::wasi::io::streams::StreamError;

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FetchError {
    /// The gateway did not send it: the host is not in `allowed_hosts`, it resolves to an
    /// internal address, or the call made `max_fetches` requests already.
    Refused { url: String, why: String },
    /// The URL is not `http://` or `https://` with a host.
    InvalidUrl(String),
    /// The response body is larger than `max_fetch_body`.
    TooLarge { url: String },
    /// No answer: DNS, connection, TLS, timeout.
    Network { url: String, why: String },
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Refused { url, why } => write!(f, "fetch of {url} refused by the gateway: {why}"),
            FetchError::InvalidUrl(url) => write!(f, "`{url}` is not an http:// or https:// URL"),
            FetchError::TooLarge { url } => write!(f, "the response of {url} is larger than max_fetch_body"),
            FetchError::Network { url, why } => write!(f, "fetch of {url} failed: {why}"),
        }
    }
}

impl From<FetchError> for Error {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Network { .. } => Error::RetryLater(e.to_string()),
            _ => Error::Fail(e.to_string()),
        }
    }
}

/// A request being built.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
}

/// A GET of `url`.
pub fn get(url: &str) -> Request {
    Request::new(Method::Get, url)
}

/// A POST of `body` to `url`.
pub fn post(url: &str, body: impl Into<Vec<u8>>) -> Request {
    Request::new(Method::Post, url).body(body)
}

impl Request {
    pub fn new(method: Method, url: &str) -> Self {
        Self { method, url: url.to_string(), headers: Vec::new(), body: None }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.as_bytes().to_vec()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sends the request and reads the whole response.
    pub fn send(self) -> Result<Response, FetchError> {
        let url = self.url.clone();
        let network = |why: String| FetchError::Network { url: url.clone(), why };
        let (scheme, authority, path) = split(&url).ok_or_else(|| FetchError::InvalidUrl(url.clone()))?;
        let fields = Fields::from_list(&self.headers).map_err(|e| network(format!("bad header: {e:?}")))?;
        let request = OutgoingRequest::new(fields);
        let ok = request.set_method(&self.method).is_ok()
            && request.set_scheme(Some(&scheme)).is_ok()
            && request.set_authority(Some(authority)).is_ok()
            && request.set_path_with_query(Some(path)).is_ok();
        if !ok {
            return Err(FetchError::InvalidUrl(url));
        }
        let body = request.body().map_err(|()| network("no request body".into()))?;
        let pending = outgoing_handler::handle(request, None).map_err(|code| classify(&url, code))?;
        if let Some(bytes) = &self.body {
            let stream = body.write().map_err(|()| network("cannot write the request body".into()))?;
            for chunk in bytes.chunks(4096) {
                stream.blocking_write_and_flush(chunk).map_err(|e| network(format!("writing the body: {e:?}")))?;
            }
            drop(stream);
        }
        OutgoingBody::finish(body, None).map_err(|code| classify(&url, code))?;
        let response = loop {
            match pending.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(code))) => return Err(classify(&url, code)),
                Some(Err(())) => return Err(network("the response was taken twice".into())),
                None => pending.subscribe().block(),
            }
        };
        let status = response.status();
        let headers = response.headers().entries();
        let incoming = response.consume().map_err(|()| network("no response body".into()))?;
        let body = read_all(&url, &incoming)?;
        Ok(Response { url, status, headers, body })
    }
}

/// Reads a response body to its end; the stream is dropped before its body, as WASI requires.
fn read_all(url: &str, incoming: &IncomingBody) -> Result<Vec<u8>, FetchError> {
    let stream =
        incoming.stream().map_err(|()| FetchError::Network { url: url.into(), why: "no body stream".into() })?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                let why = e.to_debug_string();
                return Err(if why.contains("body size") {
                    FetchError::TooLarge { url: url.into() }
                } else {
                    FetchError::Network { url: url.into(), why }
                });
            }
        }
    }
    Ok(body)
}

/// The gateway's refusals are permanent; everything else may pass.
fn classify(url: &str, code: ErrorCode) -> FetchError {
    match code {
        ErrorCode::HttpRequestDenied => FetchError::Refused {
            url: url.into(),
            why: "the host is not in allowed_hosts (or max_fetches was reached)".into(),
        },
        ErrorCode::DestinationIpProhibited => {
            let why = "the host resolves to an internal address that allowed_hosts does not name, or to the gateway's own listener";
            FetchError::Refused { url: url.into(), why: why.into() }
        }
        ErrorCode::HttpResponseBodySize(_) => FetchError::TooLarge { url: url.into() },
        ErrorCode::HttpRequestUriInvalid => FetchError::InvalidUrl(url.into()),
        other => FetchError::Network { url: url.into(), why: format!("{other:?}") },
    }
}

/// `(scheme, authority, path-with-query)` of an absolute http(s) URL.
fn split(url: &str) -> Option<(Scheme, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        _ => return None,
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let at = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(at);
    let path = if path.is_empty() { "/" } else { path };
    (!authority.is_empty()).then_some((scheme, authority, path))
}

/// A response, read whole.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Response {
    pub url: String,
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    /// `Err(retry-later)` for 429 and 5xx: the upstream is busy or down, try the event later.
    pub fn retry_on_server_error(self) -> Result<Self, Error> {
        if self.status == 429 || self.status >= 500 {
            return Err(Error::RetryLater(format!("{} answered {}", self.url, self.status)));
        }
        Ok(self)
    }

    /// The body parsed as JSON, or `Err(fail)` saying why not.
    pub fn json(&self) -> Result<serde_json::Value, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Fail(format!("{} answered with a body that is not JSON: {e}", self.url)))
    }

    /// A response header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}
