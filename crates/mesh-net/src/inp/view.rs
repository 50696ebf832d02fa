//! What the API shows of a negotiation: its events and summaries, with snake_case names.

use libp2p::PeerId;
use mesh_core::negotiation::{Body, Fault, MessageKind, Negotiation, NegotiationId, Role, State};
use serde::{Deserialize, Serialize};

/// A message taken into one of this node's negotiations, sent or received.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NegotiationEvent {
    /// Negotiation id, hex.
    pub negotiation_id: String,
    /// Intent id, hex.
    pub intent_id: String,
    /// The other party.
    pub peer: String,
    /// This node's role.
    pub role: String,
    /// Position of the message.
    pub seq: u64,
    /// Kind of message (`offer`, `counter`, `accept`, ...).
    pub kind: String,
    /// Whether the other party sent it.
    pub received: bool,
    /// State after it.
    pub state: String,
    /// Price of an offer or counter, e.g. `2.50 USD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// The fault this step ended the negotiation with, if any: the publisher's cancellation of
    /// an overdue agreement, or (kind `timeout`) an expiry that left a commitment unmet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultView>,
}

/// A party's fault in a negotiation: evidence for reputation and for later dispute handling.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultView {
    /// `non_delivery` (no delivery by the agreed due time) or `missing_receipt` (no receipt
    /// within the receipt timeout after a delivery).
    pub kind: String,
    /// The role of the party at fault: `agent` or `publisher`.
    pub by: String,
    /// The peer at fault.
    pub peer: String,
    /// When it was established, Unix ms.
    pub at_ms: u64,
}

impl FaultView {
    pub(super) fn of(n: &Negotiation, fault: Fault) -> Self {
        Self {
            kind: fault.kind.as_str().to_owned(),
            by: role_name(fault.by).to_owned(),
            peer: n.peer(fault.by).to_string(),
            at_ms: fault.at_ms,
        }
    }
}

/// One negotiation, as `negotiations list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NegotiationSummary {
    /// Negotiation id, hex.
    pub negotiation_id: String,
    /// Intent id, hex.
    pub intent_id: String,
    /// The publisher.
    pub publisher: String,
    /// The agent.
    pub agent: String,
    /// This node's role.
    pub role: String,
    /// Current state.
    pub state: String,
    /// Messages in the transcript.
    pub messages: usize,
    /// Outstanding or agreed price, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// The outstanding or agreed proposal, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<ProposalView>,
    /// When the agreed delivery is due, Unix ms, once agreed; from then on the publisher may
    /// cancel an undelivered agreement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at_ms: Option<u64>,
    /// The fault the negotiation ended with, if any (kept with it as evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultView>,
}

/// A proposal, as the API and SDK show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProposalView {
    /// Decimal amount.
    pub amount: String,
    /// Currency code.
    pub currency: String,
    /// When delivery would be due if agreed now, Unix ms.
    pub due_at_ms: u64,
    /// Free-text terms.
    pub terms: String,
}

pub(super) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Publisher => "publisher",
        Role::Agent => "agent",
    }
}

fn kind_name(kind: MessageKind) -> String {
    format!("{kind:?}").to_lowercase()
}

/// The API names of the final states, as the store's meta holds them.
pub const FINISHED_STATES: &[&str] = &["completed", "rejected", "withdrawn", "expired"];

/// The API name of a negotiation state (`offered`, `agreed`, ...).
pub fn state_name(state: State) -> &'static str {
    match state {
        State::AwaitingOffer => "awaiting_offer",
        State::Offered => "offered",
        State::Countered => "countered",
        State::Agreed => "agreed",
        State::Delivered => "delivered",
        State::Completed => "completed",
        State::Rejected { .. } => "rejected",
        State::Withdrawn { .. } => "withdrawn",
        State::Expired { .. } => "expired",
    }
}

fn price_of(body: &Body) -> Option<String> {
    body.proposal()
        .map(|p| format!("{} {}", p.price.amount(), p.price.currency()))
}

pub(super) fn event_view(
    n: &Negotiation,
    seq: u64,
    body: &Body,
    role: Role,
    received: bool,
) -> NegotiationEvent {
    NegotiationEvent {
        negotiation_id: n.id().to_string(),
        intent_id: n.intent_id().to_string(),
        peer: n.peer(role.other()).to_string(),
        role: role_name(role).to_owned(),
        seq,
        kind: kind_name(body.kind()),
        received,
        state: state_name(n.state()).to_owned(),
        price: price_of(body),
        fault: n.fault().map(|f| FaultView::of(n, f)),
    }
}

pub(super) fn summary(
    id: &NegotiationId,
    n: &Negotiation,
    local: PeerId,
    now_ms: u64,
) -> NegotiationSummary {
    let role = n.role_of(&local).unwrap_or(Role::Agent);
    let proposal = n.agreed().or(n.outstanding());
    NegotiationSummary {
        negotiation_id: id.to_string(),
        intent_id: n.intent_id().to_string(),
        publisher: n.publisher().to_string(),
        agent: n.agent().to_string(),
        role: role_name(role).to_owned(),
        state: state_name(n.state()).to_owned(),
        messages: n.transcript().len(),
        price: proposal.map(|p| format!("{} {}", p.price.amount(), p.price.currency())),
        proposal: proposal.map(|p| ProposalView {
            amount: p.price.amount().to_owned(),
            currency: p.price.currency().to_owned(),
            due_at_ms: p.eta.due_at(now_ms),
            terms: p.terms.clone(),
        }),
        due_at_ms: n.due_at_ms(),
        fault: n.fault().map(|f| FaultView::of(n, f)),
    }
}
