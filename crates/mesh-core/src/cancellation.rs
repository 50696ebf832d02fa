//! Intent cancellations: the publisher's signed withdrawal of an intent.
//!
//! A cancellation names the intent by id, is signed by the same key as the intent, and travels
//! on the intent's capability topics. Anyone can check the signature; only a node that also
//! holds the intent can check that the signer is its publisher, so nodes suppress an intent only
//! when the id **and** the publisher match ([`SignedCancellation::cancels`]). A stranger's
//! "cancellation" of someone else's intent therefore has no effect.

use libp2p::identity::{Keypair, PeerId};
use mesh_proto::{decode_bounded, v1};
use prost::Message;

use crate::capability::{Capability, CapabilityError};
use crate::envelope::{self, CANCELLATION_DOMAIN, CANCELLATION_PAYLOAD_TYPE, EnvelopeError};
use crate::intent::{IntentId, MAX_CLOCK_SKEW, SignedIntent};

/// Largest signed cancellation envelope accepted, in bytes.
pub const MAX_CANCELLATION_ENVELOPE_BYTES: usize = 4 * 1024;
/// Longest reason, in bytes.
pub const MAX_CANCEL_REASON_BYTES: usize = 1024;

/// Why a cancellation could not be made or was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CancellationError {
    /// The envelope failed to open.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The payload is not a protobuf `mesh.v1.IntentCancellation`.
    #[error("malformed cancellation: {0}")]
    Malformed(String),
    /// A field breaks a rule.
    #[error("invalid cancellation {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A capability name is invalid.
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    /// Only the intent's publisher may cancel it.
    #[error("only the intent's publisher {publisher} can cancel it")]
    NotPublisher {
        /// The intent's publisher.
        publisher: String,
    },
    /// The intent (and so the cancellation) is past its expiry.
    #[error("the intent expired at {expires_at_ms}; there is nothing left to cancel")]
    Expired {
        /// Expiry, Unix ms.
        expires_at_ms: u64,
    },
    /// Signed too far in the future.
    #[error(
        "cancellation signed at {cancelled_at_ms}, after now ({now_ms}) plus the allowed clock skew"
    )]
    FromTheFuture {
        /// Signing time, Unix ms.
        cancelled_at_ms: u64,
        /// Time of the check, Unix ms.
        now_ms: u64,
    },
}

impl CancellationError {
    fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// Whether the sender of such a cancellation misbehaved (as opposed to it merely arriving
    /// late).
    pub fn is_misbehaviour(&self) -> bool {
        !matches!(self, Self::Expired { .. } | Self::FromTheFuture { .. })
    }
}

/// A verified cancellation.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedCancellation {
    /// The intent it cancels.
    pub intent_id: IntentId,
    /// The signer, who must be the intent's publisher for it to take effect.
    pub publisher: PeerId,
    /// The intent's capabilities, as the publisher stated them.
    pub capabilities: Vec<Capability>,
    /// The decoded content.
    pub content: v1::IntentCancellation,
    /// The envelope exactly as signed, to forward unchanged.
    pub envelope: Vec<u8>,
}

impl SignedCancellation {
    /// Signs the cancellation of `intent` with `keypair`, which must be the intent's publisher.
    pub fn sign(
        keypair: &Keypair,
        intent: &SignedIntent,
        reason: &str,
        now_ms: u64,
    ) -> Result<Self, CancellationError> {
        let signer = keypair.public().to_peer_id();
        if signer != intent.publisher {
            return Err(CancellationError::NotPublisher {
                publisher: intent.publisher.to_string(),
            });
        }
        if intent.is_expired(now_ms) {
            return Err(CancellationError::Expired {
                expires_at_ms: intent.content.expires_at_ms,
            });
        }
        let content = v1::IntentCancellation {
            intent_id: intent.id.0.to_vec(),
            publisher: signer.to_bytes(),
            capabilities: intent.content.capabilities.clone(),
            cancelled_at_ms: now_ms,
            expires_at_ms: intent.content.expires_at_ms,
            reason: reason.to_owned(),
        };
        check(&content, now_ms)?;
        let envelope = envelope::seal(
            keypair,
            CANCELLATION_DOMAIN,
            CANCELLATION_PAYLOAD_TYPE,
            content.encode_to_vec(),
        )?;
        Ok(Self {
            intent_id: intent.id,
            publisher: signer,
            capabilities: intent.capabilities.clone(),
            content,
            envelope,
        })
    }

    /// Opens and checks a cancellation envelope at `now_ms`: signature, signer named as
    /// publisher, field rules and expiry.
    pub fn verify(envelope_bytes: &[u8], now_ms: u64) -> Result<Self, CancellationError> {
        let (payload, key) = envelope::open(
            envelope_bytes,
            MAX_CANCELLATION_ENVELOPE_BYTES,
            CANCELLATION_DOMAIN,
            CANCELLATION_PAYLOAD_TYPE,
        )?;
        let content: v1::IntentCancellation =
            decode_bounded(&payload, MAX_CANCELLATION_ENVELOPE_BYTES)
                .map_err(|e| CancellationError::Malformed(e.to_string()))?;
        let signer = key.to_peer_id();
        let claimed = PeerId::from_bytes(&content.publisher)
            .map_err(|_| CancellationError::invalid("publisher", "not a peer id"))?;
        if claimed != signer {
            return Err(CancellationError::invalid(
                "publisher",
                format!("names {claimed} but {signer} signed"),
            ));
        }
        let (intent_id, capabilities) = check(&content, now_ms)?;
        Ok(Self {
            intent_id,
            publisher: signer,
            capabilities,
            content,
            envelope: envelope_bytes.to_vec(),
        })
    }

