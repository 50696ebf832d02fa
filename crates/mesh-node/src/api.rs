//! The local HTTP API: JSON over HTTP on loopback, guarded by a bearer token.
//!
//! | method | path | auth | what |
//! |---|---|---|---|
//! | GET | `/openapi.json` | yes | the OpenAPI 3.1 document of this API |
//! | GET | `/metrics` | yes | Prometheus metrics (libp2p's and MESH's) |
//! | GET | `/v1/health` | no | liveness: `{"status": "ok"}` and nothing else |
//! | GET | `/v1/info` | yes | peer id, full listen addresses, capabilities |
//! | GET | `/v1/peers` | yes | connected peers with RTT and local reputation |
//! | GET | `/v1/peers/{peer_id}/reputation` | yes | this node's view of a peer's reputation and what it rests on |
//! | POST | `/v1/intents` | yes | sign and publish an intent |
//! | GET | `/v1/intents/stream` | yes | Server-Sent Events: `intent` per verified intent, `intent_update` per cancellation; resumable with `Last-Event-ID` |
//! | GET | `/v1/agents` | yes | discover agents by capability and minimum reputation |
//! | GET | `/v1/reachability` | yes | AutoNAT verdict, NAT, addresses, relay reservations, direct/relayed peers, advice |
//!
//! Before any handler, `guard` refuses a `Host` that is not loopback, tells the owner (the
//! token) from strangers, and rate-limits each on its own budget; event streams and award waits
//! take one of [`NodeConfig::api_max_streams`](crate::NodeConfig::api_max_streams) slots.

mod guard;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use mesh_core::{Capability, IntentError};
use mesh_net::{AgentQuery, MeshHandle, NetError, Rate};
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio::sync::watch;

use crate::events::{EventKind, Replay, Resume, ResumeQuery};
use crate::views::{ErrorBody, ErrorDetail, PublishIntentRequest};

pub use guard::{
    DEFAULT_MAX_STREAMS, DEFAULT_UNAUTHENTICATED_RATE, PUBLIC_PATHS, StreamSlots, is_loopback_host,
};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The network.
    pub handle: MeshHandle,
    /// The node's store (event log for stream resumption).
    pub store: mesh_store::Store,
    /// The node's event log, which the event streams read.
    pub events: crate::events::EventLog,
    /// The bearer token.
    pub token: Arc<str>,
    /// Metrics registry (read-only once the node runs).
    pub registry: Arc<Registry>,
    /// Flips to `true` when the node shuts down, ending event streams.
    pub shutdown: watch::Receiver<bool>,
    /// Slots of the responses held open (event streams, award waits).
    pub streams: StreamSlots,
}

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

/// Requests with the token (the owner's) the local API serves by default: 500 a second, in
/// bursts of up to 1,000.
pub const DEFAULT_API_RATE: Rate = Rate {
    per_second: 500.0,
    burst: 1000.0,
};

/// The API router. Requests with the token draw on `owner_rate`, all others on
/// `unauthenticated_rate` (an event stream counts once, when it opens); see `api::guard`.
pub fn router(state: ApiState, owner_rate: Rate, unauthenticated_rate: Rate) -> Router {
    let guard = Arc::new(guard::Guard::new(
        state.token.clone(),
        owner_rate,
        unauthenticated_rate,
    ));
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/v1/health", get(health))
        .route("/v1/info", get(info))
        .route("/v1/peers", get(peers))
        .route("/v1/intents", post(publish))
        .route("/v1/intents/stream", get(stream))
        .route("/v1/agents", get(discover))
        .merge(crate::negotiation_api::routes())
        .merge(crate::intent_api::routes())
        .merge(crate::peer_api::routes())
        .merge(crate::reachability_api::routes())
        .merge(crate::reputation_api::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(guard, guard::guard))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint: see /openapi.json for the API",
    )
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}

async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.registry)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

async fn info(State(state): State<ApiState>) -> Result<Json<mesh_net::NodeInfo>, ApiError> {
    Ok(Json(state.handle.info().await?))
}

async fn peers(State(state): State<ApiState>) -> Result<Json<Vec<mesh_net::PeerInfo>>, ApiError> {
    Ok(Json(state.handle.peers().await?))
}

async fn publish(
    State(state): State<ApiState>,
    crate::body::JsonBody(request): crate::body::JsonBody<PublishIntentRequest>,
) -> Result<(StatusCode, Json<mesh_net::PublishOutcome>), ApiError> {
    let intent = request
        .to_intent()
        .map_err(|m| ApiError::bad_request("invalid_intent", m))?;
    let outcome = state.handle.publish_intent(&intent).await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

/// Query of `/v1/intents/stream` and `/v1/agents`.
#[derive(Debug, Deserialize)]
struct CapabilityQuery {
    /// Comma-separated capability names.
    #[serde(default)]
    capabilities: Option<String>,
    #[serde(default)]
    min_reputation: Option<f64>,
    #[serde(default)]
    limit: Option<usize>,
}

fn parse_list(list: &Option<String>) -> Result<Vec<Capability>, ApiError> {
    let names = list
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty());
    mesh_core::capability::parse_capabilities(names)
        .map_err(|e| ApiError::bad_request("invalid_capability", e.to_string()))
}

async fn stream(
    State(state): State<ApiState>,
    Query(query): Query<CapabilityQuery>,
    Query(resume): Query<ResumeQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let filter = parse_list(&query.capabilities)?;
    let cursor = resume.cursor()?.map(|name| format!("intents/{name}"));
    let mut resume = Resume::from_request(&headers, &resume)?;
    let slot = state.streams.take()?;
    // Subscribe to the live events before joining topics and before reading the log, so that
    // nothing falls in between; the replay skips what it has already sent.
    let replay = Replay::subscribe(&state.events, &[EventKind::Intent, EventKind::IntentUpdate])
        .filter(filter.iter().map(|c| c.to_string()).collect());
    if !filter.is_empty() {
        state.handle.subscribe(filter).await?;
    }
    let replay = replay
        .with_cursor(cursor, &mut resume)
        .await
        .start(resume)
        .await;
    Ok(event_stream(replay, &state, slot))
}

/// How often an idle event stream sends a comment, which also finds a client that has gone.
pub const STREAM_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The SSE response of `replay`: it ends when the node shuts down, and holds `slot` until the
/// response is dropped (the client went away, or the node stopped).
pub(crate) fn event_stream(
    replay: Replay,
    state: &ApiState,
    slot: guard::StreamSlot,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let mut shutdown = state.shutdown.clone();
    let stop = async move {
        let _ = shutdown.wait_for(|stopped| *stopped).await;
    };
    let events = replay
        .into_stream()
        .take_until(Box::pin(stop))
        .map(move |event| {
            let _held = &slot;
            event
        });
    Sse::new(events).keep_alive(KeepAlive::new().interval(STREAM_KEEP_ALIVE))
}

async fn discover(
    State(state): State<ApiState>,
    Query(query): Query<CapabilityQuery>,
) -> Result<Json<Vec<mesh_net::AgentInfo>>, ApiError> {
    let caps = parse_list(&query.capabilities)?;
    let min = query.min_reputation.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&min) {
        return Err(ApiError::bad_request(
            "invalid_min_reputation",
            format!("min_reputation {min} is outside [0, 1]"),
        ));
    }
    let mut q = AgentQuery::new()
        .capabilities(caps.iter().map(|c| c.to_string()))
        .min_reputation(min);
    if let Some(limit) = query.limit {
        q = q.limit(limit);
    }
    Ok(Json(state.handle.discover_agents(q).await?))
}
