//! Negotiation message contents, their wire form, and opening a signed message.

use std::fmt;
use std::time::Duration;

use libp2p::core::SignedEnvelope;
use libp2p::identity::{Keypair, PeerId, PublicKey};
use mesh_proto::{decode_bounded, v1};
use prost::Message as _;
use sha2::{Digest, Sha256};

use super::{
    MAX_CONTENT_TYPE_BYTES, MAX_ENVELOPE_BYTES, MAX_ETA_MS, MAX_INLINE_RESULT_BYTES,
    MAX_LOCATION_BYTES, MAX_REASON_BYTES, MAX_SMALL_ENVELOPE_BYTES, MAX_TERMS_BYTES, MessageHash,
    MessageKind, NegotiationError, NegotiationId, message_hash,
};
use crate::envelope::{self, EnvelopeError, NEGOTIATION_DOMAIN, NEGOTIATION_PAYLOAD_TYPE};
use crate::intent::{Budget, IntentError, IntentId};

use v1::negotiation_message as wire;

/// A validated price: a decimal amount and a currency code, with the rules of
/// [`Budget`](crate::intent::Budget).
///
/// ```
/// use mesh_core::negotiation::Price;
/// let price = Price::new("2.50", "USD").unwrap();
/// assert_eq!(price.to_string(), "2.50 USD");
/// assert_eq!(price.atomic_units(), 250_000_000);
/// assert!(Price::new("2,50", "USD").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Price {
    amount: String,
    currency: String,
}

impl Price {
    /// A price of `amount` (up to 12 integer and 8 fraction digits, e.g. `"2.50"`) in
    /// `currency` (3 to 8 of A-Z and 0-9, e.g. `"USD"`).
    pub fn new(
        amount: impl Into<String>,
        currency: impl Into<String>,
    ) -> Result<Self, NegotiationError> {
        let (amount, currency) = (amount.into(), currency.into());
        let blank = |s: &str| s.is_empty() || s.chars().any(char::is_whitespace);
        let checked = if blank(&amount) || blank(&currency) {
            Err("give an amount such as \"2.50\" and a currency code such as \"USD\"".to_owned())
        } else {
            match Budget::parse(&format!("{amount} {currency}"), "") {
                Ok(_) => Ok(()),
                Err(IntentError::Invalid { reason, .. }) => Err(reason),
                Err(other) => Err(other.to_string()),
            }
        };
        match checked {
            Ok(()) => Ok(Self { amount, currency }),
            Err(reason) => Err(NegotiationError::BadPrice {
                amount,
                currency,
                reason,
            }),
        }
    }

    /// The decimal amount, e.g. `"2.50"`.
    pub fn amount(&self) -> &str {
        &self.amount
    }

    /// The currency code, e.g. `"USD"`.
    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// The amount in units of 10⁻⁸, exact, for comparing prices of one currency.
    pub fn atomic_units(&self) -> u128 {
        let (int, frac) = self
            .amount
            .split_once('.')
            .unwrap_or((self.amount.as_str(), ""));
        let digits = |s: &str| {
            s.bytes()
                .fold(0u128, |n, b| n * 10 + u128::from(b.saturating_sub(b'0')))
        };
        let frac_units = digits(frac) * 10u128.pow(8u32.saturating_sub(frac.len() as u32));
        digits(int) * 100_000_000 + frac_units
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// When a result will be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Eta {
    /// Within this long of the agreement (whole milliseconds, up to 30 days).
    Within(Duration),
    /// At this instant, Unix milliseconds (not before the message is sent, at most 30 days
    /// after).
    At(u64),
}

impl Eta {
    /// The instant, Unix milliseconds, by which delivery is due for an agreement at
    /// `agreed_at_ms`.
    pub fn due_at(self, agreed_at_ms: u64) -> u64 {
        match self {
            Self::Within(d) => agreed_at_ms.saturating_add(duration_ms(d)),
            Self::At(at) => at.max(agreed_at_ms),
        }
    }

    fn check(self, sent_at_ms: u64) -> Result<(), NegotiationError> {
        let ok = match self {
            Self::Within(d) => (1..=MAX_ETA_MS).contains(&duration_ms(d)),
            Self::At(at) => at >= sent_at_ms && at - sent_at_ms <= MAX_ETA_MS,
        };
        if ok {
            Ok(())
        } else {
            Err(NegotiationError::invalid(
                "eta",
                "must lie between 1 ms and 30 days after the message is sent",
            ))
        }
    }
}

/// Terms proposed by either party: an `Offer` from the agent or a `Counter` from the publisher.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// What the work costs.
    pub price: Price,
    /// When the result will be delivered.
    pub eta: Eta,
    /// Free-text conditions, at most [`MAX_TERMS_BYTES`].
    pub terms: String,
}

