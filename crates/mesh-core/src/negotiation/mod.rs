//! The Intent Negotiation Protocol (INP): signed, hash-chained messages between the publisher
//! of an intent and one agent, and the deterministic state machine that checks them.
//!
//! A negotiation is between exactly two peers: the **publisher**, who signed the intent, and
//! one **agent**, who bids on it. Every message is a [`Body`] wrapped in a
//! `mesh.v1.NegotiationMessage` and signed in a libp2p `SignedEnvelope` (domain
//! [`NEGOTIATION_DOMAIN`](crate::envelope::NEGOTIATION_DOMAIN), payload type
//! [`NEGOTIATION_PAYLOAD_TYPE`](crate::envelope::NEGOTIATION_PAYLOAD_TYPE)). Each message names
//! the [`NegotiationId`] (derived from the intent id and both peer ids), a sequence number that
//! starts at 0 and grows by one per message whoever sends it, and the SHA-256 of the previous
//! envelope. The ordered envelopes therefore form a hash chain, a [`Transcript`], that anyone
//! can check offline with [`Transcript::verify`].
//!
//! [`Negotiation`] is the state machine, in the style of quinn-proto: no I/O, no clock reads.
//! Received envelopes go to [`Negotiation::handle`], our own messages are made with
//! [`Negotiation::send`], and the driver arms a timer at [`Negotiation::poll_timeout`] and calls
//! [`Negotiation::handle_timeout`] when it fires. A refused message leaves the state unchanged.
//!
//! # Transitions
//!
//! The state names who must act next. Any message not listed for a state is refused with
//! [`NegotiationError::IllegalTransition`]; any message in a final state with
//! [`NegotiationError::Finished`].
//!
//! | State (waiting on) | Sender | Message | Next state |
//! |---|---|---|---|
//! | `AwaitingOffer` (agent) | agent | `Offer` | `Offered` |
//! | `Offered` (publisher) | publisher | `Counter` | `Countered` |
//! | `Offered` (publisher) | publisher | `Accept` | `Agreed` |
//! | `Offered` (publisher) | publisher | `Reject` | `Rejected` (final) |
//! | `Offered` (publisher) | either | `Withdraw` | `Withdrawn` (final) |
//! | `Countered` (agent) | agent | `Offer` | `Offered` |
//! | `Countered` (agent) | agent | `Accept` | `Agreed` |
//! | `Countered` (agent) | agent | `Reject` | `Rejected` (final) |
//! | `Countered` (agent) | either | `Withdraw` | `Withdrawn` (final) |
//! | `Agreed` (agent) | agent | `Deliver` | `Delivered` |
//! | `Agreed` (agent) | publisher | `Withdraw`, once the agreed delivery is overdue | `Withdrawn` (final): the agreement is cancelled |
//! | `Delivered` (publisher) | publisher | `Receipt` | `Completed` (final) |
//! | any non-final state | (timer) | timeout | `Expired` (final) |
//!
//! In words: the agent opens with an `Offer`. The party whose turn it is answers the other's
//! outstanding proposal with a new proposal (`Counter` from the publisher, `Offer` from the
//! agent), `Accept` (which takes the proposal of the message it chains to) or `Reject`.
//! Either party may `Withdraw` before the agreement. After the agreement the agent must
//! `Deliver`, and after the delivery the publisher must send a `Receipt`. A publisher whose
//! agent did not deliver by the agreed due time ([`Negotiation::due_at_ms`]: the ETA counted
//! from the `Accept`'s signed time) may cancel the agreement with a `Withdraw` signed at or
//! after that time; the intent is then free to be awarded again, and the transcript proves the
//! cancellation and that it came after the due time ([`Fault`]). A negotiation carries
//! at most [`MAX_PROPOSALS`] offers and counters, hence at most [`MAX_MESSAGES`] messages.
//!
//! Timeouts ([`Config`]): `AwaitingOffer` waits `offer_timeout`; `Offered` and `Countered` wait
//! `answer_timeout` (and never past `agree_by_ms`, e.g. the intent's expiry); `Agreed` waits
//! until the agreed ETA plus `delivery_grace`; `Delivered` waits `receipt_timeout`. Timeouts
//! are local: a transcript proves what was said and in which order, with the senders' signed
//! timestamps, and [`Transcript::verify`] does not judge silences.
//!
//! # Example
//!
//! ```
//! use mesh_core::negotiation::{Body, Config, Eta, Negotiation, Price, Proposal, State};
//! use mesh_core::{IntentId, Keypair};
//! use std::time::Duration;
//!
//! let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
//! let intent = IntentId([7; 32]);
//! let now = 1_700_000_000_000;
//! let new = || {
//!     let (p, a) = (publisher.public().to_peer_id(), agent.public().to_peer_id());
//!     Negotiation::new(intent, p, a, Config::default(), now).unwrap()
//! };
//! let (mut at_agent, mut at_publisher) = (new(), new());
//!
//! let offer = Proposal::new(Price::new("2.50", "USD")?, Eta::Within(Duration::from_secs(600)));
//! let bytes = at_agent.send(Body::Offer(offer), &agent, now)?;
//! at_publisher.handle(&bytes, now + 5)?;
//! let bytes = at_publisher.send(Body::Accept, &publisher, now + 10)?;
//! at_agent.handle(&bytes, now + 15)?;
//! assert_eq!(at_agent.state(), State::Agreed);
//!
//! let summary = at_agent.transcript().verify()?;
//! assert_eq!(summary.state, State::Agreed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod machine;
mod message;
mod state_kind;
mod transcript;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use libp2p::identity::PeerId;
use sha2::{Digest, Sha256};

