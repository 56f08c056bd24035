//! A client of BigCommerce's webhook management API (`/stores/{store_hash}/v3/hooks`) for one
//! store: list, create, update and delete hooks, with `X-Auth-Token`.
//!
//! It paces itself by the platform's rate-limit headers: when `X-Rate-Limit-Requests-Left`
//! reaches 0 the next request waits `X-Rate-Limit-Time-Reset-Ms`, and a 429 is waited out the
//! same way and sent again. A 5xx or a connection failure is retried with backoff, except for a
//! create (it may have been carried out: the next plan sees it). All of that waiting is bounded
//! by a deadline the caller gives (one command, one check while serving): a wait past it fails
//! at once with a clear error rather than hanging. Answers are read for what is needed only, as
//! leniently as BigCommerce's spec allows (any `meta`, a hook without `is_active`, pages without
//! `total_pages`), and at most [`MAX_HOOKS`] hooks are held per store. Errors name the store
//! hash; the token is never in a message or a log line. This file only speaks the API: what to
//! change is `plan.rs`'s decision.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Tries of one request that meets 429s, 5xx answers or connection failures.
const TRIES: u32 = 6;
/// Longest wait a rate-limit header may ask for.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// How long one command (or one check while serving) waits on BigCommerce in all.
pub const PATIENCE: Duration = Duration::from_secs(120);
/// The most hooks read from one store: far more than its documented scopes times a few
/// destinations, so a store listing more is answering wrongly.
pub const MAX_HOOKS: usize = 10_000;
/// Each request's deadline.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Hooks asked for per page.
const PAGE: usize = 250;
/// The most bytes of an error answer kept for its message.
const ERROR_BODY: usize = 512;
/// The most bytes of an answer read at all (a page of 250 hooks is far less).
const MAX_ANSWER: usize = 8 << 20;

/// A registered hook, as the API shows it: only `id` is needed, the rest has defaults (the
/// spec requires none of it in a list; `is_active` is true unless said otherwise, as for a new
/// hook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    pub id: i64,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub destination: String,
    #[serde(default = "active")]
    pub is_active: bool,
    #[serde(default, deserialize_with = "headers_or_null")]
    pub headers: BTreeMap<String, String>,
}

fn active() -> bool {
    true
}

fn headers_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

/// What a create or an update sends.
#[derive(Debug, Clone, Serialize)]
pub struct HookBody<'a> {
    pub scope: &'a str,
    pub destination: &'a str,
    pub is_active: bool,
    pub headers: &'a BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("store {store}: the access token was refused ({status})")]
    Unauthorized { store: String, status: u16 },
    #[error("store {store}: BigCommerce refused the request ({status}): {detail}")]
    Refused { store: String, status: u16, detail: String },
    #[error("store {store}: BigCommerce did not answer: {detail}")]
    Unreachable { store: String, detail: String },
    #[error("store {store}: an answer that is not a hooks envelope: {detail}")]
    Malformed { store: String, detail: String },
    #[error(
        "store {store}: BigCommerce asked to wait {asked:?} more (its rate limit), past the {limit:?} one command waits in all: try again later"
    )]
    OutOfPatience { store: String, asked: Duration, limit: Duration },
    #[error("store {store}: it lists more than {limit} hooks, more than this gateway reads from one store")]
    TooManyHooks { store: String, limit: usize },
}

/// A page of the hook list: its hooks, and how many pages there are when it says.
#[derive(Deserialize)]
struct Page {
    data: Vec<Hook>,
    #[serde(default)]
    meta: serde_json::Value,
}

impl Page {
    fn total_pages(&self) -> Option<u64> {
        self.meta.pointer("/pagination/total_pages")?.as_u64()
    }
}

/// The API of one store.
pub struct Api {
    http: reqwest::Client,
    base: url::Url,
    store: String,
    token: String,
    /// Requests wait until this instant (the rate limit's window reset).
    not_before: Mutex<Option<Instant>>,
    /// No waiting goes past this: the command (or check) it serves gives up then.
    deadline: Instant,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("base", &self.base.as_str()).field("store", &self.store).finish_non_exhaustive()
    }
}

impl Api {
    /// A client that gives up waiting at `deadline`.
    pub fn new(http: reqwest::Client, base: url::Url, store: &str, token: &str, deadline: Instant) -> Self {
        let (store, token) = (store.to_string(), token.to_string());
        Self { http, base, store, token, not_before: Mutex::new(None), deadline }
    }

    pub fn store(&self) -> &str {
        &self.store
    }