impl Proposal {
    /// A proposal with no free-text terms.
    pub fn new(price: Price, eta: Eta) -> Self {
        Self {
            price,
            eta,
            terms: String::new(),
        }
    }

    /// Sets the free-text terms.
    pub fn with_terms(mut self, terms: impl Into<String>) -> Self {
        self.terms = terms.into();
        self
    }

    fn to_wire(&self) -> wire::Proposal {
        wire::Proposal {
            amount: self.price.amount.clone(),
            currency: self.price.currency.clone(),
            eta: Some(match self.eta {
                Eta::Within(d) => wire::proposal::Eta::EtaWithinMs(duration_ms(d)),
                Eta::At(at) => wire::proposal::Eta::EtaAtMs(at),
            }),
            terms: self.terms.clone(),
        }
    }

    fn from_wire(p: wire::Proposal, sent_at_ms: u64) -> Result<Self, NegotiationError> {
        let price = Price::new(p.amount, p.currency)?;
        let eta = match p.eta {
            Some(wire::proposal::Eta::EtaWithinMs(ms)) => Eta::Within(Duration::from_millis(ms)),
            Some(wire::proposal::Eta::EtaAtMs(at)) => Eta::At(at),
            None => {
                return Err(NegotiationError::invalid(
                    "eta",
                    "missing: set eta_within_ms or eta_at_ms",
                ));
            }
        };
        eta.check(sent_at_ms)?;
        check_len("terms", &p.terms, MAX_TERMS_BYTES)?;
        Ok(Self {
            price,
            eta,
            terms: p.terms,
        })
    }
}

/// Where a delivered result is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResultContent {
    /// The result itself.
    Inline {
        /// Media type, e.g. `text/plain`.
        content_type: String,
        /// The bytes, at most [`MAX_INLINE_RESULT_BYTES`].
        data: Vec<u8>,
    },
    /// A URL or content id to fetch the result from, at most [`MAX_LOCATION_BYTES`].
    Location(String),
}

/// The result of the agreed work.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Delivery {
    /// SHA-256 of the result bytes.
    pub digest: [u8; 32],
    /// The result or where to find it.
    pub content: ResultContent,
}

impl Delivery {
    /// Delivers `data` inline; the digest is computed here.
    pub fn inline(content_type: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        let data = data.into();
        Self {
            digest: Sha256::digest(&data).into(),
            content: ResultContent::Inline {
                content_type: content_type.into(),
                data,
            },
        }
    }

    /// Delivers a result that lies at `location` and whose bytes hash to `digest`.
    pub fn at_location(location: impl Into<String>, digest: [u8; 32]) -> Self {
        Self {
            digest,
            content: ResultContent::Location(location.into()),
        }
    }

    fn to_wire(&self) -> wire::Deliver {
        wire::Deliver {
            result_sha256: self.digest.to_vec(),
            content: Some(match &self.content {
                ResultContent::Inline { content_type, data } => {
                    wire::deliver::Content::Inline(v1::Payload {
                        content_type: content_type.clone(),
                        data: data.clone(),
                    })
                }
                ResultContent::Location(location) => {
                    wire::deliver::Content::Location(location.clone())
                }
            }),
        }
    }

    fn from_wire(d: wire::Deliver) -> Result<Self, NegotiationError> {
        let digest: [u8; 32] = d
            .result_sha256
            .try_into()
            .map_err(|_| NegotiationError::invalid("result_sha256", "must be 32 bytes"))?;
        let content = match d.content {
            Some(wire::deliver::Content::Inline(p)) => {
                if p.data.len() > MAX_INLINE_RESULT_BYTES {
                    return Err(NegotiationError::invalid(
                        "inline",
                        format!(
                            "{} bytes: at most {MAX_INLINE_RESULT_BYTES} travel inline; deliver a location instead",
                            p.data.len()
                        ),
                    ));
                }
                if p.content_type.is_empty() || p.content_type.len() > MAX_CONTENT_TYPE_BYTES {
                    return Err(NegotiationError::invalid(
                        "inline.content_type",
                        "must be a media type such as \"text/plain\"",
                    ));
                }
                if <[u8; 32]>::from(Sha256::digest(&p.data)) != digest {
                    return Err(NegotiationError::DigestMismatch);
                }
                ResultContent::Inline {
                    content_type: p.content_type,
                    data: p.data,
                }
            }
            Some(wire::deliver::Content::Location(location)) => {
                if location.trim().is_empty() {
                    return Err(NegotiationError::invalid(
                        "location",
                        "must name where the result is, e.g. a URL",
                    ));
                }
                check_len("location", &location, MAX_LOCATION_BYTES)?;
                ResultContent::Location(location)
            }
            None => {
                return Err(NegotiationError::invalid(
                    "content",
                    "missing: deliver the result inline or give its location",
                ));
            }
        };
        Ok(Self { digest, content })
    }
}

