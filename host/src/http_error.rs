//! `ApiError`: every answer that is not a success, as a status and a short JSON reason.
//!
//! Client mistakes get a precise 4xx and a log line at info level; overload gets 503 with
//! `Retry-After`; anything internal gets a generic 500 and one error log. A reason never
//! includes a secret or an internal detail.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no source named `{0}` is configured")]
    UnknownSource(String),
    #[error("body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("{reason}")]
    Rejected { status: StatusCode, reason: String },
    #[error("the gateway is at capacity, retry in {0} s")]
    Overloaded(u64),
    /// The store cannot write (disk full, database gone): nothing was kept, the sender retries.
    #[error("the gateway's storage cannot accept writes right now, retry in {0} s")]
    StorageUnavailable(u64),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownSource(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Rejected { status, .. } => *status,
            ApiError::Overloaded(_) | ApiError::StorageUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = format!("{e:#}"), "internal error");
        }
        let body = Json(serde_json::json!({ "error": self.to_string(), "status": status.as_u16() }));
        let mut response = (status, body).into_response();
        if let ApiError::Overloaded(secs) | ApiError::StorageUnavailable(secs) = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
