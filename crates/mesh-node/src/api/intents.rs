//! The intent endpoints of the local API: publish an intent, list and show intents with their
//! status, cancel one, award one, and list the offers on one. Their event stream is in
//! [`streams`](super::streams).

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use mesh_core::IntentId;
use mesh_core::negotiation::Price;
use mesh_net::{AwardOutcome, AwardPolicy, CancelOutcome, IntentView, LowestPrice};
use serde::{Deserialize, Serialize};

use super::body::{JsonBody, OptionalJsonBody};
use super::error::ApiError;
use super::state::ApiState;
use crate::views::PublishIntentRequest;

/// Longest offer window or answer wait an award request may ask for.
pub const MAX_AWARD_WAIT: Duration = Duration::from_secs(300);
/// Most intents listed at once.
pub const MAX_INTENTS_LISTED: usize = 1000;

/// Query of `GET /v1/intents`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    /// Most intents returned (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// Body of `POST /v1/intents/{id}/cancel`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CancelRequest {
    /// Why, for people (at most 1 KiB).
    #[serde(default)]
    pub reason: String,
}

/// A price in a request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PriceRequest {
    /// Decimal amount, e.g. `"1.50"`.
    pub amount: String,
    /// Currency code, e.g. `"USD"`.
    pub currency: String,
}

/// Body of `POST /v1/intents/{id}/award`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AwardRequest {
    /// How long to collect offers before choosing, in milliseconds (default 0: choose among
    /// the offers already in; at most 300,000).
    #[serde(default)]
    pub window_ms: u64,
    /// Lowest reputation of an eligible agent; default: the intent's own minimum.
    #[serde(default)]
    pub min_reputation: Option<f64>,
    /// Counter the chosen offer at this price when it asks more.
    #[serde(default)]
    pub counter_at: Option<PriceRequest>,
    /// How long to wait for the answer to a counter, in milliseconds (default 10,000).
    #[serde(default)]
    pub answer_wait_ms: Option<u64>,
}

/// The routes, to be merged behind the token check.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/intents", get(list).post(publish))
        .route("/v1/intents/{id}", get(show))
        .route("/v1/intents/{id}/cancel", post(cancel))
        .route("/v1/intents/{id}/award", post(award))
        .route("/v1/intents/{id}/offers", get(offers))
}

fn parse_intent_id(id: &str) -> Result<IntentId, ApiError> {
    id.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_intent_id",
            format!("{id:?} is not an intent id: use the 64 hex digits `mesh intents list` shows"),
        )
    })
}

fn wait(ms: u64, field: &str) -> Result<Duration, ApiError> {
    let d = Duration::from_millis(ms);
    if d > MAX_AWARD_WAIT {
        return Err(ApiError::bad_request(
            "invalid_award",
            format!("{field} {ms} exceeds {} ms", MAX_AWARD_WAIT.as_millis()),
        ));
    }
    Ok(d)
}

async fn publish(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<PublishIntentRequest>,
) -> Result<(StatusCode, Json<mesh_net::PublishOutcome>), ApiError> {
    let intent = request
        .to_intent()
        .map_err(|m| ApiError::bad_request("invalid_intent", m))?;
    let outcome = state.handle.publish_intent(&intent).await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

async fn list(
    State(state): State<ApiState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<IntentView>>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_INTENTS_LISTED);
    Ok(Json(state.handle.intents(limit).await?))
}

async fn show(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<IntentView>, ApiError> {
    let intent = parse_intent_id(&id)?;
    state.handle.intent(intent).await?.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_intent",
            format!("intent {id} is not known to this node: see `mesh intents list`"),
        )
    })
}

async fn cancel(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<CancelRequest>,
) -> Result<Json<CancelOutcome>, ApiError> {
    let intent = parse_intent_id(&id)?;
    let reason = body.reason;
    if reason.len() > mesh_core::cancellation::MAX_CANCEL_REASON_BYTES {
        return Err(ApiError::bad_request(
            "invalid_reason",
            "the reason is longer than 1024 bytes",
        ));
    }
    Ok(Json(state.handle.cancel_intent(intent, reason).await?))
}

async fn award(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<AwardRequest>,
) -> Result<Json<AwardOutcome>, ApiError> {
    let intent = parse_intent_id(&id)?;
    let request = body;
    if let Some(min) = request.min_reputation
        && !(0.0..=1.0).contains(&min)
    {
        return Err(ApiError::bad_request(
            "invalid_min_reputation",
            format!("min_reputation {min} is outside [0, 1]"),
        ));
    }
    let counter_at = request
        .counter_at
        .map(|p| Price::new(&p.amount, &p.currency))
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_price", e.to_string()))?;
    let policy = AwardPolicy {
        window: wait(request.window_ms, "window_ms")?,
        min_reputation: request.min_reputation,
        counter_at,
        answer_wait: wait(request.answer_wait_ms.unwrap_or(10_000), "answer_wait_ms")?,
    };
    let strategy = LowestPrice::new(0.0);
    // The award may wait for offers and an answer for minutes: it holds a slot meanwhile.
    let _slot = state.streams.take()?;
    let outcome = mesh_net::award::award(&state.handle, intent, &policy, &strategy).await?;
    Ok(Json(outcome))
}

/// An open offer on one of this node's intents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfferView {
    /// The negotiation, hex.
    pub negotiation_id: String,
    /// The agent's peer id.
    pub agent: String,
    /// Decimal amount.
    pub amount: String,
    /// Currency code.
    pub currency: String,
    /// When it would deliver if accepted now, Unix ms.
    pub due_at_ms: u64,
    /// This node's reputation of the agent, in `[0, 1]`.
    pub reputation: f64,
}

async fn offers(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<OfferView>>, ApiError> {
    let intent = parse_intent_id(&id)?;
    let offers = mesh_net::award::offers(&state.handle, intent).await?;
    Ok(Json(
        offers
            .into_iter()
            .map(|o| OfferView {
                negotiation_id: o.negotiation_id.to_string(),
                agent: o.agent,
                amount: o.price.amount().to_owned(),
                currency: o.price.currency().to_owned(),
                due_at_ms: o.due_at_ms,
                reputation: o.reputation,
            })
            .collect(),
    ))
}
