//! Signing and opening libp2p `SignedEnvelope`s for MESH payloads.
//!
//! Each MESH payload type has its own domain-separation string and payload type, so a
//! signature made for one can never be replayed as another.

use libp2p::core::SignedEnvelope;
use libp2p::identity::{Keypair, PublicKey};

/// Domain-separation string of intents.
pub const INTENT_DOMAIN: &str = "mesh-intent";
/// Payload type of intents.
pub const INTENT_PAYLOAD_TYPE: &[u8] = b"/mesh/intent/1";
/// Domain-separation string of intent cancellations.
pub const CANCELLATION_DOMAIN: &str = "mesh-intent-cancel";
/// Payload type of intent cancellations.
pub const CANCELLATION_PAYLOAD_TYPE: &[u8] = b"/mesh/intent-cancel/1";
/// Domain-separation string of agent records.
pub const AGENT_RECORD_DOMAIN: &str = "mesh-agent-record";
/// Payload type of agent records.
pub const AGENT_RECORD_PAYLOAD_TYPE: &[u8] = b"/mesh/agent-record/1";
/// Domain-separation string of negotiation (INP) messages.
pub const NEGOTIATION_DOMAIN: &str = "mesh-negotiation";
/// Payload type of negotiation (INP) messages.
pub const NEGOTIATION_PAYLOAD_TYPE: &[u8] = b"/mesh/negotiation/1";

/// Why an envelope could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The envelope is larger than allowed for its payload type.
    #[error("envelope of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size received.
        size: usize,
        /// Largest size accepted.
        max: usize,
    },
    /// The bytes are not a protobuf `SignedEnvelope`, or its key is not a valid public key.
    #[error("malformed signed envelope: {0}")]
    Malformed(String),
    /// The payload type is not the one expected.
    #[error("unexpected payload type {got:?}, expected {expected:?}")]
    WrongPayloadType {
        /// The type expected.
        expected: String,
        /// The type found.
        got: String,
    },
    /// The signature does not match the payload and key.
    #[error("invalid signature")]
    BadSignature,
    /// Signing failed (the key cannot sign).
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Signs `payload` in an envelope and returns its protobuf encoding.
pub fn seal(
    keypair: &Keypair,
    domain: &str,
    payload_type: &[u8],
    payload: Vec<u8>,
) -> Result<Vec<u8>, EnvelopeError> {
    SignedEnvelope::new(keypair, domain.to_owned(), payload_type.to_vec(), payload)
        .map(SignedEnvelope::into_protobuf_encoding)
        .map_err(|e| EnvelopeError::Signing(e.to_string()))
}

/// Decodes and verifies an envelope, returning its payload and signing key.
pub fn open(
    bytes: &[u8],
    max: usize,
    domain: &str,
    payload_type: &[u8],
) -> Result<(Vec<u8>, PublicKey), EnvelopeError> {
    if bytes.len() > max {
        return Err(EnvelopeError::TooLarge {
            size: bytes.len(),
            max,
        });
    }
    let envelope = SignedEnvelope::from_protobuf_encoding(bytes)
        .map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
    let (payload, key) = envelope
        .payload_and_signing_key(domain.to_owned(), payload_type)
        .map_err(|e| match e {
            libp2p::core::signed_envelope::ReadPayloadError::InvalidSignature => {
                EnvelopeError::BadSignature
            }
            libp2p::core::signed_envelope::ReadPayloadError::UnexpectedPayloadType {
                expected,
                got,
            } => EnvelopeError::WrongPayloadType {
                expected: String::from_utf8_lossy(&expected).into_owned(),
                got: String::from_utf8_lossy(&got).into_owned(),
            },
        })?;
    Ok((payload.to_vec(), key.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips() {
        let key = Keypair::generate_ed25519();
        let bytes = seal(&key, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, b"hello".to_vec()).unwrap();
        let (payload, signer) = open(&bytes, 1024, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE).unwrap();
        assert_eq!(payload, b"hello");
        assert_eq!(signer, key.public());
    }

    #[test]
    fn every_flipped_byte_is_rejected_or_changes_nothing_trusted() {
        let key = Keypair::generate_ed25519();
        let bytes = seal(
            &key,
            INTENT_DOMAIN,
            INTENT_PAYLOAD_TYPE,
            b"pay 2 USD".to_vec(),
        )
        .unwrap();
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x01;
            if let Ok((payload, signer)) = open(&tampered, 1024, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE)
            {
                // Only a change in protobuf framing that decodes to the same content may pass.
                assert_eq!(payload, b"pay 2 USD", "byte {i}");
                assert_eq!(signer, key.public(), "byte {i}");
            }
        }
    }

    #[test]
    fn other_domain_or_type_is_rejected() {
        let key = Keypair::generate_ed25519();
        let bytes = seal(&key, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, b"x".to_vec()).unwrap();
        assert_eq!(
            open(&bytes, 1024, AGENT_RECORD_DOMAIN, INTENT_PAYLOAD_TYPE),
            Err(EnvelopeError::BadSignature)
        );
        assert!(matches!(
            open(&bytes, 1024, INTENT_DOMAIN, AGENT_RECORD_PAYLOAD_TYPE),
            Err(EnvelopeError::WrongPayloadType { .. })
        ));
    }

    #[test]
    fn size_limit_and_garbage() {
        let key = Keypair::generate_ed25519();
        let bytes = seal(&key, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, vec![0; 100]).unwrap();
        assert!(matches!(
            open(&bytes, 50, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE),
            Err(EnvelopeError::TooLarge { max: 50, .. })
        ));
        assert!(matches!(
            open(
                &[0xff, 0x01, 0x02],
                1024,
                INTENT_DOMAIN,
                INTENT_PAYLOAD_TYPE
            ),
            Err(EnvelopeError::Malformed(_))
        ));
    }
}
