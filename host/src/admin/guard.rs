//! Which requests the admin listener answers at all, before any token is looked at: what keeps
//! a web page the operator happens to open from driving the admin through their browser.
//!
//! - **DNS rebinding.** Without a token, the listener is on loopback, and a page whose name
//!   rebinds to 127.0.0.1 could read it as its own origin. So a tokenless admin answers only
//!   requests whose `Host` is a loopback name (`localhost`, `127.0.0.1`, `[::1]`, with any port)
//!   or one the operator lists in `server.admin_hosts`; others get 421. With a token, any
//!   `Host` is answered: a page cannot read or send the token.
//! - **Cross-site requests.** A form on any page can POST to the admin without reading the
//!   answer. A request that changes something (any method but GET, HEAD and OPTIONS) is refused
//!   with 403 when the browser says it comes from another site: `Sec-Fetch-Site` other than
//!   `same-origin` or `none`, or an `Origin` other than the admin's own. Clients that are not
//!   browsers (curl, `switchyard`) send neither header and are not affected.
//!
//! `/health` and `/ready` are exempt from both: they change nothing and tell nothing, and
//! probes (Kubernetes, load balancers) name the address they connect to. This file decides
//! only whether a request is answered; the token is `mod.rs`'s.

use super::error;
use crate::shared::Shared;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

/// Answers a request only if it passes the Host and cross-site checks.
pub(super) async fn guard(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == "/health" || path == "/ready" {
        return next.run(request).await;
    }
    let config = shared.live.snapshot().config.clone();
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or(request.uri().host());
    if config.server.admin_token.is_none()
        && let Some(host) = host
        && !host_allowed(host, &config.server.admin_hosts)
    {
        tracing::info!(host = %crate::telemetry::Escaped(host), path, "admin request refused: a Host this tokenless admin does not answer");
        let reason = "this admin listener has no token and answers only Host: localhost, 127.0.0.1, [::1] or a name in server.admin_hosts";
        return error(StatusCode::MISDIRECTED_REQUEST, reason);
    }
    if changes_state(request.method())
        && let Some(why) = cross_site(request.headers(), host)
    {
        tracing::info!(path, "admin request refused: {why}");
        return error(StatusCode::FORBIDDEN, &format!("a cross-site request may not change anything here: {why}"));
    }
    next.run(request).await
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether `host` (a `Host` header: a name or address, with an optional port) names this
/// admin: a loopback name, or one of `listed`.
fn host_allowed(host: &str, listed: &[String]) -> bool {
    let name = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
    let loopback = name == "localhost"
        || name.ends_with(".localhost")
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback || listed.contains(&name)
}

/// `host` without its `:port` (an IPv6 literal keeps its brackets).
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') && (host.starts_with('[') || host[..i].find(':').is_none()) => &host[..i],
        _ => host,
    }
}

/// Why a request that a browser marks as coming from another site is one, if it is.
fn cross_site(headers: &HeaderMap, host: Option<&str>) -> Option<String> {
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("(not text)"));
    if let Some(site) = text("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return Some(format!("Sec-Fetch-Site is {}", crate::telemetry::Escaped::cut(site, 32)));
    }
    let origin = text("origin")?;
    let origin_host = origin.split_once("://").map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => None,
        _ => Some(format!("Origin {} is not this admin's", crate::telemetry::Escaped::cut(origin, 128))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn loopback_names_with_any_port_and_listed_names_are_this_admin() {
        for host in ["localhost", "localhost:9090", "127.0.0.1:9090", "127.0.0.2", "[::1]:9090", "[::1]", "LOCALHOST."]
        {
            assert!(host_allowed(host, &[]), "{host}");
        }
        for host in ["rebind.evil.example:9090", "10.0.0.5:9090", "[fd00::1]:9090", "localhost.evil.example"] {
            assert!(!host_allowed(host, &[]), "{host}");
        }
        let listed = vec!["switchyard.internal".to_string()];
        assert!(host_allowed("Switchyard.Internal:9090", &listed));
        assert!(!host_allowed("other.internal:9090", &listed));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (header::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn a_browser_request_from_another_site_is_cross_site_and_one_from_the_console_is_not() {
        let host = Some("127.0.0.1:9090");
        let same = headers(&[("sec-fetch-site", "same-origin"), ("origin", "http://127.0.0.1:9090")]);
        assert_eq!(cross_site(&same, host), None);
        assert_eq!(cross_site(&HeaderMap::new(), host), None, "curl sends neither");
        assert_eq!(cross_site(&headers(&[("sec-fetch-site", "none")]), host), None, "typed in the address bar");
        let form = headers(&[("sec-fetch-site", "cross-site"), ("origin", "http://evil.example")]);
        assert!(cross_site(&form, host).is_some_and(|why| why.contains("cross-site")));
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")]), host).is_some());
        assert!(cross_site(&headers(&[("origin", "http://evil.example")]), host).is_some(), "an older browser");
        assert!(cross_site(&headers(&[("origin", "null")]), host).is_some(), "a sandboxed frame");
        assert!(cross_site(&headers(&[("origin", "http://127.0.0.1:9091")]), host).is_some(), "another port");
    }

    #[test]
    fn only_requests_that_change_something_are_checked_for_their_site() {
        assert!(!changes_state(&Method::GET));
        assert!(changes_state(&Method::POST) && changes_state(&Method::DELETE) && changes_state(&Method::PUT));
    }
}
