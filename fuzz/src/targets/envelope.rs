//! `mesh_core::envelope::open`: libp2p signed envelopes, under each MESH payload type.
//!
//! Flags: bit 0 clear, the data is an envelope as received, opened under each of the four
//! payload types; bit 0 set, the data is a payload, sealed with the publisher's fixture key
//! under the payload type that bits 1 and 2 pick, then opened.

use libp2p::core::SignedEnvelope;
use mesh_core::envelope::{self, EnvelopeError};

use crate::Outcome;
use crate::fixtures::{self, DOMAINS};
use crate::input::Input;

/// Runs one input.
pub fn run(bytes: &[u8]) -> Outcome {
    let Some(input) = Input::split(bytes) else {
        return Outcome::Skipped;
    };
    if input.bit(0) {
        sealed(input.data, DOMAINS[usize::from(input.bits(1, 2))])
    } else {
        received(input.data)
    }
}

fn received(bytes: &[u8]) -> Outcome {
    let mut opened = Vec::new();
    for (domain, payload_type, max) in DOMAINS {
        match envelope::open(bytes, max, domain, payload_type) {
            Ok((payload, signer)) => {
                // Whatever protobuf form the envelope came in, its canonical form carries the
                // same signed payload.
                let decoded = SignedEnvelope::from_protobuf_encoding(bytes)
                    .expect("an envelope that opened decodes");
                let canonical = decoded.into_protobuf_encoding();
                let (again, signer_again) =
                    envelope::open(&canonical, usize::MAX, domain, payload_type)
                        .expect("the canonical form of an opened envelope opens");
                assert_eq!(again, payload);
                assert_eq!(signer_again, signer);
                opened.push(domain);
            }
            Err(EnvelopeError::TooLarge { size, max: limit }) => {
                assert!(size > limit && size == bytes.len());
            }
            Err(e) => drop(e.to_string()),
        }
    }
    assert!(opened.len() <= 1, "one envelope opened as {opened:?}");
    if opened.is_empty() {
        Outcome::Refused
    } else {
        Outcome::Accepted
    }
}

fn sealed(payload: &[u8], domain: (&str, &[u8], usize)) -> Outcome {
    let key = &fixtures::keys().publisher;
    let bytes = fixtures::seal(key, domain, payload.to_vec());
    let (opened, signer) =
        envelope::open(&bytes, usize::MAX, domain.0, domain.1).expect("a sealed envelope opens");
    assert_eq!(opened, payload);
    assert_eq!(signer, key.public());
    for other in DOMAINS.iter().filter(|d| d.0 != domain.0) {
        assert!(
            envelope::open(&bytes, usize::MAX, other.0, other.1).is_err(),
            "a {} envelope opened as {}",
            domain.0,
            other.0
        );
    }
    match envelope::open(&bytes, domain.2, domain.0, domain.1) {
        Ok(_) => assert!(bytes.len() <= domain.2),
        Err(EnvelopeError::TooLarge { .. }) => assert!(bytes.len() > domain.2),
        Err(e) => panic!("a sealed envelope failed to open: {e}"),
    }
    Outcome::Accepted
}
