//! Receipt attestations: a publisher's signed receipt, with the agent's signed delivery when it
//! is disclosed, checked offline without the rest of the transcript.

use libp2p::identity::PeerId;
use mesh_proto::{decode_bounded, v1};
use prost::Message as _;

use super::{NEUTRAL_RATING, Rating};
use crate::intent::{IntentId, MAX_CLOCK_SKEW};
use crate::negotiation::{
    self, Header, MAX_ENVELOPE_BYTES, MAX_MESSAGES, MAX_SMALL_ENVELOPE_BYTES, MessageHash,
    MessageKind, NegotiationError, NegotiationId, State, Transcript, TranscriptError,
};

/// Largest encoded [`ReceiptAttestation`]: a receipt envelope, a deliver envelope and the
/// protobuf framing of both.
pub const MAX_ATTESTATION_BYTES: usize = MAX_SMALL_ENVELOPE_BYTES + MAX_ENVELOPE_BYTES + 16;

/// Lowest `seq` of a receipt: it follows at least an offer, an accept and a delivery.
const FIRST_RECEIPT_SEQ: u64 = 3;

/// What a publisher discloses when it publishes a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disclosure {
    /// The agent's delivery only when the rating needs it (below [`NEUTRAL_RATING`]): a
    /// delivery may carry the result inline, which then becomes public.
    Minimal,
    /// Always the agent's delivery, proving the job was done whatever the rating.
    WithDelivery,
}

impl Disclosure {
    /// Whether an attestation of a receipt rated `rating` carries the agent's delivery.
    pub fn includes_delivery(self, rating: f64) -> bool {
        match self {
            Disclosure::WithDelivery => true,
            Disclosure::Minimal => rating < NEUTRAL_RATING,
        }
    }
}

/// A receipt as published: the publisher's signed `Receipt` envelope and, optionally, the
/// agent's signed `Deliver` envelope it chains to (`mesh.v1.ReceiptAttestation`).
///
/// Nothing else is needed to check it: the receipt names the intent, its signer (the
/// publisher) and its recipient (the agent), and its negotiation id must be the one derived
/// from those three, which fixes who played which part.
///
/// ```
/// use mesh_core::trust::{Disclosure, ReceiptAttestation};
/// # use mesh_core::negotiation::{Body, Config, Delivery, Eta, Negotiation, Price, Proposal, Receipt};
/// # use mesh_core::{IntentId, Keypair};
/// # use std::time::Duration;
/// # let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
/// # let now = 1_700_000_000_000;
/// # let (p, a) = (publisher.public().to_peer_id(), agent.public().to_peer_id());
/// # let mut n = Negotiation::new(IntentId([7; 32]), p, a, Config::default(), now)?;
/// # let offer = Proposal::new(Price::new("2", "USD")?, Eta::Within(Duration::from_secs(60)));
/// # let mut agent_side = n.clone();
/// # let b = agent_side.send(Body::Offer(offer), &agent, now)?; n.handle(&b, now)?;
/// # let b = n.send(Body::Accept, &publisher, now)?; agent_side.handle(&b, now)?;
/// # let b = agent_side.send(Body::Deliver(Delivery::inline("text/plain", "done")), &agent, now)?;
/// # n.handle(&b, now)?;
/// # n.send(Body::Receipt(Receipt::new(0.9)), &publisher, now)?;
/// // `n` is a completed negotiation held by the publisher.
/// let bytes = ReceiptAttestation::from_transcript(n.transcript(), Disclosure::Minimal)?.encode();
/// let verified = ReceiptAttestation::verify(&bytes, now)?;
/// assert_eq!(verified.publisher(), p);
/// assert_eq!(verified.agent(), a);
/// assert_eq!(verified.rating().value, 0.9);
/// assert!(!verified.proves_delivery(), "a good rating needs no disclosure");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptAttestation {
    receipt: Vec<u8>,
    deliver: Option<Vec<u8>>,
}

/// An attestation that passed every check, with what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedAttestation {
    encoded: Vec<u8>,
    negotiation_id: NegotiationId,
    intent_id: IntentId,
    publisher: PeerId,
    agent: PeerId,
    rating: f64,
    comment: String,
    rated_at_ms: u64,
    receipt_hash: MessageHash,
    proves_delivery: bool,
}

