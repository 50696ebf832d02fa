//! Negotiations: each one's meta, and its signed transcript, one message per sequence number.
//!
//! A transcript is evidence, so it is append-only: messages are stored in order from seq 0, a
//! message already stored is never replaced by a different one, and storing the same message
//! again (a retry after a crash) changes nothing.

use redb::ReadableTable;

use crate::encoding::{self, NegotiationValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{NEGOTIATIONS, TRANSCRIPTS};
use crate::store::{Store, damaged};
use crate::types::{Appended, Id, NegotiationMeta, StoredNegotiation};

impl Store {
    /// Appends the signed message `seq` to a negotiation's transcript and stores `meta` as its
    /// meta, in one transaction.
    ///
    /// Returns [`Appended::AlreadyPresent`], changing nothing (not even the meta, which may be
    /// older than the stored one), when the same bytes are already stored at `seq`.
    /// [`StoreError::Conflict`] when different bytes are; [`StoreError::OutOfOrder`] when `seq`
    /// is not the next one (0 for a new negotiation).
    pub fn append_transcript_message(
        &self,
        negotiation_id: &Id,
        meta: &NegotiationMeta,
        seq: u64,
        message: &[u8],
    ) -> Result<Appended, StoreError> {
        self.write(|txn, path| append_in(txn, path, negotiation_id, meta, seq, message))
    }

    /// Appends many messages (of one or several negotiations) in one transaction, so they cost
    /// one commit. Each append is checked as [`Store::append_transcript_message`] checks it and
    /// gets its own result; the others are written even if one is refused. An error of the
    /// commit itself fails them all.
    pub fn append_transcript_messages(
        &self,
        appends: &[TranscriptAppend<'_>],
    ) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
        self.write(|txn, path| {
            Ok(appends
                .iter()
                .map(|a| append_in(txn, path, a.negotiation_id, a.meta, a.seq, a.message))
                .collect())
        })
    }

    /// Stores a negotiation's meta without a message, e.g. when it times out.
    pub fn set_negotiation_meta(
        &self,
        negotiation_id: &Id,
        meta: &NegotiationMeta,
    ) -> Result<(), StoreError> {
        self.write(|txn, path| {
            txn.open_table(NEGOTIATIONS)
                .at(path)?
                .insert(
                    negotiation_id,
                    encoding::encode(&NegotiationValue::from_meta(meta)).as_slice(),
                )
                .at(path)?;
            Ok(())
        })
    }

    /// One negotiation's meta, if stored.
    pub fn negotiation(&self, negotiation_id: &Id) -> Result<Option<NegotiationMeta>, StoreError> {
        self.read(|txn, path| {
            let negotiations = txn.open_table(NEGOTIATIONS).at(path)?;
            let Some(value) = negotiations.get(negotiation_id).at(path)? else {
                return Ok(None);
            };
            let meta = encoding::decode::<NegotiationValue>(value.value())
                .and_then(NegotiationValue::into_meta)
                .map_err(|reason| damaged(path, "negotiation", negotiation_id, reason))?;
            Ok(Some(meta))
        })
    }

    /// Every stored negotiation, by id.
    pub fn negotiations(&self) -> Result<Vec<StoredNegotiation>, StoreError> {
        self.read(|txn, path| {
            let negotiations = txn.open_table(NEGOTIATIONS).at(path)?;
            let mut out = Vec::new();
            for entry in negotiations.iter().at(path)? {
                let (id, value) = entry.at(path)?;
                let id: Id = *id.value();
                let meta = encoding::decode::<NegotiationValue>(value.value())
                    .and_then(NegotiationValue::into_meta)
                    .map_err(|reason| damaged(path, "negotiation", &id, reason))?;
                out.push(StoredNegotiation { id, meta });
            }
            Ok(out)
        })
    }

    /// A negotiation's transcript, in seq order (empty if none is stored).
    pub fn transcript(&self, negotiation_id: &Id) -> Result<Vec<Vec<u8>>, StoreError> {
        self.read(|txn, path| {
            let transcripts = txn.open_table(TRANSCRIPTS).at(path)?;
            let mut out = Vec::new();
            for entry in transcripts
                .range((negotiation_id, 0)..=(negotiation_id, u64::MAX))
                .at(path)?
            {
                out.push(entry.at(path)?.1.value().to_vec());
            }
            Ok(out)
        })
    }

    /// Deletes a negotiation and its transcript; `false` if neither was stored.
    pub fn remove_negotiation(&self, negotiation_id: &Id) -> Result<bool, StoreError> {
        self.write(|txn, path| {
            let mut transcripts = txn.open_table(TRANSCRIPTS).at(path)?;
            let mut seqs = Vec::new();
            for entry in transcripts
                .range((negotiation_id, 0)..=(negotiation_id, u64::MAX))
                .at(path)?
            {
                seqs.push(entry.at(path)?.0.value().1);
            }
            for seq in &seqs {
                transcripts.remove((negotiation_id, *seq)).at(path)?;
            }
            let had_meta = txn
                .open_table(NEGOTIATIONS)
                .at(path)?
                .remove(negotiation_id)
                .at(path)?
                .is_some();
            Ok(had_meta || !seqs.is_empty())
        })
    }

    /// Deletes every negotiation whose meta names one of the `finished` states and was last
    /// updated before `before_unix_ms`, with its transcript, in one transaction: the retention
    /// of finished negotiations. Of those left, only the `keep` most recently updated finished
    /// ones stay: a node's registry forgets finished negotiations when it needs room, and
    /// strangers' offers that expire would otherwise pile up in the store for the whole
    /// retention. Live negotiations are never deleted. Returns how many were deleted.
    pub fn prune_finished_negotiations(
        &self,
        finished: &[&str],
        before_unix_ms: u64,
        keep: usize,
    ) -> Result<usize, StoreError> {
        self.write(|txn, path| {
            let mut old = Vec::new();
            let mut kept = Vec::new();
            {
                let negotiations = txn.open_table(NEGOTIATIONS).at(path)?;
                for entry in negotiations.iter().at(path)? {
                    let (id, value) = entry.at(path)?;
                    let id: Id = *id.value();
                    let meta = encoding::decode::<NegotiationValue>(value.value())
                        .and_then(NegotiationValue::into_meta)
                        .map_err(|reason| damaged(path, "negotiation", &id, reason))?;
                    if !finished.contains(&meta.state.as_str()) {
                        continue;
                    }
                    if meta.updated_at_unix_ms < before_unix_ms {
                        old.push(id);
                    } else {
                        kept.push((meta.updated_at_unix_ms, id));
                    }
                }
            }
            if kept.len() > keep {
                // Newest first; the oldest beyond `keep` go.
                kept.sort_unstable_by(|a, b| b.cmp(a));
                old.extend(kept.drain(keep..).map(|(_, id)| id));
            }
            let mut negotiations = txn.open_table(NEGOTIATIONS).at(path)?;
            let mut transcripts = txn.open_table(TRANSCRIPTS).at(path)?;
            for id in &old {
                let mut seqs = Vec::new();
                for entry in transcripts.range((id, 0)..=(id, u64::MAX)).at(path)? {
                    seqs.push(entry.at(path)?.0.value().1);
                }
                for seq in seqs {
                    transcripts.remove((id, seq)).at(path)?;
                }
                negotiations.remove(id).at(path)?;
            }
            Ok(old.len())
        })
    }
}

/// One message for [`Store::append_transcript_messages`].
#[derive(Debug, Clone, Copy)]
pub struct TranscriptAppend<'a> {
    /// The negotiation.
    pub negotiation_id: &'a Id,
    /// Its meta after the message.
    pub meta: &'a NegotiationMeta,
    /// The message's sequence number.
    pub seq: u64,
    /// The signed envelope.
    pub message: &'a [u8],
}

