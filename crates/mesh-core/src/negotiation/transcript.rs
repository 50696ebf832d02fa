//! Transcripts: the signed hash chain of one negotiation, its offline verification and its
//! export formats.

use libp2p::identity::PeerId;
use mesh_proto::{decode_bounded, v1};
use prost::Message as _;

use super::machine::{Clock, Event, Negotiation};
use super::message;
use super::{
    Delivery, MAX_MESSAGES, MAX_TRANSCRIPT_BYTES, MessageHash, NegotiationError, NegotiationId,
    Proposal, RESUME_BATCH_ENVELOPES, Receipt, State, TRANSCRIPT_JSON_FORMAT,
};
use crate::intent::IntentId;

/// The envelopes of one negotiation, in order, exactly as signed.
///
/// Both parties keep one ([`Negotiation::transcript`]); anyone can check it with
/// [`verify`](Self::verify), needing nothing else: the intent id and both peers come from the
/// messages themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    envelopes: Vec<Vec<u8>>,
}

/// What a valid transcript shows.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptSummary {
    /// The negotiation id.
    pub negotiation_id: NegotiationId,
    /// The intent negotiated.
    pub intent_id: IntentId,
    /// The intent's publisher.
    pub publisher: PeerId,
    /// The agent.
    pub agent: PeerId,
    /// Where the negotiation stood after its last message (timeouts are not judged offline).
    pub state: State,
    /// The accepted proposal, if any.
    pub agreed: Option<Proposal>,
    /// The delivery, if any.
    pub delivery: Option<Delivery>,
    /// The receipt, if any.
    pub receipt: Option<Receipt>,
    /// Every message, decoded, in order.
    pub events: Vec<Event>,
    /// SHA-256 of the last envelope: commits to the whole chain.
    pub head: MessageHash,
}

/// Why a transcript is not valid evidence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TranscriptError {
    /// No message at all.
    #[error("the transcript holds no message")]
    Empty,
    /// Larger than any valid negotiation.
    #[error("transcript of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Bytes given.
        size: usize,
        /// Largest size accepted.
        max: usize,
    },
    /// More messages than any valid negotiation holds.
    #[error("transcript holds {count} messages; a negotiation has at most {max}")]
    TooManyMessages {
        /// Messages given.
        count: usize,
        /// Most messages possible.
        max: u64,
    },
    /// Not a `mesh.v1.Transcript` or not its JSON form.
    #[error("malformed transcript: {0}")]
    Malformed(String),
    /// One message fails a check; none after it was looked at.
    #[error("message {index} of the transcript is invalid: {error}")]
    Message {
        /// Position of the message (its expected `seq`).
        index: usize,
        /// What is wrong with it.
        #[source]
        error: NegotiationError,
    },
}

/// A transcript replayed: the negotiation it leaves and its events, or why it is invalid.
pub(super) type Replayed = Result<(Negotiation, Vec<Event>), TranscriptError>;

/// The JSON form of a transcript: `{"format": "mesh-negotiation-transcript/1", "envelopes":
/// ["<hex>", ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TranscriptJson {
    /// Always [`TRANSCRIPT_JSON_FORMAT`].
    pub format: String,
    /// The envelopes in order, each in lowercase hexadecimal.
    pub envelopes: Vec<String>,
}

impl Transcript {
    /// A transcript of these envelopes, unchecked.
    pub fn from_envelopes(envelopes: Vec<Vec<u8>>) -> Self {
        Self { envelopes }
    }

    /// The envelopes, in order.
    pub fn envelopes(&self) -> &[Vec<u8>] {
        &self.envelopes
    }

    /// The envelopes, in order.
    pub fn into_envelopes(self) -> Vec<Vec<u8>> {
        self.envelopes
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.envelopes.len()
    }

    /// Whether there is no message.
    pub fn is_empty(&self) -> bool {
        self.envelopes.is_empty()
    }

    pub(super) fn push(&mut self, envelope: Vec<u8>) {
        self.envelopes.push(envelope);
    }

