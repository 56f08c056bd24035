//! What a serving gateway last found of each subscribing source's registered hooks: kept for
//! `GET /api/subscriptions` and the console, written by the serving check (`hook_check`).

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The last check of one source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceCheck {
    pub checked_at_ms: u64,
    pub stores: Vec<StoreCheck>,
}

/// What one store's check found.
#[derive(Debug, Clone, Serialize)]
pub struct StoreCheck {
    pub store_hash: String,
    /// Hooks of this gateway registered, and how many of them are active now.
    pub hooks: usize,
    pub active: usize,
    /// Scopes reactivated by this check.
    pub reactivated: Vec<String>,
    pub error: Option<String>,
}

/// The last check of every subscribing source, by source name.
#[derive(Debug, Default)]
pub struct Checks(Mutex<BTreeMap<String, SourceCheck>>);

impl Checks {
    pub fn last(&self) -> BTreeMap<String, SourceCheck> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn record(&self, source: &str, check: SourceCheck) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(source.to_string(), check);
    }
}
