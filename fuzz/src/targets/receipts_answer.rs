//! Receipts catch-up answers (`/mesh/receipts/1.0.0`) as a node reads them: the network's codec
//! (`ProtoCodec` with `receipt_catchup::MAX_RESPONSE_BYTES`), `receipt_catchup::Paging::answer`,
//! every attestation through the node's `receipts::ReceiptBook::receive` (the gossip path), and
//! a `receipt_catchup::Shelf` of what was taken, paged back out.
//!
//! Flags: bit 0 set, the data is an unframed `mesh.v1.ReceiptsResponse` whose attestations hold
//! `NegotiationMessage` payloads, sealed as the `attestation` target seals them (bit 1 swaps
//! the keys), then framed; clear, the data is the stream as received (a length-prefixed frame).
//! Bits 2 to 4 pick the clock around the moment the fixture receipt is signed. `Accepted` means
//! the answer as a whole passed (its attestations may still be refused one by one).

use std::time::Duration;

use tokio::time::Instant;

use futures::executor::block_on;
use futures::io::Cursor;
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;
use mesh_core::trust::{Config, ReceiptAttestation};
use mesh_net::receipt_catchup::{
    self, AnswerError, MAX_CURSOR_BYTES, MAX_PAGE_ATTESTATIONS, MAX_PER_PEER, Paging,
    ReceiptsCodec, Shelf,
};
use mesh_net::receipts::{ReceiptBook, Taken};
use mesh_proto::{encode_length_prefixed, v1};
use prost::Message;

use crate::Outcome;
use crate::fixtures;
use crate::input::Input;
use crate::targets::attestation::sealed;

/// Runs one input.
pub fn run(bytes: &[u8]) -> Outcome {
    let Some(input) = Input::split(bytes) else {
        return Outcome::Skipped;
    };
    let now = fixtures::clock(fixtures::receipt_time(), input.bits(2, 3));
    let stream = if input.bit(0) {
        match sealed_answer(input.data, input.bit(1)) {
            Some(framed) => framed,
            None => return Outcome::Refused,
        }
    } else {
        input.data.to_vec()
    };
    let Some(answer) = read(&stream) else {
        return Outcome::Refused;
    };
    let page = match Paging::new().answer(answer.clone()) {
        Ok(page) => page,
        Err(e) => {
            refused_for_cause(&answer, &e);
            return Outcome::Refused;
        }
    };
    assert_eq!(page.attestations, answer.attestations);
    match &page.more {
        Some(more) => {
            assert!(!answer.next.is_empty());
            let next = more.request();
            assert_eq!(
                next.after, answer.next,
                "the next request resumes at the cursor"
            );
            let left = MAX_PER_PEER - answer.attestations.len();
            assert_eq!(next.limit as usize, left.min(MAX_PAGE_ATTESTATIONS));
        }
        None => assert!(answer.next.is_empty(), "a first page with more stops early"),
    }
    served_back(&page.attestations, now);
    Outcome::Accepted
}

/// The answer whose attestations seal the payloads `data` holds, framed; `None` when `data` is
/// not a `mesh.v1.ReceiptsResponse`.
fn sealed_answer(data: &[u8], swapped: bool) -> Option<Vec<u8>> {
    let mut answer = v1::ReceiptsResponse::decode(data).ok()?;
    for attestation in &mut answer.attestations {
        if let Some(sealed) = sealed(attestation, swapped) {
            *attestation = sealed;
        }
    }
    Some(encode_length_prefixed(&answer))
}

/// The answer as the node's codec reads it off a stream; what it reads is within the limit and
/// writes back to the same message.
fn read(stream: &[u8]) -> Option<v1::ReceiptsResponse> {
    let protocol = StreamProtocol::new(receipt_catchup::PROTOCOL);
    let mut codec = ReceiptsCodec::new(
        receipt_catchup::MAX_REQUEST_BYTES,
        receipt_catchup::MAX_RESPONSE_BYTES,
    );
    let answer = block_on(codec.read_response(&protocol, &mut Cursor::new(stream))).ok()?;
    assert!(answer.encoded_len() <= receipt_catchup::MAX_RESPONSE_BYTES);
    let mut written = Cursor::new(Vec::new());
    block_on(codec.write_response(&protocol, &mut written, answer.clone()))
        .expect("an answer read within the limit is written within it");
    let again = block_on(codec.read_response(&protocol, &mut Cursor::new(written.into_inner())))
        .expect("a written answer reads back");
    assert_eq!(again, answer);
    Some(answer)
}

/// A refused answer breaks the rule its error names.
fn refused_for_cause(answer: &v1::ReceiptsResponse, e: &AnswerError) {
    match e {
        AnswerError::TooMany { count, max } => {
            assert!(*count == answer.attestations.len() && count > max);
            assert_eq!(*max, MAX_PAGE_ATTESTATIONS);
        }
        AnswerError::CursorTooLong { len } => assert!(*len > MAX_CURSOR_BYTES),
        // On a first page, the only way not to move on is an empty page with a cursor.
        AnswerError::Stalled => {
            assert!(answer.attestations.is_empty() && !answer.next.is_empty());
        }
    }
    assert!(!e.reason().is_empty());
    drop(e.to_string());
}

/// Every attestation down the gossip path; what is taken is shelved, and paging through the
/// shelf serves each taken attestation once, in a form that verifies to the same rating.
fn served_back(attestations: &[Vec<u8>], now: u64) {
    let local = fixtures::peer(&fixtures::keys().stranger);
    let mut book = ReceiptBook::new(Config::new(local), Duration::from_secs(30), Instant::now());
    let mut shelf = Shelf::default();
    let mut taken = Vec::new();
    for attestation in attestations {
        if let Taken::Accept(verified) = book.receive(attestation, now) {
            assert!(
                shelf.insert(&verified),
                "a small shelf keeps what it is given"
            );
            taken.push(verified.rating());
        }
    }
    let mut served = Vec::new();
    let mut request = v1::ReceiptsRequest::default();
    loop {
        let page = receipt_catchup::parse_request(&request).expect("this shelf's own cursor");
        let answer = shelf.page(&page);
        let checked = Paging::new()
            .answer(answer.clone())
            .expect("a shelf's answer is valid");
        served.extend(checked.attestations);
        if answer.next.is_empty() {
            break;
        }
        request.after = answer.next;
    }
    assert_eq!(served.len(), shelf.len());
    let mut ratings: Vec<_> = served
        .iter()
        .map(|bytes| {
            ReceiptAttestation::verify(bytes, now)
                .expect("a served attestation verifies")
                .rating()
        })
        .collect();
    // Newest first; the same set as taken (a receipt replaced by a newer one stays shelved).
    assert!(
        ratings
            .windows(2)
            .all(|w| w[0].rated_at_ms >= w[1].rated_at_ms)
    );
    let key = |r: &mesh_core::trust::Rating| (r.rated_at_ms, r.receipt_hash);
    ratings.sort_by_key(key);
    taken.sort_by_key(key);
    taken.dedup_by_key(|r| key(r));
    assert_eq!(ratings, taken);
}