fn append_in(
    txn: &redb::WriteTransaction,
    path: &std::path::Path,
    negotiation_id: &Id,
    meta: &NegotiationMeta,
    seq: u64,
    message: &[u8],
) -> Result<Appended, StoreError> {
    let mut transcripts = txn.open_table(TRANSCRIPTS).at(path)?;
    if let Some(stored) = transcripts.get((negotiation_id, seq)).at(path)? {
        return if stored.value() == message {
            Ok(Appended::AlreadyPresent)
        } else {
            Err(StoreError::Conflict {
                negotiation: hex::encode(negotiation_id),
                seq,
            })
        };
    }
    let expected = match transcripts
        .range((negotiation_id, 0)..=(negotiation_id, u64::MAX))
        .at(path)?
        .next_back()
    {
        Some(last) => last.at(path)?.0.value().1.saturating_add(1),
        None => 0,
    };
    if seq != expected {
        return Err(StoreError::OutOfOrder {
            negotiation: hex::encode(negotiation_id),
            expected,
            got: seq,
        });
    }
    transcripts
        .insert((negotiation_id, seq), message)
        .at(path)?;
    txn.open_table(NEGOTIATIONS)
        .at(path)?
        .insert(
            negotiation_id,
            encoding::encode(&NegotiationValue::from_meta(meta)).as_slice(),
        )
        .at(path)?;
    Ok(Appended::Written)
}

