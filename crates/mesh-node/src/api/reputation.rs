//! `GET /v1/peers/{peer_id}/reputation`: this node's view of a peer's reputation (the figure
//! discovery and the offer strategy use) and what it rests on; `mesh reputation` prints it.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use libp2p::PeerId;
use mesh_net::ReputationView;
use serde_json::{Value, json};

use super::error::ApiError;
use super::state::ApiState;

/// The routes, to be merged behind the token check.
pub fn routes() -> Router<ApiState> {
    Router::new().route("/v1/peers/{peer_id}/reputation", get(reputation))
}

/// `peer_id` as a peer id, or the API's `invalid_peer_id` error saying what one looks like.
pub fn parse_peer_id(peer_id: &str) -> Result<PeerId, ApiError> {
    peer_id.parse().map_err(|e| {
        ApiError::bad_request(
            "invalid_peer_id",
            format!(
                "{peer_id:?} is not a peer id ({e}): use the base58 id `mesh peers` or `mesh id` shows, e.g. 12D3KooW..."
            ),
        )
    })
}

async fn reputation(
    State(state): State<ApiState>,
    Path(peer_id): Path<String>,
) -> Result<Json<ReputationView>, ApiError> {
    let peer = parse_peer_id(&peer_id)?;
    Ok(Json(state.handle.reputation(peer).await?))
}

/// The OpenAPI path item of `/v1/peers/{peer_id}/reputation`.
pub fn openapi_path(errors: Value) -> Value {
    let mut responses = json!({"200": {"description": "This node's view of the peer's reputation", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReputationView"}}}}});
    if let (Some(map), Value::Object(errors)) = (responses.as_object_mut(), errors) {
        map.extend(errors);
    }
    if let Some(bad) = responses.get_mut("400").and_then(Value::as_object_mut) {
        bad.insert(
            "description".into(),
            json!("Not a peer id: `invalid_peer_id`"),
        );
    }
    json!({"get": {
        "summary": "This node's view of a peer's reputation: the figure discovery and the offer strategy use, and what it rests on (receipts, this node's own observations). Any peer id may be asked; one nothing is known of is neutral (0.5) with `known` false",
        "parameters": [{
            "name": "peer_id", "in": "path", "required": true,
            "description": "Peer id, base58, as `mesh peers` shows it (12D3KooW...)",
            "schema": {"type": "string"}
        }],
        "responses": responses
    }})
}

/// The OpenAPI schema of the view.
pub fn openapi_schemas() -> Value {
    let unit = |description: &str| json!({"type": "number", "minimum": 0, "maximum": 1, "description": description});
    json!({
        "ReputationView": {"type": "object",
            "required": ["peer_id", "reputation", "receipts_score", "local_score", "global_trust", "rater_weight", "positive_evidence", "negative_evidence", "known", "computed_at_ms"],
            "properties": {
                "peer_id": {"type": "string", "description": "The peer, base58"},
                "reputation": unit("As discovery's min_reputation and the offer strategy see it: receipts_score, lowered when local_score is below 0.5"),
                "receipts_score": unit("From the receipts this node holds: 0.5 for an agent nobody trusted rated"),
                "local_score": unit("This node's own score of the peer's messages (valid ones raise it, invalid ones lower it)"),
                "global_trust": unit("Its share of EigenTrust's vector: above 0 only if a chain of good receipts leads to it from a peer this node trusts"),
                "rater_weight": unit("How much its own receipts count"),
                "positive_evidence": {"type": "number", "minimum": 0, "description": "Weighted evidence for it (sum of the ratings counted)"},
                "negative_evidence": {"type": "number", "minimum": 0, "description": "Weighted evidence against it (sum of one minus the ratings counted)"},
                "known": {"type": "boolean", "description": "Whether a receipt this node holds names it (as agent or publisher), as of the last recomputation"},
                "computed_at_ms": {"type": "integer", "minimum": 0, "description": "When the scores were last recomputed, Unix ms (0: not yet)"}
            }}
    })
}
