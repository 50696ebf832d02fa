//! How values are encoded in the tables.
//!
//! Every structured value is one byte of format version ([`VALUE_FORMAT`]) followed by a
//! protobuf message defined here. Protobuf lets later versions add fields that older code skips;
//! a change that older code must not read bumps the format byte, which older code refuses
//! rather than misreading. Field numbers are never reused.

use prost::Message;

use crate::types::{
    Id, IntentStatus, NegotiationMeta, Role, StoredAgentRecord, StoredAttestation, StoredEvent,
    StoredIntent, StoredPeer, StoredReputation,
};

/// The format byte written before every structured value.
pub(crate) const VALUE_FORMAT: u8 = 1;

/// Encodes `message` with the format byte in front.
pub(crate) fn encode<M: Message>(message: &M) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut out = Vec::with_capacity(1 + body.len());
    out.push(VALUE_FORMAT);
    out.extend_from_slice(&body);
    out
}

/// Decodes a value written by [`encode`]; the error says what is wrong.
pub(crate) fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, String> {
    match bytes.split_first() {
        None => Err("empty value".to_owned()),
        Some((&VALUE_FORMAT, body)) => M::decode(body).map_err(|err| err.to_string()),
        Some((format, _)) => Err(format!(
            "value format {format}, this build reads only format {VALUE_FORMAT}"
        )),
    }
}

/// `peers` value.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct PeerValue {
    #[prost(string, repeated, tag = "1")]
    pub addresses: Vec<String>,
    #[prost(uint64, tag = "2")]
    pub last_seen_unix_ms: u64,
}

impl PeerValue {
    pub(crate) fn from_peer(peer: &StoredPeer) -> Self {
        PeerValue {
            addresses: peer.addresses.clone(),
            last_seen_unix_ms: peer.last_seen_unix_ms,
        }
    }

    pub(crate) fn into_peer(self, peer_id: Vec<u8>) -> StoredPeer {
        StoredPeer {
            peer_id,
            addresses: self.addresses,
            last_seen_unix_ms: self.last_seen_unix_ms,
        }
    }
}

/// `agent_records` value.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct AgentRecordValue {
    #[prost(bytes = "vec", tag = "1")]
    pub envelope: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub expires_at_unix_ms: u64,
}

impl AgentRecordValue {
    pub(crate) fn from_record(record: &StoredAgentRecord) -> Self {
        AgentRecordValue {
            envelope: record.envelope.clone(),
            expires_at_unix_ms: record.expires_at_unix_ms,
        }
    }

    pub(crate) fn into_record(self, peer_id: Vec<u8>) -> StoredAgentRecord {
        StoredAgentRecord {
            peer_id,
            envelope: self.envelope,
            expires_at_unix_ms: self.expires_at_unix_ms,
        }
    }
}

/// `intents` value (schema version 2).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct IntentValue {
    #[prost(bytes = "vec", tag = "1")]
    pub envelope: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub expires_at_unix_ms: u64,
    #[prost(bool, tag = "3")]
    pub own: bool,
    #[prost(uint64, tag = "4")]
    pub received_at_unix_ms: u64,
    /// [`IntentStatus::code`].
    #[prost(uint32, tag = "5")]
    pub status: u32,
}

impl IntentValue {
    pub(crate) fn from_intent(intent: &StoredIntent) -> Self {
        IntentValue {
            envelope: intent.envelope.clone(),
            expires_at_unix_ms: intent.expires_at_unix_ms,
            own: intent.own,
            received_at_unix_ms: intent.received_at_unix_ms,
            status: intent.status.code(),
        }
    }

    pub(crate) fn into_intent(self, id: Id) -> Result<StoredIntent, String> {
        let status = IntentStatus::from_code(self.status)
            .ok_or_else(|| format!("unknown intent status {}", self.status))?;
        Ok(StoredIntent {
            id,
            envelope: self.envelope,
            expires_at_unix_ms: self.expires_at_unix_ms,
            status,
            own: self.own,
            received_at_unix_ms: self.received_at_unix_ms,
        })
    }
}

/// `intent_cancellations` value.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct CancellationValue {
    #[prost(bytes = "vec", tag = "1")]
    pub envelope: Vec<u8>,
}

/// `events` value.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct EventValue {
    #[prost(string, tag = "1")]
    pub kind: String,
    #[prost(bytes = "vec", tag = "2")]
    pub body: Vec<u8>,
}