#[cfg(test)]
mod tests {
    use crate::error::StoreError;
    use crate::test_support::open_temp;
    use crate::types::{Appended, NegotiationMeta, Role, StoredNegotiation};

    fn meta(state: &str, at: u64) -> NegotiationMeta {
        NegotiationMeta {
            intent_id: [1; 32],
            role: Role::Agent,
            counterparty: vec![2; 38],
            state: state.into(),
            updated_at_unix_ms: at,
        }
    }

    #[test]
    fn a_batch_checks_each_append_and_commits_once() {
        use super::TranscriptAppend;
        let (_dir, store) = open_temp();
        let (a, b) = ([7; 32], [8; 32]);
        let (m1, m2) = (meta("offered", 1), meta("agreed", 2));
        store
            .append_transcript_message(&b, &m1, 0, b"theirs")
            .unwrap();
        let results = store
            .append_transcript_messages(&[
                TranscriptAppend {
                    negotiation_id: &a,
                    meta: &m1,
                    seq: 0,
                    message: b"offer",
                },
                TranscriptAppend {
                    negotiation_id: &a,
                    meta: &m2,
                    seq: 1,
                    message: b"accept",
                },
                TranscriptAppend {
                    negotiation_id: &b,
                    meta: &m2,
                    seq: 0,
                    message: b"other",
                },
                TranscriptAppend {
                    negotiation_id: &b,
                    meta: &m2,
                    seq: 5,
                    message: b"gap",
                },
                TranscriptAppend {
                    negotiation_id: &b,
                    meta: &m2,
                    seq: 0,
                    message: b"theirs",
                },
            ])
            .unwrap();
        assert!(matches!(results[0], Ok(Appended::Written)));
        assert!(matches!(results[1], Ok(Appended::Written)));
        assert!(matches!(results[2], Err(StoreError::Conflict { .. })));
        assert!(matches!(results[3], Err(StoreError::OutOfOrder { .. })));
        assert!(matches!(results[4], Ok(Appended::AlreadyPresent)));
        assert_eq!(
            store.transcript(&a).unwrap(),
            [b"offer".to_vec(), b"accept".to_vec()]
        );
        assert_eq!(store.transcript(&b).unwrap(), [b"theirs".to_vec()]);
        assert_eq!(store.negotiation(&a).unwrap(), Some(m2));
        assert!(store.check().unwrap().is_clean());
    }

    #[test]
    fn transcript_appends_in_order_and_meta_follows() {
        let (_dir, store) = open_temp();
        let id = [5; 32];
        assert_eq!(
            store
                .append_transcript_message(&id, &meta("offered", 1), 0, b"offer")
                .unwrap(),
            Appended::Written
        );
        store
            .append_transcript_message(&id, &meta("agreed", 2), 1, b"accept")
            .unwrap();
        assert_eq!(
            store.transcript(&id).unwrap(),
            [b"offer".to_vec(), b"accept".to_vec()]
        );
        assert_eq!(store.negotiation(&id).unwrap(), Some(meta("agreed", 2)));
        assert_eq!(
            store.negotiations().unwrap(),
            [StoredNegotiation {
                id,
                meta: meta("agreed", 2)
            }]
        );
        assert!(store.transcript(&[6; 32]).unwrap().is_empty());
    }

    #[test]
    fn same_message_again_is_idempotent_and_keeps_the_newer_meta() {
        let (_dir, store) = open_temp();
        let id = [5; 32];
        store
            .append_transcript_message(&id, &meta("offered", 1), 0, b"offer")
            .unwrap();
        store
            .append_transcript_message(&id, &meta("agreed", 2), 1, b"accept")
            .unwrap();
        assert_eq!(
            store
                .append_transcript_message(&id, &meta("offered", 1), 0, b"offer")
                .unwrap(),
            Appended::AlreadyPresent
        );
        assert_eq!(store.negotiation(&id).unwrap(), Some(meta("agreed", 2)));
        assert_eq!(store.transcript(&id).unwrap().len(), 2);
    }

