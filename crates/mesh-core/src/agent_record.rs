//! Agent records: what an agent advertises about itself in the DHT.

use std::time::Duration;

use libp2p::Multiaddr;
use libp2p::identity::{Keypair, PeerId};
use mesh_proto::{decode_bounded, v1};
use prost::Message;

use crate::capability::{Capability, CapabilityError};
use crate::envelope::{self, AGENT_RECORD_DOMAIN, AGENT_RECORD_PAYLOAD_TYPE, EnvelopeError};

/// Largest signed agent record accepted, in bytes.
pub const MAX_AGENT_RECORD_BYTES: usize = 16 * 1024;
/// Most capabilities in one record.
pub const MAX_RECORD_CAPABILITIES: usize = 32;
/// Most skills in one record.
pub const MAX_SKILLS: usize = 32;
/// Most addresses in one record.
pub const MAX_ADDRESSES: usize = 16;
/// Lifetime of a freshly signed record.
pub const RECORD_TTL: Duration = Duration::from_secs(3600);
/// The furthest ahead of the checker's clock a record's expiry may lie: a day. Caches evict
/// the soonest-expiring record first, so a record signed to last for ever would otherwise
/// stay in every cache it reached.
pub const MAX_RECORD_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Prefix of the DHT key of an agent record; the peer id's bytes follow.
pub const AGENT_KEY_PREFIX: &[u8] = b"/mesh/agent/";

/// One skill of an agent, in the spirit of an A2A agent card.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Skill {
    /// Stable identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Free-form tags.
    pub tags: Vec<String>,
}

/// An agent record before signing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentRecord {
    /// Display name.
    pub name: String,
    /// Capabilities offered.
    pub capabilities: Vec<Capability>,
    /// Skills offered.
    pub skills: Vec<Skill>,
    /// Addresses to reach the agent.
    pub addresses: Vec<Multiaddr>,
    /// Current load in `[0, 1]`.
    pub load: f64,
}

/// Why an agent record was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AgentRecordError {
    /// The envelope failed to open.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The payload is not a protobuf `mesh.v1.AgentRecord`.
    #[error("malformed agent record: {0}")]
    Malformed(String),
    /// The record's peer id, the signer, and (if given) the DHT key disagree.
    #[error("agent record for {claimed} is signed by {signer}")]
    PeerMismatch {
        /// Peer named in the record or key.
        claimed: String,
        /// Signer.
        signer: String,
    },
    /// A field breaks a rule.
    #[error("invalid agent record {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A capability name is invalid.
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    /// The record is past its expiry.
    #[error("agent record expired at {expires_at_ms} (now {now_ms})")]
    Expired {
        /// Expiry, Unix ms.
        expires_at_ms: u64,
        /// Time of the check, Unix ms.
        now_ms: u64,
    },
}

/// A verified agent record.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedAgentRecord {
    /// The agent.
    pub peer_id: PeerId,
    /// Display name.
    pub name: String,
    /// Validated capabilities.
    pub capabilities: Vec<Capability>,
    /// Skills.
    pub skills: Vec<Skill>,
    /// Addresses that parsed.
    pub addresses: Vec<Multiaddr>,
    /// Load in `[0, 1]`.
    pub load: f64,
    /// Sequence number: higher replaces lower.
    pub seq: u64,
    /// Expiry, Unix ms.
    pub expires_at_ms: u64,
    /// The envelope as signed.
    pub envelope: Vec<u8>,
}

/// DHT key of the agent record of `peer`: `/mesh/agent/` followed by the peer id's bytes.
pub fn agent_record_key(peer: &PeerId) -> Vec<u8> {
    let mut key = AGENT_KEY_PREFIX.to_vec();
    key.extend_from_slice(&peer.to_bytes());
    key
}

/// The peer whose agent record lives under `key`, if `key` is an agent record key.
pub fn peer_of_record_key(key: &[u8]) -> Option<PeerId> {
    key.strip_prefix(AGENT_KEY_PREFIX)
        .and_then(|bytes| PeerId::from_bytes(bytes).ok())
}