impl EventValue {
    pub(crate) fn into_event(self, seq: u64) -> StoredEvent {
        StoredEvent {
            seq,
            kind: self.kind,
            body: self.body,
        }
    }
}

/// `negotiations` value.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct NegotiationValue {
    #[prost(bytes = "vec", tag = "1")]
    pub intent_id: Vec<u8>,
    /// [`Role::code`].
    #[prost(uint32, tag = "2")]
    pub role: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub counterparty: Vec<u8>,
    #[prost(string, tag = "4")]
    pub state: String,
    #[prost(uint64, tag = "5")]
    pub updated_at_unix_ms: u64,
}

impl NegotiationValue {
    pub(crate) fn from_meta(meta: &NegotiationMeta) -> Self {
        NegotiationValue {
            intent_id: meta.intent_id.to_vec(),
            role: meta.role.code(),
            counterparty: meta.counterparty.clone(),
            state: meta.state.clone(),
            updated_at_unix_ms: meta.updated_at_unix_ms,
        }
    }

    pub(crate) fn into_meta(self) -> Result<NegotiationMeta, String> {
        let intent_id = Id::try_from(self.intent_id.as_slice())
            .map_err(|_| format!("intent id of {} bytes", self.intent_id.len()))?;
        let role =
            Role::from_code(self.role).ok_or_else(|| format!("unknown role {}", self.role))?;
        Ok(NegotiationMeta {
            intent_id,
            role,
            counterparty: self.counterparty,
            state: self.state,
            updated_at_unix_ms: self.updated_at_unix_ms,
        })
    }
}

/// `reputation` value.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ReputationValue {
    #[prost(double, tag = "1")]
    pub score: f64,
    #[prost(uint64, tag = "2")]
    pub observations: u64,
    #[prost(uint64, tag = "3")]
    pub updated_at_unix_ms: u64,
}

impl ReputationValue {
    pub(crate) fn from_reputation(reputation: &StoredReputation) -> Self {
        ReputationValue {
            score: reputation.score,
            observations: reputation.observations,
            updated_at_unix_ms: reputation.updated_at_unix_ms,
        }
    }

    pub(crate) fn into_reputation(self, peer_id: Vec<u8>) -> StoredReputation {
        StoredReputation {
            peer_id,
            score: self.score,
            observations: self.observations,
            updated_at_unix_ms: self.updated_at_unix_ms,
        }
    }
}

/// `attestations` value (schema version 3).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct AttestationValue {
    #[prost(bytes = "vec", tag = "1")]
    pub encoded: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub expires_at_unix_ms: u64,
    /// [`Standing::code`](crate::Standing::code) (schema version 4; absent reads as 0).
    #[prost(uint32, tag = "3")]
    pub standing: u32,
}

impl AttestationValue {
    pub(crate) fn from_attestation(attestation: &StoredAttestation) -> Self {
        AttestationValue {
            encoded: attestation.encoded.clone(),
            expires_at_unix_ms: attestation.expires_at_unix_ms,
            standing: attestation.standing.code(),
        }
    }

    pub(crate) fn into_attestation(self, key: Id) -> StoredAttestation {
        StoredAttestation {
            key,
            encoded: self.encoded,
            expires_at_unix_ms: self.expires_at_unix_ms,
            standing: crate::types::Standing::from_code(self.standing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_carry_their_format_byte() {
        let value = EventValue {
            kind: "intent".into(),
            body: vec![1, 2, 3],
        };
        let bytes = encode(&value);
        assert_eq!(bytes[0], VALUE_FORMAT);
        assert_eq!(decode::<EventValue>(&bytes), Ok(value));
    }

    #[test]
    fn unknown_format_and_garbage_are_refused() {
        let mut bytes = encode(&ReputationValue {
            score: 0.5,
            observations: 3,
            updated_at_unix_ms: 9,
        });
        bytes[0] = 2;
        let err = decode::<ReputationValue>(&bytes).unwrap_err();
        assert!(err.contains("format 2"), "{err}");
        assert!(decode::<ReputationValue>(&[]).is_err());
        assert!(decode::<ReputationValue>(&[VALUE_FORMAT, 0xff, 0xff]).is_err());
    }

    #[test]
    fn a_missing_status_is_refused() {
        let value = IntentValue {
            envelope: vec![1],
            expires_at_unix_ms: 1,
            own: false,
            received_at_unix_ms: 0,
            status: 0,
        };
        assert!(value.into_intent([0; 32]).is_err());
    }
}
