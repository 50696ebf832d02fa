//! The records the store holds, as callers see them.
//!
//! Signed envelopes are opaque bytes here: the store never parses or verifies them, so callers
//! verify before storing and may verify again after loading.

/// Length of an intent or negotiation id.
pub const ID_LEN: usize = 32;

/// An intent or negotiation id.
pub type Id = [u8; ID_LEN];

/// A peer the node has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPeer {
    /// The peer id, as bytes (`PeerId::to_bytes`).
    pub peer_id: Vec<u8>,
    /// Its addresses, as multiaddr strings.
    pub addresses: Vec<String>,
    /// When it was last seen, Unix ms.
    pub last_seen_unix_ms: u64,
}

/// A signed agent record received from another peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAgentRecord {
    /// The record's peer id, as bytes.
    pub peer_id: Vec<u8>,
    /// The signed envelope.
    pub envelope: Vec<u8>,
    /// When the record expires, Unix ms; it is expired from this instant on.
    pub expires_at_unix_ms: u64,
}

/// Where an intent stands in its lifecycle.
///
/// Stored as a small integer (see [`IntentStatus::code`]); the numbers never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntentStatus {
    /// Taking offers.
    Open,
    /// Offers are being negotiated; still taking offers.
    Negotiating,
    /// An offer was accepted.
    Agreed,
    /// The agent delivered the result.
    Delivered,
    /// The publisher signed a receipt.
    Completed,
    /// Expired without completing.
    Expired,
    /// Withdrawn by its publisher.
    Cancelled,
}

impl IntentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [IntentStatus; 7] = [
        IntentStatus::Open,
        IntentStatus::Negotiating,
        IntentStatus::Agreed,
        IntentStatus::Delivered,
        IntentStatus::Completed,
        IntentStatus::Expired,
        IntentStatus::Cancelled,
    ];

    /// The integer stored for this status. 0 is never used, so a missing field is detected.
    pub fn code(self) -> u32 {
        match self {
            IntentStatus::Open => 1,
            IntentStatus::Negotiating => 2,
            IntentStatus::Agreed => 3,
            IntentStatus::Delivered => 4,
            IntentStatus::Completed => 5,
            IntentStatus::Expired => 6,
            IntentStatus::Cancelled => 7,
        }
    }

    /// The status stored as `code`, if it is one.
    pub fn from_code(code: u32) -> Option<IntentStatus> {
        IntentStatus::ALL
            .into_iter()
            .find(|status| status.code() == code)
    }

    /// Lower-case name, as the API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            IntentStatus::Open => "open",
            IntentStatus::Negotiating => "negotiating",
            IntentStatus::Agreed => "agreed",
            IntentStatus::Delivered => "delivered",
            IntentStatus::Completed => "completed",
            IntentStatus::Expired => "expired",
            IntentStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the intent still takes offers (open or negotiating).
    pub fn is_open(self) -> bool {
        matches!(self, IntentStatus::Open | IntentStatus::Negotiating)
    }
}

/// An intent: its signed envelope and what the node knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIntent {
    /// The intent id.
    pub id: Id,
    /// The signed envelope.
    pub envelope: Vec<u8>,
    /// When the intent expires, Unix ms; it is expired from this instant on.
    pub expires_at_unix_ms: u64,
    /// Lifecycle status.
    pub status: IntentStatus,
    /// Whether this node published it.
    pub own: bool,
    /// When this node received (or published) it, Unix ms.
    pub received_at_unix_ms: u64,
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Sequence number: strictly increasing, never reused, starting at 1.
    pub seq: u64,
    /// Event kind, e.g. `intent`.
    pub kind: String,
    /// Event body, opaque to the store.
    pub body: Vec<u8>,
}

/// This node's side in a negotiation.
///
/// Stored as a small integer (see [`Role::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// This node published the intent.
    Publisher,
    /// This node bids on the intent.
    Agent,
}

impl Role {
    /// The integer stored for this role.
    pub fn code(self) -> u32 {
        match self {
            Role::Publisher => 1,
            Role::Agent => 2,
        }
    }

    /// The role stored as `code`, if it is one.
    pub fn from_code(code: u32) -> Option<Role> {
        match code {
            1 => Some(Role::Publisher),
            2 => Some(Role::Agent),
            _ => None,
        }
    }
}

/// What the store keeps of a negotiation beside its transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiationMeta {
    /// The intent negotiated.
    pub intent_id: Id,
    /// This node's side.
    pub role: Role,
    /// The other party's peer id, as bytes.
    pub counterparty: Vec<u8>,
    /// The state machine's state, as its name (e.g. `offered`).
    pub state: String,
    /// When it last changed, Unix ms.
    pub updated_at_unix_ms: u64,
}

