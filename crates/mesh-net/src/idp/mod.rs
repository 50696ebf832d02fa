//! Intent Discovery Protocol, real-time part: intents on capability topics.
//!
//! An intent is published on the gossipsub topic `mesh/intents/1/<capability>` of each
//! capability it needs. Every node validates each message before gossipsub forwards it
//! ([`validate`]): the envelope must open with the intent domain, the intent must satisfy the
//! schema rules, must not be expired, and must be published on a topic of one of its own
//! capabilities. A node that subscribes to several of an intent's topics receives it on each;
//! the [`SeenIntents`] cache makes sure it is delivered to local subscribers once.
//!
//! The same topics carry the publisher's signed cancellations
//! ([`SignedCancellation`]), told apart from intents by the envelope's payload type and
//! validated the same way.
//!
//! The `driver` submodule holds the protocol's state on a node (caches, quotas, open intents,
//! pending publishes, catch-up) and what it does with each message; the event loop routes to
//! it.

pub(crate) mod driver;
mod intents;
mod topics;

/// Request-response protocol id of IDP catch-up.
pub const PROTOCOL: &str = "/mesh/idp/1.0.0";
/// Largest IDP catch-up request.
pub const MAX_CATCHUP_REQUEST_BYTES: usize = 8 * 1024;
/// Largest IDP catch-up response: the answer limit plus protobuf framing.
pub const MAX_CATCHUP_RESPONSE_BYTES: usize = crate::open_intents::MAX_CATCHUP_BYTES + 64 * 1024;
/// Catch-up streams one peer may have open at once.
pub(crate) const MAX_CATCHUP_STREAMS: usize = 32;

/// Codec of IDP catch-up.
pub(crate) type CatchupCodec = crate::codec::ProtoCodec<
    mesh_proto::v1::OpenIntentsRequest,
    mesh_proto::v1::OpenIntentsResponse,
>;

