//! A fake BigCommerce webhook management API (`/stores/{store_hash}/v3/hooks`) on 127.0.0.1,
//! for tests only, with the documented shapes: the `data`/`meta` envelope with pagination,
//! hooks with `id`, `client_id`, `store_hash`, `scope`, `destination`, `headers`, `is_active`,
//! `created_at`, `updated_at`; `X-Auth-Token` checked (401); 422 for a missing or invalid
//! scope or a destination that is not https on port 443; and a rate limit, announced on every
//! answer with `X-Rate-Limit-Requests-Left` and `X-Rate-Limit-Time-Reset-Ms`, and answered 429
//! past it. Knobs make it misbehave within what the spec allows (`Loose`: answers without the
//! `data` wrapper, `meta: null`, hooks without `is_active`, pages without `total_pages`) and
//! beyond it (a rate limit asking to wait for ever, endless pages, a scope it refuses).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A hook the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub id: i64,
    pub scope: String,
    pub destination: String,
    pub is_active: bool,
    pub headers: BTreeMap<String, String>,
}

impl Hook {
    fn json(&self, store: &str) -> Value {
        json!({
            "id": self.id, "client_id": "switchyard-tests", "store_hash": store, "scope": self.scope,
            "destination": self.destination, "headers": self.headers, "is_active": self.is_active,
            "events_history_enabled": false, "created_at": 1_700_000_000, "updated_at": 1_700_000_000,
        })
    }
}

#[derive(Default)]
struct State_ {
    tokens: HashMap<String, String>,
    hooks: HashMap<String, Vec<Hook>>,
    next_id: i64,
    /// Requests allowed per window; 0 is unlimited.
    quota: u32,
    window: Duration,
    window_start: Option<Instant>,
    used: u32,
    throttled: u64,
    /// Writes (POST, PUT, DELETE) that were carried out.
    writes: u64,
    misbehaving: Misbehaving,
}

/// How the fake strays from its usual answers.
#[derive(Debug, Clone, Default)]
pub struct Misbehaving {
    /// Answers as loosely as the spec allows: creates and updates without the `data` wrapper
    /// and with `meta: null`, listed hooks without `is_active`, pages without `total_pages`.
    pub loose: bool,
    /// Every request is answered 429 with this `X-Rate-Limit-Time-Reset-Ms`.
    pub throttle_for_ms: Option<u64>,
    /// Every list page holds this many made-up hooks and says there are `.1` pages.
    pub endless: Option<(usize, u64)>,
    /// Creates of these scopes are refused with 422, as for a scope the platform does not take.
    pub refused_scopes: Vec<String>,
}

type Shared = Arc<Mutex<State_>>;

pub struct FakeHooksApi {
    pub addr: SocketAddr,
    state: Shared,
}

impl FakeHooksApi {
    /// Serves stores `(store_hash, token)`, with no rate limit.
    pub async fn start(stores: &[(&str, &str)]) -> Self {
        let state = State_ {
            tokens: stores.iter().map(|(s, t)| (s.to_string(), t.to_string())).collect(),
            next_id: 100,
            window: Duration::from_millis(500),
            ..Default::default()
        };
        let state: Shared = Arc::new(Mutex::new(state));
        let app = Router::new()
            .route("/stores/{store}/v3/hooks", get(list).post(create))
            .route("/stores/{store}/v3/hooks/{id}", get(one).put(update).delete(delete))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, state }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State_> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// At most `quota` requests per `window`; past it, 429 until the window resets.
    pub fn rate_limit(&self, quota: u32, window: Duration) {
        let mut s = self.lock();
        (s.quota, s.window) = (quota, window);
    }

    pub fn hooks(&self, store: &str) -> Vec<Hook> {
        self.lock().hooks.get(store).cloned().unwrap_or_default()
    }

    /// Registers a hook as someone else would (another app, or by hand).
    pub fn add(&self, store: &str, scope: &str, destination: &str, is_active: bool) -> i64 {
        let mut s = self.lock();
        s.next_id += 1;
        let id = s.next_id;
        let hook =
            Hook { id, scope: scope.into(), destination: destination.into(), is_active, headers: BTreeMap::new() };
        s.hooks.entry(store.to_string()).or_default().push(hook);
        id
    }

    /// What BigCommerce does after failed deliveries: `is_active` becomes false.
    pub fn deactivate(&self, store: &str, scope: &str) {
        let mut s = self.lock();
        for hook in s.hooks.entry(store.to_string()).or_default().iter_mut().filter(|h| h.scope == scope) {
            hook.is_active = false;
        }
    }

    pub fn throttled(&self) -> u64 {
        self.lock().throttled
    }

    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    pub fn misbehave(&self, misbehaving: Misbehaving) {
        self.lock().misbehaving = misbehaving;
    }
}

fn problem(status: StatusCode, title: &str, errors: Value) -> Response {
    let body = json!({
        "status": status.as_u16(), "title": title, "errors": errors,
        "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
    });
    (status, Json(body)).into_response()
}

