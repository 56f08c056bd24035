//! The admin listener: health, readiness, Prometheus metrics and a small JSON API, on its own
//! address (`[server] admin`, loopback by default), apart from ingest.
//!
//! - `health.rs`: `/health` (the process answers) and `/ready` (config loaded, store answering).
//! - `metrics.rs`: `/metrics`, the [`Metrics`] counters and live gauges as Prometheus text.
//! - `api.rs`: `/api/routes`, `/api/plugins`, `/api/reload` (GET the last outcome, POST to reload).
//! - `dlq.rs`: `/api/dead-letters` (GET lists) and `/api/dead-letters/replay` (POST sends again).
//! - `events.rs`: `/api/events`, the newest events with their deliveries; `/api/events/replay`
//!   runs stored events through the current routes again.
//! - `destinations.rs`: `/api/destinations` (limits, state, counts) and their pause/resume.
//! - `kv.rs`: `/api/kv/{plugin}`, plugins' key–value state (list, get, delete).
//! - `/api/subscriptions` (here): the last check of each source's registered hooks.
//! - `stream.rs`: `/api/stream`, the live feed as server-sent events (the console, `tail`);
//!   `filter.rs`: the source / scope pattern / failures-only filter it and the console share.
//! - `console/`: the operator's console at `/` — server-rendered HTML pages whose data
//!   fragments (`/console/*`) need the token like the API, and its embedded assets (`/assets/*`).
//! - `nodes.rs`: `/api/nodes`, the gateways sharing the store, from their heartbeats.
//!
//! - `guard.rs`: which requests are answered at all: a tokenless admin only for loopback `Host`
//!   names (DNS rebinding), and nothing that changes state for another site's page (CSRF).
//!
//! Everything but `/health`, `/ready`, the console's page shells (which hold no data) and its
//! assets needs `Authorization: Bearer <admin_token>` when a token
//! is configured; the token is read from the live snapshot, so a reload rotates it. A listener
//! on a non-loopback address refuses to start without a token, and if a reload later removes
//! it, the protected endpoints answer 401 rather than open up. This module reads gateway state,
//! asks for reloads and relays operators' actions to the store (replays, pauses); it must never
//! change routing itself.

mod api;
mod console;
mod destinations;
mod dlq;
mod events;
mod filter;
mod guard;
mod health;
mod kv;
mod metrics;
mod nodes;
mod stream;

pub use kv::value_json as kv_value_json;

use crate::http_server::{HEADER_READ_TIMEOUT, Serving};
use crate::shared::Shared;
use axum::Router;
use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

/// What the admin listener's router holds: the gateway's shared handles (what the handlers
/// read, through [`FromRef`]), and whether the listener is on a loopback address, where no
/// token is needed.
#[derive(Clone)]
pub struct Admin {
    pub shared: Shared,
    pub loopback: bool,
}

impl FromRef<Admin> for Shared {
    fn from_ref(admin: &Admin) -> Shared {
        admin.shared.clone()
    }
}

/// The shortest admin token accepted on an address other machines can reach: long enough that
/// guessing it over the network is hopeless (16 random characters are ~95 bits).
pub const MIN_TOKEN_CHARS: usize = 16;

/// Why the admin listener may not start.
#[derive(Debug, thiserror::Error)]
pub enum ExposedWithoutToken {
    #[error(
        "the admin listener on {0} is not a loopback address, and no `server.admin_token` is set: \
         set one of at least {MIN_TOKEN_CHARS} characters, or listen on 127.0.0.1"
    )]
    Missing(SocketAddr),
    #[error(
        "the admin listener on {0} is not a loopback address, and `server.admin_token` is blank or shorter \
         than {MIN_TOKEN_CHARS} characters: use a longer one, or listen on 127.0.0.1"
    )]
    Weak(SocketAddr),
}

/// Refuses an admin address reachable from other machines unless a strong enough token
/// protects it.
pub fn check_exposure(addr: SocketAddr, token: Option<&str>) -> Result<(), ExposedWithoutToken> {
    match token {
        _ if addr.ip().is_loopback() => Ok(()),
        None => Err(ExposedWithoutToken::Missing(addr)),
        Some(t) if t.trim().chars().count() < MIN_TOKEN_CHARS => Err(ExposedWithoutToken::Weak(addr)),
        Some(_) => Ok(()),
    }
}

/// `GET /api/subscriptions`: the last check of each source's registered hooks.
async fn subscriptions(State(shared): State<Shared>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "sources": shared.checks.last() }))
}

/// `GET /api/version`: what this binary was built from (`switchyard --version`'s facts).
async fn version() -> axum::Json<crate::build_info::BuildInfo> {
    axum::Json(crate::build_info::build_info())
}

