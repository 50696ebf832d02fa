//! Receipts catch-up (`/mesh/receipts/1.0.0`): a node that joins after receipts were gossiped on
//! [`RECEIPTS_TOPIC`](crate::receipts::RECEIPTS_TOPIC) asks a few peers for the attestations
//! they hold, page by page, and takes each one exactly as one received on gossip.
//!
//! [`Shelf`] holds what a node serves: the attestations it took, in the form they are published
//! (the agent's delivery only when the rating needs it), newest first, bounded in number and
//! bytes. [`parse_request`] reads a request on the serving side; [`Paging`] is one catch-up on
//! the asking side: the next request, and the checks of each answer. The event loop
//! (`event_loop/receipt_catchup.rs`) decides whom to ask and when, and sends every attestation
//! of an answer down the gossip path.
//!
//! ```
//! use mesh_net::receipt_catchup::{MAX_PAGE_ATTESTATIONS, Paging, Shelf, parse_request};
//! use mesh_proto::v1::ReceiptsResponse;
//!
//! let shelf = Shelf::default();
//! let paging = Paging::new();
//! let request = paging.request();
//! assert_eq!(request.limit as usize, MAX_PAGE_ATTESTATIONS);
//! // An empty shelf answers an empty last page; the catch-up is over.
//! let answer = shelf.page(&parse_request(&request)?);
//! assert_eq!(answer, ReceiptsResponse::default());
//! let page = paging.answer(answer)?;
//! assert!(page.attestations.is_empty() && page.more.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use libp2p::StreamProtocol;
use libp2p::request_response::{self, ProtocolSupport};
use mesh_core::negotiation::MessageHash;
use mesh_core::trust::{Disclosure, MAX_ATTESTATION_BYTES, VerifiedAttestation};
use mesh_proto::v1::{ReceiptsRequest, ReceiptsResponse};

use crate::codec::ProtoCodec;

/// Protocol id of receipts catch-up.
pub const PROTOCOL: &str = "/mesh/receipts/1.0.0";
/// Most attestations in one answer.
pub const MAX_PAGE_ATTESTATIONS: usize = 256;
/// Most bytes of attestations (with their field framing) in one answer: room for at least
/// fourteen of the largest.
pub(crate) const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// Longest cursor (`after`, `next`) a requester takes and sends back.
pub const MAX_CURSOR_BYTES: usize = 64;
/// Largest request: a limit and a cursor, with their framing.
pub const MAX_REQUEST_BYTES: usize = 128;
/// Largest answer: a full page and its cursor, with their framing.
pub const MAX_RESPONSE_BYTES: usize = MAX_PAGE_BYTES + 4 * 1024;
/// Most attestations taken from one peer in one catch-up.
pub const MAX_PER_PEER: usize = 4096;
/// Most answers taken from one peer in one catch-up (pages of large attestations hold fewer).
pub const MAX_PAGES_PER_PEER: usize = 32;
/// Most attestations a node holds to serve; the oldest give way.
pub(crate) const MAX_HELD: usize = 16_384;
/// Most bytes of attestations a node holds to serve; the oldest give way.
pub(crate) const MAX_HELD_BYTES: usize = 16 * 1024 * 1024;
/// Streams open at once per connection.
const MAX_CONCURRENT_STREAMS: usize = 16;
// Every attestation, with its field framing, fits a page on its own: a page is never empty
// while attestations are left.
const _: () = assert!(MAX_ATTESTATION_BYTES + 8 < MAX_PAGE_BYTES);
/// Bytes of a cursor of this node: the rating's time (8, big-endian) and the receipt's hash.
const CURSOR_BYTES: usize = 8 + 32;

/// Codec of receipts catch-up.
pub type ReceiptsCodec = ProtoCodec<ReceiptsRequest, ReceiptsResponse>;

/// The request-response behaviour of receipts catch-up, answering within `timeout`.
pub fn behaviour(timeout: Duration) -> request_response::Behaviour<ReceiptsCodec> {
    request_response::Behaviour::with_codec(
        ReceiptsCodec::new(MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES),
        [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(timeout)
            .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS),
    )
}