/// The publisher's verdict on a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// Satisfaction in `[0, 1]`.
    pub rating: f64,
    /// Free text, at most [`MAX_REASON_BYTES`].
    pub comment: String,
}

impl Receipt {
    /// A receipt with `rating` in `[0, 1]` and no comment.
    pub fn new(rating: f64) -> Self {
        Self {
            rating,
            comment: String::new(),
        }
    }

    /// Sets the comment.
    pub fn with_comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = comment.into();
        self
    }
}

/// The content of one negotiation message.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// The agent proposes terms.
    Offer(Proposal),
    /// The publisher proposes other terms.
    Counter(Proposal),
    /// Takes the other party's outstanding proposal.
    Accept,
    /// Declines the other party's outstanding proposal and ends the negotiation.
    Reject {
        /// Why, at most [`MAX_REASON_BYTES`].
        reason: String,
    },
    /// Ends the negotiation from the sender's side, before an agreement; or, from the
    /// publisher once the agreed delivery is overdue, cancels the agreement.
    Withdraw {
        /// Why, at most [`MAX_REASON_BYTES`].
        reason: String,
    },
    /// The agent delivers the agreed work.
    Deliver(Delivery),
    /// The publisher rates the delivery.
    Receipt(Receipt),
}

impl Body {
    /// The kind of this message.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::Offer(_) => MessageKind::Offer,
            Self::Counter(_) => MessageKind::Counter,
            Self::Accept => MessageKind::Accept,
            Self::Reject { .. } => MessageKind::Reject,
            Self::Withdraw { .. } => MessageKind::Withdraw,
            Self::Deliver(_) => MessageKind::Deliver,
            Self::Receipt(_) => MessageKind::Receipt,
        }
    }

    /// The proposal carried, for an `Offer` or a `Counter`.
    pub fn proposal(&self) -> Option<&Proposal> {
        match self {
            Self::Offer(p) | Self::Counter(p) => Some(p),
            _ => None,
        }
    }

    pub(super) fn to_wire(&self) -> wire::Body {
        match self {
            Self::Offer(p) => wire::Body::Offer(p.to_wire()),
            Self::Counter(p) => wire::Body::Counter(p.to_wire()),
            Self::Accept => wire::Body::Accept(wire::Accept {}),
            Self::Reject { reason } => wire::Body::Reject(wire::Reject {
                reason: reason.clone(),
            }),
            Self::Withdraw { reason } => wire::Body::Withdraw(wire::Withdraw {
                reason: reason.clone(),
            }),
            Self::Deliver(d) => wire::Body::Deliver(d.to_wire()),
            Self::Receipt(r) => wire::Body::Receipt(wire::Receipt {
                rating: r.rating,
                comment: r.comment.clone(),
            }),
        }
    }

    fn from_wire(body: wire::Body, sent_at_ms: u64) -> Result<Self, NegotiationError> {
        Ok(match body {
            wire::Body::Offer(p) => Self::Offer(Proposal::from_wire(p, sent_at_ms)?),
            wire::Body::Counter(p) => Self::Counter(Proposal::from_wire(p, sent_at_ms)?),
            wire::Body::Accept(wire::Accept {}) => Self::Accept,
            wire::Body::Reject(r) => {
                check_len("reason", &r.reason, MAX_REASON_BYTES)?;
                Self::Reject { reason: r.reason }
            }
            wire::Body::Withdraw(w) => {
                check_len("reason", &w.reason, MAX_REASON_BYTES)?;
                Self::Withdraw { reason: w.reason }
            }
            wire::Body::Deliver(d) => Self::Deliver(Delivery::from_wire(d)?),
            wire::Body::Receipt(r) => {
                if !(0.0..=1.0).contains(&r.rating) {
                    return Err(NegotiationError::invalid(
                        "rating",
                        format!("{} is outside [0, 1]: 0 is worst, 1 best", r.rating),
                    ));
                }
                check_len("comment", &r.comment, MAX_REASON_BYTES)?;
                Self::Receipt(Receipt {
                    rating: r.rating,
                    comment: r.comment,
                })
            }
        })
    }
}

