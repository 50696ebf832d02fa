//! The negotiation endpoints of the local API (`/v1/negotiations...`).

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use mesh_core::IntentId;
use mesh_core::negotiation::{
    Body, Delivery, Eta, NegotiationError, NegotiationId, Price, Proposal, Receipt,
};
use mesh_net::{NegotiationEvent, NegotiationSummary};
use serde::{Deserialize, Serialize};

use super::body::{JsonBody, OptionalJsonBody};
use super::error::ApiError;
use super::state::ApiState;

/// Body of `POST /v1/negotiations/offer`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfferRequest {
    /// The intent to bid on, 64 hex digits.
    pub intent_id: String,
    /// The terms.
    #[serde(flatten)]
    pub proposal: ProposalRequest,
}

/// Terms of an offer or counter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposalRequest {
    /// Decimal amount, e.g. `"2.50"`.
    pub amount: String,
    /// Currency code, e.g. `"USD"`.
    pub currency: String,
    /// Delivery within this many seconds of the agreement.
    pub eta_secs: u64,
    /// Free-text conditions.
    #[serde(default)]
    pub terms: String,
}

/// Body of `reject` and `withdraw`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReasonRequest {
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// Body of `deliver`: the result inline (base64) or at a location with its SHA-256.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeliverRequest {
    /// Media type of an inline result.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The inline result, base64.
    #[serde(default)]
    pub data_base64: Option<String>,
    /// Where the result can be fetched.
    #[serde(default)]
    pub location: Option<String>,
    /// SHA-256 of the result at `location`, 64 hex digits.
    #[serde(default)]
    pub digest: Option<String>,
}

/// Body of `receipt`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceiptRequest {
    /// Rating in `[0, 1]`.
    pub rating: f64,
    /// Comment.
    #[serde(default)]
    pub comment: String,
}

/// One negotiation with its exportable transcript.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NegotiationDetail {
    /// Where it stands.
    pub summary: NegotiationSummary,
    /// The signed transcript, in its JSON form (`mesh negotiations verify` reads it).
    pub transcript: mesh_core::negotiation::TranscriptJson,
}

/// The routes, to be merged behind the token check.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/negotiations", get(list))
        .route("/v1/negotiations/offer", post(offer))
        .route("/v1/negotiations/{id}", get(show))
        .route("/v1/negotiations/{id}/counter", post(counter))
        .route("/v1/negotiations/{id}/accept", post(accept))
        .route("/v1/negotiations/{id}/reject", post(reject))
        .route("/v1/negotiations/{id}/withdraw", post(withdraw))
        .route("/v1/negotiations/{id}/cancel", post(cancel_agreement))
        .route("/v1/negotiations/{id}/deliver", post(deliver))
        .route("/v1/negotiations/{id}/receipt", post(receipt))
}

fn negotiation_error(e: NegotiationError) -> ApiError {
    match e {
        NegotiationError::BadPrice { .. } => ApiError::bad_request("invalid_price", e.to_string()),
        other => ApiError::bad_request("invalid_message", other.to_string()),
    }
}

fn parse_id(id: &str) -> Result<NegotiationId, ApiError> {
    id.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_negotiation_id",
            format!("{id:?} is not a negotiation id: use the 64 hex digits `mesh negotiations list` shows"),
        )
    })
}

fn proposal(p: &ProposalRequest) -> Result<Proposal, ApiError> {
    let price = Price::new(&p.amount, &p.currency).map_err(negotiation_error)?;
    if p.eta_secs == 0 {
        return Err(ApiError::bad_request(
            "invalid_eta",
            "eta_secs must be at least 1",
        ));
    }
    Ok(
        Proposal::new(price, Eta::Within(Duration::from_secs(p.eta_secs)))
            .with_terms(p.terms.clone()),
    )
}