    /// Checks every signature, the hash chain and every transition, offline.
    ///
    /// Passes for any transcript a [`Negotiation`] took message by message, whatever state it
    /// ended in; fails if any byte of any envelope changed, or if a message was dropped,
    /// reordered or inserted.
    pub fn verify(&self) -> Result<TranscriptSummary, TranscriptError> {
        let (negotiation, events) = self.replay()?;
        Ok(TranscriptSummary {
            negotiation_id: negotiation.id(),
            intent_id: negotiation.intent_id(),
            publisher: negotiation.publisher(),
            agent: negotiation.agent(),
            state: negotiation.state(),
            agreed: negotiation.agreed().cloned(),
            delivery: negotiation.delivery().cloned(),
            receipt: negotiation.receipt().cloned(),
            head: events.last().map(|e| e.hash).unwrap_or_default(),
            events,
        })
    }

    /// Replays the transcript through a fresh negotiation without timers.
    pub(super) fn replay(&self) -> Result<(Negotiation, Vec<Event>), TranscriptError> {
        self.check_bounds()?;
        self.replay_opened(self.envelopes.iter().map(|e| message::open(e)))
    }

    /// Replays many transcripts, their signatures verified together in batches of at most
    /// [`RESUME_BATCH_ENVELOPES`] envelopes ([`message::open_batch`]): for each transcript,
    /// what [`replay`](Self::replay) returns for it alone (up to the exception
    /// [`peek_batch`](super::peek_batch) documents).
    pub(super) fn replay_all(transcripts: &[Transcript]) -> Vec<Replayed> {
        let mut out: Vec<Option<Replayed>> = Vec::with_capacity(transcripts.len());
        let mut batch: Vec<usize> = Vec::new();
        let mut batch_len = 0;
        let flush = |batch: &mut Vec<usize>, out: &mut Vec<Option<_>>| {
            let items: Vec<&[u8]> = batch
                .iter()
                .flat_map(|&i| transcripts[i].envelopes.iter().map(Vec::as_slice))
                .collect();
            let mut opened = message::open_batch(&items).into_iter();
            for &i in batch.iter() {
                let t: &Transcript = &transcripts[i];
                let mine: Vec<_> = opened.by_ref().take(t.envelopes.len()).collect();
                out[i] = Some(t.replay_opened(mine.into_iter()));
            }
            batch.clear();
        };
        for (i, t) in transcripts.iter().enumerate() {
            out.push(None);
            if let Err(e) = t.check_bounds() {
                out[i] = Some(Err(e));
                continue;
            }
            if batch_len + t.envelopes.len() > RESUME_BATCH_ENVELOPES && !batch.is_empty() {
                flush(&mut batch, &mut out);
                batch_len = 0;
            }
            batch.push(i);
            batch_len += t.envelopes.len();
        }
        if !batch.is_empty() {
            flush(&mut batch, &mut out);
        }
        out.into_iter()
            .map(|r| r.unwrap_or(Err(TranscriptError::Empty)))
            .collect()
    }

    /// The checks of a transcript as a whole: not empty, not more messages or bytes than any
    /// negotiation holds.
    fn check_bounds(&self) -> Result<(), TranscriptError> {
        if self.envelopes.is_empty() {
            return Err(TranscriptError::Empty);
        }
        if self.envelopes.len() as u64 > MAX_MESSAGES {
            return Err(TranscriptError::TooManyMessages {
                count: self.envelopes.len(),
                max: MAX_MESSAGES,
            });
        }
        let size: usize = self.envelopes.iter().map(Vec::len).sum();
        if size > MAX_TRANSCRIPT_BYTES {
            return Err(TranscriptError::TooLarge {
                size,
                max: MAX_TRANSCRIPT_BYTES,
            });
        }
        Ok(())
    }