impl AgentRecord {
    /// Signs the record with sequence number `seq` at `now_ms`, valid for `ttl`.
    pub fn sign(
        &self,
        keypair: &Keypair,
        seq: u64,
        now_ms: u64,
        ttl: Duration,
    ) -> Result<SignedAgentRecord, AgentRecordError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let wire = v1::AgentRecord {
            peer_id: keypair.public().to_peer_id().to_bytes(),
            capabilities: self.capabilities.iter().map(|c| c.to_string()).collect(),
            skills: self
                .skills
                .iter()
                .map(|s| v1::Skill {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    description: s.description.clone(),
                    tags: s.tags.clone(),
                })
                .collect(),
            addresses: self.addresses.iter().map(|a| a.to_vec()).collect(),
            load: self.load,
            seq,
            expires_at_ms: now_ms.saturating_add(ttl_ms),
            name: self.name.clone(),
            issued_at_ms: now_ms,
        };
        let envelope = envelope::seal(
            keypair,
            AGENT_RECORD_DOMAIN,
            AGENT_RECORD_PAYLOAD_TYPE,
            wire.encode_to_vec(),
        )?;
        SignedAgentRecord::verify(&envelope, None, now_ms)
    }
}

impl SignedAgentRecord {
    /// Opens and checks a signed record. When `expected` is given (the peer named by the DHT
    /// key), the record must be that peer's.
    pub fn verify(
        envelope_bytes: &[u8],
        expected: Option<PeerId>,
        now_ms: u64,
    ) -> Result<Self, AgentRecordError> {
        let (payload, key) = envelope::open(
            envelope_bytes,
            MAX_AGENT_RECORD_BYTES,
            AGENT_RECORD_DOMAIN,
            AGENT_RECORD_PAYLOAD_TYPE,
        )?;
        let wire: v1::AgentRecord = decode_bounded(&payload, MAX_AGENT_RECORD_BYTES)
            .map_err(|e| AgentRecordError::Malformed(e.to_string()))?;
        let signer = key.to_peer_id();
        let claimed = PeerId::from_bytes(&wire.peer_id).map_err(|_| AgentRecordError::Invalid {
            field: "peer_id",
            reason: "not a peer id".into(),
        })?;
        for who in [Some(claimed), expected].into_iter().flatten() {
            if who != signer {
                return Err(AgentRecordError::PeerMismatch {
                    claimed: who.to_string(),
                    signer: signer.to_string(),
                });
            }
        }
        if wire.capabilities.len() > MAX_RECORD_CAPABILITIES
            || wire.skills.len() > MAX_SKILLS
            || wire.addresses.len() > MAX_ADDRESSES
        {
            return Err(AgentRecordError::Invalid {
                field: "capabilities/skills/addresses",
                reason: format!(
                    "at most {MAX_RECORD_CAPABILITIES} capabilities, {MAX_SKILLS} skills and {MAX_ADDRESSES} addresses"
                ),
            });
        }
        if !(0.0..=1.0).contains(&wire.load) {
            return Err(AgentRecordError::Invalid {
                field: "load",
                reason: "must lie in [0, 1]".into(),
            });
        }
        if now_ms >= wire.expires_at_ms {
            return Err(AgentRecordError::Expired {
                expires_at_ms: wire.expires_at_ms,
                now_ms,
            });
        }
        let max_lifetime_ms = u64::try_from(MAX_RECORD_LIFETIME.as_millis()).unwrap_or(u64::MAX);
        if wire.expires_at_ms > now_ms.saturating_add(max_lifetime_ms) {
            return Err(AgentRecordError::Invalid {
                field: "expires_at_ms",
                reason: format!(
                    "lies more than {} hours ahead; sign records for at most that long",
                    MAX_RECORD_LIFETIME.as_secs() / 3600
                ),
            });
        }
        let capabilities = wire
            .capabilities
            .iter()
            .map(|c| Capability::new(c.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            peer_id: signer,
            name: wire.name,
            capabilities,
            skills: wire
                .skills
                .into_iter()
                .map(|s| Skill {
                    id: s.id,
                    name: s.name,
                    description: s.description,
                    tags: s.tags,
                })
                .collect(),
            addresses: wire
                .addresses
                .into_iter()
                .filter_map(|a| Multiaddr::try_from(a).ok())
                .collect(),
            load: wire.load,
            seq: wire.seq,
            expires_at_ms: wire.expires_at_ms,
            envelope: envelope_bytes.to_vec(),
        })
    }

