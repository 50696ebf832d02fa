//! `GET /v1/reachability`: where the node stands (AutoNAT, NAT and UPnP, addresses, relay
//! reservations, direct and relayed peers) and what to do about it; `mesh doctor` prints it.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use mesh_net::ReachabilityReport;
use serde_json::{Value, json};

use super::error::ApiError;
use super::state::ApiState;

/// The routes, to be merged behind the token check.
pub fn routes() -> Router<ApiState> {
    Router::new().route("/v1/reachability", get(reachability))
}

async fn reachability(State(state): State<ApiState>) -> Result<Json<ReachabilityReport>, ApiError> {
    Ok(Json(state.handle.reachability().await?))
}

/// The OpenAPI path item of `/v1/reachability`.
pub fn openapi_path(errors: Value) -> Value {
    let mut responses = json!({"200": {"description": "Reachability report", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Reachability"}}}}});
    if let (Some(map), Value::Object(errors)) = (responses.as_object_mut(), errors) {
        map.extend(errors);
    }
    json!({"get": {
        "summary": "Reachability: AutoNAT's verdict and why, NAT and UPnP, listen, observed and external addresses, relay reservations, each peer direct or relayed, and advice",
        "responses": responses
    }})
}

/// The OpenAPI schemas of the report.
pub fn openapi_schemas() -> Value {
    let strings = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "Reachability": {"type": "object",
            "required": ["role", "status", "reason", "confidence", "nat", "upnp", "listen_addrs", "observed_addrs", "external_addrs", "reservations", "peers", "hole_punching", "advice"],
            "properties": {
                "role": {"type": "string", "enum": ["agent", "coordinator"]},
                "status": {"type": "string", "enum": ["public", "private", "unknown"], "description": "AutoNAT's verdict"},
                "reason": {"type": "string", "description": "Why, in plain words (the last probe's outcome)"},
                "confidence": {"type": "integer", "minimum": 0, "description": "Probes in a row that agreed"},
                "public_address": {"type": ["string", "null"], "description": "The address a peer dialled back, when public"},
                "nat": {"type": "string", "description": "The NAT in plain words, UPnP and hole punching included"},
                "upnp": {"type": "string", "description": "off, searching, mapped <addr>, no gateway, gateway not public"},
                "listen_addrs": strings.clone(),
                "observed_addrs": {"type": "array", "items": {"type": "string"}, "description": "Where peers saw this node's connections come from"},
                "external_addrs": {"type": "array", "items": {"type": "string"}, "description": "Confirmed reachable addresses (AutoNAT, UPnP, relay, configured)"},
                "reservations": {"type": "array", "items": {"$ref": "#/components/schemas/RelayReservation"}},
                "peers": {"type": "array", "items": {"$ref": "#/components/schemas/PeerPath"}},
                "hole_punching": {"type": "object", "required": ["attempts", "successes", "recent_errors"], "properties": {
                    "attempts": {"type": "integer"}, "successes": {"type": "integer"}, "recent_errors": strings.clone()
                }},
                "advice": {"type": "array", "items": {"type": "string"}, "description": "What to do, if anything"}
            }},
        "RelayReservation": {"type": "object", "required": ["relay", "address", "state", "renewals", "configured"], "properties": {
            "relay": {"type": "string"},
            "address": {"type": "string", "description": "Where peers reach this node through the relay"},
            "state": {"type": "string", "enum": ["requested", "active", "failed"]},
            "renewals": {"type": "integer"},
            "last_error": {"type": ["string", "null"]},
            "configured": {"type": "boolean", "description": "From --relay rather than from AutoNAT"}
        }},
        "PeerPath": {"type": "object", "required": ["peer_id", "path", "direct", "relayed"], "properties": {
            "peer_id": {"type": "string"},
            "path": {"type": "string", "enum": ["direct", "relayed"]},
            "direct": {"type": "integer"}, "relayed": {"type": "integer"},
            "upgraded_after_ms": {"type": ["integer", "null"], "description": "From the first relayed connection to the first direct one"}
        }}
    })
}