    /// Replays the envelopes, each already opened (in order) by `opened`.
    fn replay_opened(
        &self,
        mut opened: impl Iterator<Item = Result<message::Opened, NegotiationError>>,
    ) -> Result<(Negotiation, Vec<Event>), TranscriptError> {
        let at = |index: usize| move |error| TranscriptError::Message { index, error };
        let (Some(first), Some(first_opened)) = (self.envelopes.first(), opened.next()) else {
            return Err(TranscriptError::Empty);
        };
        // The first message goes from the agent to the publisher; if its negotiation id says
        // the roles are the other way round, take them so the error about it is accurate.
        let first_opened = first_opened.map_err(at(0))?;
        let head = &first_opened.header;
        let (mut publisher, mut agent) = (head.recipient, head.sender);
        if NegotiationId::derive(&head.intent_id, &publisher, &agent) != head.negotiation_id
            && NegotiationId::derive(&head.intent_id, &agent, &publisher) == head.negotiation_id
        {
            std::mem::swap(&mut publisher, &mut agent);
        }
        let mut negotiation =
            Negotiation::observe(head.intent_id, publisher, agent).map_err(at(0))?;
        let mut events = Vec::with_capacity(self.envelopes.len());
        events.push(
            negotiation
                .apply_opened(first_opened, first, Clock::Offline)
                .map_err(at(0))?,
        );
        for (index, envelope) in self.envelopes.iter().enumerate().skip(1) {
            let next = opened
                .next()
                .unwrap_or_else(|| message::open(envelope))
                .map_err(at(index))?;
            events.push(
                negotiation
                    .apply_opened(next, envelope, Clock::Offline)
                    .map_err(at(index))?,
            );
        }
        Ok((negotiation, events))
    }

    /// The protobuf encoding, a `mesh.v1.Transcript`.
    pub fn encode(&self) -> Vec<u8> {
        v1::Transcript {
            envelopes: self.envelopes.clone(),
        }
        .encode_to_vec()
    }

    /// Reads a `mesh.v1.Transcript`, refusing more than [`MAX_TRANSCRIPT_BYTES`]. Does not
    /// verify it.
    pub fn decode(bytes: &[u8]) -> Result<Self, TranscriptError> {
        let wire: v1::Transcript =
            decode_bounded(bytes, MAX_TRANSCRIPT_BYTES).map_err(|e| match e {
                mesh_proto::CodecError::TooLarge { size, max } => {
                    TranscriptError::TooLarge { size, max }
                }
                other => TranscriptError::Malformed(other.to_string()),
            })?;
        Ok(Self::from_envelopes(wire.envelopes))
    }

    /// The JSON form, ready for `serde_json`.
    pub fn to_json(&self) -> TranscriptJson {
        TranscriptJson {
            format: TRANSCRIPT_JSON_FORMAT.to_owned(),
            envelopes: self.envelopes.iter().map(hex::encode).collect(),
        }
    }

