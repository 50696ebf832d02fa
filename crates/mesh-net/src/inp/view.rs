//! What the API shows of a negotiation: its events and summaries. Kinds, roles and states are
//! typed; they become snake_case names (`offer`, `publisher`, `awaiting_offer`, ...) only when
//! serialized or displayed.

use std::fmt;

use libp2p::PeerId;
use mesh_core::negotiation::{
    Body, Fault, FaultKind, MessageKind, Negotiation, NegotiationId, Role, StateKind,
};
use serde::{Deserialize, Serialize};

/// What a [`NegotiationEvent`] reports: a message of one of the protocol's kinds, or the
/// negotiation's expiry (`timeout`, no message). Serialized and displayed in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NegotiationEventKind {
    /// A proposal by the agent.
    Offer,
    /// A proposal by the publisher.
    Counter,
    /// Takes the other party's proposal.
    Accept,
    /// Declines the other party's proposal and ends the negotiation.
    Reject,
    /// Ends the negotiation from the sender's side.
    Withdraw,
    /// The result of the agreed work.
    Deliver,
    /// The publisher's rating of the delivery.
    Receipt,
    /// The negotiation expired and left a commitment unmet (see [`NegotiationEvent::fault`]).
    Timeout,
}

impl NegotiationEventKind {
    /// Every kind: the message kinds in protocol order, then `timeout`.
    pub const ALL: [NegotiationEventKind; 8] = [
        Self::Offer,
        Self::Counter,
        Self::Accept,
        Self::Reject,
        Self::Withdraw,
        Self::Deliver,
        Self::Receipt,
        Self::Timeout,
    ];

    /// Snake-case name, as the API shows it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Offer => "offer",
            Self::Counter => "counter",
            Self::Accept => "accept",
            Self::Reject => "reject",
            Self::Withdraw => "withdraw",
            Self::Deliver => "deliver",
            Self::Receipt => "receipt",
            Self::Timeout => "timeout",
        }
    }

    /// The message kind, or `None` for `timeout`.
    pub fn message(self) -> Option<MessageKind> {
        Some(match self {
            Self::Offer => MessageKind::Offer,
            Self::Counter => MessageKind::Counter,
            Self::Accept => MessageKind::Accept,
            Self::Reject => MessageKind::Reject,
            Self::Withdraw => MessageKind::Withdraw,
            Self::Deliver => MessageKind::Deliver,
            Self::Receipt => MessageKind::Receipt,
            Self::Timeout => return None,
        })
    }
}

impl From<MessageKind> for NegotiationEventKind {
    fn from(kind: MessageKind) -> Self {
        match kind {
            MessageKind::Offer => Self::Offer,
            MessageKind::Counter => Self::Counter,
            MessageKind::Accept => Self::Accept,
            MessageKind::Reject => Self::Reject,
            MessageKind::Withdraw => Self::Withdraw,
            MessageKind::Deliver => Self::Deliver,
            MessageKind::Receipt => Self::Receipt,
        }
    }
}

impl fmt::Display for NegotiationEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A message taken into one of this node's negotiations, sent or received.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NegotiationEvent {
    /// Negotiation id, hex.
    pub negotiation_id: String,
    /// Intent id, hex.
    pub intent_id: String,
    /// The other party.
    pub peer: String,
    /// This node's role (`publisher` or `agent`).
    pub role: Role,
    /// Position of the message.
    pub seq: u64,
    /// Kind of message (`offer`, `counter`, `accept`, ...), or `timeout`.
    pub kind: NegotiationEventKind,
    /// Whether the other party sent it.
    pub received: bool,
    /// State after it (`offered`, `agreed`, ...).
    pub state: StateKind,
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
    pub kind: FaultKind,
    /// The role of the party at fault: `agent` or `publisher`.
    pub by: Role,
    /// The peer at fault.
    pub peer: String,
    /// When it was established, Unix ms.
    pub at_ms: u64,
}

