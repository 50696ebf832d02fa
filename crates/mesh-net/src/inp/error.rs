//! Why an INP message was refused, with a stable code for acknowledgements and the API.

use mesh_core::IntentStatus;
use mesh_core::negotiation::NegotiationError;

use super::MAX_NEGOTIATIONS;

/// Why an INP message was refused, with a stable code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InpError {
    /// The negotiation message itself is invalid.
    #[error(transparent)]
    Negotiation(#[from] NegotiationError),
    /// No negotiation with this id, and the message cannot open one.
    #[error("unknown negotiation {0}: only an Offer for an open intent of the recipient opens one")]
    UnknownNegotiation(String),
    /// The intent is not known to this node, or no longer open.
    #[error(
        "intent {0} is not open here: it expired, was never seen by this node, or its id is wrong"
    )]
    UnknownIntent(String),
    /// The message is addressed to someone else.
    #[error("message addressed to {0}, not to this node")]
    NotForUs(String),
    /// The registry is full of live negotiations.
    #[error("too many negotiations in progress (limit {MAX_NEGOTIATIONS}); retry later")]
    Full,
    /// The message came from a peer other than its signer.
    #[error(
        "message signed by {signer} but sent by {from}: negotiation messages go directly between the two parties"
    )]
    Relayed {
        /// The signer.
        signer: String,
        /// The peer that sent it.
        from: String,
    },
    /// The intent no longer takes this step: it was cancelled, or another offer was agreed.
    #[error("intent {id} is {status}: it takes no more offers or agreements")]
    IntentClosed {
        /// The intent, hex.
        id: String,
        /// Where it stands.
        status: IntentStatus,
    },
    /// The intent, the agent or its address already has the most live offers allowed here.
    #[error("too many live offers on {what} (limit {limit}): retry once some of them are answered")]
    TooManyOffers {
        /// What is full: `this intent`, `this agent` or `this address`.
        what: &'static str,
        /// The cap.
        limit: usize,
    },
    /// A previous message of this negotiation is still waiting for its acknowledgement.
    #[error("a message of negotiation {0} is still in flight; wait for its answer")]
    InFlight(String),
}

impl InpError {
    /// Stable code for acknowledgements and the API.
    pub fn code(&self) -> &'static str {
        match self {
            InpError::Negotiation(e) => negotiation_code(e),
            InpError::UnknownNegotiation(_) => "unknown_negotiation",
            InpError::UnknownIntent(_) => "unknown_intent",
            InpError::NotForUs(_) => "not_for_us",
            InpError::Relayed { .. } => "relayed",
            InpError::Full => "busy",
            InpError::InFlight(_) => "in_flight",
            InpError::IntentClosed { .. } => "intent_closed",
            InpError::TooManyOffers { .. } => "too_many_offers",
        }
    }

    /// Whether the sender is at fault (forged, tampered, malformed or misaddressed data) and
    /// loses reputation. Messages that an honest peer can send by bad timing (out of turn,
    /// stale, after the end, for a negotiation this node no longer holds) are refused without
    /// penalty.
    pub fn is_misbehaviour(&self) -> bool {
        match self {
            InpError::Negotiation(e) => {
                negotiation_code(e) == "invalid_message" || negotiation_code(e) == "bad_signature"
            }
            InpError::NotForUs(_) | InpError::Relayed { .. } => true,
            InpError::UnknownNegotiation(_)
            | InpError::UnknownIntent(_)
            | InpError::Full
            | InpError::InFlight(_)
            | InpError::TooManyOffers { .. }
            | InpError::IntentClosed { .. } => false,
        }
    }
}

fn negotiation_code(e: &NegotiationError) -> &'static str {
    match e {
        NegotiationError::BadSignature => "bad_signature",
        NegotiationError::IllegalTransition { .. } => "illegal_transition",
        NegotiationError::NotOverdue { .. } => "not_overdue",
        NegotiationError::Replayed { .. }
        | NegotiationError::OutOfOrder { .. }
        | NegotiationError::Finished { .. }
        | NegotiationError::TooManyProposals { .. }
        | NegotiationError::FromTheFuture { .. }
        | NegotiationError::BeforePrevious { .. } => "stale",
        _ => "invalid_message",
    }
}