    /// Reads the JSON form. Does not verify it.
    pub fn from_json(json: &TranscriptJson) -> Result<Self, TranscriptError> {
        if json.format != TRANSCRIPT_JSON_FORMAT {
            return Err(TranscriptError::Malformed(format!(
                "format {:?} is not {TRANSCRIPT_JSON_FORMAT:?}",
                json.format
            )));
        }
        if json.envelopes.len() as u64 > MAX_MESSAGES {
            return Err(TranscriptError::TooManyMessages {
                count: json.envelopes.len(),
                max: MAX_MESSAGES,
            });
        }
        let size: usize = json.envelopes.iter().map(|e| e.len() / 2).sum();
        if size > MAX_TRANSCRIPT_BYTES {
            return Err(TranscriptError::TooLarge {
                size,
                max: MAX_TRANSCRIPT_BYTES,
            });
        }
        let envelopes = json
            .envelopes
            .iter()
            .enumerate()
            .map(|(index, text)| {
                hex::decode(text).map_err(|e| {
                    TranscriptError::Malformed(format!("envelope {index} is not hexadecimal: {e}"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::from_envelopes(envelopes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negotiation::tests::{Pair, completed};

    #[test]
    fn completed_transcript_verifies_with_summary() {
        let pair = completed();
        let summary = pair.publisher_side.transcript().verify().unwrap();
        assert_eq!(summary.state, State::Completed);
        assert_eq!(summary.negotiation_id, pair.publisher_side.id());
        assert_eq!(summary.publisher, pair.publisher_peer());
        assert_eq!(summary.agent, pair.agent_peer());
        assert_eq!(summary.events.len(), 5);
        assert_eq!(summary.agreed.unwrap().price.amount(), "2.00");
        assert!(summary.delivery.is_some());
        assert_eq!(summary.receipt.unwrap().rating, 0.9);
        assert_eq!(
            summary.head,
            crate::negotiation::message_hash(
                pair.publisher_side.transcript().envelopes()[4].as_slice()
            )
        );
        assert_eq!(
            pair.agent_side.transcript(),
            pair.publisher_side.transcript(),
            "both sides keep the same chain"
        );
    }

    #[test]
    fn protobuf_and_json_round_trip() {
        let transcript = completed().publisher_side.transcript().clone();
        assert_eq!(
            Transcript::decode(&transcript.encode()).unwrap(),
            transcript
        );
        assert_eq!(
            Transcript::from_json(&transcript.to_json()).unwrap(),
            transcript
        );
        let mut json = transcript.to_json();
        json.envelopes[0].push('z');
        assert!(matches!(
            Transcript::from_json(&json),
            Err(TranscriptError::Malformed(_))
        ));
        json.format = "other".into();
        assert!(matches!(
            Transcript::from_json(&json),
            Err(TranscriptError::Malformed(_))
        ));
        assert!(matches!(
            Transcript::decode(&vec![0; MAX_TRANSCRIPT_BYTES + 1]),
            Err(TranscriptError::TooLarge { .. })
        ));
        assert!(matches!(
            Transcript::decode(&[0x0a, 0xff]),
            Err(TranscriptError::Malformed(_))
        ));
    }

    #[test]
    fn dropped_reordered_or_truncated_messages_fail() {
        let envelopes = completed()
            .publisher_side
            .transcript()
            .clone()
            .into_envelopes();
        assert_eq!(Transcript::default().verify(), Err(TranscriptError::Empty));
        let mut dropped = envelopes.clone();
        dropped.remove(2);
        assert!(matches!(
            Transcript::from_envelopes(dropped).verify(),
            Err(TranscriptError::Message {
                index: 2,
                error: NegotiationError::OutOfOrder { .. }
            })
        ));
        let mut swapped = envelopes.clone();
        swapped.swap(1, 2);
        assert!(matches!(
            Transcript::from_envelopes(swapped).verify(),
            Err(TranscriptError::Message { index: 1, .. })
        ));
        let mut duplicated = envelopes.clone();
        duplicated.insert(2, envelopes[1].clone());
        assert!(matches!(
            Transcript::from_envelopes(duplicated).verify(),
            Err(TranscriptError::Message {
                index: 2,
                error: NegotiationError::Replayed { .. }
            })
        ));
        // A prefix of a valid chain is a valid chain, in an earlier state.
        let prefix = Transcript::from_envelopes(envelopes[..2].to_vec());
        assert_eq!(prefix.verify().unwrap().state, State::Countered);
        let too_many = Transcript::from_envelopes(vec![vec![0]; MAX_MESSAGES as usize + 1]);
        assert!(matches!(
            too_many.verify(),
            Err(TranscriptError::TooManyMessages { .. })
        ));
    }

    #[test]
    fn transcripts_of_two_negotiations_do_not_mix() {
        let a = completed()
            .publisher_side
            .transcript()
            .clone()
            .into_envelopes();
        let b = completed()
            .publisher_side
            .transcript()
            .clone()
            .into_envelopes();
        let mixed = vec![a[0].clone(), b[1].clone()];
        assert!(matches!(
            Transcript::from_envelopes(mixed).verify(),
            Err(TranscriptError::Message { index: 1, .. })
        ));
    }

    #[test]
    fn resume_continues_a_stored_negotiation() {
        let Pair {
            agent,
            publisher_side,
            now,
            ..
        } = crate::negotiation::tests::agreed();
        let mut resumed =
            Negotiation::resume(publisher_side.transcript(), Default::default(), now).unwrap();
        assert_eq!(resumed.state(), State::Agreed);
        assert!(resumed.poll_timeout().is_some());
        let mut agent_side = resumed.clone();
        let bytes = agent_side
            .send(
                crate::negotiation::Body::Deliver(Delivery::inline("text/plain", "done")),
                &agent,
                now + 1,
            )
            .unwrap();
        resumed.handle(&bytes, now + 2).unwrap();
        assert_eq!(resumed.state(), State::Delivered);
        assert!(matches!(
            Negotiation::resume(&Transcript::default(), Default::default(), now),
            Err(TranscriptError::Empty)
        ));
    }
}
