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
//! The other endpoints are listed in `/openapi.json`.
//!
//! One file per resource: [`intents`], [`negotiations`], [`peers`], [`agents`],
//! [`reachability`], [`reputation`], and [`streams`] for the Server-Sent Event streams. Each
//! gives its routes and reads the shared state ([`ApiState`]), the error ([`ApiError`]) and the
//! request bodies ([`body`]); none reads another. This file joins them behind the guard and
//! serves the node's own endpoints (health, info, metrics, the [`openapi`] document).
//!
//! Before any handler, `guard` refuses a `Host` that is not loopback, tells the owner (the
//! token) from strangers, and rate-limits each on its own budget; event streams and award waits
//! take one of [`NodeConfig::api_max_streams`](crate::NodeConfig::api_max_streams) slots.

pub mod agents;
pub mod body;
mod error;
mod guard;
pub mod intents;
pub mod negotiations;
pub mod openapi;
pub mod peers;
mod query;
pub mod reachability;
pub mod reputation;
mod state;
pub mod streams;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use mesh_net::Rate;

pub use body::MAX_BODY_BYTES;
pub use error::ApiError;
pub use guard::{
    DEFAULT_API_RATE, DEFAULT_MAX_STREAMS, DEFAULT_UNAUTHENTICATED_RATE, PUBLIC_PATHS, StreamSlots,
    is_loopback_host,
};
pub use state::ApiState;
pub use streams::STREAM_KEEP_ALIVE;

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
        .merge(intents::routes())
        .merge(streams::routes())
        .merge(agents::routes())
        .merge(negotiations::routes())
        .merge(peers::routes())
        .merge(reachability::routes())
        .merge(reputation::routes())
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
    Json(openapi::document())
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