/// Why an attestation is not valid evidence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AttestationError {
    /// Larger than any valid attestation; nothing of it was decoded.
    #[error("attestation of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Bytes given.
        size: usize,
        /// Largest size accepted.
        max: usize,
    },
    /// Not a `mesh.v1.ReceiptAttestation`.
    #[error("malformed attestation: {0}")]
    Malformed(String),
    /// Decodes, but not from the bytes its canonical encoding gives: altered on the way.
    #[error(
        "attestation is not canonically encoded: it was altered after it was made; fetch it again"
    )]
    NonCanonical,
    /// The receipt envelope fails the checks every negotiation message must pass.
    #[error("the attestation's receipt is invalid: {0}")]
    Receipt(#[source] NegotiationError),
    /// The deliver envelope fails the checks every negotiation message must pass.
    #[error("the attestation's delivery is invalid: {0}")]
    Deliver(#[source] NegotiationError),
    /// The receipt envelope holds another kind of message.
    #[error("the attestation's first envelope is a {kind}, not a Receipt")]
    NotAReceipt {
        /// What it holds.
        kind: MessageKind,
    },
    /// The deliver envelope holds another kind of message.
    #[error("the attestation's second envelope is a {kind}, not a Deliver")]
    NotADelivery {
        /// What it holds.
        kind: MessageKind,
    },
    /// The receipt's negotiation id is not derived from its intent with its signer as the
    /// publisher and its recipient as the agent: the signer is not the negotiation's publisher.
    #[error(
        "the receipt's negotiation id is not derived from its intent with its signer {signer} as publisher: only the publisher of a negotiation may sign its receipt"
    )]
    NotThePublisher {
        /// Who signed the receipt.
        signer: String,
    },
    /// Publisher and agent are the same peer.
    #[error("a peer cannot rate itself: publisher and agent are both {peer}")]
    SelfRating {
        /// The peer.
        peer: String,
    },
    /// The receipt's `seq` is lower than any completed negotiation allows, or higher.
    #[error(
        "a receipt is message {FIRST_RECEIPT_SEQ} to {} of a negotiation, not message {seq}",
        MAX_MESSAGES - 1
    )]
    ImpossibleSeq {
        /// The receipt's `seq`.
        seq: u64,
    },
    /// The receipt claims to be signed too far in the future of the verifier's clock.
    #[error(
        "receipt signed at {sent_at_ms}, more than 5 minutes after now ({now_ms}): check the publisher's clock"
    )]
    FromTheFuture {
        /// Claimed signing time, Unix ms.
        sent_at_ms: u64,
        /// Verifier's time, Unix ms.
        now_ms: u64,
    },
    /// A rating below neutral without the agent's delivery.
    #[error(
        "a rating of {rating} (below {NEUTRAL_RATING}) must carry the agent's signed delivery, so that nobody can blame an agent it never dealt with"
    )]
    MissingDelivery {
        /// The rating.
        rating: f64,
    },
    /// The delivery is not the message the receipt chains to.
    #[error("the attestation's delivery is not the message its receipt follows: {reason}")]
    Unchained {
        /// What does not match.
        reason: &'static str,
    },
    /// The transcript has no receipt to attest.
    #[error("the negotiation is {state}, not completed: there is no receipt to publish")]
    NotCompleted {
        /// Where the negotiation stands.
        state: State,
    },
    /// The transcript an attestation was to be made from is not valid.
    #[error("cannot attest an invalid transcript: {0}")]
    Transcript(#[source] TranscriptError),
}

/// The envelope's payload (field 3), read without checking the signature a second time: only
/// for bytes [`negotiation::peek`] has already accepted.
#[derive(Clone, PartialEq, prost::Message)]
struct EnvelopePayload {
    #[prost(bytes = "vec", tag = "3")]
    payload: Vec<u8>,
}

impl ReceiptAttestation {
    /// An attestation of these envelopes, unchecked.
    pub fn new(receipt: Vec<u8>, deliver: Option<Vec<u8>>) -> Self {
        Self { receipt, deliver }
    }