use crate::intent::IntentId;

pub use error::NegotiationError;
pub use machine::{Config, Event, Fault, FaultKind, Negotiation};
pub use message::{
    Body, Delivery, Eta, Header, Price, Proposal, Receipt, ResultContent, peek, peek_batch,
};
pub use state_kind::StateKind;
pub use transcript::{Transcript, TranscriptError, TranscriptJson, TranscriptSummary};

/// Largest envelope accepted, checked before anything is decoded (a `Deliver` with the largest
/// inline result fits).
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// Largest envelope of any message but `Deliver`.
pub const MAX_SMALL_ENVELOPE_BYTES: usize = 8 * 1024;
/// Largest inline result of a `Deliver`.
pub const MAX_INLINE_RESULT_BYTES: usize = 48 * 1024;
/// Longest `terms` of a proposal, in bytes.
pub const MAX_TERMS_BYTES: usize = 4 * 1024;
/// Longest reason of a `Reject` or `Withdraw`, and comment of a `Receipt`, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;
/// Longest location of a delivered result, in bytes.
pub const MAX_LOCATION_BYTES: usize = 2 * 1024;
/// Longest media type of an inline result, in bytes.
pub const MAX_CONTENT_TYPE_BYTES: usize = 128;
/// Furthest ahead an ETA may lie, in milliseconds (30 days).
pub const MAX_ETA_MS: u64 = 30 * 24 * 3600 * 1000;
/// Most offers and counters in one negotiation.
pub const MAX_PROPOSALS: u64 = 64;
/// Most messages in one negotiation: the proposals, then `Accept`, `Deliver` and `Receipt`.
pub const MAX_MESSAGES: u64 = MAX_PROPOSALS + 3;
/// Envelopes whose signatures [`Negotiation::resume_all`] verifies in one batch at most.
pub const RESUME_BATCH_ENVELOPES: usize = 1024;
/// Largest encoded [`Transcript`] accepted for import.
pub const MAX_TRANSCRIPT_BYTES: usize = 2 * 1024 * 1024;
/// Value of [`TranscriptJson::format`].
pub const TRANSCRIPT_JSON_FORMAT: &str = "mesh-negotiation-transcript/1";

/// SHA-256 of a message's complete envelope bytes: what the next message's `prev_hash` holds.
pub type MessageHash = [u8; 32];

/// The hash that links the message after `envelope` to it.
pub fn message_hash(envelope: &[u8]) -> MessageHash {
    Sha256::digest(envelope).into()
}

/// Identifier of one negotiation, the same for both parties and for anyone checking it.
///
/// ```
/// use mesh_core::negotiation::NegotiationId;
/// use mesh_core::{IntentId, Keypair};
/// let (p, a) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
/// let (p, a) = (p.public().to_peer_id(), a.public().to_peer_id());
/// let id = NegotiationId::derive(&IntentId([1; 32]), &p, &a);
/// assert_ne!(id, NegotiationId::derive(&IntentId([1; 32]), &a, &p), "roles matter");
/// assert_eq!(id.to_string().parse::<NegotiationId>().unwrap(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NegotiationId(pub [u8; 32]);

impl NegotiationId {
    /// SHA-256 over `"mesh-negotiation-id/1"`, the intent id, then the publisher's and the
    /// agent's peer id bytes, each preceded by its length as a big-endian `u64`.
    pub fn derive(intent: &IntentId, publisher: &PeerId, agent: &PeerId) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"mesh-negotiation-id/1");
        hash.update(intent.0);
        for peer in [publisher, agent] {
            let bytes = peer.to_bytes();
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(&bytes);
        }
        Self(hash.finalize().into())
    }
}

impl fmt::Display for NegotiationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NegotiationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NegotiationId({self})")
    }
}

impl FromStr for NegotiationId {
    type Err = NegotiationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || NegotiationError::invalid("negotiation_id", "must be 64 hexadecimal digits");
        let bytes = hex::decode(s).map_err(|_| bad())?;
        Ok(Self(bytes.try_into().map_err(|_| bad())?))
    }
}

