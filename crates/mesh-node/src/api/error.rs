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

#[cfg(test)]
mod tests {
    use mesh_core::IntentStatus;
    use mesh_core::negotiation::{MessageKind, Role, State};

    use super::*;

    /// The status and code an error is answered with; its message is the error's own text.
    fn answer<E: std::fmt::Display + Into<ApiError>>(e: E) -> (u16, &'static str) {
        let text = e.to_string();
        let api: ApiError = e.into();
        assert_eq!(api.message, text, "the message is the error's own");
        (api.status.as_u16(), api.code)
    }

    fn busy_of(what: &'static str) -> (&'static str, usize) {
        (what, 4)
    }

    fn illegal() -> NegotiationError {
        NegotiationError::IllegalTransition {
            state: State::Agreed,
            from: Role::Agent,
            kind: MessageKind::Offer,
        }
    }

    fn bad_price() -> NegotiationError {
        NegotiationError::BadPrice {
            amount: "x".into(),
            currency: "USD".into(),
            reason: "not a number".into(),
        }
    }

    fn closed() -> InpError {
        InpError::IntentClosed {
            id: "ab".into(),
            status: IntentStatus::Agreed,
        }
    }

    #[test]
    fn net_errors() {
        assert_eq!(answer(NetError::Stopped), (503, "stopped"));
        assert_eq!(answer(NetError::Setup("no".into())), (500, "internal"));
        let dial = NetError::Dial {
            addr: "/ip4/1.2.3.4".into(),
            reason: "no".into(),
        };
        assert_eq!(answer(dial), (500, "internal"));
    }

    #[test]
    fn publish_errors() {
        let capability = mesh_core::CapabilityError::Empty;
        assert_eq!(
            answer(PublishError::Intent(IntentError::Capability(capability))),
            (400, "invalid_capability")
        );
        let invalid = IntentError::Malformed("bad".into());
        assert_eq!(
            answer(PublishError::Intent(invalid)),
            (400, "invalid_intent")
        );
        let (what, limit) = busy_of("store writes");
        assert_eq!(answer(PublishError::Busy { what, limit }), (429, "busy"));
        let limited = PublishError::RateLimited {
            what: "intents published",
            per_minute: 120.0,
            burst: 120.0,
        };
        assert_eq!(answer(limited), (429, "rate_limited"));
        assert_eq!(answer(PublishError::Stopped), (503, "stopped"));
        let storage = PublishError::Storage {
            what: "the intent before publishing it",
            reason: "disk full".into(),
        };
        assert_eq!(answer(storage), (507, "storage"));
    }

    #[test]
    fn discover_errors() {
        let capability = mesh_core::CapabilityError::Empty;
        assert_eq!(
            answer(DiscoverError::Capability(capability)),
            (400, "invalid_capability")
        );
        assert_eq!(
            answer(DiscoverError::NoCapability),
            (400, "missing_capability")
        );
        let (what, limit) = busy_of("discovery queries");
        assert_eq!(answer(DiscoverError::Busy { what, limit }), (429, "busy"));
        assert_eq!(answer(DiscoverError::Stopped), (503, "stopped"));
    }

    #[test]
    fn negotiate_errors() {
        let bad_price = ApiError::from(NegotiateError::Inp(bad_price().into()));
        assert_eq!(
            (bad_price.status.as_u16(), bad_price.code),
            (400, "invalid_price")
        );
        assert_eq!(bad_price.message, self::bad_price().to_string());
        let not_overdue = NegotiationError::NotOverdue {
            due_at_ms: 2,
            sent_at_ms: 1,
        };
        assert_eq!(
            answer(NegotiateError::Inp(not_overdue.into())),
            (409, "not_overdue")
        );
        assert_eq!(
            answer(NegotiateError::Inp(illegal().into())),
            (409, "illegal_message")
        );
        let unknown = InpError::UnknownNegotiation("ab".into());
        assert_eq!(
            answer(NegotiateError::Inp(unknown)),
            (404, "unknown_negotiation")
        );
        let unknown = InpError::UnknownIntent("ab".into());
        assert_eq!(
            answer(NegotiateError::Inp(unknown)),
            (404, "unknown_intent")
        );
        assert_eq!(
            answer(NegotiateError::Inp(closed())),
            (409, "intent_closed")
        );
        assert_eq!(answer(NegotiateError::Inp(InpError::Full)), (409, "busy"));
        let refused = ApiError::from(NegotiateError::Refused {
            code: "busy".into(),
            reason: "full".into(),
        });
        assert_eq!(
            (refused.status.as_u16(), refused.code),
            (409, "refused_by_peer")
        );
        assert_eq!(
            refused.message,
            "the other party refused the message (busy): full"
        );
        let unreachable = NegotiateError::Unreachable {
            peer: "12D3".into(),
            reason: "timeout".into(),
        };
        assert_eq!(answer(unreachable), (502, "unreachable"));
        let (what, limit) = busy_of("negotiation messages queued for one peer");
        assert_eq!(answer(NegotiateError::Busy { what, limit }), (429, "busy"));
        assert_eq!(answer(NegotiateError::Stopped), (503, "stopped"));
        let storage = NegotiateError::Storage {
            what: "its message, which the other party took",
            reason: "disk full".into(),
        };
        assert_eq!(answer(storage), (507, "storage"));
    }