impl FaultView {
    pub(super) fn of(n: &Negotiation, fault: Fault) -> Self {
        Self {
            kind: fault.kind,
            by: fault.by,
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
    /// This node's role (`publisher` or `agent`).
    pub role: Role,
    /// Current state (`offered`, `agreed`, ...).
    pub state: StateKind,
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

/// The names of the final states ([`StateKind::FINISHED`]), as the store's meta holds them.
pub(crate) const FINISHED_STATES: &[&str] = &finished_names();

const fn finished_names() -> [&'static str; StateKind::FINISHED.len()] {
    let mut names = [""; StateKind::FINISHED.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = StateKind::FINISHED[i].as_str();
        i += 1;
    }
    names
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
        role,
        seq,
        kind: body.kind().into(),
        received,
        state: n.state().kind(),
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
        role,
        state: n.state().kind(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn name<T: Serialize>(value: T) -> Value {
        serde_json::to_value(value).unwrap()
    }

    /// The API's names, pinned: the HTTP API, the SSE events, the store's meta and the
    /// TypeScript SDK all rely on them.
    #[test]
    fn every_name_is_the_api_snake_case_name() {
        let kinds = NegotiationEventKind::ALL.map(|k| (name(k), k.to_string()));
        let expected = [
            "offer", "counter", "accept", "reject", "withdraw", "deliver", "receipt", "timeout",
        ];
        for ((json, shown), want) in kinds.into_iter().zip(expected) {
            assert_eq!((json, shown.as_str()), (json!(want), want));
        }
        let states = StateKind::ALL.map(|s| (name(s), s.to_string()));
        let expected = [
            "awaiting_offer",
            "offered",
            "countered",
            "agreed",
            "delivered",
            "completed",
            "rejected",
            "withdrawn",
            "expired",
        ];
        for ((json, shown), want) in states.into_iter().zip(expected) {
            assert_eq!((json, shown.as_str()), (json!(want), want));
        }
        for (role, want) in [(Role::Publisher, "publisher"), (Role::Agent, "agent")] {
            assert_eq!(
                (name(role), role.to_string()),
                (json!(want), want.to_owned())
            );
        }
        // `mesh negotiations list` aligns them in columns.
        assert_eq!(
            format!("{:<9}|{:<14}|", Role::Agent, StateKind::Agreed),
            "agent    |agreed        |"
        );
        for (kind, want) in [
            (FaultKind::NonDelivery, "non_delivery"),
            (FaultKind::MissingReceipt, "missing_receipt"),
        ] {
            assert_eq!(
                (name(kind), kind.to_string()),
                (json!(want), want.to_owned())
            );
        }
        // `mesh negotiations list` aligns them in columns.
        assert_eq!(
            format!("{:<9}|{:<14}|", Role::Agent, StateKind::Agreed),
            "agent    |agreed        |"
        );
        assert_eq!(
            FINISHED_STATES,
            ["completed", "rejected", "withdrawn", "expired"]
        );
    }

    #[test]
    fn message_kinds_map_to_their_event_kinds_and_back() {
        for kind in MessageKind::ALL {
            assert_eq!(NegotiationEventKind::from(kind).message(), Some(kind));
        }
        assert_eq!(NegotiationEventKind::Timeout.message(), None);
    }

    #[test]
    fn an_event_and_a_summary_serialize_as_before() {
        let event = NegotiationEvent {
            negotiation_id: "ab".into(),
            intent_id: "cd".into(),
            peer: "p".into(),
            role: Role::Agent,
            seq: 3,
            kind: NegotiationEventKind::Timeout,
            received: false,
            state: StateKind::Expired,
            price: None,
            fault: Some(FaultView {
                kind: FaultKind::MissingReceipt,
                by: Role::Publisher,
                peer: "q".into(),
                at_ms: 9,
            }),
        };
        let text = r#"{"negotiation_id":"ab","intent_id":"cd","peer":"p","role":"agent","seq":3,"kind":"timeout","received":false,"state":"expired","fault":{"kind":"missing_receipt","by":"publisher","peer":"q","at_ms":9}}"#;
        assert_eq!(serde_json::to_string(&event).unwrap(), text);
        let back: NegotiationEvent = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), text);

        let summary = NegotiationSummary {
            negotiation_id: "ab".into(),
            intent_id: "cd".into(),
            publisher: "p".into(),
            agent: "a".into(),
            role: Role::Publisher,
            state: StateKind::AwaitingOffer,
            messages: 0,
            price: Some("2.50 USD".into()),
            proposal: None,
            due_at_ms: None,
            fault: None,
        };
        let text = r#"{"negotiation_id":"ab","intent_id":"cd","publisher":"p","agent":"a","role":"publisher","state":"awaiting_offer","messages":0,"price":"2.50 USD"}"#;
        assert_eq!(serde_json::to_string(&summary).unwrap(), text);
        let back: NegotiationSummary = serde_json::from_str(text).unwrap();
        assert_eq!(back.state, StateKind::AwaitingOffer);
    }
}