/// Checks the token and the rate limit; on success, the rate-limit headers for the answer.
fn admit(state: &Shared, store: &str, headers: &HeaderMap) -> Result<HeaderMap, Box<Response>> {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let token = headers.get("x-auth-token").and_then(|v| v.to_str().ok());
    if s.tokens.get(store).map(String::as_str) != token || token.is_none() {
        return Err(Box::new(problem(
            StatusCode::UNAUTHORIZED,
            "You are not authorized to access this store",
            json!({}),
        )));
    }
    if let Some(reset) = s.misbehaving.throttle_for_ms {
        s.throttled += 1;
        let mut response = problem(StatusCode::TOO_MANY_REQUESTS, "Too many requests", json!({}));
        let headers = response.headers_mut();
        headers.insert("x-rate-limit-requests-left", HeaderValue::from_static("0"));
        if let Ok(value) = HeaderValue::from_str(&reset.to_string()) {
            headers.insert("x-rate-limit-time-reset-ms", value);
        }
        return Err(Box::new(response));
    }
    let now = Instant::now();
    let start = *s.window_start.get_or_insert(now);
    if now.duration_since(start) >= s.window {
        s.window_start = Some(now);
        s.used = 0;
    }
    let reset = s.window.saturating_sub(now.duration_since(s.window_start.unwrap_or(now)));
    let mut out = HeaderMap::new();
    let quota = if s.quota == 0 { 10_000 } else { s.quota };
    let limited = s.quota > 0 && s.used >= s.quota;
    if !limited {
        s.used += 1;
    }
    let left = quota.saturating_sub(s.used);
    for (name, value) in [
        ("x-rate-limit-requests-quota", quota.to_string()),
        ("x-rate-limit-requests-left", left.to_string()),
        ("x-rate-limit-time-window-ms", s.window.as_millis().to_string()),
        ("x-rate-limit-time-reset-ms", reset.as_millis().to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(name, value);
        }
    }
    if limited {
        s.throttled += 1;
        let mut response = problem(StatusCode::TOO_MANY_REQUESTS, "Too many requests", json!({}));
        response.headers_mut().extend(out);
        return Err(Box::new(response));
    }
    Ok(out)
}

fn with(headers: HeaderMap, status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().extend(headers);
    response
}

#[derive(serde::Deserialize)]
struct Page {
    page: Option<usize>,
    limit: Option<usize>,
}

async fn list(
    State(state): State<Shared>,
    Path(store): Path<String>,
    Query(q): Query<Page>,
    headers: HeaderMap,
) -> Response {
    let rate = match admit(&state, &store, &headers) {
        Ok(rate) => rate,
        Err(response) => return *response,
    };
    let s = state.lock().unwrap_or_else(|p| p.into_inner());
    let (page, limit) = (q.page.unwrap_or(1).max(1), q.limit.unwrap_or(50).clamp(1, 250));
    if let Some((per_page, pages)) = s.misbehaving.endless {
        let data: Vec<Value> = (0..per_page)
            .map(|i| {
                Hook {
                    id: (page * per_page + i) as i64,
                    scope: "store/product/updated".into(),
                    destination: format!("https://x.example.com/{i}"),
                    is_active: true,
                    headers: BTreeMap::new(),
                }
                .json(&store)
            })
            .collect();
        let meta = json!({ "pagination": { "total_pages": pages, "current_page": page } });
        return with(rate, StatusCode::OK, json!({ "data": data, "meta": meta }));
    }
    let all = s.hooks.get(&store).cloned().unwrap_or_default();
    let pages = all.len().div_ceil(limit).max(1);
    let mut data: Vec<Value> = all.iter().skip((page - 1) * limit).take(limit).map(|h| h.json(&store)).collect();
    if s.misbehaving.loose {
        for hook in &mut data {
            if hook["is_active"] == true
                && let Some(fields) = hook.as_object_mut()
            {
                fields.remove("is_active");
            }
        }
        let meta = json!({ "pagination": { "total": all.len(), "count": data.len(), "per_page": limit, "current_page": page } });
        return with(rate, StatusCode::OK, json!({ "data": data, "meta": meta }));
    }
    let meta = json!({ "pagination": {
        "total": all.len(), "count": data.len(), "per_page": limit, "current_page": page, "total_pages": pages,
        "links": { "current": format!("?page={page}&limit={limit}") },
    }});
    with(rate, StatusCode::OK, json!({ "data": data, "meta": meta }))
}

/// A created hook's answer: wrapped as the spec's example, or (loose) bare, as the docs show it.
fn created(rate: HeaderMap, loose: bool, hook: Value) -> Response {
    with(rate, StatusCode::OK, if loose { hook } else { json!({ "data": hook, "meta": {} }) })
}

/// An updated hook's answer: with `meta: {}`, or (loose) `meta: null`, which the spec allows.
fn updated(rate: HeaderMap, loose: bool, hook: Value) -> Response {
    with(rate, StatusCode::OK, json!({ "data": hook, "meta": if loose { Value::Null } else { json!({}) } }))
}

