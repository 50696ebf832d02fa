//! The peer endpoints of the local API: list the connected peers, dial one, and advertise this
//! agent's load to them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use super::body::JsonBody;
use super::error::ApiError;
use super::state::ApiState;

/// Body of `POST /v1/peers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DialRequest {
    /// The peer's multiaddr, ideally ending in `/p2p/<peer id>`.
    pub address: String,
}

/// Body of `PUT /v1/load`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadRequest {
    /// How busy this agent is, in `[0, 1]`; advertised in its agent record.
    pub load: f64,
}

/// The routes, to be merged behind the token check.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/peers", get(list).post(dial))
        .route("/v1/load", put(set_load))
}

async fn list(State(state): State<ApiState>) -> Result<Json<Vec<mesh_net::PeerInfo>>, ApiError> {
    Ok(Json(state.handle.peers().await?))
}

async fn dial(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<DialRequest>,
) -> Result<StatusCode, ApiError> {
    let addr: Multiaddr = request.address.parse().map_err(|e| {
        ApiError::bad_request(
            "invalid_multiaddr",
            format!(
                "{:?} is not a multiaddr ({e}); it looks like /ip4/127.0.0.1/tcp/7701/p2p/12D3Koo...",
                request.address
            ),
        )
    })?;
    state
        .handle
        .dial(addr)
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "dial_failed", e.to_string()))?;
    Ok(StatusCode::ACCEPTED)
}

async fn set_load(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<LoadRequest>,
) -> Result<StatusCode, ApiError> {
    if !(0.0..=1.0).contains(&request.load) {
        return Err(ApiError::bad_request(
            "invalid_load",
            format!("load {} is outside [0, 1]", request.load),
        ));
    }
    state.handle.set_load(request.load).await?;
    Ok(StatusCode::NO_CONTENT)
}
