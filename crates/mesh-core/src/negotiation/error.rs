//! Why a negotiation message was refused.

use super::{MessageKind, Role, State};
use crate::envelope::EnvelopeError;

/// Why a negotiation message was refused, or could not be made.
///
/// Every variant but [`Signing`](Self::Signing) describes bad input from a peer: the network
/// layer penalises the sender and keeps the negotiation as it was.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NegotiationError {
    /// The envelope is larger than allowed; nothing of it was decoded.
    #[error("negotiation message of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Bytes received.
        size: usize,
        /// Largest size accepted.
        max: usize,
    },
    /// The envelope could not be opened: not a signed envelope, or another payload type.
    #[error("negotiation message refused: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The signature does not match the content: the message was changed after signing.
    #[error("invalid signature: the negotiation message was changed after it was signed")]
    BadSignature,
    /// The envelope decodes, but not from the exact bytes its signer produced: it was altered
    /// on the way.
    #[error(
        "negotiation message is not canonically encoded: it was altered after signing; ask the sender again"
    )]
    NonCanonical,
    /// The payload is not a valid `mesh.v1.NegotiationMessage`.
    #[error("malformed negotiation message: {0}")]
    Malformed(String),
    /// A field breaks a rule.
    #[error("invalid negotiation message {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The price of a proposal is not a decimal amount with a currency code.
    #[error("unknown price format {amount:?} {currency:?}: {reason}")]
    BadPrice {
        /// The amount given.
        amount: String,
        /// The currency given.
        currency: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The message belongs to another intent.
    #[error("message is about intent {got}, but this negotiation is about intent {expected}")]
    WrongIntent {
        /// Intent of this negotiation (hex).
        expected: String,
        /// Intent named in the message (hex).
        got: String,
    },
    /// The message belongs to another negotiation (same intent, other parties or a forged id).
    #[error("message is for negotiation {got}, but this is negotiation {expected}")]
    WrongNegotiation {
        /// Id of this negotiation (hex).
        expected: String,
        /// Id named in the message (hex).
        got: String,
    },
    /// The sender is neither the publisher nor the agent of this negotiation.
    #[error(
        "{sender} is not a party to this negotiation: only the publisher and the agent may send"
    )]
    NotAParty {
        /// The peer named as sender.
        sender: String,
    },
    /// The recipient named is not the other party.
    #[error("message from the {from} is addressed to {recipient}, not to the {}", from.other())]
    WrongRecipient {
        /// Role of the sender.
        from: Role,
        /// The peer named as recipient.
        recipient: String,
    },
    /// The envelope was signed by someone other than the peer named as sender.
    #[error("message claims to come from {sender} but is signed by {signer}")]
    SignerMismatch {
        /// Peer named as sender.
        sender: String,
        /// Peer whose key signed.
        signer: String,
    },
    /// A message with this sequence number was already taken: a replay.
    #[error("message {seq} was already received (next expected is {expected}): replay ignored")]
    Replayed {
        /// Sequence number received.
        seq: u64,
        /// Sequence number expected.
        expected: u64,
    },
    /// Messages before this one are missing.
    #[error("message {seq} arrived out of order: message {expected} must come first")]
    OutOfOrder {
        /// Sequence number received.
        seq: u64,
        /// Sequence number expected.
        expected: u64,
    },
    /// `prev_hash` does not match the previous message: the chain was tampered with or forked.
    #[error(
        "message {seq} does not chain to the previous message (prev_hash mismatch): the transcript was altered or forked"
    )]
    BrokenChain {
        /// Sequence number of the message.
        seq: u64,
    },
    /// The message claims to be sent too far in the future of the local clock.
    #[error(
        "message sent at {sent_at_ms}, more than 5 minutes after now ({now_ms}): check the sender's clock"
    )]
    FromTheFuture {
        /// Claimed sending time, Unix ms.
        sent_at_ms: u64,
        /// Local time, Unix ms.
        now_ms: u64,
    },
    /// The message claims to be sent more than 5 minutes before the previous one.
    #[error(
        "message sent at {sent_at_ms}, more than 5 minutes before the previous message ({previous_ms}): check the sender's clock"
    )]
    BeforePrevious {
        /// Claimed sending time, Unix ms.
        sent_at_ms: u64,
        /// Sending time of the previous message, Unix ms.
        previous_ms: u64,
    },
    /// The table does not allow this message now.
    #[error(
        "a {kind} from the {from} is not allowed while the negotiation is {state}; the {from} may now send: {}",
        allowed_list(*.state, *.from)
    )]
    IllegalTransition {
        /// The state the negotiation is in.
        state: State,
        /// Role of the sender.
        from: Role,
        /// The kind of message.
        kind: MessageKind,
    },
    /// The negotiation has ended; no message may follow.
    #[error("the negotiation is over ({state}): no message may follow")]
    Finished {
        /// The final state.
        state: State,
    },
    /// The publisher tried to cancel an agreement before its delivery was due.
    #[error(
        "the agreement cannot be cancelled before its delivery is due at {due_at_ms} (Unix ms; this message is signed at {sent_at_ms}): wait until then, or until the agent delivers"
    )]
    NotOverdue {
        /// When the agreed delivery is due, Unix ms.
        due_at_ms: u64,
        /// When the cancellation was signed, Unix ms.
        sent_at_ms: u64,
    },
    /// The negotiation already holds the most offers and counters allowed.
    #[error(
        "the negotiation already holds {max} offers and counters: accept, reject or withdraw instead"
    )]
    TooManyProposals {
        /// Most proposals allowed.
        max: u64,
    },
    /// An inline result does not hash to the digest it is delivered with.
    #[error("the delivered result does not match its SHA-256 digest")]
    DigestMismatch,
    /// Publisher and agent are the same peer.
    #[error("a peer cannot negotiate with itself: publisher and agent are both {peer}")]
    SelfNegotiation {
        /// The peer.
        peer: String,
    },
    /// Our own message could not be signed.
    #[error("signing failed: {0}")]
    Signing(String),
}

impl NegotiationError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

fn allowed_list(state: State, from: Role) -> String {
    let allowed = state.allowed(from);
    if allowed.is_empty() {
        return "nothing (wait for the other party)".to_owned();
    }
    allowed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
