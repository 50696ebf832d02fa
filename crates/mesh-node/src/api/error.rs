//! The API's error: a status, a stable code and a message that says what to do, sent as
//! [`ErrorBody`]; and the status and code of each network error.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mesh_core::IntentError;
use mesh_net::NetError;

use crate::views::{ErrorBody, ErrorDetail};

/// An API error: a status, a stable code and a message that says what to do.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<NetError> for ApiError {
    fn from(e: NetError) -> Self {
        match &e {
            NetError::Capability(_) => Self::bad_request("invalid_capability", e.to_string()),
            NetError::NoCapability => Self::bad_request("missing_capability", e.to_string()),
            NetError::Intent(IntentError::Capability(_)) => {
                Self::bad_request("invalid_capability", e.to_string())
            }
            NetError::Intent(_) => Self::bad_request("invalid_intent", e.to_string()),
            NetError::Busy { .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "busy", e.to_string())
            }
            NetError::RateLimited { .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string())
            }
            NetError::Stopped => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "stopped", e.to_string())
            }
            NetError::Storage { .. } => {
                Self::new(StatusCode::INSUFFICIENT_STORAGE, "storage", e.to_string())
            }
            NetError::IntentNotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "unknown_intent", e.to_string())
            }
            NetError::NotPublisher { .. } => {
                Self::new(StatusCode::FORBIDDEN, "not_publisher", e.to_string())
            }
            NetError::CannotCancel { .. } => {
                Self::new(StatusCode::CONFLICT, "cannot_cancel", e.to_string())
            }
            NetError::Inp(inner @ mesh_net::InpError::IntentClosed { .. }) => {
                Self::new(StatusCode::CONFLICT, inner.code(), e.to_string())
            }
            NetError::Inp(inner) => Self::new(StatusCode::CONFLICT, inner.code(), e.to_string()),
            NetError::Unreachable { .. } => {
                Self::new(StatusCode::BAD_GATEWAY, "unreachable", e.to_string())
            }
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        }
    }
}
