//! JSON shapes of the local API, shared by the server and the `mesh` CLI.

use std::time::Duration;

use base64::Engine;
use mesh_core::{Budget, Intent, SignedIntent};
use mesh_net::ReceivedIntent;
use serde::{Deserialize, Serialize};

/// Body of `POST /v1/intents`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PublishIntentRequest {
    /// Capabilities the work needs (at least one).
    pub capabilities: Vec<String>,
    /// Short summary.
    pub title: String,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Budget, e.g. `{"amount": "2.50", "currency": "USD"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetView>,
    /// Seconds the intent stays open (default 3600, at most 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
    /// Deadline of the work, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Inline payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<PayloadView>,
    /// Minimum reputation asked of bidders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_reputation: Option<f64>,
}

impl PublishIntentRequest {
    /// The intent this request describes; payload bytes are decoded from base64.
    pub fn to_intent(&self) -> Result<Intent, String> {
        let mut intent = Intent::new(self.title.clone())
            .capabilities(self.capabilities.iter().cloned())
            .ttl(Duration::from_secs(
                self.ttl_secs
                    .unwrap_or(mesh_core::intent::DEFAULT_TTL.as_secs()),
            ));
        if let Some(d) = &self.description {
            intent = intent.description(d.clone());
        }
        if let Some(b) = &self.budget {
            intent = intent.budget(Budget::new(b.amount.clone(), b.currency.clone()));
        }
        if let Some(d) = self.deadline_ms {
            intent = intent.deadline_ms(d);
        }
        if let Some(m) = self.min_reputation {
            intent = intent.min_reputation(m);
        }
        if let Some(p) = &self.payload {
            let data = base64::engine::general_purpose::STANDARD
                .decode(&p.data_base64)
                .map_err(|e| format!("payload.data_base64 is not base64: {e}"))?;
            intent = intent.payload(p.content_type.clone(), data);
        }
        Ok(intent)
    }
}

/// A budget.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BudgetView {
    /// Decimal amount, e.g. `"2.50"`.
    pub amount: String,
    /// Currency code, e.g. `"USD"`.
    pub currency: String,
}

/// An inline payload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PayloadView {
    /// Media type.
    pub content_type: String,
    /// The bytes, base64 (standard alphabet, padded).
    pub data_base64: String,
}

/// An intent as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntentView {
    /// Intent id, 64 hex digits.
    pub id: String,
    /// Publisher peer id.
    pub publisher: String,
    /// Capabilities it needs.
    pub capabilities: Vec<String>,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetView>,
    /// Payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<PayloadView>,
    /// Deadline, Unix ms (0 for none).
    pub deadline_ms: u64,
    /// Signing time, Unix ms.
    pub created_at_ms: u64,
    /// Expiry, Unix ms.
    pub expires_at_ms: u64,
    /// Minimum reputation asked of bidders.
    pub min_reputation: f64,
    /// Peer that forwarded it to this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_from: Option<String>,
    /// When this node received it, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at_ms: Option<u64>,
}

impl IntentView {
    /// The view of a verified intent.
    pub fn of(intent: &SignedIntent) -> Self {
        let c = &intent.content;
        Self {
            id: intent.id.to_string(),
            publisher: intent.publisher.to_string(),
            capabilities: intent.capabilities.iter().map(|c| c.to_string()).collect(),
            title: c.title.clone(),
            description: c.description.clone(),
            budget: c.budget.as_ref().map(|b| BudgetView {
                amount: b.amount.clone(),
                currency: b.currency.clone(),
            }),
            payload: c.payload.as_ref().map(|p| PayloadView {
                content_type: p.content_type.clone(),
                data_base64: base64::engine::general_purpose::STANDARD.encode(&p.data),
            }),
            deadline_ms: c.deadline_ms,
            created_at_ms: c.created_at_ms,
            expires_at_ms: c.expires_at_ms,
            min_reputation: c.min_reputation,
            received_from: None,
            received_at_ms: None,
        }
    }

    /// The view of an intent received from the network.
    pub fn received(r: &ReceivedIntent) -> Self {
        Self {
            received_from: Some(r.from.to_string()),
            received_at_ms: Some(r.received_at_ms),
            ..Self::of(&r.intent)
        }
    }
}

/// Body of every API error: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A stable code and a message that says what to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_capability`.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}