    /// The attestation of a completed negotiation's receipt, from its transcript (as either
    /// party holds it). The transcript is verified first.
    pub fn from_transcript(
        transcript: &Transcript,
        disclosure: Disclosure,
    ) -> Result<Self, AttestationError> {
        let summary = transcript.verify().map_err(AttestationError::Transcript)?;
        let (Some(receipt), [.., deliver, last]) = (summary.receipt, transcript.envelopes()) else {
            return Err(AttestationError::NotCompleted {
                state: summary.state,
            });
        };
        Ok(Self {
            receipt: last.clone(),
            deliver: disclosure
                .includes_delivery(receipt.rating)
                .then(|| deliver.clone()),
        })
    }

    /// The receipt envelope.
    pub fn receipt(&self) -> &[u8] {
        &self.receipt
    }

    /// The deliver envelope, if disclosed.
    pub fn deliver(&self) -> Option<&[u8]> {
        self.deliver.as_deref()
    }

    /// The protobuf encoding, a `mesh.v1.ReceiptAttestation`.
    pub fn encode(&self) -> Vec<u8> {
        v1::ReceiptAttestation {
            receipt: self.receipt.clone(),
            deliver: self.deliver.clone().unwrap_or_default(),
        }
        .encode_to_vec()
    }

    /// Reads a `mesh.v1.ReceiptAttestation`, refusing more than [`MAX_ATTESTATION_BYTES`] and
    /// any encoding but the canonical one. Does not verify it.
    pub fn decode(bytes: &[u8]) -> Result<Self, AttestationError> {
        if bytes.len() > MAX_ATTESTATION_BYTES {
            return Err(AttestationError::TooLarge {
                size: bytes.len(),
                max: MAX_ATTESTATION_BYTES,
            });
        }
        let wire: v1::ReceiptAttestation = decode_bounded(bytes, MAX_ATTESTATION_BYTES)
            .map_err(|e| AttestationError::Malformed(e.to_string()))?;
        let attestation = Self {
            receipt: wire.receipt,
            deliver: (!wire.deliver.is_empty()).then_some(wire.deliver),
        };
        // One attestation, one byte string: gossip ids and stores see each receipt once.
        if attestation.encode() != bytes {
            return Err(AttestationError::NonCanonical);
        }
        Ok(attestation)
    }

    /// Decodes and checks an attestation received from anyone, at `now_ms` (Unix ms).
    ///
    /// Checks, in order: the size, the canonical encoding, the receipt envelope as any
    /// negotiation message (size, encoding, signature, fields, rating in `[0, 1]`), that it is
    /// a `Receipt` whose signer is the negotiation's publisher (the negotiation id is derived
    /// from the intent, the signer and the recipient) and not the agent, a plausible `seq`,
    /// not signed more than 5 minutes in the future; then, if the delivery is there or the
    /// rating is below [`NEUTRAL_RATING`] (where it must be), that it is the agent's `Deliver`
    /// in the same negotiation, addressed to the publisher, the message just before the
    /// receipt (`seq` and `prev_hash`), and not signed more than 5 minutes after the receipt.
    pub fn verify(bytes: &[u8], now_ms: u64) -> Result<VerifiedAttestation, AttestationError> {
        Self::decode(bytes)?.validate(now_ms)
    }