async fn one(State(state): State<Shared>, Path((store, id)): Path<(String, i64)>, headers: HeaderMap) -> Response {
    let rate = match admit(&state, &store, &headers) {
        Ok(rate) => rate,
        Err(response) => return *response,
    };
    let s = state.lock().unwrap_or_else(|p| p.into_inner());
    match s.hooks.get(&store).and_then(|hooks| hooks.iter().find(|h| h.id == id)) {
        Some(hook) => with(rate, StatusCode::OK, json!({ "data": hook.json(&store), "meta": {} })),
        None => problem(StatusCode::NOT_FOUND, "The requested resource was not found", json!({})),
    }
}

/// The port written in an https URL, if any.
fn url_port(url: &str) -> Option<u16> {
    let authority = url.trim_start_matches("https://").split(['/', '?']).next()?;
    authority.rsplit_once(':')?.1.parse().ok()
}

/// The fields of a create or an update.
struct Fields {
    scope: Option<String>,
    destination: Option<String>,
    is_active: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// The fields of a create or update, checked as BigCommerce checks them.
fn fields(body: &Value, create: bool) -> Result<Fields, Box<Response>> {
    let mut errors = serde_json::Map::new();
    let scope = body.get("scope").and_then(|v| v.as_str()).map(str::to_string);
    match &scope {
        None if create => drop(errors.insert("scope".into(), "scope is required".into())),
        Some(s) if !s.starts_with("store/") => drop(errors.insert("scope".into(), "scope is not a valid scope".into())),
        _ => {}
    }
    let destination = body.get("destination").and_then(|v| v.as_str()).map(str::to_string);
    match &destination {
        None if create => drop(errors.insert("destination".into(), "destination is required".into())),
        Some(d) if !d.starts_with("https://") || url_port(d).is_some_and(|p| p != 443) => {
            drop(errors.insert("destination".into(), "destination must be an https URL on port 443".into()))
        }
        _ => {}
    }
    let headers = match body.get("headers") {
        None | Some(Value::Null) => None,
        Some(v) => match serde_json::from_value::<BTreeMap<String, String>>(v.clone()) {
            Ok(h) => Some(h),
            Err(_) => {
                errors.insert("headers".into(), "headers must be an object of strings".into());
                None
            }
        },
    };
    if !errors.is_empty() {
        let title = "JSON data is missing or invalid";
        return Err(Box::new(problem(StatusCode::UNPROCESSABLE_ENTITY, title, Value::Object(errors))));
    }
    Ok(Fields { scope, destination, is_active: body.get("is_active").and_then(|v| v.as_bool()), headers })
}

async fn create(State(state): State<Shared>, Path(store): Path<String>, headers: HeaderMap, body: String) -> Response {
    let rate = match admit(&state, &store, &headers) {
        Ok(rate) => rate,
        Err(response) => return *response,
    };
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let Fields { scope, destination, is_active, headers: hook_headers } = match fields(&body, true) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(scope) = scope.as_ref().filter(|scope| s.misbehaving.refused_scopes.contains(scope)) {
        let errors = json!({ "scope": format!("{scope} is not a valid scope") });
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "JSON data is missing or invalid", errors);
    }
    s.next_id += 1;
    s.writes += 1;
    let hook = Hook {
        id: s.next_id,
        scope: scope.unwrap_or_default(),
        destination: destination.unwrap_or_default(),
        is_active: is_active.unwrap_or(true),
        headers: hook_headers.unwrap_or_default(),
    };
    let json = hook.json(&store);
    s.hooks.entry(store).or_default().push(hook);
    created(rate, s.misbehaving.loose, json)
}

async fn update(
    State(state): State<Shared>,
    Path((store, id)): Path<(String, i64)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let rate = match admit(&state, &store, &headers) {
        Ok(rate) => rate,
        Err(response) => return *response,
    };
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let Fields { scope, destination, is_active, headers: hook_headers } = match fields(&body, false) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    s.writes += 1;
    let Some(hook) = s.hooks.get_mut(&store).and_then(|hooks| hooks.iter_mut().find(|h| h.id == id)) else {
        return problem(StatusCode::NOT_FOUND, "The requested resource was not found", json!({}));
    };
    if let Some(scope) = scope {
        hook.scope = scope;
    }
    if let Some(destination) = destination {
        hook.destination = destination;
    }
    if let Some(is_active) = is_active {
        hook.is_active = is_active;
    }
    if let Some(h) = hook_headers {
        hook.headers = h;
    }
    let json = hook.json(&store);
    let loose = s.misbehaving.loose;
    updated(rate, loose, json)
}

async fn delete(State(state): State<Shared>, Path((store, id)): Path<(String, i64)>, headers: HeaderMap) -> Response {
    let rate = match admit(&state, &store, &headers) {
        Ok(rate) => rate,
        Err(response) => return *response,
    };
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let hooks = s.hooks.entry(store.clone()).or_default();
    let Some(at) = hooks.iter().position(|h| h.id == id) else {
        return problem(StatusCode::NOT_FOUND, "The requested resource was not found", json!({}));
    };
    let hook = hooks.remove(at);
    s.writes += 1;
    with(rate, StatusCode::OK, json!({ "data": hook.json(&store), "meta": {} }))
}
