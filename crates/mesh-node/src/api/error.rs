//! The API's error: a status, a stable code and a message that says what to do, sent as
//! [`ErrorBody`]; and the status and code of each network error, per operation.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mesh_core::IntentError;
use mesh_core::negotiation::NegotiationError;
use mesh_net::{
    AwardError, CancelError, DiscoverError, InpError, NegotiateError, NetError, PublishError,
};

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
            NetError::Stopped => stopped(e.to_string()),
            _ => internal(e.to_string()),
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        match &e {
            PublishError::Intent(IntentError::Capability(_)) => {
                Self::bad_request("invalid_capability", e.to_string())
            }
            PublishError::Intent(_) => Self::bad_request("invalid_intent", e.to_string()),
            PublishError::Busy { .. } => busy(e.to_string()),
            PublishError::RateLimited { .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string())
            }
            PublishError::Stopped => stopped(e.to_string()),
            PublishError::Storage { .. } => storage(e.to_string()),
            _ => internal(e.to_string()),
        }
    }
}

impl From<DiscoverError> for ApiError {
    fn from(e: DiscoverError) -> Self {
        match &e {
            DiscoverError::Capability(_) => Self::bad_request("invalid_capability", e.to_string()),
            DiscoverError::NoCapability => Self::bad_request("missing_capability", e.to_string()),
            DiscoverError::Busy { .. } => busy(e.to_string()),
            DiscoverError::Stopped => stopped(e.to_string()),
            _ => internal(e.to_string()),
        }
    }
}

/// The negotiation endpoints' statuses: a message the core refuses is the client's
/// (`invalid_price` 400, `not_overdue` and `illegal_message` 409), an unknown negotiation or
/// intent 404, the other party's refusal `refused_by_peer` 409.
impl From<NegotiateError> for ApiError {
    fn from(e: NegotiateError) -> Self {
        match e {
            NegotiateError::Inp(InpError::Negotiation(inner)) => match inner {
                NegotiationError::BadPrice { .. } => {
                    Self::bad_request("invalid_price", inner.to_string())
                }
                NegotiationError::NotOverdue { .. } => {
                    Self::new(StatusCode::CONFLICT, "not_overdue", inner.to_string())
                }
                other => Self::new(StatusCode::CONFLICT, "illegal_message", other.to_string()),
            },
            NegotiateError::Inp(inner) => {
                let status = match inner {
                    InpError::UnknownNegotiation(_) | InpError::UnknownIntent(_) => {
                        StatusCode::NOT_FOUND
                    }
                    _ => StatusCode::CONFLICT,
                };
                Self::new(status, inner.code(), inner.to_string())
            }
            NegotiateError::Refused { code, reason } => Self::new(
                StatusCode::CONFLICT,
                "refused_by_peer",
                format!("the other party refused the message ({code}): {reason}"),
            ),
            other => negotiation_step(&other),
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(e: CancelError) -> Self {
        match &e {
            CancelError::Busy { .. } => busy(e.to_string()),
            CancelError::Stopped => stopped(e.to_string()),
            CancelError::Storage { .. } => storage(e.to_string()),
            CancelError::IntentNotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "unknown_intent", e.to_string())
            }
            CancelError::NotPublisher { .. } => {
                Self::new(StatusCode::FORBIDDEN, "not_publisher", e.to_string())
            }
            CancelError::CannotCancel { .. } => {
                Self::new(StatusCode::CONFLICT, "cannot_cancel", e.to_string())
            }
            _ => internal(e.to_string()),
        }
    }
}

impl From<AwardError> for ApiError {
    fn from(e: AwardError) -> Self {
        let message = e.to_string();
        match e {
            AwardError::Net(inner) => inner.into(),
            AwardError::Negotiate(inner) => negotiation_step(&inner),
            AwardError::IntentNotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "unknown_intent", message)
            }
            AwardError::NotPublisher { .. } => {
                Self::new(StatusCode::FORBIDDEN, "not_publisher", message)
            }
            _ => internal(message),
        }
    }
}

/// The status and code of a negotiation step's error that says nothing of the message itself:
/// a step refused here `409` with its code, the other party out of reach `502`, a refusal by
/// it `500`. An award answers every error of its steps so; the negotiation endpoints first
/// answer the message's own faults and the other party's refusal more precisely.
fn negotiation_step(e: &NegotiateError) -> ApiError {
    match e {
        NegotiateError::Inp(inner) => {
            ApiError::new(StatusCode::CONFLICT, inner.code(), e.to_string())
        }
        NegotiateError::Unreachable { .. } => {
            ApiError::new(StatusCode::BAD_GATEWAY, "unreachable", e.to_string())
        }
        NegotiateError::Busy { .. } => busy(e.to_string()),
        NegotiateError::Stopped => stopped(e.to_string()),
        NegotiateError::Storage { .. } => storage(e.to_string()),
        _ => internal(e.to_string()),
    }
}

fn busy(message: String) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "busy", message)
}

fn stopped(message: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stopped", message)
}

fn storage(message: String) -> ApiError {
    ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "storage", message)
}

fn internal(message: String) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
}