/// A negotiation's id with its meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNegotiation {
    /// Negotiation id.
    pub id: Id,
    /// Its meta.
    pub meta: NegotiationMeta,
}

/// Whether a transcript append wrote anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The message was new and is now stored, with the meta.
    Written,
    /// The same message was already stored at this seq; nothing changed (not even the meta).
    AlreadyPresent,
}

/// This node's local reputation of a peer.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReputation {
    /// The peer id, as bytes.
    pub peer_id: Vec<u8>,
    /// Score.
    pub score: f64,
    /// Observations the score rests on.
    pub observations: u64,
    /// When it last changed, Unix ms.
    pub updated_at_unix_ms: u64,
}

/// A receipt attestation: signed evidence of a completed negotiation, kept for reputation.
///
/// The store treats both the key and the bytes as opaque: it neither computes nor checks the
/// key, and never parses or verifies the attestation, so callers verify before storing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttestation {
    /// The attestation's key: the SHA-256 of the receipt it attests. One attestation is kept
    /// per key.
    pub key: [u8; 32],
    /// The encoded (signed) attestation.
    pub encoded: Vec<u8>,
    /// When the attestation expires, Unix ms; it is expired from this instant on.
    pub expires_at_unix_ms: u64,
    /// How much this node trusts where it came from: over its byte budget, the store drops the
    /// attestations of lowest standing first (see [`Standing`]).
    pub standing: Standing,
}

/// How much this node trusts the origin of a receipt attestation, which decides what the store
/// drops first when the attestations are over their budget: strangers' first, the least
/// trusted rater first, then trusted raters'; this node's own are never dropped to make room.
///
/// Ordered: a lower standing is dropped before a higher one.
///
/// ```
/// use mesh_store::Standing;
///
/// assert!(Standing::Stranger(900) < Standing::Trusted);
/// assert!(Standing::Trusted < Standing::Own);
/// assert_eq!(Standing::from_code(Standing::Stranger(7).code()), Standing::Stranger(7));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Standing {
    /// Rated by a stranger, with the rater's local trust scaled to `0..=u16::MAX` (higher is
    /// kept longer).
    Stranger(u16),
    /// Rated by one of the node's trusted raters.
    Trusted,
    /// Made by this node, or about one of its own negotiations: never evicted to make room.
    Own,
}

impl Standing {
    /// The integer stored for this standing: strangers `0..=65_535`, trusted `65_536`, own
    /// `65_537`. An attestation stored before standings existed reads as `Stranger(0)`.
    pub fn code(self) -> u32 {
        match self {
            Standing::Stranger(trust) => u32::from(trust),
            Standing::Trusted => 0x1_0000,
            Standing::Own => 0x1_0001,
        }
    }

    /// The standing stored as `code`; an unknown code above own reads as own.
    pub fn from_code(code: u32) -> Standing {
        match u16::try_from(code) {
            Ok(trust) => Standing::Stranger(trust),
            Err(_) if code == 0x1_0000 => Standing::Trusted,
            Err(_) => Standing::Own,
        }
    }

    /// A stranger whose local trust is `trust` in `[0, 1]` (clamped; NaN counts as 0).
    pub fn stranger(trust: f64) -> Standing {
        let scaled = if trust.is_nan() {
            0.0
        } else {
            trust.clamp(0.0, 1.0) * f64::from(u16::MAX)
        };
        Standing::Stranger(scaled.round() as u16)
    }
}

/// What [`Store::prune_expired`](crate::Store::prune_expired) removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Expired agent records removed.
    pub agent_records: usize,
    /// Expired intents removed (with their cancellations).
    pub intents: usize,
    /// Expired receipt attestations removed.
    pub attestations: usize,
}

impl Pruned {
    /// Everything removed.
    pub fn total(&self) -> usize {
        self.agent_records + self.intents + self.attestations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip_and_are_distinct() {
        let mut codes: Vec<u32> = IntentStatus::ALL.iter().map(|s| s.code()).collect();
        for status in IntentStatus::ALL {
            assert_eq!(IntentStatus::from_code(status.code()), Some(status));
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), IntentStatus::ALL.len());
        assert_eq!(IntentStatus::from_code(0), None);
        assert_eq!(IntentStatus::from_code(99), None);
    }

    #[test]
    fn role_codes_round_trip() {
        for role in [Role::Publisher, Role::Agent] {
            assert_eq!(Role::from_code(role.code()), Some(role));
        }
        assert_eq!(Role::from_code(0), None);
    }
}