/// Where an attestation sits on a shelf: when it was rated, then its receipt's hash.
type Slot = (u64, MessageHash);

/// The attestations a node serves, newest first, at most `max_held` and `max_bytes` of them
/// (the oldest give way). Owned by the event loop; no I/O, no clock.
#[derive(Debug, Clone)]
pub struct Shelf {
    held: BTreeMap<Slot, Vec<u8>>,
    bytes: usize,
    max_held: usize,
    max_bytes: usize,
}

impl Default for Shelf {
    /// A shelf of `MAX_HELD` attestations and `MAX_HELD_BYTES`.
    fn default() -> Self {
        Self::new(MAX_HELD, MAX_HELD_BYTES)
    }
}

impl Shelf {
    /// An empty shelf holding at most `max_held` attestations and `max_bytes` bytes of them.
    pub fn new(max_held: usize, max_bytes: usize) -> Self {
        Self {
            held: BTreeMap::new(),
            bytes: 0,
            max_held,
            max_bytes,
        }
    }

    /// Keeps a verified attestation in the form gossip publishes it ([`Disclosure::Minimal`]:
    /// a node holds its own attestations with the agent's delivery, which may carry the
    /// result); returns whether the shelf holds it afterwards (the oldest one may give way at
    /// once).
    pub fn insert(&mut self, verified: &VerifiedAttestation) -> bool {
        let Some(encoded) = verified.encoded_as(Disclosure::Minimal) else {
            return false;
        };
        let rating = verified.rating();
        let slot = (rating.rated_at_ms, rating.receipt_hash);
        self.bytes += encoded.len();
        if let Some(old) = self.held.insert(slot, encoded) {
            self.bytes -= old.len();
        }
        while self.held.len() > self.max_held || self.bytes > self.max_bytes {
            let Some((_, oldest)) = self.held.pop_first() else {
                break;
            };
            self.bytes -= oldest.len();
        }
        self.held.contains_key(&slot)
    }

    /// Forgets the attestations rated at or before `rated_until_ms` (they no longer count
    /// anywhere); returns how many.
    pub(crate) fn forget_until(&mut self, rated_until_ms: u64) -> usize {
        let mut forgotten = 0;
        while let Some(entry) = self.held.first_entry() {
            if entry.key().0 > rated_until_ms {
                break;
            }
            self.bytes -= entry.remove().len();
            forgotten += 1;
        }
        forgotten
    }

    /// The answer to `request`: the newest attestations after its cursor, at most its limit and
    /// `MAX_PAGE_BYTES` of them, with the cursor of the next page when some are left.
    pub fn page(&self, request: &PageRequest) -> ReceiptsResponse {
        let upper = request.after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut answer = ReceiptsResponse::default();
        let (mut bytes, mut last) = (0, None);
        for (slot, encoded) in self.held.range((Bound::Unbounded, upper)).rev() {
            let cost = 1 + mesh_proto::varint_len(encoded.len()) + encoded.len();
            if answer.attestations.len() == request.limit || bytes + cost > MAX_PAGE_BYTES {
                answer.next = last.map(cursor).unwrap_or_default();
                break;
            }
            bytes += cost;
            answer.attestations.push(encoded.clone());
            last = Some(*slot);
        }
        answer
    }

    /// Attestations held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Bytes of attestations held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// A request as the serving side reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    after: Option<Slot>,
    limit: usize,
}

impl PageRequest {
    /// Most attestations to answer, in `1..=`[`MAX_PAGE_ATTESTATIONS`].
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Why a request cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The cursor is not one this node hands out.
    #[error(
        "cursor of {len} bytes: send back a `next` of this peer unchanged ({CURSOR_BYTES} bytes), or none for the first page"
    )]
    BadCursor {
        /// Bytes given.
        len: usize,
    },
}