    /// Whether the record offers every capability in `wanted`.
    pub fn has_all(&self, wanted: &[Capability]) -> bool {
        wanted.iter().all(|c| self.capabilities.contains(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn record() -> AgentRecord {
        AgentRecord {
            name: "scribe".into(),
            capabilities: vec![Capability::new("text-generation").unwrap()],
            skills: vec![Skill {
                id: "summarise".into(),
                name: "Summarise".into(),
                description: "Summaries of long documents".into(),
                tags: vec!["pdf".into()],
            }],
            addresses: vec!["/ip4/127.0.0.1/tcp/7701".parse().unwrap()],
            load: 0.25,
        }
    }

    #[test]
    fn sign_verify_round_trip() {
        let key = Keypair::generate_ed25519();
        let peer = key.public().to_peer_id();
        let signed = record().sign(&key, 7, NOW, RECORD_TTL).unwrap();
        let again = SignedAgentRecord::verify(&signed.envelope, Some(peer), NOW).unwrap();
        assert_eq!(again, signed);
        assert_eq!(again.seq, 7);
        assert_eq!(again.skills[0].tags, vec!["pdf".to_string()]);
        assert_eq!(peer_of_record_key(&agent_record_key(&peer)), Some(peer));
    }

    #[test]
    fn a_record_that_lasts_beyond_the_maximum_lifetime_is_refused() {
        let key = Keypair::generate_ed25519();
        let peer = key.public().to_peer_id();
        let longest = record().sign(&key, 1, NOW, MAX_RECORD_LIFETIME).unwrap();
        assert!(SignedAgentRecord::verify(&longest.envelope, Some(peer), NOW).is_ok());
        // Seen by a clock a millisecond behind the signer's, it lasts a millisecond too long.
        assert!(matches!(
            SignedAgentRecord::verify(&longest.envelope, Some(peer), NOW - 1),
            Err(AgentRecordError::Invalid {
                field: "expires_at_ms",
                ..
            })
        ));
        // The signer is told at once.
        for ttl in [MAX_RECORD_LIFETIME * 2, Duration::MAX] {
            assert!(matches!(
                record().sign(&key, 1, NOW, ttl),
                Err(AgentRecordError::Invalid {
                    field: "expires_at_ms",
                    ..
                })
            ));
        }
    }

    #[test]
    fn record_under_someone_elses_key_is_rejected() {
        let key = Keypair::generate_ed25519();
        let victim = Keypair::generate_ed25519().public().to_peer_id();
        let signed = record().sign(&key, 1, NOW, RECORD_TTL).unwrap();
        assert!(matches!(
            SignedAgentRecord::verify(&signed.envelope, Some(victim), NOW),
            Err(AgentRecordError::PeerMismatch { .. })
        ));
    }

    #[test]
    fn tampered_record_is_rejected() {
        let key = Keypair::generate_ed25519();
        let signed = record().sign(&key, 1, NOW, RECORD_TTL).unwrap();
        let pos = signed
            .envelope
            .windows(6)
            .position(|w| w == b"scribe")
            .unwrap();
        let mut tampered = signed.envelope.clone();
        tampered[pos] = b'S';
        assert_eq!(
            SignedAgentRecord::verify(&tampered, None, NOW),
            Err(AgentRecordError::Envelope(EnvelopeError::BadSignature))
        );
    }

    #[test]
    fn expired_record_is_rejected() {
        let key = Keypair::generate_ed25519();
        let signed = record()
            .sign(&key, 1, NOW, Duration::from_secs(60))
            .unwrap();
        assert!(matches!(
            SignedAgentRecord::verify(&signed.envelope, None, NOW + 60_000),
            Err(AgentRecordError::Expired { .. })
        ));
    }
}
