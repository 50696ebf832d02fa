//! A negotiation message as a node receives it: `negotiation::peek`, then
//! `Negotiation::handle` on the fixture negotiation after 0 to 5 of its messages, and the
//! node's own path, `mesh_net::inp::Registry::receive`.
//!
//! Flags: bit 0 set, the data is a `NegotiationMessage` payload sealed with a fixture key
//! (clear: an envelope as received); bit 1 picks that key (clear: the agent, set: the
//! publisher); bits 2 to 4 the number of fixture messages taken before this one (0 to 5, more
//! is 5); bits 5 to 7 the clock around the moment that next message is due.

use std::sync::Arc;

use mesh_core::negotiation::{self, Negotiation, NegotiationError, State};
use mesh_core::{IntentId, PeerId, SignedIntent, Transcript};
use mesh_net::inp::{InpError, Registry};

use crate::Outcome;
use crate::fixtures::{self, DOMAINS};
use crate::input::Input;

/// Runs one input.
pub fn run(bytes: &[u8]) -> Outcome {
    let Some(input) = Input::split(bytes) else {
        return Outcome::Skipped;
    };
    let keys = fixtures::keys();
    let envelope = if input.bit(0) {
        let key = if input.bit(1) {
            &keys.publisher
        } else {
            &keys.agent
        };
        fixtures::seal(key, DOMAINS[3], input.data.to_vec())
    } else {
        input.data.to_vec()
    };
    let taken = usize::from(input.bits(2, 3)).min(5);
    let now = fixtures::clock(fixtures::message_time(taken), input.bits(5, 3));
    let before = &fixtures::states()[taken];

    let header = negotiation::peek(&envelope);
    let mut negotiation = before.clone();
    let handled = negotiation.handle(&envelope, now);
    match &handled {
        Ok(event) => {
            let header = header.as_ref().expect("a message taken opens on its own");
            assert_eq!(
                (event.seq, event.sender, event.hash),
                (header.seq, header.sender, header.hash)
            );
            assert_eq!(event.state, negotiation.state());
            assert_eq!(negotiation.transcript().len(), taken + 1);
            transcript_holds(negotiation.transcript(), &negotiation, now);
        }
        Err(e) => {
            // A refused message changes nothing, but the negotiation may have run out of time
            // first.
            assert_eq!(negotiation.transcript(), before.transcript());
            if negotiation.state() != before.state() {
                assert!(matches!(negotiation.state(), State::Expired { .. }));
                assert!(
                    before
                        .poll_timeout()
                        .is_some_and(|deadline| now >= deadline)
                );
            }
            drop(e.to_string());
        }
    }
    registry_agrees(&envelope, &header, &handled, before, now);
    match handled {
        Ok(_) => Outcome::Accepted,
        Err(_) => Outcome::Refused,
    }
}

/// A message taken leaves a transcript that verifies offline and resumes where it stands.
fn transcript_holds(transcript: &Transcript, negotiation: &Negotiation, now: u64) {
    let summary = transcript
        .verify()
        .expect("a transcript a negotiation took verifies");
    assert_eq!(summary.state, negotiation.state());
    assert_eq!(summary.negotiation_id, negotiation.id());
    assert_eq!(summary.agreed.as_ref(), negotiation.agreed());
    assert_eq!(summary.delivery.as_ref(), negotiation.delivery());
    assert_eq!(summary.receipt.as_ref(), negotiation.receipt());
    assert_eq!(
        Some(summary.head),
        transcript
            .envelopes()
            .last()
            .map(|e| negotiation::message_hash(e))
    );
    let resumed = Negotiation::resume(transcript, Default::default(), now)
        .expect("a verified transcript resumes");
    assert_eq!(resumed.state(), negotiation.state());
    assert_eq!(resumed.transcript(), transcript);
}

/// The node's registry takes exactly the messages the state machine takes, once it is the
/// right recipient and the message came straight from its signer.
fn registry_agrees(
    envelope: &[u8],
    header: &Result<negotiation::Header, NegotiationError>,
    handled: &Result<negotiation::Event, NegotiationError>,
    before: &Negotiation,
    now: u64,
) {
    let intent = fixtures::intent();
    let intent_of = |id: &IntentId| -> Result<Arc<SignedIntent>, InpError> {
        if *id == intent.id {
            Ok(Arc::new(intent.clone()))
        } else {
            Err(InpError::UnknownIntent(id.to_string()))
        }
    };
    let keys = fixtures::keys();
    let (from, local): (PeerId, PeerId) = match header {
        Ok(h) => (h.sender, h.recipient),
        Err(_) => (fixtures::peer(&keys.agent), fixtures::peer(&keys.publisher)),
    };
    let mut registry = Registry::default();
    if !before.transcript().is_empty() {
        assert!(registry.insert_restored(before.clone()));
    }
    let received = registry.receive(envelope, from, None, local, &intent_of, now);
    match &received {
        Ok(view) => {
            let header = header.as_ref().expect("a message the node took opens");
            assert_eq!(view.seq, header.seq);
            let _ = serde_json::to_string(view).expect("an event serialises");
        }
        Err(e) => {
            let _ = (e.code(), e.is_misbehaviour(), e.to_string());
        }
    }
    let same_negotiation = header
        .as_ref()
        .is_ok_and(|h| h.negotiation_id == before.id());
    if !before.transcript().is_empty() && same_negotiation {
        assert_eq!(
            received.is_ok(),
            handled.is_ok(),
            "the registry and the state machine disagree: {received:?} / {handled:?}"
        );
    }
}
