//! The OpenAPI 3.1 document of the local API, served at `/openapi.json`.

use serde_json::{Value, json};

/// Every path the API serves, with its method; kept beside the document so a test can check
/// that the two agree.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/openapi.json"),
    ("get", "/metrics"),
    ("get", "/v1/health"),
    ("get", "/v1/info"),
    ("get", "/v1/peers"),
    ("post", "/v1/intents"),
    ("get", "/v1/intents/stream"),
    ("get", "/v1/agents"),
];

fn error_responses() -> Value {
    json!({
        "400": {"description": "Bad input", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "401": {"description": "Missing or wrong bearer token", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn with_errors(mut responses: Value) -> Value {
    if let (Some(map), Value::Object(errors)) = (responses.as_object_mut(), error_responses()) {
        map.extend(errors);
    }
    responses
}

/// The document.
pub fn document() -> Value {
    let caps_param = json!({
        "name": "capabilities", "in": "query", "required": false,
        "description": "Comma-separated capability names, each matching [a-z0-9][a-z0-9._-]{0,63}",
        "schema": {"type": "string", "example": "text-generation,data-analysis"}
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "MESH node local API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Control a MESH node from the same machine. Served on loopback only. Every /v1 endpoint except /v1/health needs `Authorization: Bearer <token>`, the token being the content of $MESH_HOME/api-token. Errors are JSON: {\"error\": {\"code\", \"message\"}}."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "Budget": {"type": "object", "required": ["amount", "currency"], "properties": {"amount": {"type": "string", "example": "2.50"}, "currency": {"type": "string", "example": "USD"}}},
                "Payload": {"type": "object", "required": ["content_type", "data_base64"], "properties": {"content_type": {"type": "string"}, "data_base64": {"type": "string", "contentEncoding": "base64", "description": "At most 48 KiB once decoded"}}},
                "PublishIntentRequest": {"type": "object", "required": ["capabilities", "title"], "properties": {
                    "capabilities": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 16},
                    "title": {"type": "string", "maxLength": 256},
                    "description": {"type": "string", "maxLength": 4096},
                    "budget": {"$ref": "#/components/schemas/Budget"},
                    "ttl_secs": {"type": "integer", "minimum": 1, "maximum": 604800, "default": 3600},
                    "deadline_ms": {"type": "integer"},
                    "payload": {"$ref": "#/components/schemas/Payload"},
                    "min_reputation": {"type": "number", "minimum": 0, "maximum": 1}
                }},
                "PublishOutcome": {"type": "object", "required": ["id", "topics"], "properties": {
                    "id": {"type": "string", "description": "Intent id: SHA-256 of the signed payload, hex"},
                    "topics": {"type": "array", "items": {"type": "object", "required": ["capability", "peers"], "properties": {"capability": {"type": "string"}, "peers": {"type": "integer", "description": "Subscribers known when published; 0 means none was reachable"}}}}
                }},
                "Intent": {"type": "object", "required": ["id", "publisher", "capabilities", "title", "description", "deadline_ms", "created_at_ms", "expires_at_ms", "min_reputation"], "properties": {
                    "id": {"type": "string"}, "publisher": {"type": "string"},
                    "capabilities": {"type": "array", "items": {"type": "string"}},
                    "title": {"type": "string"}, "description": {"type": "string"},
                    "budget": {"$ref": "#/components/schemas/Budget"},
                    "payload": {"$ref": "#/components/schemas/Payload"},
                    "deadline_ms": {"type": "integer"}, "created_at_ms": {"type": "integer"}, "expires_at_ms": {"type": "integer"},
                    "min_reputation": {"type": "number"},
                    "received_from": {"type": "string"}, "received_at_ms": {"type": "integer"}
                }},
                "NodeInfo": {"type": "object", "required": ["peer_id", "listen_addrs", "capabilities", "subscriptions", "connected_peers", "agent_version"], "properties": {
                    "peer_id": {"type": "string"},
                    "listen_addrs": {"type": "array", "items": {"type": "string"}, "description": "Full multiaddrs ending in /p2p/<peer id>"},
                    "capabilities": {"type": "array", "items": {"type": "string"}},
                    "subscriptions": {"type": "array", "items": {"type": "string"}},
                    "connected_peers": {"type": "integer"},
                    "agent_version": {"type": "string"}
                }},
                "Peer": {"type": "object", "required": ["peer_id", "addresses", "connections", "reputation"], "properties": {
                    "peer_id": {"type": "string"}, "addresses": {"type": "array", "items": {"type": "string"}},
                    "rtt_ms": {"type": ["number", "null"]}, "agent_version": {"type": ["string", "null"]},
                    "connections": {"type": "integer"}, "reputation": {"type": "number", "minimum": 0, "maximum": 1}
                }},
                "Skill": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}},
                "Agent": {"type": "object", "required": ["peer_id", "name", "capabilities", "skills", "addresses", "load", "reputation", "expires_at_ms"], "properties": {
                    "peer_id": {"type": "string"}, "name": {"type": "string"},
                    "capabilities": {"type": "array", "items": {"type": "string"}},
                    "skills": {"type": "array", "items": {"$ref": "#/components/schemas/Skill"}},
                    "addresses": {"type": "array", "items": {"type": "string"}},
                    "load": {"type": "number"}, "reputation": {"type": "number", "minimum": 0, "maximum": 1},
                    "rtt_ms": {"type": ["number", "null"]}, "expires_at_ms": {"type": "integer"}
                }}
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": ok("OpenAPI document", json!({"type": "object"}))}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (OpenMetrics text)", "security": [], "responses": {"200": {"description": "Metrics", "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}}}}},
            "/v1/health": {"get": {"summary": "Liveness", "security": [], "responses": {"200": ok("Alive", json!({"type": "object", "properties": {"status": {"type": "string"}}}))}}},
            "/v1/info": {"get": {"summary": "This node", "responses": with_errors(json!({"200": ok("Node info", json!({"$ref": "#/components/schemas/NodeInfo"}))}))}},
            "/v1/peers": {"get": {"summary": "Connected peers", "responses": with_errors(json!({"200": ok("Peers, best reputation first", json!({"type": "array", "items": {"$ref": "#/components/schemas/Peer"}}))}))}},
            "/v1/intents": {"post": {
                "summary": "Sign and publish an intent on the topic of each of its capabilities",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PublishIntentRequest"}}}},
                "responses": with_errors(json!({"201": ok("Published", json!({"$ref": "#/components/schemas/PublishOutcome"})), "413": {"description": "Body over 256 KiB"}}))
            }},
            "/v1/intents/stream": {"get": {
                "summary": "Server-Sent Events: one `intent` event (data: Intent JSON, id: intent id) per verified intent",
                "description": "With `capabilities`, the node joins those topics and only their intents are sent; without, every intent on the node's topics.",
                "parameters": [caps_param.clone()],
                "responses": with_errors(json!({"200": {"description": "Event stream", "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/Intent"}}}}}))
            }},
            "/v1/agents": {"get": {
                "summary": "Discover agents offering every named capability, best first",
                "parameters": [
                    caps_param,
                    {"name": "min_reputation", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": 1, "default": 0}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20}}
                ],
                "responses": with_errors(json!({"200": ok("Agents", json!({"type": "array", "items": {"$ref": "#/components/schemas/Agent"}}))}))
            }}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_lists_exactly_the_routes() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        let mut listed: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(p, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (m.clone(), p.clone()))
            })
            .collect();
        listed.sort();
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        routes.sort();
        assert_eq!(listed, routes);
    }
}
