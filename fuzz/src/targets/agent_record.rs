//! `SignedAgentRecord::verify`, as a DHT server and a discovering node run it, and the agent
//! record key of the DHT.
//!
//! Flags: bit 0 set, the data is a record payload sealed with the agent's fixture key (clear:
//! an envelope as received, which is also tried as a DHT key); bits 1 to 3 pick the clock
//! around the fixtures' `NOW`; bits 4 and 5 the peer the DHT key names (none, the agent, the
//! publisher, none).

use std::time::Duration;

use mesh_core::agent_record::{self, AgentRecord, AgentRecordError, MAX_AGENT_RECORD_BYTES};
use mesh_core::envelope::{self, EnvelopeError};
use mesh_core::{PeerId, SignedAgentRecord};

use crate::Outcome;
use crate::fixtures::{self, DOMAINS, NOW};
use crate::input::Input;

/// Runs one input.
pub fn run(bytes: &[u8]) -> Outcome {
    let Some(input) = Input::split(bytes) else {
        return Outcome::Skipped;
    };
    let now = fixtures::clock(NOW, input.bits(1, 3));
    let keys = fixtures::keys();
    let expected = match input.bits(4, 2) {
        1 => Some(fixtures::peer(&keys.agent)),
        2 => Some(fixtures::peer(&keys.publisher)),
        _ => None,
    };
    let envelope = if input.bit(0) {
        fixtures::seal(&keys.agent, DOMAINS[2], input.data.to_vec())
    } else {
        record_key_round_trips(input.data);
        input.data.to_vec()
    };
    match SignedAgentRecord::verify(&envelope, expected, now) {
        Ok(record) => {
            round_trips(&record, expected, now);
            Outcome::Accepted
        }
        Err(e) => {
            drop(e.to_string());
            Outcome::Refused
        }
    }
}

/// A DHT key names at most one peer, and that peer's key is exactly these bytes.
fn record_key_round_trips(key: &[u8]) {
    if let Some(peer) = agent_record::peer_of_record_key(key) {
        assert_eq!(agent_record::agent_record_key(&peer), key);
    }
}

fn round_trips(record: &SignedAgentRecord, expected: Option<PeerId>, now: u64) {
    let (_, signer) = envelope::open(&record.envelope, usize::MAX, DOMAINS[2].0, DOMAINS[2].1)
        .expect("a verified record opens");
    assert_eq!(record.peer_id, signer.to_peer_id());
    if let Some(peer) = expected {
        assert_eq!(peer, record.peer_id);
    }
    assert!(now < record.expires_at_ms);
    assert!((0.0..=1.0).contains(&record.load));
    assert!(record.has_all(&record.capabilities));
    let key = agent_record::agent_record_key(&record.peer_id);
    assert_eq!(agent_record::peer_of_record_key(&key), Some(record.peer_id));

    let again = SignedAgentRecord::verify(&record.envelope, Some(record.peer_id), now)
        .expect("a verified record verifies under its own key");
    assert_eq!(&again, record);

    // What a node learns from a record, signed again by its agent, is the same record.
    let agent = &fixtures::keys().agent;
    if record.peer_id == fixtures::peer(agent) {
        let content = AgentRecord {
            name: record.name.clone(),
            capabilities: record.capabilities.clone(),
            skills: record.skills.clone(),
            addresses: record.addresses.clone(),
            load: record.load,
        };
        let ttl = Duration::from_millis(record.expires_at_ms - now);
        match content.sign(agent, record.seq, now, ttl) {
            Ok(resigned) => {
                assert_eq!(resigned.peer_id, record.peer_id);
                assert_eq!(resigned.name, record.name);
                assert_eq!(resigned.capabilities, record.capabilities);
                assert_eq!(resigned.skills, record.skills);
                assert_eq!(resigned.addresses, record.addresses);
                assert_eq!(resigned.load, record.load);
                assert_eq!(resigned.seq, record.seq);
                assert_eq!(resigned.expires_at_ms, record.expires_at_ms);
            }
            // The new signing time may take a few more bytes than the old one.
            Err(AgentRecordError::Envelope(EnvelopeError::TooLarge { .. }))
                if record.envelope.len() + 16 > MAX_AGENT_RECORD_BYTES => {}
            Err(e) => panic!("a valid record could not be signed again: {e}"),
        }
    }
}
