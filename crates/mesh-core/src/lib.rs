//! MESH domain types, free of I/O.
//!
//! - [`Capability`]: a validated capability name and the wire names derived from it
//!   (gossipsub topic, DHT provider key).
//! - [`Intent`] / [`SignedIntent`]: a request for work, and the same request once signed by its
//!   publisher or verified on receipt.
//! - [`SignedCancellation`]: the publisher's signed withdrawal of an intent, and
//!   [`IntentStatus`], an intent's place in its lifecycle.
//! - [`AgentRecord`] / [`SignedAgentRecord`]: what an agent advertises in the DHT.
//! - [`LocalReputation`]: this node's own score of each peer in `[0, 1]`.
//! - [`negotiation`]: the Intent Negotiation Protocol's signed messages, its deterministic
//!   state machine ([`Negotiation`]) and offline-verifiable [`Transcript`]s.
//! - [`trust`]: network-wide reputation: receipts as [`ReceiptAttestation`]s, the bounded
//!   [`TrustGraph`] and its EigenTrust-style aggregation into [`TrustScores`].
//!
//! Nothing here reads a clock: every check that depends on time takes `now_ms`, Unix
//! milliseconds, from the caller.
#![deny(missing_docs)]

pub mod agent_record;
pub mod cancellation;
pub mod capability;
pub mod envelope;
pub mod intent;
pub mod lifecycle;
pub mod negotiation;
pub mod reputation;
pub mod trust;
pub mod work;

pub use agent_record::{AgentRecord, AgentRecordError, SignedAgentRecord, Skill};
pub use cancellation::{CancellationError, SignedCancellation};
pub use capability::{Capability, CapabilityError};
pub use intent::{Budget, Intent, IntentError, IntentId, Payload, SignedIntent};
pub use libp2p::identity::{Keypair, PeerId, PublicKey};
pub use lifecycle::IntentStatus;
pub use negotiation::{
    Negotiation, NegotiationError, NegotiationId, Transcript, TranscriptError, TranscriptSummary,
};
pub use reputation::{LocalReputation, Observation};
pub use trust::{
    AttestationError, ReceiptAttestation, TrustGraph, TrustScores, VerifiedAttestation,
};

/// Unix milliseconds of a [`std::time::SystemTime`], saturating at 0 for times before 1970.
pub fn unix_ms(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