    /// Every hook of the store, all pages: until a page says it is the last, or (when pages do
    /// not say how many there are) until a page is not full.
    pub async fn list(&self) -> Result<Vec<Hook>, ApiError> {
        let mut hooks = Vec::new();
        for page in 1u64.. {
            let path = format!("hooks?page={page}&limit={PAGE}");
            let answer: Page = self.call(reqwest::Method::GET, &path, None::<&()>).await?;
            let (count, pages) = (answer.data.len(), answer.total_pages());
            if hooks.len() + count > MAX_HOOKS {
                return Err(ApiError::TooManyHooks { store: self.store.clone(), limit: MAX_HOOKS });
            }
            hooks.extend(answer.data);
            let last = match pages {
                Some(pages) => page >= pages,
                None => count < PAGE,
            };
            if last || count == 0 {
                break;
            }
        }
        Ok(hooks)
    }

    /// Registers a hook. The answer is not read beyond its status: the spec allows any `meta`,
    /// and the docs show it with and without a `data` wrapper.
    pub async fn create(&self, body: &HookBody<'_>) -> Result<(), ApiError> {
        self.call::<serde::de::IgnoredAny>(reqwest::Method::POST, "hooks", Some(body)).await.map(drop)
    }

    pub async fn update(&self, id: i64, body: &HookBody<'_>) -> Result<(), ApiError> {
        self.call::<serde::de::IgnoredAny>(reqwest::Method::PUT, &format!("hooks/{id}"), Some(body)).await.map(drop)
    }

    pub async fn delete(&self, id: i64) -> Result<(), ApiError> {
        self.call::<serde::de::IgnoredAny>(reqwest::Method::DELETE, &format!("hooks/{id}"), None::<&()>).await.map(drop)
    }