/// Reads a request: its cursor (empty, or one this node handed out), its limit (0, or more than
/// [`MAX_PAGE_ATTESTATIONS`], asks for that many).
pub fn parse_request(request: &ReceiptsRequest) -> Result<PageRequest, RequestError> {
    let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
    let limit = if limit == 0 {
        MAX_PAGE_ATTESTATIONS
    } else {
        limit.min(MAX_PAGE_ATTESTATIONS)
    };
    let after = match request.after.as_slice() {
        [] => None,
        bytes => Some(slot(bytes).ok_or(RequestError::BadCursor { len: bytes.len() })?),
    };
    Ok(PageRequest { after, limit })
}

fn cursor((rated_at_ms, hash): Slot) -> Vec<u8> {
    let mut out = Vec::with_capacity(CURSOR_BYTES);
    out.extend_from_slice(&rated_at_ms.to_be_bytes());
    out.extend_from_slice(&hash);
    out
}

fn slot(cursor: &[u8]) -> Option<Slot> {
    let (time, hash) = cursor.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*time), hash.try_into().ok()?))
}

/// Why an answer is refused as a whole (and its sender penalised).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// More attestations than asked for.
    #[error("answer of {count} attestations to a request for at most {max}")]
    TooMany {
        /// Attestations in the answer.
        count: usize,
        /// Most asked for.
        max: usize,
    },
    /// A `next` cursor longer than any requester sends back.
    #[error("answer with a cursor of {len} bytes (at most {MAX_CURSOR_BYTES})")]
    CursorTooLong {
        /// Bytes of the cursor.
        len: usize,
    },
    /// A `next` cursor on an empty page, or the cursor just asked with: no progress.
    #[error("answer announces another page without moving on")]
    Stalled,
}

impl AnswerError {
    /// The metric label of the refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooMany { .. } => "receipts_catchup_too_many",
            Self::CursorTooLong { .. } => "receipts_catchup_bad_cursor",
            Self::Stalled => "receipts_catchup_stalled",
        }
    }
}

/// One catch-up from one peer, as the asking side runs it: at most [`MAX_PER_PEER`]
/// attestations in at most [`MAX_PAGES_PER_PEER`] answers, while each answer says more are left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paging {
    after: Vec<u8>,
    taken: usize,
    pages: usize,
}

/// An answer that passed [`Paging::answer`]'s checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The attestations, each still to verify as one from gossip.
    pub attestations: Vec<Vec<u8>>,
    /// The catch-up, when another page is to be asked for.
    pub more: Option<Paging>,
}

impl Paging {
    /// A catch-up from the first page.
    pub fn new() -> Self {
        Self::default()
    }

    /// The request for the next page.
    pub fn request(&self) -> ReceiptsRequest {
        ReceiptsRequest {
            limit: u32::try_from(self.limit()).unwrap_or(u32::MAX),
            after: self.after.clone(),
        }
    }

    /// Attestations taken so far.
    pub fn taken(&self) -> usize {
        self.taken
    }

    fn limit(&self) -> usize {
        MAX_PAGE_ATTESTATIONS.min(MAX_PER_PEER.saturating_sub(self.taken))
    }