    /// Whether this cancellation takes effect on `intent`: same id, signed by its publisher.
    pub fn cancels(&self, intent: &SignedIntent) -> bool {
        self.intent_id == intent.id && self.publisher == intent.publisher
    }

    /// The reason given.
    pub fn reason(&self) -> &str {
        &self.content.reason
    }

    /// Whether the cancelled intent is past its expiry at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.content.expires_at_ms
    }
}

fn check(
    c: &v1::IntentCancellation,
    now_ms: u64,
) -> Result<(IntentId, Vec<Capability>), CancellationError> {
    let id: [u8; 32] = c
        .intent_id
        .as_slice()
        .try_into()
        .map_err(|_| CancellationError::invalid("intent_id", "must be 32 bytes"))?;
    if c.capabilities.is_empty() || c.capabilities.len() > crate::intent::MAX_INTENT_CAPABILITIES {
        return Err(CancellationError::invalid(
            "capabilities",
            "must name the intent's 1 to 16 capabilities",
        ));
    }
    let capabilities = crate::capability::parse_capabilities(&c.capabilities)?;
    if c.reason.len() > MAX_CANCEL_REASON_BYTES {
        return Err(CancellationError::invalid(
            "reason",
            format!("at most {MAX_CANCEL_REASON_BYTES} bytes"),
        ));
    }
    if now_ms >= c.expires_at_ms {
        return Err(CancellationError::Expired {
            expires_at_ms: c.expires_at_ms,
        });
    }
    let skew = u64::try_from(MAX_CLOCK_SKEW.as_millis()).unwrap_or(u64::MAX);
    if c.cancelled_at_ms > now_ms.saturating_add(skew) {
        return Err(CancellationError::FromTheFuture {
            cancelled_at_ms: c.cancelled_at_ms,
            now_ms,
        });
    }
    Ok((IntentId(id), capabilities))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Intent;
    use std::time::Duration;

    const NOW: u64 = 1_700_000_000_000;

    fn intent(key: &Keypair) -> SignedIntent {
        Intent::new("translate")
            .capabilities(["translation"])
            .ttl(Duration::from_secs(60))
            .sign(key, NOW)
            .unwrap()
    }

    #[test]
    fn publisher_cancellation_verifies_and_cancels() {
        let key = Keypair::generate_ed25519();
        let i = intent(&key);
        let c = SignedCancellation::sign(&key, &i, "found someone", NOW + 10).unwrap();
        let v = SignedCancellation::verify(&c.envelope, NOW + 20).unwrap();
        assert_eq!(v, c);
        assert!(v.cancels(&i));
        assert_eq!(v.reason(), "found someone");
    }

    #[test]
    fn stranger_cannot_sign_or_take_effect() {
        let (owner, stranger) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let i = intent(&owner);
        assert!(matches!(
            SignedCancellation::sign(&stranger, &i, "", NOW),
            Err(CancellationError::NotPublisher { .. })
        ));
        // A stranger crafting one by hand for the same id: valid signature, no effect.
        let content = v1::IntentCancellation {
            intent_id: i.id.0.to_vec(),
            publisher: stranger.public().to_peer_id().to_bytes(),
            capabilities: vec!["translation".into()],
            cancelled_at_ms: NOW,
            expires_at_ms: NOW + 60_000,
            reason: String::new(),
        };
        let bytes = envelope::seal(
            &stranger,
            CANCELLATION_DOMAIN,
            CANCELLATION_PAYLOAD_TYPE,
            content.encode_to_vec(),
        )
        .unwrap();
        let forged = SignedCancellation::verify(&bytes, NOW).unwrap();
        assert!(!forged.cancels(&i));
    }

    #[test]
    fn expired_tampered_and_oversize_are_refused() {
        let key = Keypair::generate_ed25519();
        let i = intent(&key);
        let c = SignedCancellation::sign(&key, &i, "x", NOW).unwrap();
        assert!(matches!(
            SignedCancellation::verify(&c.envelope, NOW + 60_000),
            Err(CancellationError::Expired { .. })
        ));
        for at in 0..c.envelope.len() {
            let mut bad = c.envelope.clone();
            bad[at] ^= 0x40;
            if let Ok(v) = SignedCancellation::verify(&bad, NOW) {
                assert_eq!(v.content, c.content, "byte {at} changed signed content");
            }
        }
        let long = "r".repeat(MAX_CANCEL_REASON_BYTES + 1);
        assert!(matches!(
            SignedCancellation::sign(&key, &i, &long, NOW),
            Err(CancellationError::Invalid {
                field: "reason",
                ..
            })
        ));
        assert!(SignedCancellation::verify(&vec![0; 5000], NOW).is_err());
    }

    #[test]
    fn an_intent_envelope_is_not_a_cancellation() {
        let key = Keypair::generate_ed25519();
        let i = intent(&key);
        assert!(matches!(
            SignedCancellation::verify(&i.envelope, NOW),
            Err(CancellationError::Envelope(_))
        ));
    }
}