/// The admin router.
pub fn router(admin: Admin) -> Router {
    let protected = Router::new()
        .route("/metrics", get(metrics::render))
        .route("/api/version", get(version))
        .route("/api/routes", get(api::routes))
        .route("/api/plugins", get(api::plugins))
        .route("/api/reload", get(api::reload_status).post(api::reload_now))
        .route("/api/events", get(events::recent))
        .route("/api/events/replay", axum::routing::post(events::replay))
        .route("/api/destinations", get(destinations::list))
        .route("/api/destinations/{name}/pause", axum::routing::post(destinations::pause))
        .route("/api/destinations/{name}/resume", axum::routing::post(destinations::resume))
        .route("/api/dead-letters", get(dlq::list))
        .route("/api/dead-letters/replay", axum::routing::post(dlq::replay))
        .route("/api/subscriptions", get(subscriptions))
        .route("/api/nodes", get(nodes::list))
        .route("/api/kv/{plugin}", get(kv::list))
        .route("/api/kv/{plugin}/{*key}", get(kv::get).delete(kv::delete))
        .route("/api/stream", get(stream::stream))
        .merge(console::fragments())
        .route_layer(middleware::from_fn_with_state(admin.clone(), require_token));
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .merge(console::pages())
        .merge(protected)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such admin endpoint") })
        .layer(middleware::from_fn_with_state(admin.shared.clone(), guard::guard))
        .with_state(admin)
}

/// Checks `listener`'s exposure and returns its address and the server to spawn, which runs
/// until `shutdown`.
pub fn start(
    listener: TcpListener,
    shared: Shared,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<(SocketAddr, impl Future<Output = ()> + Send + 'static), StartError> {
    let addr = listener.local_addr()?;
    check_exposure(addr, shared.live.snapshot().config.server.admin_token.as_deref())?;
    let shutdown = shared.shutdown.child_token();
    let admin = Admin { shared, loopback: addr.ip().is_loopback() };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(admin_addr = %addr, scheme, "admin listening: / (console) /health /ready /metrics /api/*");
    let serving = Serving { router: router(admin), tls, header_timeout: HEADER_READ_TIMEOUT };
    Ok((addr, crate::http_server::serve(listener, serving, shutdown)))
}

/// Why the admin listener did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Exposed(#[from] ExposedWithoutToken),
    #[error("cannot read the admin listener's address: {0}")]
    Io(#[from] std::io::Error),
}

/// Lets a request through when it carries the configured bearer token (or, on loopback, when
/// none is configured); anything else gets 401.
async fn require_token(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    let wanted = admin.shared.live.snapshot().config.server.admin_token.clone();
    let allowed = match (&wanted, bearer(request.headers())) {
        (None, _) => admin.loopback,
        (Some(wanted), Some(given)) => bool::from(wanted.as_bytes().ct_eq(given.as_bytes())),
        (Some(_), None) => false,
    };
    if allowed {
        return next.run(request).await;
    }
    tracing::info!(path = %request.uri().path(), "admin request refused: missing or wrong bearer token");
    let mut response = error(StatusCode::UNAUTHORIZED, "a valid `Authorization: Bearer` token is required");
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"switchyard\""));
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn error(status: StatusCode, reason: &str) -> Response {
    (status, Json(serde_json::json!({ "error": reason, "status": status.as_u16() }))).into_response()
}

/// The store failed what an admin request needed (`doing`, for the log): 503.
fn store_unavailable(e: &crate::queue::StoreError, doing: &str) -> Response {
    tracing::error!(error = %e, "cannot {doing}");
    error(StatusCode::SERVICE_UNAVAILABLE, "the store is not answering")
}

/// A listing as `{"<key>": [...], "count": n}`, or 503 when the store failed to read it.
fn listed<T: serde::Serialize>(key: &str, found: Result<Vec<T>, crate::queue::StoreError>) -> Response {
    match found {
        Ok(items) => Json(serde_json::json!({ key: items, "count": items.len() })).into_response(),
        Err(e) => store_unavailable(&e, &format!("list {}", key.replace('_', " "))),
    }
}

/// `?limit=N` on a listing.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<usize>,
}

impl ListQuery {
    /// The limit asked for, `default` when none was, never above `max`.
    fn within(&self, default: usize, max: usize) -> usize {
        self.limit.unwrap_or(default).min(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_go_without_a_token() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(check_exposure(addr("127.0.0.1:9090"), None).is_ok());
        assert!(check_exposure(addr("[::1]:9090"), None).is_ok());
        assert!(check_exposure(addr("0.0.0.0:9090"), Some("a-long-random-token-1234")).is_ok());
        let refused = check_exposure(addr("0.0.0.0:9090"), None).map_err(|e| e.to_string());
        assert!(refused.is_err_and(|e| e.contains("admin_token")));
    }

    #[test]
    fn a_blank_or_short_token_is_refused_off_loopback_and_a_sixteen_character_one_is_not() {
        let exposed = "0.0.0.0:9090".parse::<SocketAddr>().unwrap();
        for weak in ["t", "                    ", "fifteen-chars-x"] {
            let refused = check_exposure(exposed, Some(weak)).map_err(|e| e.to_string());
            assert!(refused.is_err_and(|e| e.contains("shorter than 16")), "{weak:?}");
        }
        assert!(check_exposure(exposed, Some("sixteen-chars-xx")).is_ok());
        assert!(check_exposure("127.0.0.1:9090".parse().unwrap_or(exposed), Some("t")).is_ok());
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_not_tokens() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer s3cret"));
        assert_eq!(bearer(&headers), Some("s3cret"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic czNjcmV0"));
        assert_eq!(bearer(&headers), None);
    }
}