    /// One request, paced and retried; its JSON answer.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ApiError> {
        let url = self.url(path)?;
        let retries_failures = method != reqwest::Method::POST;
        let mut backoff = Duration::from_millis(500);
        for attempt in 1..=TRIES {
            self.wait_for_window().await;
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.unreachable(format!("no answer within the {PATIENCE:?} one command waits")));
            }
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .timeout(TIMEOUT.min(left))
                .header("X-Auth-Token", &self.token)
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(body) = body {
                let json = serde_json::to_vec(body)
                    .map_err(|e| ApiError::Malformed { store: self.store.clone(), detail: e.to_string() })?;
                request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(json);
            }
            let last = attempt == TRIES;
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) if !last && retries_failures => {
                    tracing::debug!(store = %self.store, "BigCommerce request failed, trying again: {e}");
                    self.sleep(backoff).await;
                    backoff *= 2;
                    continue;
                }
                Err(e) => return Err(self.unreachable(without_url(&e))),
            };
            let status = response.status().as_u16();
            let reset = header_ms(&response, "X-Rate-Limit-Time-Reset-Ms");
            if header_ms(&response, "X-Rate-Limit-Requests-Left") == Some(Duration::ZERO) {
                self.hold_until(reset.unwrap_or(Duration::from_secs(1))).await?;
            }
            match status {
                200..=299 => {
                    let bytes = self.read(response).await?;
                    let bytes = if bytes.is_empty() { &b"null"[..] } else { &bytes[..] };
                    return serde_json::from_slice(bytes)
                        .map_err(|e| ApiError::Malformed { store: self.store.clone(), detail: e.to_string() });
                }
                429 if !last => {
                    let wait = reset.unwrap_or(Duration::from_secs(1));
                    tracing::info!(store = %self.store, wait_ms = wait.as_millis() as u64, "BigCommerce rate limit reached; waiting");
                    self.hold_until(wait).await?;
                }
                500..=599 if !last && retries_failures => {
                    self.sleep(backoff).await;
                    backoff *= 2;
                }
                401 | 403 => return Err(ApiError::Unauthorized { store: self.store.clone(), status }),
                _ => {
                    let bytes = self.read(response).await.unwrap_or_default();
                    let detail = detail(&String::from_utf8_lossy(&bytes));
                    return Err(ApiError::Refused { store: self.store.clone(), status, detail });
                }
            }
        }
        Err(self.unreachable("no answer after every try".into()))
    }

    /// An answer's body, at most [`MAX_ANSWER`] bytes.
    async fn read(&self, mut response: reqwest::Response) -> Result<Vec<u8>, ApiError> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unreachable(without_url(&e)))? {
            if body.len() + chunk.len() > MAX_ANSWER {
                let detail = format!("an answer over {MAX_ANSWER} bytes");
                return Err(ApiError::Malformed { store: self.store.clone(), detail });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn url(&self, path: &str) -> Result<url::Url, ApiError> {
        let base = self.base.as_str().trim_end_matches('/');
        let text = format!("{base}/stores/{}/v3/{path}", self.store);
        url::Url::parse(&text).map_err(|e| ApiError::Malformed { store: self.store.clone(), detail: e.to_string() })
    }

    async fn wait_for_window(&self) {
        let until = *self.not_before.lock().await;
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    /// Holds every request until `wait` (at most [`MAX_WAIT`]) has passed; refused at once when
    /// the wait asked for ends past the deadline, since nothing could be sent then.
    async fn hold_until(&self, wait: Duration) -> Result<(), ApiError> {
        let now = Instant::now();
        if now.checked_add(wait).is_none_or(|asked| asked > self.deadline) {
            return Err(ApiError::OutOfPatience { store: self.store.clone(), asked: wait, limit: PATIENCE });
        }
        let until = now + wait.min(MAX_WAIT);
        let mut not_before = self.not_before.lock().await;
        *not_before = Some(not_before.map_or(until, |t| t.max(until)));
        Ok(())
    }

    /// Sleeps `wait`, or until the deadline if that comes first.
    async fn sleep(&self, wait: Duration) {
        tokio::time::sleep_until((Instant::now() + wait).min(self.deadline)).await;
    }

    fn unreachable(&self, detail: String) -> ApiError {
        ApiError::Unreachable { store: self.store.clone(), detail }
    }
}

/// A header holding milliseconds (or a count), as BigCommerce's rate-limit headers do.
fn header_ms(response: &reqwest::Response, name: &str) -> Option<Duration> {
    let value = response.headers().get(name)?.to_str().ok()?.trim().parse::<u64>().ok()?;
    Some(Duration::from_millis(value))
}

/// What an error answer says: BigCommerce's `title` and `errors`, else the start of the body.
fn detail(text: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(text).ok();
    let said = parsed.as_ref().and_then(|v| {
        let title = v.get("title").and_then(|t| t.as_str())?;
        let errors = v.get("errors").filter(|e| e.as_object().is_some_and(|o| !o.is_empty()));
        Some(match errors {
            Some(errors) => format!("{title} {errors}"),
            None => title.to_string(),
        })
    });
    let mut out = said.unwrap_or_else(|| text.to_string());
    if out.len() > ERROR_BODY {
        let mut end = ERROR_BODY;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    crate::telemetry::Escaped(&out).to_string()
}

/// A reqwest error without its URL (the URL holds the store hash, which the error names
/// already, and nothing else worth repeating).
fn without_url(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        parts.insert(0, "timed out".into());
    }
    if parts.is_empty() { "request failed".into() } else { parts.join(": ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_answer_says_what_bigcommerce_said_and_is_bounded() {
        let text = r#"{"status":422,"title":"Invalid scope","type":"about:blank","errors":{"scope":"unknown"}}"#;
        assert_eq!(detail(text), r#"Invalid scope {"scope":"unknown"}"#);
        assert_eq!(detail("plain text"), "plain text");
        assert!(detail(&"x".repeat(5000)).len() <= ERROR_BODY + 3);
    }

    #[test]
    fn hooks_read_with_and_without_headers() {
        let text = r#"{"id":1,"scope":"store/order/*","destination":"https://gw/hooks/bc","is_active":false,"headers":null,"client_id":"c","store_hash":"s","created_at":1,"updated_at":2}"#;
        let hook: Result<Hook, _> = serde_json::from_str(text);
        assert_eq!(hook.map(|h| (h.id, h.is_active, h.headers.len())).ok(), Some((1, false, 0)));
    }

    #[test]
    fn a_hook_needs_only_its_id_and_a_page_any_meta() {
        let hook: Result<Hook, _> = serde_json::from_str(r#"{"id":7,"scope":"store/order/*"}"#);
        assert_eq!(hook.map(|h| (h.id, h.is_active, h.destination)).ok(), Some((7, true, String::new())));
        for meta in [r#""meta":null"#, r#""meta":{}"#, r#""meta":{"pagination":{"total":1}}"#, r#""meta":[1]"#] {
            let page: Result<Page, _> = serde_json::from_str(&format!(r#"{{"data":[{{"id":1}}],{meta}}}"#));
            assert_eq!(page.map(|p| p.total_pages()).ok(), Some(None), "{meta}");
        }
        let page: Result<Page, _> = serde_json::from_str(r#"{"data":[],"meta":{"pagination":{"total_pages":3}}}"#);
        assert_eq!(page.map(|p| p.total_pages()).ok(), Some(Some(3)));
    }
}