/// The catch-up protocol's request-response behaviour, bounded at both ends.
pub(crate) fn catchup_behaviour(
    request_timeout: std::time::Duration,
) -> libp2p::request_response::Behaviour<CatchupCodec> {
    use libp2p::request_response::{self, ProtocolSupport};
    request_response::Behaviour::with_codec(
        CatchupCodec::new(MAX_CATCHUP_REQUEST_BYTES, MAX_CATCHUP_RESPONSE_BYTES),
        [(libp2p::StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(request_timeout)
            .with_max_concurrent_streams(MAX_CATCHUP_STREAMS),
    )
}

use libp2p::gossipsub::MessageAcceptance;
use mesh_core::envelope::EnvelopeError;
use mesh_core::{CancellationError, Capability, IntentError, SignedCancellation, SignedIntent};
use std::collections::{BTreeSet, HashMap};

/// Ids remembered to suppress duplicates and replays.
pub(crate) const SEEN_CAPACITY: usize = 262_144;

/// Ids already seen (intent ids, or gossip message ids), each kept until the expiry of the
/// intent it stands for: an intent replayed after gossipsub's own duplicate cache forgot it is
/// still recognised, for as long as it could be accepted at all. Bounded: when full, the id
/// expiring first makes room.
#[derive(Debug)]
pub struct SeenIntents {
    expiry: HashMap<[u8; 32], u64>,
    by_expiry: BTreeSet<(u64, [u8; 32])>,
    capacity: usize,
}

impl Default for SeenIntents {
    fn default() -> Self {
        Self::with_capacity(SEEN_CAPACITY)
    }
}

impl SeenIntents {
    /// A cache of at most `capacity` ids.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            expiry: HashMap::new(),
            by_expiry: BTreeSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Remembers `id` until `expires_at_ms`; returns `true` if it was new.
    pub fn insert(&mut self, id: [u8; 32], expires_at_ms: u64) -> bool {
        if self.expiry.contains_key(&id) {
            return false;
        }
        if self.expiry.len() >= self.capacity
            && let Some(first) = self.by_expiry.pop_first()
        {
            self.expiry.remove(&first.1);
        }
        self.expiry.insert(id, expires_at_ms);
        self.by_expiry.insert((expires_at_ms, id));
        true
    }

    /// Whether `id` was seen and has not expired.
    pub fn contains(&self, id: &[u8; 32]) -> bool {
        self.expiry.contains_key(id)
    }

    /// Forgets the ids expired at `now_ms`.
    pub fn prune(&mut self, now_ms: u64) {
        while let Some(first) = self.by_expiry.first().copied() {
            if first.0 > now_ms {
                break;
            }
            self.by_expiry.pop_first();
            self.expiry.remove(&first.1);
        }
    }

    /// Number of ids remembered.
    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.expiry.is_empty()
    }
}

/// The 32 bytes of a gossip message id (SHA-256 of topic and data), if it is one.
pub(crate) fn message_key(id: &libp2p::gossipsub::MessageId) -> Option<[u8; 32]> {
    id.0.as_slice().try_into().ok()
}

/// What to do with a received gossip message.
#[derive(Debug)]
pub enum Verdict {
    /// Valid: forward it and deliver it.
    Accept(Box<SignedIntent>),
    /// A valid cancellation: forward it and apply it.
    Cancel(Box<SignedCancellation>),
    /// Not worth forwarding, but no fault of the sender (e.g. expired in flight).
    Ignore(&'static str),
    /// Invalid: drop it and penalise the sender.
    Reject(&'static str),
}

impl Verdict {
    /// The gossipsub acceptance for this verdict.
    pub fn acceptance(&self) -> MessageAcceptance {
        match self {
            Verdict::Accept(_) | Verdict::Cancel(_) => MessageAcceptance::Accept,
            Verdict::Ignore(_) => MessageAcceptance::Ignore,
            Verdict::Reject(_) => MessageAcceptance::Reject,
        }
    }
}

/// Validates a message received on `topic` at `now_ms`.
pub fn validate(topic: &str, data: &[u8], now_ms: u64) -> Verdict {
    validate_stamped(topic, data, now_ms, 0)
}

/// [`validate`] on a network that asks every intent for a proof-of-work stamp of
/// `work_bits` (0 for none): an intent below it is rejected as `insufficient_work`.
pub(crate) fn validate_stamped(topic: &str, data: &[u8], now_ms: u64, work_bits: u8) -> Verdict {
    let Some(topic_capability) = Capability::from_topic(topic) else {
        return Verdict::Reject("unknown_topic");
    };
    match SignedIntent::verify(data, now_ms) {
        Ok(intent) => {
            if !intent.capabilities.contains(&topic_capability) {
                Verdict::Reject("wrong_topic")
            } else if work_bits > 0 && intent.work_bits() < u32::from(work_bits) {
                Verdict::Reject("insufficient_work")
            } else {
                Verdict::Accept(Box::new(intent))
            }
        }
        Err(IntentError::Envelope(EnvelopeError::WrongPayloadType { .. })) => {
            validate_cancellation(&topic_capability, data, now_ms)
        }
        Err(IntentError::Expired { .. }) => Verdict::Ignore("expired"),
        Err(IntentError::FromTheFuture { .. }) => Verdict::Ignore("from_the_future"),
        Err(e) => Verdict::Reject(reason_of(&e)),
    }
}

/// A message on an intent topic that is not an intent may be its publisher's cancellation.
fn validate_cancellation(topic: &Capability, data: &[u8], now_ms: u64) -> Verdict {
    match SignedCancellation::verify(data, now_ms) {
        Ok(c) if c.capabilities.contains(topic) => Verdict::Cancel(Box::new(c)),
        Ok(_) => Verdict::Reject("wrong_topic"),
        Err(CancellationError::Expired { .. }) => Verdict::Ignore("expired"),
        Err(CancellationError::FromTheFuture { .. }) => Verdict::Ignore("from_the_future"),
        Err(CancellationError::Envelope(EnvelopeError::WrongPayloadType { .. })) => {
            Verdict::Reject("wrong_payload_type")
        }
        Err(CancellationError::Envelope(EnvelopeError::BadSignature)) => {
            Verdict::Reject("bad_signature")
        }
        Err(_) => Verdict::Reject("malformed_cancellation"),
    }
}

/// Short metric label for an intent error.
pub fn reason_of(e: &IntentError) -> &'static str {
    use mesh_core::envelope::EnvelopeError as E;
    match e {
        IntentError::Envelope(E::BadSignature) => "bad_signature",
        IntentError::Envelope(E::TooLarge { .. }) => "too_large",
        IntentError::Envelope(E::WrongPayloadType { .. }) => "wrong_payload_type",
        IntentError::Envelope(_) | IntentError::Malformed(_) => "malformed",
        IntentError::PublisherMismatch { .. } => "publisher_mismatch",
        IntentError::Capability(_) => "bad_capability",
        IntentError::Expired { .. } => "expired",
        IntentError::FromTheFuture { .. } => "from_the_future",
        IntentError::Invalid { .. } | IntentError::BadId => "invalid_field",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::{Intent, Keypair};

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn seen_ids_last_until_their_expiry_and_the_first_to_expire_makes_room() {
        let mut seen = SeenIntents::with_capacity(2);
        let ids: Vec<[u8; 32]> = (0u8..3).map(|i| [i; 32]).collect();
        assert!(seen.insert(ids[0], NOW + 10));
        assert!(!seen.insert(ids[0], NOW + 10), "a replay is recognised");
        assert!(seen.insert(ids[1], NOW + 5));
        assert!(seen.insert(ids[2], NOW + 20));
        assert_eq!(seen.len(), 2);
        assert!(
            !seen.contains(&ids[1]),
            "the id expiring first was forgotten"
        );
        assert!(seen.contains(&ids[0]) && seen.contains(&ids[2]));
        seen.prune(NOW + 10);
        assert!(!seen.contains(&ids[0]), "expired ids are forgotten");
        assert!(seen.contains(&ids[2]));
        seen.prune(NOW + 20);
        assert!(seen.is_empty());
    }

    #[test]
    fn validate_checks_topic_and_signature() {
        let key = Keypair::generate_ed25519();
        let intent = Intent::new("t")
            .capabilities(["text-generation"])
            .sign(&key, NOW)
            .unwrap();
        assert!(matches!(
            validate("mesh/intents/1/text-generation", &intent.envelope, NOW),
            Verdict::Accept(_)
        ));
        assert!(matches!(
            validate("mesh/intents/1/image-generation", &intent.envelope, NOW),
            Verdict::Reject("wrong_topic")
        ));
        assert!(matches!(
            validate("other", &intent.envelope, NOW),
            Verdict::Reject("unknown_topic")
        ));
        assert!(matches!(
            validate("mesh/intents/1/text-generation", b"garbage", NOW),
            Verdict::Reject("malformed")
        ));
        assert!(matches!(
            validate(
                "mesh/intents/1/text-generation",
                &intent.envelope,
                NOW + 10 * 3_600_000
            ),
            Verdict::Ignore("expired")
        ));
    }
}
