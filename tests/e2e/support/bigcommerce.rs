//! A fake BigCommerce store API on 127.0.0.1, for tests only: the v2 orders endpoints a
//! handler calls after a thin order webhook (`GET /stores/{hash}/v2/orders/{id}` and
//! `…/{id}/products`), with the documented shapes, `X-Auth-Token` checked, the headers the spec
//! requires (`Accept`, and `Content-Type` on the products list: 406 and 415 without them),
//! products paged as documented (`page` from 1, `limit` 50 by default, 413 past 250), and knobs
//! to make it fail (5xx a number of times, 404 for orders that do not exist).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// An order the fake store holds.
#[derive(Debug, Clone)]
pub struct Order {
    pub status: String,
    pub total_inc_tax: String,
    pub email: String,
    /// (sku, quantity, price_inc_tax)
    pub items: Vec<(String, u32, String)>,
}

#[derive(Default)]
struct Inner {
    token: String,
    orders: Mutex<HashMap<u64, Order>>,
    /// Answer 500 to this many requests, then normally.
    fail_next: Mutex<u32>,
    /// Every request's path and X-Auth-Token, in order.
    seen: Mutex<Vec<(String, Option<String>)>>,
}

/// The fake API; clones share it.
#[derive(Clone)]
pub struct FakeBigCommerce {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl FakeBigCommerce {
    /// Starts the API, accepting requests that carry `token`.
    pub async fn start(token: &str) -> Self {
        let inner = Arc::new(Inner { token: token.into(), ..Inner::default() });
        let app = Router::new()
            .route("/stores/{hash}/v2/orders/{id}", get(order))
            .route("/stores/{hash}/v2/orders/{id}/products", get(products))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, inner }
    }

    /// `http://127.0.0.1:PORT`, the `api_base` to give the plugin.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn put_order(&self, id: u64, order: Order) {
        if let Ok(mut orders) = self.inner.orders.lock() {
            orders.insert(id, order);
        }
    }

    pub fn set_status(&self, id: u64, status: &str) {
        if let Ok(mut orders) = self.inner.orders.lock()
            && let Some(order) = orders.get_mut(&id)
        {
            order.status = status.into();
        }
    }

    /// The next `n` requests are answered 500.
    pub fn fail_next(&self, n: u32) {
        if let Ok(mut f) = self.inner.fail_next.lock() {
            *f = n;
        }
    }

    /// Paths requested so far, with the token each carried.
    pub fn seen(&self) -> Vec<(String, Option<String>)> {
        self.inner.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Records the request; `Some(answer)` when it is not answered normally.
fn refusal(inner: &Inner, path: String, headers: &HeaderMap) -> Option<Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
    let token = header("x-auth-token");
    if let Ok(mut seen) = inner.seen.lock() {
        seen.push((path, token.clone()));
    }
    if header("accept").is_none_or(|a| !a.contains("application/json")) {
        let body = json!([{"status": 406, "message": "The requested content type is not supported."}]);
        return Some((StatusCode::NOT_ACCEPTABLE, Json(body)).into_response());
    }
    if let Ok(mut fail) = inner.fail_next.lock()
        && *fail > 0
    {
        *fail -= 1;
        let body = Json(json!([{"status": 500, "message": "Internal Server Error"}]));
        return Some((StatusCode::INTERNAL_SERVER_ERROR, body).into_response());
    }
    if token.as_deref() != Some(inner.token.as_str()) {
        let body = json!([{"status": 401, "message": "You are not authorized to make this request."}]);
        return Some((StatusCode::UNAUTHORIZED, Json(body)).into_response());
    }
    None
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!([{"status": 404, "message": "The requested resource was not found."}])))
        .into_response()
}

async fn order(State(inner): State<Arc<Inner>>, Path((hash, id)): Path<(String, u64)>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&inner, format!("/stores/{hash}/v2/orders/{id}"), &headers) {
        return refused;
    }
    let Some(o) = inner.orders.lock().ok().and_then(|orders| orders.get(&id).cloned()) else { return not_found() };
    Json(json!({
        "id": id,
        "customer_id": 11,
        "date_created": "Tue, 20 Nov 2012 00:00:00 +0000",
        "status_id": 11,
        "status": o.status,
        "subtotal_inc_tax": o.total_inc_tax,
        "total_inc_tax": o.total_inc_tax,
        "items_total": o.items.len(),
        "currency_code": "USD",
        "billing_address": { "first_name": "Jane", "last_name": "Doe", "email": o.email, "country_iso2": "US" },
        "products": { "url": format!("https://api.bigcommerce.com/stores/{hash}/v2/orders/{id}/products"), "resource": format!("/orders/{id}/products") },
    }))
    .into_response()
}

/// `?page=&limit=` of the products list.
#[derive(serde::Deserialize)]
struct Paging {
    page: Option<usize>,
    limit: Option<usize>,
}

async fn products(
    State(inner): State<Arc<Inner>>,
    Path((hash, id)): Path<(String, u64)>,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Response {
    let (page, limit) = (paging.page.unwrap_or(1).max(1), paging.limit.unwrap_or(50));
    let path = format!("/stores/{hash}/v2/orders/{id}/products?limit={limit}&page={page}");
    if let Some(refused) = refusal(&inner, path, &headers) {
        return refused;
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()).is_none_or(|c| !c.contains("application/json")) {
        let body = json!([{"status": 415, "message": "The request content type is not supported."}]);
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, Json(body)).into_response();
    }
    if limit > 250 {
        let body = json!([{"status": 413, "message": "The limit is over the maximum of 250."}]);
        return (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response();
    }
    let Some(o) = inner.orders.lock().ok().and_then(|orders| orders.get(&id).cloned()) else { return not_found() };
    let lines: Vec<Value> = o
        .items
        .iter()
        .enumerate()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|(i, (sku, quantity, price))| {
            json!({ "id": i + 1, "order_id": id, "product_id": 100 + i, "name": format!("Item {sku}"), "sku": sku,
                    "quantity": quantity, "price_inc_tax": price, "price_ex_tax": price })
        })
        .collect();
    Json(Value::Array(lines)).into_response()
}
