//! What became of a plugin's requests: each one's outcome as the guest saw it and as it is
//! recorded, and the log of one call's requests, read after the call (metrics, `plugin run`).

use std::sync::Mutex;
use std::time::Duration;
use wasmtime_wasi_http::Error as HttpError;

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
    /// Answered from a fixture file (`plugin run --http`, `switchyard test`): none matched it.
    NotInFixture,
}

impl FetchOutcome {
    /// The label for `switchyard_plugin_fetches_total{outcome}`.
    pub fn label(&self) -> &'static str {
        match self {
            FetchOutcome::Answered(s) if *s < 400 => "ok",
            FetchOutcome::Answered(_) => "http_error",
            FetchOutcome::Refused(_) | FetchOutcome::NotInFixture => "refused",
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
    /// The whole URL asked for (query included).
    pub url: String,
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
    pub(super) fn record(&self, record: FetchRecord) {
        if let Ok(mut records) = self.records.lock() {
            records.push(record);
        }
    }

    /// The requests made, in the order they finished.
    pub fn records(&self) -> Vec<FetchRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// A failed request: the error the guest sees, and how it is recorded.
pub(super) type Failure = (HttpError, FetchOutcome);
