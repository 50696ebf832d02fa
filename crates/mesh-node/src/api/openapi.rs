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
    ("post", "/v1/peers"),
    ("put", "/v1/load"),
    ("get", "/v1/intents/{id}/offers"),
    ("post", "/v1/intents"),
    ("get", "/v1/intents"),
    ("get", "/v1/intents/stream"),
    ("get", "/v1/intents/{id}"),
    ("post", "/v1/intents/{id}/cancel"),
    ("post", "/v1/intents/{id}/award"),
    ("get", "/v1/negotiations/stream"),
    ("get", "/v1/agents"),
    ("get", "/v1/negotiations"),
    ("post", "/v1/negotiations/offer"),
    ("get", "/v1/negotiations/{id}"),
    ("post", "/v1/negotiations/{id}/counter"),
    ("post", "/v1/negotiations/{id}/accept"),
    ("post", "/v1/negotiations/{id}/reject"),
    ("post", "/v1/negotiations/{id}/withdraw"),
    ("post", "/v1/negotiations/{id}/cancel"),
    ("post", "/v1/negotiations/{id}/deliver"),
    ("post", "/v1/negotiations/{id}/receipt"),
    ("get", "/v1/reachability"),
    ("get", "/v1/peers/{peer_id}/reputation"),
];

fn error_responses() -> Value {
    json!({
        "400": {"description": "Bad input", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "401": {"description": "Missing or wrong bearer token", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "429": {"description": "Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
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

fn step(summary: &str, body: Option<&str>, id_param: &Value) -> Value {
    let mut op = json!({
        "summary": summary,
        "parameters": [id_param],
        "responses": with_errors(json!({
            "200": ok("Sent and acknowledged by the other party", json!({"$ref": "#/components/schemas/NegotiationEvent"})),
            "404": {"description": "Unknown negotiation"},
            "409": {"description": "Refused: illegal in this state, or by the other party"},
            "502": {"description": "The other party is unreachable"}
        }))
    });
    if let (Some(schema), Some(map)) = (body, op.as_object_mut()) {
        map.insert(
            "requestBody".into(),
            json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}}),
        );
    }
    op
}

/// The document.
pub fn document() -> Value {
    let mut doc = base_document();
    doc["paths"]["/v1/reachability"] = super::reachability::openapi_path(error_responses());
    doc["paths"]["/v1/peers/{peer_id}/reputation"] =
        super::reputation::openapi_path(error_responses());
    for more in [
        super::reachability::openapi_schemas(),
        super::reputation::openapi_schemas(),
    ] {
        if let (Some(schemas), Value::Object(more)) =
            (doc["components"]["schemas"].as_object_mut(), more)
        {
            schemas.extend(more);
        }
    }
    doc
}

fn base_document() -> Value {
    let id_param = json!({
        "name": "id", "in": "path", "required": true,
        "description": "Negotiation id, 64 hex digits",
        "schema": {"type": "string"}
    });
    let intent_param = json!({
        "name": "id", "in": "path", "required": true,
        "description": "Intent id, 64 hex digits",
        "schema": {"type": "string"}
    });
    let caps_param = json!({
        "name": "capabilities", "in": "query", "required": false,
        "description": "Comma-separated capability names, each matching [a-z0-9][a-z0-9._-]{0,63}",
        "schema": {"type": "string", "example": "text-generation,data-analysis"}
    });
    let resume_params = json!([
        {
            "name": "Last-Event-ID", "in": "header", "required": false,
            "description": "Resume after this event: the decimal `id:` of the last event received. Every event the node's log still holds after it (of this stream's kinds, and for intents matching `capabilities`) is sent first, in order, then live events, none twice. Browsers' EventSource sends it on reconnect. A value that is not a decimal number is ignored (live events only, with a comment saying so).",
            "schema": {"type": "string", "pattern": "^[0-9]+$", "example": "1042"}
        },
        {
            "name": "last_event_id", "in": "query", "required": false,
            "description": "The same as the Last-Event-ID header, for clients that cannot set headers; the header wins when both are present. 0 replays the whole log. Not a decimal number: 400 `invalid_last_event_id`.",
            "schema": {"type": "integer", "minimum": 0}
        },
        {
            "name": "cursor", "in": "query", "required": false,
            "description": "A name for this stream (1 to 64 of a-z, 0-9, '.', '_', '-'). The node saves the id of the last event it handed to the connection under it, and a later connection with the same name and no event id resumes after that. An event in flight when a connection breaks may be past the saved position: use Last-Event-ID to get every event exactly once. Bad name: 400 `invalid_cursor`.",
            "schema": {"type": "string", "pattern": "^[a-z0-9._-]{1,64}$", "example": "worker-1"}
        }
    ]);
    let stream_description = "Every event has `id:` its sequence number in the node's event log, a decimal string that increases across event kinds and node restarts (the log lives in the node's store and keeps the newest 100,000 events). The stream starts with `retry: 2000`. A resume point older than the log gets what the log holds, after a comment line `: log starts at N`; one ahead of the log gets live events, after a comment. Comment lines (`:`) are keep-alives (every 15 s) or such notes. A client that falls behind loses nothing the log still holds. The stream ends when the node stops.";
    let mut intents_stream_params = vec![caps_param.clone()];
    let mut negotiations_stream_params = Vec::new();
    if let Value::Array(params) = &resume_params {
        intents_stream_params.extend(params.iter().cloned());
        negotiations_stream_params.extend(params.iter().cloned());
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "MESH node local API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Control a MESH node from the same machine. Served on loopback only, and only to requests whose Host is loopback (localhost, 127.0.0.0/8, [::1], any port): others get 403 `host_not_allowed`. Every endpoint except /v1/health (which says `{\"status\": \"ok\"}` and nothing else) needs `Authorization: Bearer <token>`, the token being the content of $MESH_HOME/api-token. Requests with the token have a budget of their own (500 a second, bursts of 1,000), apart from those without (20 a second, bursts of 40). At most 64 event streams and award requests are held open at once; past it they get 503 `too_many_streams`. Errors are JSON: {\"error\": {\"code\", \"message\"}}."
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
                "IntentUpdate": {"type": "object", "required": ["id", "status"], "properties": {
                    "id": {"type": "string", "description": "Intent id, 64 hex digits"},
                    "status": {"type": "string", "description": "The intent's new status; `cancelled` today"},
                    "reason": {"type": "string", "description": "The publisher's reason, for a cancellation"},
                    "capabilities": {"type": "array", "items": {"type": "string"}, "description": "The intent's capabilities; absent when the node no longer held the intent (such updates go to every intent stream)"}
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
                "IntentStatus": {"type": "string", "enum": ["open", "negotiating", "agreed", "delivered", "completed", "expired", "cancelled"]},
                "IntentView": {"type": "object", "required": ["id", "publisher", "own", "status", "title", "capabilities", "min_reputation", "created_at_ms", "expires_at_ms", "negotiations"], "properties": {
                    "id": {"type": "string"}, "publisher": {"type": "string"},
                    "own": {"type": "boolean", "description": "Published by this node"},
                    "status": {"$ref": "#/components/schemas/IntentStatus"},
                    "title": {"type": "string"}, "capabilities": {"type": "array", "items": {"type": "string"}},
                    "budget": {"type": "string", "example": "2.50 USD"}, "min_reputation": {"type": "number"},
                    "created_at_ms": {"type": "integer"}, "expires_at_ms": {"type": "integer"},
                    "negotiations": {"type": "integer", "description": "This node's negotiations on it"},
                    "cancel_reason": {"type": "string"}
                }},
                "CancelRequest": {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 1024}}},
                "CancelOutcome": {"type": "object", "required": ["id", "topics", "withdrawn"], "properties": {
                    "id": {"type": "string"}, "topics": {"type": "array", "items": {"type": "string"}, "description": "Topics the signed cancellation was published on"},
                    "withdrawn": {"type": "integer", "description": "Open negotiations withdrawn"}
                }},
                "Offer": {"type": "object", "required": ["negotiation_id", "agent", "amount", "currency", "due_at_ms", "reputation"], "properties": {
                    "negotiation_id": {"type": "string"}, "agent": {"type": "string"},
                    "amount": {"type": "string"}, "currency": {"type": "string"},
                    "due_at_ms": {"type": "integer"}, "reputation": {"type": "number"}
                }},
                "AwardRequest": {"type": "object", "properties": {
                    "window_ms": {"type": "integer", "minimum": 0, "maximum": 300000, "default": 0, "description": "Collect offers this long before choosing"},
                    "min_reputation": {"type": "number", "minimum": 0, "maximum": 1, "description": "Default: the intent's own minimum"},
                    "counter_at": {"$ref": "#/components/schemas/Budget"},
                    "answer_wait_ms": {"type": "integer", "minimum": 0, "maximum": 300000, "default": 10000}
                }},
                "AwardOutcome": {"type": "object", "required": ["offers", "declined"], "properties": {
                    "accepted": {"type": "string", "description": "The agreed negotiation; absent when no offer qualified"},
                    "agent": {"type": "string"}, "price": {"type": "string"},
                    "countered": {"type": "string"}, "offers": {"type": "integer"},
                    "declined": {"type": "array", "items": {"type": "string"}}
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
                    "connections": {"type": "integer"}, "reputation": {"type": "number", "minimum": 0, "maximum": 1},
                    "gossip_score": {"type": ["number", "null"], "description": "The peer's gossipsub score at this node: below 0 it is pruned from the node's meshes, below -80 its gossip is ignored"}
                }},
                "Proposal": {"type": "object", "required": ["amount", "currency", "eta_secs"], "properties": {
                    "amount": {"type": "string", "example": "2.50"}, "currency": {"type": "string", "example": "USD"},
                    "eta_secs": {"type": "integer", "minimum": 1, "description": "Delivery within this many seconds of the agreement"},
                    "terms": {"type": "string", "maxLength": 4096}
                }},
                "OfferRequest": {"allOf": [{"$ref": "#/components/schemas/Proposal"}, {"type": "object", "required": ["intent_id"], "properties": {"intent_id": {"type": "string", "description": "64 hex digits"}}}]},
                "Reason": {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 1024}}},
                "DeliverRequest": {"type": "object", "description": "Either data_base64 (with content_type) or location with digest", "properties": {
                    "content_type": {"type": "string"}, "data_base64": {"type": "string", "contentEncoding": "base64", "description": "At most 48 KiB decoded"},
                    "location": {"type": "string"}, "digest": {"type": "string", "description": "SHA-256 of the result at location, hex"}
                }},
                "ReceiptRequest": {"type": "object", "required": ["rating"], "properties": {"rating": {"type": "number", "minimum": 0, "maximum": 1}, "comment": {"type": "string", "maxLength": 1024}}},
                "NegotiationEvent": {"type": "object", "required": ["negotiation_id", "intent_id", "peer", "role", "seq", "kind", "received", "state"], "properties": {
                    "negotiation_id": {"type": "string"}, "intent_id": {"type": "string"}, "peer": {"type": "string"},
                    "role": {"type": "string", "enum": ["publisher", "agent"]}, "seq": {"type": "integer"},
                    "kind": {"type": "string", "enum": ["offer", "counter", "accept", "reject", "withdraw", "deliver", "receipt", "timeout"], "description": "`timeout`: the negotiation expired and left a commitment unmet (see `fault`)"},
                    "received": {"type": "boolean"},
                    "state": {"type": "string", "enum": ["awaiting_offer", "offered", "countered", "agreed", "delivered", "completed", "rejected", "withdrawn", "expired"]},
                    "price": {"type": "string"},
                    "fault": {"$ref": "#/components/schemas/Fault"}
                }},
                "Fault": {"type": "object", "description": "A party's broken commitment, kept with the negotiation as evidence", "required": ["kind", "by", "peer", "at_ms"], "properties": {
                    "kind": {"type": "string", "enum": ["non_delivery", "missing_receipt"]},
                    "by": {"type": "string", "enum": ["publisher", "agent"]},
                    "peer": {"type": "string"}, "at_ms": {"type": "integer"}
                }},
                "NegotiationSummary": {"type": "object", "required": ["negotiation_id", "intent_id", "publisher", "agent", "role", "state", "messages"], "properties": {
                    "negotiation_id": {"type": "string"}, "intent_id": {"type": "string"}, "publisher": {"type": "string"}, "agent": {"type": "string"},
                    "role": {"type": "string"}, "state": {"type": "string"}, "messages": {"type": "integer"}, "price": {"type": "string"},
                    "proposal": {"type": "object", "properties": {"amount": {"type": "string"}, "currency": {"type": "string"}, "due_at_ms": {"type": "integer"}, "terms": {"type": "string"}}},
                    "due_at_ms": {"type": "integer", "description": "Once agreed: when the delivery is due, Unix ms; from then on the publisher may cancel an undelivered agreement"},
                    "fault": {"$ref": "#/components/schemas/Fault"}
                }},
                "TranscriptJson": {"type": "object", "required": ["format", "envelopes"], "properties": {"format": {"type": "string", "const": "mesh-negotiation-transcript/1"}, "envelopes": {"type": "array", "items": {"type": "string", "description": "Signed envelope, hex"}}}},
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
            "/openapi.json": {"get": {"summary": "This document", "responses": with_errors(json!({"200": ok("OpenAPI document", json!({"type": "object"}))}))}},
            "/metrics": {"get": {"summary": "Prometheus metrics (OpenMetrics text)", "responses": with_errors(json!({"200": {"description": "Metrics", "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}}}))}},
            "/v1/health": {"get": {"summary": "Liveness, without the token: `{\"status\": \"ok\"}` and nothing else", "security": [], "responses": {"200": ok("Alive", json!({"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "const": "ok"}}}))}}},
            "/v1/info": {"get": {"summary": "This node", "responses": with_errors(json!({"200": ok("Node info", json!({"$ref": "#/components/schemas/NodeInfo"}))}))}},
            "/v1/peers": {"get": {"summary": "Connected peers", "responses": with_errors(json!({"200": ok("Peers, best reputation first", json!({"type": "array", "items": {"$ref": "#/components/schemas/Peer"}}))}))},
                "post": {"summary": "Dial a peer", "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["address"], "properties": {"address": {"type": "string", "description": "Multiaddr, ideally ending in /p2p/<peer id>"}}}}}},
                    "responses": with_errors(json!({"202": {"description": "Dialling"}, "502": {"description": "The dial could not start"}}))}},
            "/v1/load": {"put": {"summary": "Set the load this agent advertises in its agent record", "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["load"], "properties": {"load": {"type": "number", "minimum": 0, "maximum": 1}}}}}},
                "responses": with_errors(json!({"204": {"description": "Set; the record is re-announced"}}))}},
            "/v1/intents": {"get": {
                "summary": "Intents this node knows with their lifecycle status: its own (newest first), then open ones from the network",
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}],
                "responses": with_errors(json!({"200": ok("Intents", json!({"type": "array", "items": {"$ref": "#/components/schemas/IntentView"}}))}))
            }, "post": {
                "summary": "Sign and publish an intent on the topic of each of its capabilities",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PublishIntentRequest"}}}},
                "responses": with_errors(json!({"201": ok("Published", json!({"$ref": "#/components/schemas/PublishOutcome"})), "413": {"description": "Body over 256 KiB"}}))
            }},
            "/v1/intents/stream": {"get": {
                "summary": "Server-Sent Events: an `intent` event (data: Intent JSON) per verified intent received, an `intent_update` event (data: IntentUpdate JSON) per cancellation; resumable with Last-Event-ID",
                "description": format!("With `capabilities`, the node joins those topics and only their intents, and updates of them, are sent; without, every intent on the node's topics. {stream_description}"),
                "parameters": intents_stream_params,
                "responses": with_errors(json!({"200": {"description": "Event stream", "content": {"text/event-stream": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Intent"}, {"$ref": "#/components/schemas/IntentUpdate"}]}}}}, "503": {"description": "`too_many_streams`: as many event streams and award requests as the node allows (64 by default) are open; close one and retry", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}))
            }},
            "/v1/intents/{id}": {"get": {
                "summary": "One intent with its lifecycle status",
                "parameters": [intent_param.clone()],
                "responses": with_errors(json!({"200": ok("Intent", json!({"$ref": "#/components/schemas/IntentView"})), "404": {"description": "Unknown intent"}}))
            }},
            "/v1/intents/{id}/cancel": {"post": {
                "summary": "Cancel an intent this node published and nobody was awarded: the signed cancellation travels like the intent and open offers are withdrawn",
                "parameters": [intent_param.clone()],
                "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CancelRequest"}}}},
                "responses": with_errors(json!({"200": ok("Cancelled", json!({"$ref": "#/components/schemas/CancelOutcome"})), "403": {"description": "Not this node's intent"}, "404": {"description": "Unknown intent"}, "409": {"description": "Already agreed, expired or cancelled"}}))
            }},
            "/v1/intents/{id}/award": {"post": {
                "summary": "Award an intent this node published: collect offers for the window, choose the lowest price among eligible agents (ties: reputation, then ETA), counter where asked, accept exactly one and reject the rest",
                "parameters": [intent_param],
                "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AwardRequest"}}}},
                "responses": with_errors(json!({"200": ok("What was done; `accepted` is absent when no offer qualified", json!({"$ref": "#/components/schemas/AwardOutcome"})), "403": {"description": "Not this node's intent"}, "404": {"description": "Unknown intent"}, "409": {"description": "The intent takes no more offers"}, "503": {"description": "`too_many_streams`: as many event streams and award requests as the node allows (64 by default) are open; close one and retry", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}))
            }},
            "/v1/intents/{id}/offers": {"get": {
                "summary": "Open offers on an intent this node published, with this node's reputation of each agent",
                "parameters": [{"name": "id", "in": "path", "required": true, "description": "Intent id, 64 hex digits", "schema": {"type": "string"}}],
                "responses": with_errors(json!({"200": ok("Offers", json!({"type": "array", "items": {"$ref": "#/components/schemas/Offer"}}))}))
            }},
            "/v1/negotiations/stream": {"get": {
                "summary": "Server-Sent Events: one `negotiation` event (data: NegotiationEvent JSON) per message taken into this node's negotiations, sent or received; resumable with Last-Event-ID",
                "description": stream_description,
                "parameters": negotiations_stream_params,
                "responses": with_errors(json!({"200": {"description": "Event stream", "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/NegotiationEvent"}}}}, "503": {"description": "`too_many_streams`: as many event streams and award requests as the node allows (64 by default) are open; close one and retry", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}))
            }},
            "/v1/negotiations": {"get": {"summary": "This node's negotiations", "responses": with_errors(json!({"200": ok("Negotiations", json!({"type": "array", "items": {"$ref": "#/components/schemas/NegotiationSummary"}}))}))}},
            "/v1/negotiations/offer": {"post": {
                "summary": "Bid on an intent this node has seen: opens a negotiation with its publisher",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OfferRequest"}}}},
                "responses": with_errors(json!({"201": ok("Sent and acknowledged", json!({"$ref": "#/components/schemas/NegotiationEvent"})), "404": {"description": "Intent not open here"}, "409": {"description": "Refused: illegal now, or by the other party"}, "502": {"description": "Publisher unreachable"}}))
            }},
            "/v1/negotiations/{id}": {"get": {
                "summary": "One negotiation and its signed transcript (exportable, verifiable offline)",
                "parameters": [id_param.clone()],
                "responses": with_errors(json!({"200": ok("Detail", json!({"type": "object", "properties": {"summary": {"$ref": "#/components/schemas/NegotiationSummary"}, "transcript": {"$ref": "#/components/schemas/TranscriptJson"}}})), "404": {"description": "Unknown negotiation"}}))
            }},
            "/v1/negotiations/{id}/counter": {"post": step("Counter the agent's offer (publisher)", Some("Proposal"), &id_param)},
            "/v1/negotiations/{id}/accept": {"post": step("Accept the other party's outstanding proposal", None, &id_param)},
            "/v1/negotiations/{id}/reject": {"post": step("Reject the outstanding proposal, ending the negotiation", Some("Reason"), &id_param)},
            "/v1/negotiations/{id}/withdraw": {"post": step("Withdraw before an agreement", Some("Reason"), &id_param)},
            "/v1/negotiations/{id}/cancel": {"post": step("Cancel an agreement whose delivery is overdue (publisher; 409 not_overdue before the due time); the intent may then be awarded again", Some("Reason"), &id_param)},
            "/v1/negotiations/{id}/deliver": {"post": step("Deliver the agreed work (agent)", Some("DeliverRequest"), &id_param)},
            "/v1/negotiations/{id}/receipt": {"post": step("Rate the delivery, completing the negotiation (publisher)", Some("ReceiptRequest"), &id_param)},
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