    #[test]
    fn different_bytes_at_a_taken_seq_conflict() {
        let (_dir, store) = open_temp();
        let id = [5; 32];
        store
            .append_transcript_message(&id, &meta("offered", 1), 0, b"offer")
            .unwrap();
        let err = store
            .append_transcript_message(&id, &meta("offered", 9), 0, b"forged")
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { seq: 0, .. }), "{err}");
        assert_eq!(store.transcript(&id).unwrap(), [b"offer".to_vec()]);
        assert_eq!(store.negotiation(&id).unwrap(), Some(meta("offered", 1)));
    }

    #[test]
    fn gaps_are_refused() {
        let (_dir, store) = open_temp();
        let id = [5; 32];
        let err = store
            .append_transcript_message(&id, &meta("offered", 1), 1, b"x")
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::OutOfOrder {
                    expected: 0,
                    got: 1,
                    ..
                }
            ),
            "{err}"
        );
        store
            .append_transcript_message(&id, &meta("offered", 1), 0, b"offer")
            .unwrap();
        assert!(matches!(
            store.append_transcript_message(&id, &meta("x", 2), 5, b"late"),
            Err(StoreError::OutOfOrder {
                expected: 1,
                got: 5,
                ..
            })
        ));
        assert_eq!(store.negotiation(&id).unwrap(), Some(meta("offered", 1)));
    }

    #[test]
    fn finished_negotiations_are_pruned_after_their_retention_only() {
        let (_dir, store) = open_temp();
        let finished = ["completed", "expired"];
        let rows = [
            ([1; 32], "completed", 10),
            ([2; 32], "completed", 100),
            ([3; 32], "agreed", 10),
            ([4; 32], "expired", 5),
        ];
        for (id, state, at) in rows {
            store
                .append_transcript_message(&id, &meta(state, at), 0, &id[..1])
                .unwrap();
        }
        assert_eq!(
            store
                .prune_finished_negotiations(&finished, 50, usize::MAX)
                .unwrap(),
            2
        );
        let left: Vec<_> = store
            .negotiations()
            .unwrap()
            .into_iter()
            .map(|n| n.id[0])
            .collect();
        assert_eq!(left, [2, 3], "recent and live ones stay");
        assert!(store.transcript(&[1; 32]).unwrap().is_empty());

        // Beyond `keep`, the least recently updated finished ones go too; live ones stay.
        for (id, at) in [([5; 32], 200), ([6; 32], 300), ([7; 32], 150)] {
            store
                .append_transcript_message(&id, &meta("expired", at), 0, &id[..1])
                .unwrap();
        }
        assert_eq!(
            store.prune_finished_negotiations(&finished, 50, 2).unwrap(),
            2
        );
        let left: Vec<_> = store
            .negotiations()
            .unwrap()
            .into_iter()
            .map(|n| n.id[0])
            .collect();
        assert_eq!(
            left,
            [3, 5, 6],
            "the two newest finished and the live one stay"
        );
        assert!(store.transcript(&[4; 32]).unwrap().is_empty());
        assert_eq!(store.transcript(&[3; 32]).unwrap().len(), 1);
        assert!(store.check().unwrap().is_clean());
    }

    #[test]
    fn transcripts_of_neighbouring_ids_stay_apart_and_remove_cleans_up() {
        let (_dir, store) = open_temp();
        let (a, b) = ([5; 32], [6; 32]);
        for seq in 0..3 {
            store
                .append_transcript_message(&a, &meta("a", seq), seq, &[b'a', seq as u8])
                .unwrap();
        }
        store
            .append_transcript_message(&b, &meta("b", 0), 0, b"b0")
            .unwrap();
        assert_eq!(store.transcript(&a).unwrap().len(), 3);
        assert_eq!(store.transcript(&b).unwrap(), [b"b0".to_vec()]);

        store.set_negotiation_meta(&b, &meta("expired", 9)).unwrap();
        assert_eq!(store.negotiation(&b).unwrap(), Some(meta("expired", 9)));

        assert!(store.remove_negotiation(&a).unwrap());
        assert!(!store.remove_negotiation(&a).unwrap());
        assert!(store.transcript(&a).unwrap().is_empty());
        assert_eq!(store.negotiations().unwrap().len(), 1);
        assert!(store.check().unwrap().is_clean());
    }
}