    /// [`verify`](Self::verify) of many attestations at once: for each item, in order, what
    /// [`verify`](Self::verify) returns for it alone (the same verified attestation, or the
    /// same error with the same message), with the signatures of every receipt and delivery
    /// envelope of the batch checked together by [`negotiation::peek_batch`].
    ///
    /// The one exception is the one [`envelope::open_batch`](crate::envelope::open_batch)
    /// documents: an envelope whose own signer deliberately built its key or signature nonce
    /// with a small-order component, which [`verify`](Self::verify) refuses and a batch may
    /// accept. No honest signer makes one, and nobody can make one with another's key.
    ///
    /// Cost (benchmark `attestation_verify_256`, a catch-up page of 256): about 40% less time
    /// than one by one when every signature is valid, with or without deliveries; one forged
    /// signature anywhere fails the batch and every envelope in it is checked again alone,
    /// about 1.4 times the one-by-one time. An item that does not decode costs what it costs
    /// alone and adds nothing to the batch.
    ///
    /// ```
    /// use mesh_core::trust::{AttestationError, ReceiptAttestation};
    /// let items: [&[u8]; 2] = [b"not an attestation", &[]];
    /// let verified = ReceiptAttestation::verify_batch(&items, 1_700_000_000_000);
    /// assert!(matches!(verified[0], Err(AttestationError::Malformed(_))));
    /// assert_eq!(verified[1], ReceiptAttestation::verify(&[], 1_700_000_000_000));
    /// ```
    pub fn verify_batch(
        items: &[&[u8]],
        now_ms: u64,
    ) -> Vec<Result<VerifiedAttestation, AttestationError>> {
        let decoded: Vec<Result<Self, AttestationError>> =
            items.iter().map(|bytes| Self::decode(bytes)).collect();
        let envelopes: Vec<&[u8]> = decoded
            .iter()
            .flatten()
            .flat_map(|a| std::iter::once(a.receipt.as_slice()).chain(a.deliver.as_deref()))
            .collect();
        let mut headers = negotiation::peek_batch(&envelopes).into_iter();
        decoded
            .into_iter()
            .map(|attestation| {
                let attestation = attestation?;
                // One header per envelope listed, in order; peeked alone should one be missing.
                let receipt = headers
                    .next()
                    .unwrap_or_else(|| negotiation::peek(&attestation.receipt));
                let deliver = attestation.deliver.is_some().then(|| headers.next());
                attestation.validate_peeked(receipt, now_ms, |bytes| {
                    deliver
                        .flatten()
                        .unwrap_or_else(|| negotiation::peek(bytes))
                })
            })
            .collect()
    }

    /// [`verify`](Self::verify) for an attestation already decoded or made here.
    pub fn validate(self, now_ms: u64) -> Result<VerifiedAttestation, AttestationError> {
        let receipt = negotiation::peek(&self.receipt);
        self.validate_peeked(receipt, now_ms, negotiation::peek)
    }

    /// [`validate`](Self::validate) with the receipt's header as [`negotiation::peek`] gives
    /// it, and `peek_deliver` giving the delivery's when it is needed.
    fn validate_peeked(
        self,
        receipt: Result<Header, NegotiationError>,
        now_ms: u64,
        peek_deliver: impl FnOnce(&[u8]) -> Result<Header, NegotiationError>,
    ) -> Result<VerifiedAttestation, AttestationError> {
        let header = receipt.map_err(AttestationError::Receipt)?;
        if header.kind != MessageKind::Receipt {
            return Err(AttestationError::NotAReceipt { kind: header.kind });
        }
        let (publisher, agent) = (header.sender, header.recipient);
        if publisher == agent {
            return Err(AttestationError::SelfRating {
                peer: publisher.to_string(),
            });
        }
        if NegotiationId::derive(&header.intent_id, &publisher, &agent) != header.negotiation_id {
            return Err(AttestationError::NotThePublisher {
                signer: publisher.to_string(),
            });
        }
        if !(FIRST_RECEIPT_SEQ..MAX_MESSAGES).contains(&header.seq) {
            return Err(AttestationError::ImpossibleSeq { seq: header.seq });
        }
        let skew_ms = u64::try_from(MAX_CLOCK_SKEW.as_millis()).unwrap_or(u64::MAX);
        if header.sent_at_ms > now_ms.saturating_add(skew_ms) {
            return Err(AttestationError::FromTheFuture {
                sent_at_ms: header.sent_at_ms,
                now_ms,
            });
        }
        let (prev_hash, rating, comment) = receipt_content(&self.receipt)?;
        match &self.deliver {
            Some(deliver) => check_delivery(peek_deliver(deliver), &header, &prev_hash, skew_ms)?,
            None if rating < NEUTRAL_RATING => {
                return Err(AttestationError::MissingDelivery { rating });
            }
            None => {}
        }
        Ok(VerifiedAttestation {
            encoded: self.encode(),
            negotiation_id: header.negotiation_id,
            intent_id: header.intent_id,
            publisher,
            agent,
            // `-0.0` and `0.0` are the same rating.
            rating: rating + 0.0,
            comment,
            rated_at_ms: header.sent_at_ms,
            receipt_hash: header.hash,
            proves_delivery: self.deliver.is_some(),
        })
    }
}