async fn list(State(state): State<ApiState>) -> Result<Json<Vec<NegotiationSummary>>, ApiError> {
    Ok(Json(state.handle.negotiations().await?))
}

async fn show(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<NegotiationDetail>, ApiError> {
    let nid = parse_id(&id)?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_negotiation",
            format!("this node takes no part in negotiation {id}: see `mesh negotiations list`"),
        )
    };
    let transcript = state.handle.transcript(nid).await?.ok_or_else(not_found)?;
    let summary = state
        .handle
        .negotiations()
        .await?
        .into_iter()
        .find(|n| n.negotiation_id == id.to_lowercase())
        .ok_or_else(not_found)?;
    Ok(Json(NegotiationDetail {
        summary,
        transcript: transcript.to_json(),
    }))
}

async fn offer(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<OfferRequest>,
) -> Result<(StatusCode, Json<NegotiationEvent>), ApiError> {
    let intent: IntentId = request.intent_id.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_intent_id",
            "intent_id must be the 64 hex digits `mesh intents watch` shows",
        )
    })?;
    let p = proposal(&request.proposal)?;
    let event = state.handle.offer(intent, p).await?;
    Ok((StatusCode::CREATED, Json(event)))
}

async fn send(state: &ApiState, id: &str, body: Body) -> Result<Json<NegotiationEvent>, ApiError> {
    let nid = parse_id(id)?;
    Ok(Json(state.handle.reply(nid, body).await?))
}

async fn counter(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ProposalRequest>,
) -> Result<Json<NegotiationEvent>, ApiError> {
    send(&state, &id, Body::Counter(proposal(&request)?)).await
}

async fn accept(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<NegotiationEvent>, ApiError> {
    send(&state, &id, Body::Accept).await
}

async fn reject(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ReasonRequest>,
) -> Result<Json<NegotiationEvent>, ApiError> {
    let reason = body.reason;
    send(&state, &id, Body::Reject { reason }).await
}

/// Cancels an overdue agreement (publisher): a `Withdraw` after the agreed due time; refused
/// as `not_overdue` (409) before it.
async fn cancel_agreement(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ReasonRequest>,
) -> Result<Json<NegotiationEvent>, ApiError> {
    let reason = body.reason;
    send(&state, &id, Body::Withdraw { reason }).await
}

async fn withdraw(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ReasonRequest>,
) -> Result<Json<NegotiationEvent>, ApiError> {
    let reason = body.reason;
    send(&state, &id, Body::Withdraw { reason }).await
}

async fn deliver(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<DeliverRequest>,
) -> Result<Json<NegotiationEvent>, ApiError> {
    let delivery = match (&request.data_base64, &request.location, &request.digest) {
        (Some(data), None, _) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| {
                    ApiError::bad_request(
                        "invalid_result",
                        format!("data_base64 is not base64: {e}"),
                    )
                })?;
            let content_type = request
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".to_owned());
            Delivery::inline(content_type, bytes)
        }
        (None, Some(location), Some(digest)) => {
            let digest: [u8; 32] = hex_digest(digest)?;
            Delivery::at_location(location.clone(), digest)
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_result",
                "send either data_base64 (with content_type) or location with its SHA-256 digest",
            ));
        }
    };
    send(&state, &id, Body::Deliver(delivery)).await
}

fn hex_digest(text: &str) -> Result<[u8; 32], ApiError> {
    hex::decode(text)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            ApiError::bad_request("invalid_digest", "digest must be 64 hex digits (SHA-256)")
        })
}

async fn receipt(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ReceiptRequest>,
) -> Result<Json<NegotiationEvent>, ApiError> {
    if !(0.0..=1.0).contains(&request.rating) {
        return Err(ApiError::bad_request(
            "invalid_rating",
            format!("rating {} is outside [0, 1]", request.rating),
        ));
    }
    let receipt = Receipt::new(request.rating).with_comment(request.comment);
    send(&state, &id, Body::Receipt(receipt)).await
}