fn wire_kind(body: &wire::Body) -> MessageKind {
    match body {
        wire::Body::Offer(_) => MessageKind::Offer,
        wire::Body::Counter(_) => MessageKind::Counter,
        wire::Body::Accept(_) => MessageKind::Accept,
        wire::Body::Reject(_) => MessageKind::Reject,
        wire::Body::Withdraw(_) => MessageKind::Withdraw,
        wire::Body::Deliver(_) => MessageKind::Deliver,
        wire::Body::Receipt(_) => MessageKind::Receipt,
    }
}

/// What a signed negotiation message says about itself, once its signature is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The negotiation it claims to belong to.
    pub negotiation_id: NegotiationId,
    /// The intent negotiated.
    pub intent_id: IntentId,
    /// Its position in the negotiation.
    pub seq: u64,
    /// When the sender signed it, Unix milliseconds.
    pub sent_at_ms: u64,
    /// The signer, who is also the peer named as sender.
    pub sender: PeerId,
    /// The other party named in the message.
    pub recipient: PeerId,
    /// What kind of message it is.
    pub kind: MessageKind,
    /// SHA-256 of the envelope bytes.
    pub hash: MessageHash,
}

/// Opens a received envelope without any negotiation state: checks its size, encoding,
/// signature and fields, and returns its header.
///
/// The network layer uses this to find (or, for an `Offer`, create) the [`Negotiation`] the
/// message belongs to, then passes the same bytes to [`Negotiation::handle`].
///
/// [`Negotiation`]: super::Negotiation
/// [`Negotiation::handle`]: super::Negotiation::handle
pub fn peek(envelope_bytes: &[u8]) -> Result<Header, NegotiationError> {
    open(envelope_bytes).map(|opened| opened.header)
}

/// A message whose envelope and fields are valid on their own.
pub(super) struct Opened {
    pub(super) header: Header,
    pub(super) prev_hash: Vec<u8>,
    pub(super) body: Body,
}

/// All the checks that need no negotiation state.
pub(super) fn open(bytes: &[u8]) -> Result<Opened, NegotiationError> {
    let signed = envelope::open(
        bytes,
        MAX_ENVELOPE_BYTES,
        NEGOTIATION_DOMAIN,
        NEGOTIATION_PAYLOAD_TYPE,
    );
    open_signed(bytes, signed)
}

/// [`peek`] of many envelopes at once: for each item, in order, what [`peek`] returns for it
/// alone, errors included, with the signatures verified together by [`envelope::open_batch`].
///
/// [`peek`] and this differ only in how the envelope is opened ([`envelope::open`] or
/// [`envelope::open_batch`]); every check before and after the signature is the same code. The
/// results are therefore [`peek`]'s with the one exception [`envelope::open_batch`] documents:
/// an envelope whose own signer deliberately built its key or nonce with a torsion component.
/// Cost: that of [`envelope::open_batch`]; for receipt attestations, about 40% less than one by
/// one when every signature is valid, about 1.4 times as much when one is forged (see
/// [`ReceiptAttestation::verify_batch`](crate::trust::ReceiptAttestation::verify_batch)).
pub fn peek_batch(items: &[&[u8]]) -> Vec<Result<Header, NegotiationError>> {
    open_batch(items)
        .into_iter()
        .map(|opened| opened.map(|opened| opened.header))
        .collect()
}

/// [`open`] of many envelopes at once, with the signatures verified together by
/// [`envelope::open_batch`] (see [`peek_batch`]).
pub(super) fn open_batch(items: &[&[u8]]) -> Vec<Result<Opened, NegotiationError>> {
    envelope::open_batch(
        items,
        MAX_ENVELOPE_BYTES,
        NEGOTIATION_DOMAIN,
        NEGOTIATION_PAYLOAD_TYPE,
    )
    .into_iter()
    .zip(items)
    .map(|(signed, bytes)| open_signed(bytes, signed))
    .collect()
}

