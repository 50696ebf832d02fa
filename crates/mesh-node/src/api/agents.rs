//! `GET /v1/agents`: discover agents by capability and minimum reputation.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use mesh_net::AgentQuery;

use super::error::ApiError;
use super::query::{CapabilityQuery, parse_capabilities};
use super::state::ApiState;

/// The routes, to be merged behind the token check.
pub fn routes() -> Router<ApiState> {
    Router::new().route("/v1/agents", get(discover))
}

async fn discover(
    State(state): State<ApiState>,
    Query(query): Query<CapabilityQuery>,
) -> Result<Json<Vec<mesh_net::AgentInfo>>, ApiError> {
    let caps = parse_capabilities(&query.capabilities)?;
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
