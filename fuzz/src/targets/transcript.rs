//! Transcripts as a verifier reads them: `Transcript::decode` (protobuf) or the JSON form that
//! `mesh negotiations verify` reads, then `Transcript::verify` and `Negotiation::resume`.
//!
//! Flags: bit 0 clear, the data is a `mesh.v1.Transcript`; set, the JSON form.

use mesh_core::negotiation::{self, Negotiation, TranscriptJson};
use mesh_core::{Transcript, TranscriptError};

use crate::Outcome;
use crate::fixtures;
use crate::input::Input;

/// Runs one input.
pub fn run(bytes: &[u8]) -> Outcome {
    let Some(input) = Input::split(bytes) else {
        return Outcome::Skipped;
    };
    let transcript = if input.bit(0) {
        from_json(input.data)
    } else {
        from_protobuf(input.data)
    };
    let Some(transcript) = transcript else {
        return Outcome::Refused;
    };
    match transcript.verify() {
        Ok(summary) => {
            assert!(!transcript.is_empty());
            assert_eq!(summary.events.len(), transcript.len());
            assert_eq!(
                summary.head,
                negotiation::message_hash(&transcript.envelopes()[transcript.len() - 1])
            );
            for (seq, event) in summary.events.iter().enumerate() {
                assert_eq!(event.seq, seq as u64);
            }
            let resumed = Negotiation::resume(&transcript, Default::default(), fixtures::NOW)
                .expect("a verified transcript resumes");
            assert_eq!(resumed.state(), summary.state);
            assert_eq!(resumed.id(), summary.negotiation_id);
            // A prefix of a valid chain is a valid chain.
            if transcript.len() > 1 {
                let prefix = Transcript::from_envelopes(
                    transcript.envelopes()[..transcript.len() - 1].to_vec(),
                );
                let earlier = prefix.verify().expect("a prefix of a valid chain verifies");
                assert_eq!(earlier.events[..], summary.events[..transcript.len() - 1]);
            }
            Outcome::Accepted
        }
        Err(e) => {
            assert!(Negotiation::resume(&transcript, Default::default(), fixtures::NOW).is_err());
            if let TranscriptError::Message { index, .. } = &e {
                assert!(*index < transcript.len());
            }
            drop(e.to_string());
            Outcome::Refused
        }
    }
}

fn from_protobuf(bytes: &[u8]) -> Option<Transcript> {
    let transcript = match Transcript::decode(bytes) {
        Ok(t) => t,
        Err(e) => {
            drop(e.to_string());
            return None;
        }
    };
    let again = Transcript::decode(&transcript.encode()).expect("an encoded transcript decodes");
    assert_eq!(again, transcript);
    Some(transcript)
}

fn from_json(bytes: &[u8]) -> Option<Transcript> {
    let json: TranscriptJson = serde_json::from_slice(bytes).ok()?;
    let transcript = match Transcript::from_json(&json) {
        Ok(t) => t,
        Err(e) => {
            drop(e.to_string());
            return None;
        }
    };
    let text = serde_json::to_string(&transcript.to_json()).expect("a transcript serialises");
    let read: TranscriptJson = serde_json::from_str(&text).expect("a transcript reads back");
    assert_eq!(
        Transcript::from_json(&read).expect("an exported transcript imports"),
        transcript
    );
    Some(transcript)
}