    #[test]
    fn cancel_errors() {
        let unknown = CancelError::IntentNotFound { id: "ab".into() };
        assert_eq!(answer(unknown), (404, "unknown_intent"));
        let not_ours = CancelError::NotPublisher {
            id: "ab".into(),
            publisher: "12D3".into(),
            what: "cancel",
        };
        assert_eq!(answer(not_ours), (403, "not_publisher"));
        let agreed = CancelError::CannotCancel {
            id: "ab".into(),
            status: IntentStatus::Agreed,
        };
        assert_eq!(answer(agreed), (409, "cannot_cancel"));
        let unsigned = CancelError::Publish {
            topic: "cancellation".into(),
            reason: "too long".into(),
        };
        assert_eq!(answer(unsigned), (500, "internal"));
        let (what, limit) = busy_of("store writes");
        assert_eq!(answer(CancelError::Busy { what, limit }), (429, "busy"));
        assert_eq!(answer(CancelError::Stopped), (503, "stopped"));
        let storage = CancelError::Storage {
            what: "the cancellation, so it was not published",
            reason: "disk full".into(),
        };
        assert_eq!(answer(storage), (507, "storage"));
    }

    /// An award answers its steps' errors without the negotiation endpoints' refinements.
    #[test]
    fn award_errors() {
        let unknown = AwardError::IntentNotFound { id: "ab".into() };
        assert_eq!(answer(unknown), (404, "unknown_intent"));
        let not_ours = AwardError::NotPublisher {
            id: "ab".into(),
            publisher: "12D3".into(),
            what: "award",
        };
        assert_eq!(answer(not_ours), (403, "not_publisher"));
        let bad = AwardError::BadChoice {
            index: 3,
            offers: 2,
        };
        assert_eq!(answer(bad), (500, "internal"));
        assert_eq!(answer(AwardError::Net(NetError::Stopped)), (503, "stopped"));
        let step = |e: NegotiateError| answer(AwardError::Negotiate(e));
        assert_eq!(step(NegotiateError::Inp(closed())), (409, "intent_closed"));
        let unknown = InpError::UnknownNegotiation("ab".into());
        assert_eq!(
            step(NegotiateError::Inp(unknown)),
            (409, "unknown_negotiation")
        );
        assert_eq!(
            step(NegotiateError::Inp(bad_price().into())),
            (409, "invalid_message")
        );
        assert_eq!(
            step(NegotiateError::Inp(illegal().into())),
            (409, "illegal_transition")
        );
        let refused = NegotiateError::Refused {
            code: "busy".into(),
            reason: "full".into(),
        };
        assert_eq!(step(refused), (500, "internal"));
        let unreachable = NegotiateError::Unreachable {
            peer: "12D3".into(),
            reason: "timeout".into(),
        };
        assert_eq!(step(unreachable), (502, "unreachable"));
        let (what, limit) = busy_of("negotiation messages queued for one peer");
        assert_eq!(step(NegotiateError::Busy { what, limit }), (429, "busy"));
        assert_eq!(step(NegotiateError::Stopped), (503, "stopped"));
        let storage = NegotiateError::Storage {
            what: "its message, which the other party took",
            reason: "disk full".into(),
        };
        assert_eq!(step(storage), (507, "storage"));
    }
}