/// The checks of [`open`] around the signature, given what [`envelope::open`] returned for
/// `bytes`: an envelope it opened whose bytes are canonical has passed every check before the
/// signature; any other gets those checks in order, and then the signature's verdict.
fn open_signed(
    bytes: &[u8],
    signed: Result<(Vec<u8>, PublicKey), EnvelopeError>,
) -> Result<Opened, NegotiationError> {
    if let Ok((payload, key)) = &signed
        && envelope::is_canonical(bytes, key)
    {
        return read_message(bytes, payload, key);
    }
    decode_canonical(bytes)?;
    let (payload, key) = signed.map_err(signature_error)?;
    read_message(bytes, &payload, &key)
}

/// The checks before the signature: size, encoding, and that `bytes` are the envelope's
/// canonical encoding.
fn decode_canonical(bytes: &[u8]) -> Result<(), NegotiationError> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(NegotiationError::TooLarge {
            size: bytes.len(),
            max: MAX_ENVELOPE_BYTES,
        });
    }
    let envelope = SignedEnvelope::from_protobuf_encoding(bytes)
        .map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
    // Only the exact bytes the signer produced are accepted, so every transcript has one
    // encoding and its hash chain covers every byte.
    if envelope.clone().into_protobuf_encoding() != bytes {
        return Err(NegotiationError::NonCanonical);
    }
    Ok(())
}

/// The negotiation error of an envelope whose payload type or signature was refused, for an
/// envelope that passed [`decode_canonical`].
fn signature_error(e: EnvelopeError) -> NegotiationError {
    match e {
        EnvelopeError::BadSignature => NegotiationError::BadSignature,
        other => other.into(),
    }
}

/// The checks after the signature: the payload is a valid message signed by its sender.
fn read_message(bytes: &[u8], payload: &[u8], key: &PublicKey) -> Result<Opened, NegotiationError> {
    let message: v1::NegotiationMessage = decode_bounded(payload, MAX_ENVELOPE_BYTES)
        .map_err(|e| NegotiationError::Malformed(e.to_string()))?;
    let Some(wire_body) = message.body else {
        return Err(NegotiationError::Malformed(
            "no body: set one of offer, counter, accept, reject, withdraw, deliver, receipt"
                .to_owned(),
        ));
    };
    let kind = wire_kind(&wire_body);
    if kind != MessageKind::Deliver && bytes.len() > MAX_SMALL_ENVELOPE_BYTES {
        return Err(NegotiationError::TooLarge {
            size: bytes.len(),
            max: MAX_SMALL_ENVELOPE_BYTES,
        });
    }
    let id32 = |field: &'static str, bytes: Vec<u8>| -> Result<[u8; 32], NegotiationError> {
        bytes
            .try_into()
            .map_err(|_| NegotiationError::invalid(field, "must be 32 bytes"))
    };
    let peer = |field: &'static str, bytes: &[u8]| {
        PeerId::from_bytes(bytes).map_err(|_| NegotiationError::invalid(field, "is not a peer id"))
    };
    let sender = peer("sender", &message.sender)?;
    let recipient = peer("recipient", &message.recipient)?;
    let signer = key.to_peer_id();
    if signer != sender {
        return Err(NegotiationError::SignerMismatch {
            sender: sender.to_string(),
            signer: signer.to_string(),
        });
    }
    let header = Header {
        negotiation_id: NegotiationId(id32("negotiation_id", message.negotiation_id)?),
        intent_id: IntentId(id32("intent_id", message.intent_id)?),
        seq: message.seq,
        sent_at_ms: message.sent_at_ms,
        sender,
        recipient,
        kind,
        hash: message_hash(bytes),
    };
    let body = Body::from_wire(wire_body, header.sent_at_ms)?;
    Ok(Opened {
        header,
        prev_hash: message.prev_hash,
        body,
    })
}

/// Signs a message; the caller has filled every field.
pub(super) fn seal(
    message: &v1::NegotiationMessage,
    keypair: &Keypair,
) -> Result<Vec<u8>, NegotiationError> {
    envelope::seal(
        keypair,
        NEGOTIATION_DOMAIN,
        NEGOTIATION_PAYLOAD_TYPE,
        message.encode_to_vec(),
    )
    .map_err(|e| match e {
        EnvelopeError::Signing(reason) => NegotiationError::Signing(reason),
        other => NegotiationError::Signing(other.to_string()),
    })
}

fn check_len(field: &'static str, text: &str, max: usize) -> Result<(), NegotiationError> {
    if text.len() > max {
        return Err(NegotiationError::invalid(
            field,
            format!("{} bytes: at most {max}", text.len()),
        ));
    }
    Ok(())
}

/// Whole milliseconds of `d`, saturating.
pub(super) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
