//! `SignedCancellation::verify` and the gossip validator, which tells a cancellation from an
//! intent by its payload type.
//!
//! Flags: bit 0 set, the data is a cancellation payload sealed with the publisher's fixture
//! key (clear: an envelope as received); bits 1 to 3 pick the clock around the fixtures' `NOW`.

use mesh_core::{CancellationError, Capability, SignedCancellation};
use mesh_net::idp::{self, Verdict};
use prost::Message;

use crate::Outcome;
use crate::fixtures::{self, DOMAINS, NOW};
use crate::input::Input;

/// A topic no fixture names.
const OTHER_TOPIC: &str = "mesh/intents/1/fuzz-other";

/// Runs one input.
pub fn run(bytes: &[u8]) -> Outcome {
    let Some(input) = Input::split(bytes) else {
        return Outcome::Skipped;
    };
    let now = fixtures::clock(NOW, input.bits(1, 3));
    let envelope = if input.bit(0) {
        fixtures::seal(&fixtures::keys().publisher, DOMAINS[1], input.data.to_vec())
    } else {
        input.data.to_vec()
    };
    let verified = SignedCancellation::verify(&envelope, now);
    gossip_agrees(&envelope, now, &verified);
    match verified {
        Ok(cancellation) => {
            round_trips(&cancellation, now);
            Outcome::Accepted
        }
        Err(e) => {
            let _ = (e.is_misbehaviour(), e.to_string());
            Outcome::Refused
        }
    }
}

fn gossip_agrees(
    envelope: &[u8],
    now: u64,
    verified: &Result<SignedCancellation, CancellationError>,
) {
    match verified {
        Ok(cancellation) => {
            for capability in &cancellation.capabilities {
                match idp::validate(&capability.topic(), envelope, now) {
                    Verdict::Cancel(c) => assert_eq!(&*c, cancellation),
                    other => panic!("a valid cancellation on {capability}'s topic: {other:?}"),
                }
            }
            let other = Capability::from_topic(OTHER_TOPIC).expect("a valid topic");
            if !cancellation.capabilities.contains(&other) {
                assert!(matches!(
                    idp::validate(OTHER_TOPIC, envelope, now),
                    Verdict::Reject("wrong_topic")
                ));
            }
        }
        Err(_) => {
            for capability in &fixtures::intent().capabilities {
                let verdict = idp::validate(&capability.topic(), envelope, now);
                assert!(
                    !matches!(verdict, Verdict::Cancel(_)),
                    "gossip applied a cancellation that does not verify: {verdict:?}"
                );
            }
        }
    }
}

fn round_trips(cancellation: &SignedCancellation, now: u64) {
    let again = SignedCancellation::verify(&cancellation.envelope, now)
        .expect("a verified cancellation verifies");
    assert_eq!(&again, cancellation);
    assert!(cancellation.content.reason.len() <= mesh_core::cancellation::MAX_CANCEL_REASON_BYTES);
    assert!(!cancellation.is_expired(now));

    // It cancels the fixture intent exactly when it names that intent and comes from its
    // publisher.
    let intent = fixtures::intent();
    assert_eq!(
        cancellation.cancels(intent),
        cancellation.intent_id == intent.id && cancellation.publisher == intent.publisher
    );

    let key = &fixtures::keys().publisher;
    if cancellation.publisher == fixtures::peer(key) {
        let resealed = fixtures::seal(key, DOMAINS[1], cancellation.content.encode_to_vec());
        let again = SignedCancellation::verify(&resealed, now)
            .expect("the canonical encoding of a valid cancellation is valid");
        assert_eq!(again.content, cancellation.content);
        assert_eq!(again.intent_id, cancellation.intent_id);
        assert_eq!(again.capabilities, cancellation.capabilities);
    }
}
