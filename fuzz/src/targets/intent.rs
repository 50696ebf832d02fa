//! `SignedIntent::verify` and the gossip validator `mesh_net::idp::validate`.
//!
//! Flags: bit 0 set, the data is an intent payload sealed with the publisher's fixture key
//! (clear: an envelope as received); bits 1 to 3 pick the clock around the fixtures' `NOW`.

use mesh_core::envelope::{self, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE};
use mesh_core::{Capability, IntentError, IntentId, SignedIntent};
use mesh_net::idp::{self, Verdict};
use mesh_node::views::IntentView;
use prost::Message;

use crate::Outcome;
use crate::fixtures::{self, DOMAINS, NOW};
use crate::input::Input;

/// A topic no fixture intent names.
const OTHER_TOPIC: &str = "mesh/intents/1/fuzz-other";

/// Runs one input.
pub fn run(bytes: &[u8]) -> Outcome {
    let Some(input) = Input::split(bytes) else {
        return Outcome::Skipped;
    };
    let now = fixtures::clock(NOW, input.bits(1, 3));
    let envelope = if input.bit(0) {
        fixtures::seal(&fixtures::keys().publisher, DOMAINS[0], input.data.to_vec())
    } else {
        input.data.to_vec()
    };
    let verified = SignedIntent::verify(&envelope, now);
    gossip_agrees(&envelope, now, &verified);
    match verified {
        Ok(intent) => {
            round_trips(&intent, now);
            Outcome::Accepted
        }
        Err(e) => {
            let _ = (idp::reason_of(&e), e.to_string());
            Outcome::Refused
        }
    }
}

/// Gossip accepts an intent on exactly the topics of its capabilities, and nothing invalid.
fn gossip_agrees(envelope: &[u8], now: u64, verified: &Result<SignedIntent, IntentError>) {
    assert!(matches!(
        idp::validate("not-a-topic", envelope, now),
        Verdict::Reject("unknown_topic")
    ));
    match verified {
        Ok(intent) => {
            for capability in &intent.capabilities {
                match idp::validate(&capability.topic(), envelope, now) {
                    Verdict::Accept(accepted) => assert_eq!(accepted.id, intent.id),
                    other => panic!("a valid intent on {capability}'s topic: {other:?}"),
                }
            }
            let other = Capability::from_topic(OTHER_TOPIC).expect("a valid topic");
            if !intent.capabilities.contains(&other) {
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
                    !matches!(verdict, Verdict::Accept(_)),
                    "gossip accepted an intent that does not verify: {verdict:?}"
                );
                let _ = verdict.acceptance();
            }
        }
    }
}

fn round_trips(intent: &SignedIntent, now: u64) {
    // Verifying is a function of the bytes and the clock.
    let again = SignedIntent::verify(&intent.envelope, now).expect("a verified intent verifies");
    assert_eq!(&again, intent);
    let (payload, _) = envelope::open(
        &intent.envelope,
        usize::MAX,
        INTENT_DOMAIN,
        INTENT_PAYLOAD_TYPE,
    )
    .expect("a verified intent opens");
    assert_eq!(intent.id, IntentId::of_payload(&payload));
    assert!(intent.content.id.is_empty());

    // The canonical encoding of the content, signed again, is the same intent; its id changes
    // exactly when the bytes do.
    let key = &fixtures::keys().publisher;
    if intent.publisher == fixtures::peer(key) {
        let canonical = intent.content.encode_to_vec();
        let resealed = fixtures::seal(key, DOMAINS[0], canonical.clone());
        let again = SignedIntent::verify(&resealed, now)
            .expect("the canonical encoding of a valid intent is valid");
        assert_eq!(again.content, intent.content);
        assert_eq!(again.capabilities, intent.capabilities);
        assert_eq!(again.id, IntentId::of_payload(&canonical));
        assert_eq!(again.id == intent.id, canonical == payload);
    }

    // The API shows it as JSON, and clients read back what it showed.
    let view = IntentView::of(intent);
    let json = serde_json::to_vec(&view).expect("a view serialises");
    let read: IntentView = serde_json::from_slice(&json).expect("a view reads back");
    assert_eq!(read.min_reputation.to_bits(), view.min_reputation.to_bits());
    assert_eq!(read, view);
    assert_eq!(read.id.parse::<IntentId>().ok(), Some(intent.id));
}
