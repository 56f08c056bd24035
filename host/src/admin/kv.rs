//! Plugins' key–value state on the admin API: `GET /api/kv/{plugin}?prefix=&limit=` lists keys
//! with a preview of each value, `GET /api/kv/{plugin}/{key}` shows one whole, and `DELETE
//! /api/kv/{plugin}/{key}` removes one — the same operations as `switchyard kv`.
//!
//! Values are bytes: shown as text when they are UTF-8, else as base64. The plugin named must
//! be configured (a typo answers 404 rather than an empty list).

use super::{error, store_unavailable};
use crate::queue::KvEntry;
use crate::shared::Shared;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use serde_json::{Value, json};

/// Characters of a value shown in a list; `GET …/{key}` shows it whole.
const PREVIEW_CHARS: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    prefix: String,
    limit: Option<u32>,
}

/// A value as JSON: text when it is UTF-8 (cut to `limit` characters), else base64.
pub fn value_json(value: &[u8], limit: Option<usize>) -> Value {
    use base64::Engine as _;
    match std::str::from_utf8(value) {
        Ok(text) => match limit {
            Some(n) if text.chars().count() > n => {
                json!({ "text": text.chars().take(n).collect::<String>(), "truncated": true, "bytes": value.len() })
            }
            _ => json!({ "text": text, "bytes": value.len() }),
        },
        Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(value), "bytes": value.len() }),
    }
}

fn entry_json(e: &KvEntry, limit: Option<usize>) -> Value {
    json!({
        "key": e.key,
        "value": value_json(&e.value, limit),
        "expires_at_ms": e.expires_at_ms,
        "updated_at_ms": e.updated_at_ms,
    })
}

/// A key no plugin can hold (NUL: PostgreSQL's text cannot store it, so the store would read
/// another key in its place).
fn impossible(key: &str) -> Option<Response> {
    key.contains('\0').then(|| error(StatusCode::BAD_REQUEST, "kv keys never hold NUL"))
}

fn unknown(shared: &Shared, plugin: &str) -> Option<Response> {
    let known = shared.live.snapshot().config.plugins.contains_key(plugin);
    (!known).then(|| error(StatusCode::NOT_FOUND, "no plugin of that name is configured"))
}

pub async fn list(State(shared): State<Shared>, Path(plugin): Path<String>, Query(q): Query<ListQuery>) -> Response {
    if let Some(refused) = unknown(&shared, &plugin) {
        return refused;
    }
    match shared.store.kv_list(&plugin, &q.prefix, q.limit.unwrap_or(100)).await {
        Ok(entries) => {
            let keys: Vec<Value> = entries.iter().map(|e| entry_json(e, Some(PREVIEW_CHARS))).collect();
            Json(json!({ "plugin": plugin, "prefix": q.prefix, "count": keys.len(), "keys": keys })).into_response()
        }
        Err(e) => store_unavailable(&e, "read plugin state"),
    }
}

pub async fn get(State(shared): State<Shared>, Path((plugin, key)): Path<(String, String)>) -> Response {
    if let Some(refused) = unknown(&shared, &plugin).or_else(|| impossible(&key)) {
        return refused;
    }
    match shared.store.kv_list(&plugin, &key, 1).await {
        Ok(entries) => match entries.into_iter().find(|e| e.key == key) {
            Some(entry) => Json(entry_json(&entry, None)).into_response(),
            None => error(StatusCode::NOT_FOUND, "no such key"),
        },
        Err(e) => store_unavailable(&e, "read plugin state"),
    }
}

pub async fn delete(State(shared): State<Shared>, Path((plugin, key)): Path<(String, String)>) -> Response {
    if let Some(refused) = unknown(&shared, &plugin).or_else(|| impossible(&key)) {
        return refused;
    }
    match shared.store.kv_delete(&plugin, &key).await {
        Ok(existed) => Json(json!({ "deleted": existed })).into_response(),
        Err(e) => store_unavailable(&e, "read plugin state"),
    }
}
