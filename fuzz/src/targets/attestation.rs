//! Receipt attestations as a node receives them on `mesh/receipts/1`:
//! `ReceiptAttestation::verify`, then the node's own path, `mesh_net::receipts::ReceiptBook`.
//!
//! Flags: bit 0 set, the data is a `mesh.v1.ReceiptAttestation` whose fields hold
//! `NegotiationMessage` payloads rather than envelopes: the receipt's is sealed with the
//! publisher's fixture key and the delivery's, when not empty, with the agent's (clear: an
//! attestation as received); bit 1 swaps those two keys; bits 2 to 4 pick the clock around the
//! moment the fixture receipt is signed.

use std::time::Duration;

use tokio::time::Instant;

use mesh_core::negotiation::{self, NegotiationId};
use mesh_core::trust::{
    AttestationError, Config, NEUTRAL_RATING, ReceiptAttestation, TrustGraph, VerifiedAttestation,
};
use mesh_net::receipts::{ReceiptBook, Taken};
use mesh_proto::v1;
use prost::Message;

use crate::Outcome;
use crate::fixtures::{self, DOMAINS};
use crate::input::Input;

/// Runs one input.
pub fn run(bytes: &[u8]) -> Outcome {
    let Some(input) = Input::split(bytes) else {
        return Outcome::Skipped;
    };
    let now = fixtures::clock(fixtures::receipt_time(), input.bits(2, 3));
    let attestation = if input.bit(0) {
        match sealed(input.data, input.bit(1)) {
            Some(bytes) => bytes,
            None => return Outcome::Refused,
        }
    } else {
        input.data.to_vec()
    };
    let verified = ReceiptAttestation::verify(&attestation, now);
    node_agrees(&attestation, now, &verified);
    match verified {
        Ok(verified) => {
            holds(&attestation, &verified, now);
            Outcome::Accepted
        }
        Err(e) => {
            drop(e.to_string());
            Outcome::Refused
        }
    }
}

/// The attestation whose envelopes seal the payloads `data` holds; `None` when `data` is not a
/// `mesh.v1.ReceiptAttestation`.
pub(crate) fn sealed(data: &[u8], swapped: bool) -> Option<Vec<u8>> {
    let payloads = v1::ReceiptAttestation::decode(data).ok()?;
    let keys = fixtures::keys();
    let (rater, ratee) = if swapped {
        (&keys.agent, &keys.publisher)
    } else {
        (&keys.publisher, &keys.agent)
    };
    let receipt = fixtures::seal(rater, DOMAINS[3], payloads.receipt);
    let deliver =
        (!payloads.deliver.is_empty()).then(|| fixtures::seal(ratee, DOMAINS[3], payloads.deliver));
    Some(ReceiptAttestation::new(receipt, deliver).encode())
}

/// What a verified attestation says holds, whoever made it.
fn holds(bytes: &[u8], verified: &VerifiedAttestation, now: u64) {
    // Canonical: one attestation, one byte string.
    assert_eq!(verified.encoded(), bytes);
    let decoded = ReceiptAttestation::decode(bytes).expect("a verified attestation decodes");
    assert_eq!(decoded.encode(), bytes);
    assert_eq!(decoded.deliver().is_some(), verified.proves_delivery());

    let rating = verified.rating();
    assert!(
        (0.0..=1.0).contains(&rating.value),
        "rating {}",
        rating.value
    );
    assert_ne!(verified.publisher(), verified.agent(), "a self-rating");
    assert!(
        verified.proves_delivery() || rating.value >= NEUTRAL_RATING,
        "a rating of {} without the agent's delivery",
        rating.value
    );
    assert_eq!(
        (rating.rater, rating.ratee, rating.negotiation_id),
        (
            verified.publisher(),
            verified.agent(),
            verified.negotiation_id()
        )
    );
    assert_eq!(
        NegotiationId::derive(
            &verified.intent_id(),
            &verified.publisher(),
            &verified.agent()
        ),
        verified.negotiation_id()
    );
    assert_eq!(
        rating.receipt_hash,
        negotiation::message_hash(decoded.receipt())
    );
    let skew_ms = u64::try_from(mesh_core::intent::MAX_CLOCK_SKEW.as_millis()).unwrap_or(u64::MAX);
    assert!(rating.rated_at_ms <= now.saturating_add(skew_ms));

    let again = ReceiptAttestation::verify(verified.encoded(), now)
        .expect("a verified attestation verifies again");
    assert_eq!(&again, verified);
    // A delivery the rating does not need may be left out: the receipt alone says the same.
    if verified.proves_delivery() && rating.value >= NEUTRAL_RATING {
        let minimal = ReceiptAttestation::new(decoded.receipt().to_vec(), None);
        let alone = minimal
            .validate(now)
            .expect("a receipt rated at least neutral verifies without its delivery");
        assert!(!alone.proves_delivery());
        assert_eq!(alone.rating(), rating);
        assert_eq!(alone.comment(), verified.comment());
    }
    // Nothing a fresh graph refuses but age.
    let mut graph = TrustGraph::new(Config::new(fixtures::peer(&fixtures::keys().stranger)));
    match graph.insert_attestation(verified, now) {
        Ok(outcome) => assert!(outcome.is_new()),
        Err(mesh_core::trust::Refused::Expired { .. }) => {}
        Err(e) => panic!("a fresh graph refused a verified attestation: {e}"),
    }
}

/// The node's receipt book takes what verifies (counting it, or ignoring it when too old) and
/// rejects the rest, but for a receipt from the future, which it ignores.
fn node_agrees(bytes: &[u8], now: u64, verified: &Result<VerifiedAttestation, AttestationError>) {
    let local = fixtures::peer(&fixtures::keys().stranger);
    let mut book = ReceiptBook::new(Config::new(local), Duration::from_secs(30), Instant::now());
    let taken = book.receive(bytes, now);
    match (verified, &taken) {
        (Ok(v), Taken::Accept(accepted)) => assert_eq!(**accepted, *v),
        (Ok(v), Taken::Ignore("attestation_expired")) => {
            assert!(book.expires_at_ms(v.rating().rated_at_ms) <= now);
        }
        (Err(AttestationError::FromTheFuture { .. }), Taken::Ignore("from_the_future")) => {}
        (Err(e), Taken::Reject(_)) if !matches!(e, AttestationError::FromTheFuture { .. }) => {}
        _ => panic!("the receipt book and the verifier disagree: {taken:?} / {verified:?}"),
    }
}