    /// Checks the answer to [`request`](Self::request): no more attestations than asked, a
    /// cursor within [`MAX_CURSOR_BYTES`] that moves on. Returns its attestations and, while it
    /// says more are left and the caps are not reached, the catch-up to go on with.
    pub fn answer(mut self, answer: ReceiptsResponse) -> Result<Page, AnswerError> {
        let (count, max) = (answer.attestations.len(), self.limit());
        if count > max {
            return Err(AnswerError::TooMany { count, max });
        }
        if answer.next.len() > MAX_CURSOR_BYTES {
            return Err(AnswerError::CursorTooLong {
                len: answer.next.len(),
            });
        }
        let last = answer.next.is_empty();
        if !last && (count == 0 || answer.next == self.after) {
            return Err(AnswerError::Stalled);
        }
        self.taken += count;
        self.pages += 1;
        self.after = answer.next;
        let go_on = !last && self.taken < MAX_PER_PEER && self.pages < MAX_PAGES_PER_PEER;
        Ok(Page {
            attestations: answer.attestations,
            more: go_on.then_some(self),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use mesh_core::negotiation::{
        Body, Config, Delivery, Eta, Negotiation, Price, Proposal, Receipt,
    };
    use mesh_core::trust::{NEUTRAL_RATING, ReceiptAttestation};
    use mesh_core::{IntentId, Keypair};

    const NOW: u64 = 1_700_000_000_000;

    /// The attestation (with the delivery, `result` inline) of a negotiation completed at `at`
    /// and rated `rating`.
    fn attested(n: u8, at: u64, rating: f64, result: usize) -> VerifiedAttestation {
        let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let (p, a) = (publisher.public().to_peer_id(), agent.public().to_peer_id());
        let mut neg = Negotiation::new(IntentId([n; 32]), p, a, Config::default(), at).unwrap();
        let price = Price::new("1", "USD").unwrap();
        let offer = Proposal::new(price, Eta::Within(Duration::from_secs(60)));
        neg.send(Body::Offer(offer), &agent, at).unwrap();
        neg.send(Body::Accept, &publisher, at).unwrap();
        let done = Delivery::inline("text/plain", vec![b'x'; result]);
        neg.send(Body::Deliver(done), &agent, at).unwrap();
        neg.send(Body::Receipt(Receipt::new(rating)), &publisher, at)
            .unwrap();
        ReceiptAttestation::from_transcript(neg.transcript(), Disclosure::WithDelivery)
            .unwrap()
            .validate(at)
            .unwrap()
    }

    fn page_through(shelf: &Shelf, limit: u32) -> Vec<Vec<u8>> {
        let (mut out, mut after) = (Vec::new(), Vec::new());
        loop {
            let request = ReceiptsRequest { limit, after };
            let answer = shelf.page(&parse_request(&request).unwrap());
            out.extend(answer.attestations);
            if answer.next.is_empty() {
                return out;
            }
            after = answer.next;
        }
    }

    #[test]
    fn a_shelf_pages_newest_first_and_serves_the_published_form() {
        let mut shelf = Shelf::default();
        let held: Vec<VerifiedAttestation> = (0..5)
            .map(|i| attested(i, NOW + u64::from(i), if i == 0 { 0.2 } else { 0.9 }, 4))
            .collect();
        for v in &held {
            assert!(shelf.insert(v));
            assert!(shelf.insert(v), "the same again replaces it");
        }
        assert_eq!(shelf.len(), 5);
        let served = page_through(&shelf, 2);
        assert_eq!(served.len(), 5, "every one, once");
        for (i, bytes) in served.iter().enumerate() {
            let v = ReceiptAttestation::verify(bytes, NOW).unwrap();
            let original = &held[4 - i];
            assert_eq!(v.rating(), original.rating(), "newest first");
            // The delivery only where the rating needs it.
            assert_eq!(
                v.proves_delivery(),
                original.rating().value < NEUTRAL_RATING
            );
        }
        assert_eq!(page_through(&shelf, 0), served, "0 asks for a full page");
        let total: usize = served.iter().map(Vec::len).sum();
        assert_eq!(shelf.bytes(), total);
    }

    #[test]
    fn a_shelf_is_bounded_and_forgets_what_expired() {
        let mut shelf = Shelf::new(3, usize::MAX);
        for i in 0..5 {
            shelf.insert(&attested(i, NOW + u64::from(i), 0.9, 4));
        }
        assert_eq!(shelf.len(), 3, "the two oldest gave way");
        assert!(
            !shelf.insert(&attested(9, NOW - 1, 0.9, 4)),
            "older than all held"
        );
        assert_eq!(shelf.forget_until(NOW + 3), 2);
        assert_eq!(shelf.len(), 1);
        let bytes = shelf.bytes();
        let mut small = Shelf::new(10, bytes);
        small.insert(&attested(1, NOW, 0.9, 4));
        small.insert(&attested(2, NOW + 1, 0.9, 4));
        assert!(small.bytes() <= bytes && small.len() == 1, "byte bound");
    }

    #[test]
    fn requests_are_read_strictly() {
        let parse = |limit, after: Vec<u8>| parse_request(&ReceiptsRequest { limit, after });
        assert_eq!(parse(0, Vec::new()).unwrap().limit(), MAX_PAGE_ATTESTATIONS);
        assert_eq!(parse(7, Vec::new()).unwrap().limit(), 7);
        assert_eq!(
            parse(u32::MAX, Vec::new()).unwrap().limit(),
            MAX_PAGE_ATTESTATIONS
        );
        assert!(parse(1, vec![0; CURSOR_BYTES]).is_ok());
        assert_eq!(
            parse(1, vec![0; 39]),
            Err(RequestError::BadCursor { len: 39 })
        );
        assert!(parse(1, vec![0; MAX_CURSOR_BYTES]).is_err());
    }

    fn answer(count: usize, next: Vec<u8>) -> ReceiptsResponse {
        ReceiptsResponse {
            attestations: vec![vec![1]; count],
            next,
        }
    }

    #[test]
    fn answers_are_bounded_and_must_move_on() {
        let too_many = Paging::new().answer(answer(MAX_PAGE_ATTESTATIONS + 1, Vec::new()));
        assert!(matches!(too_many, Err(AnswerError::TooMany { .. })));
        let long = Paging::new().answer(answer(1, vec![0; MAX_CURSOR_BYTES + 1]));
        assert!(matches!(long, Err(AnswerError::CursorTooLong { .. })));
        let empty_with_more = Paging::new().answer(answer(0, vec![1]));
        assert_eq!(empty_with_more, Err(AnswerError::Stalled));
        let paging = Paging::new()
            .answer(answer(1, vec![5]))
            .unwrap()
            .more
            .unwrap();
        assert_eq!(paging.request().after, vec![5]);
        assert_eq!(paging.answer(answer(1, vec![5])), Err(AnswerError::Stalled));
    }

    #[test]
    fn a_catch_up_stops_at_its_caps() {
        // Full pages: until the cap on attestations, the last request asking for what is left.
        let (mut paging, mut pages) = (Paging::new(), 0);
        while let Some(next) = paging
            .answer(answer(MAX_PAGE_ATTESTATIONS, vec![1, pages]))
            .unwrap()
            .more
        {
            paging = next;
            pages += 1;
            assert!(paging.taken() + paging.request().limit as usize <= MAX_PER_PEER);
        }
        assert_eq!(
            (usize::from(pages) + 1) * MAX_PAGE_ATTESTATIONS,
            MAX_PER_PEER
        );
        // Pages of one attestation: until the cap on answers.
        let (mut paging, mut pages) = (Paging::new(), 1);
        while let Some(next) = paging.answer(answer(1, vec![2, pages])).unwrap().more {
            paging = next;
            pages += 1;
        }
        assert_eq!(usize::from(pages), MAX_PAGES_PER_PEER);
    }

    #[test]
    fn a_page_of_large_attestations_fits_the_codec() {
        let mut shelf = Shelf::new(MAX_HELD, usize::MAX);
        // Rated below neutral: served with their deliveries of 40 KiB each.
        for n in 0..48 {
            shelf.insert(&attested(n, NOW + u64::from(n), 0.1, 40 * 1024));
        }
        assert!(shelf.bytes() > 3 * MAX_PAGE_BYTES / 2);
        let answer = shelf.page(&parse_request(&ReceiptsRequest::default()).unwrap());
        assert!(answer.attestations.len() < 48 && !answer.next.is_empty());
        assert!(prost::Message::encoded_len(&answer) <= MAX_RESPONSE_BYTES);
        assert_eq!(page_through(&shelf, 0).len(), 48);
    }
}