/// The part a peer plays in a negotiation; `publisher` or `agent` in the API and in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Signed the intent; pays for the work.
    Publisher,
    /// Bids on the intent; does the work.
    Agent,
}

impl Role {
    /// The other party.
    pub fn other(self) -> Self {
        match self {
            Self::Publisher => Self::Agent,
            Self::Agent => Self::Publisher,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Publisher => "publisher",
            Self::Agent => "agent",
        })
    }
}

/// The kind of a negotiation message, without its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
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
}

impl MessageKind {
    /// Every kind, in protocol order.
    pub const ALL: [MessageKind; 7] = [
        Self::Offer,
        Self::Counter,
        Self::Accept,
        Self::Reject,
        Self::Withdraw,
        Self::Deliver,
        Self::Receipt,
    ];
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Offer => "Offer",
            Self::Counter => "Counter",
            Self::Accept => "Accept",
            Self::Reject => "Reject",
            Self::Withdraw => "Withdraw",
            Self::Deliver => "Deliver",
            Self::Receipt => "Receipt",
        })
    }
}

/// Where a negotiation stands. See the [transition table](self#transitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No message yet; the agent is to make an offer.
    AwaitingOffer,
    /// The agent's proposal is outstanding; the publisher is to answer.
    Offered,
    /// The publisher's proposal is outstanding; the agent is to answer.
    Countered,
    /// A proposal was accepted; the agent is to deliver.
    Agreed,
    /// The agent delivered; the publisher is to send a receipt.
    Delivered,
    /// The publisher sent its receipt (final).
    Completed,
    /// One party declined the other's proposal (final).
    Rejected {
        /// Who declined.
        by: Role,
    },
    /// One party left before an agreement (final).
    Withdrawn {
        /// Who left.
        by: Role,
    },
    /// The party waited on did not act in time (final).
    Expired {
        /// Who did not act.
        waiting_on: Role,
    },
}

impl State {
    /// Its kind, without its data ([`StateKind`]).
    pub fn kind(self) -> StateKind {
        StateKind::from(self)
    }

    /// Whether no message can follow.
    pub fn is_final(self) -> bool {
        self.waiting_on().is_none()
    }

    /// Who must act next, or `None` in a final state.
    pub fn waiting_on(self) -> Option<Role> {
        match self {
            Self::AwaitingOffer | Self::Countered | Self::Agreed => Some(Role::Agent),
            Self::Offered | Self::Delivered => Some(Role::Publisher),
            Self::Completed
            | Self::Rejected { .. }
            | Self::Withdrawn { .. }
            | Self::Expired { .. } => None,
        }
    }

    /// The state after `from` sends a `kind` message, or `None` if the table forbids it.
    pub fn next(self, from: Role, kind: MessageKind) -> Option<State> {
        use MessageKind as K;
        use Role::{Agent, Publisher};
        Some(match (self, from, kind) {
            (Self::AwaitingOffer, Agent, K::Offer) => Self::Offered,
            (Self::Offered, Publisher, K::Counter) => Self::Countered,
            (Self::Countered, Agent, K::Offer) => Self::Offered,
            (Self::Offered, Publisher, K::Accept) | (Self::Countered, Agent, K::Accept) => {
                Self::Agreed
            }
            (Self::Offered, Publisher, K::Reject) | (Self::Countered, Agent, K::Reject) => {
                Self::Rejected { by: from }
            }
            (Self::Offered | Self::Countered, _, K::Withdraw) => Self::Withdrawn { by: from },
            (Self::Agreed, Agent, K::Deliver) => Self::Delivered,
            // Cancelling an overdue agreement; the time rule is checked by the machine.
            (Self::Agreed, Publisher, K::Withdraw) => Self::Withdrawn { by: Publisher },
            (Self::Delivered, Publisher, K::Receipt) => Self::Completed,
            _ => return None,
        })
    }

    /// The messages `from` may send in this state.
    pub fn allowed(self, from: Role) -> Vec<MessageKind> {
        MessageKind::ALL
            .into_iter()
            .filter(|kind| self.next(from, *kind).is_some())
            .collect()
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AwaitingOffer => f.write_str("awaiting an offer"),
            Self::Offered => f.write_str("offered (the publisher is to answer)"),
            Self::Countered => f.write_str("countered (the agent is to answer)"),
            Self::Agreed => f.write_str("agreed (the agent is to deliver)"),
            Self::Delivered => f.write_str("delivered (the publisher is to send a receipt)"),
            Self::Completed => f.write_str("completed"),
            Self::Rejected { by } => write!(f, "rejected by the {by}"),
            Self::Withdrawn { by } => write!(f, "withdrawn by the {by}"),
            Self::Expired { waiting_on } => write!(f, "expired waiting on the {waiting_on}"),
        }
    }
}