/// The receipt's `prev_hash`, rating and comment; `receipt` passed [`negotiation::peek`].
fn receipt_content(receipt: &[u8]) -> Result<(Vec<u8>, f64, String), AttestationError> {
    let malformed = |e: prost::DecodeError| {
        AttestationError::Receipt(NegotiationError::Malformed(e.to_string()))
    };
    let envelope = EnvelopePayload::decode(receipt).map_err(malformed)?;
    let message = v1::NegotiationMessage::decode(envelope.payload.as_slice()).map_err(malformed)?;
    match message.body {
        Some(v1::negotiation_message::Body::Receipt(r)) => {
            Ok((message.prev_hash, r.rating, r.comment))
        }
        _ => Err(AttestationError::Receipt(NegotiationError::Malformed(
            "no receipt body".to_owned(),
        ))),
    }
}

/// That the delivery, whose header `deliver` is as [`negotiation::peek`] gives it, is the
/// agent's message just before `receipt`.
fn check_delivery(
    deliver: Result<Header, NegotiationError>,
    receipt: &Header,
    prev_hash: &[u8],
    skew_ms: u64,
) -> Result<(), AttestationError> {
    let header = deliver.map_err(AttestationError::Deliver)?;
    let unchained = |reason| Err(AttestationError::Unchained { reason });
    if header.kind != MessageKind::Deliver {
        return Err(AttestationError::NotADelivery { kind: header.kind });
    }
    if header.negotiation_id != receipt.negotiation_id || header.intent_id != receipt.intent_id {
        return unchained("it belongs to another negotiation");
    }
    if header.sender != receipt.recipient || header.recipient != receipt.sender {
        return unchained("it is not from the agent to the publisher");
    }
    if header.seq.checked_add(1) != Some(receipt.seq) {
        return unchained("its seq is not the one before the receipt's");
    }
    if header.hash.as_slice() != prev_hash {
        return unchained("the receipt's prev_hash is not the hash of this delivery");
    }
    if receipt.sent_at_ms.saturating_add(skew_ms) < header.sent_at_ms {
        return unchained("the receipt is dated more than 5 minutes before the delivery");
    }
    Ok(())
}

impl VerifiedAttestation {
    /// The canonical encoding, to store or forward unchanged.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// The negotiation the receipt completes.
    pub fn negotiation_id(&self) -> NegotiationId {
        self.negotiation_id
    }

    /// The intent negotiated.
    pub fn intent_id(&self) -> IntentId {
        self.intent_id
    }

    /// The intent's publisher, who signed the receipt: the rater.
    pub fn publisher(&self) -> PeerId {
        self.publisher
    }

    /// The agent rated.
    pub fn agent(&self) -> PeerId {
        self.agent
    }

    /// The receipt's free-text comment.
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// This attestation as `disclosure` publishes it: its own encoding, or, when it carries a
    /// delivery that `disclosure` keeps private, the receipt alone. `None` never happens for
    /// an attestation that was verified (its bytes decode).
    pub fn encoded_as(&self, disclosure: Disclosure) -> Option<Vec<u8>> {
        if !self.proves_delivery || disclosure.includes_delivery(self.rating) {
            return Some(self.encoded.clone());
        }
        let full = ReceiptAttestation::decode(&self.encoded).ok()?;
        Some(ReceiptAttestation::new(full.receipt, None).encode())
    }

    /// Whether the agent's signed delivery came with it: the agent took part and delivered.
    pub fn proves_delivery(&self) -> bool {
        self.proves_delivery
    }

    /// What the receipt says, ready for [`TrustGraph::insert`](super::TrustGraph::insert).
    pub fn rating(&self) -> Rating {
        Rating {
            rater: self.publisher,
            ratee: self.agent,
            negotiation_id: self.negotiation_id,
            value: self.rating,
            rated_at_ms: self.rated_at_ms,
            receipt_hash: self.receipt_hash,
        }
    }
}
