//! The event log behind the API's Server-Sent Events: a client that reconnects resumes after
//! the last sequence number it saw.
//!
//! The next sequence number is a counter in `meta`, advanced in the same transaction as the
//! event is written, so numbers are never reused, even after the events holding them were
//! trimmed or the node restarted.
//!
//! The log is bounded by count ([`StoreConfig::event_retention`](crate::StoreConfig::event_retention))
//! and by bytes ([`StoreBudget::event_log`](crate::StoreBudget::event_log), counted in `meta`):
//! each append drops the oldest events beyond either, but never the event it appends.

use redb::ReadableTableMetadata;

use crate::budget::{Meter, Tally, row_bytes};
use crate::encoding::{self, EventValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{self, EVENTS, FIRST_EVENT_SEQ, META, META_NEXT_EVENT_SEQ};
use crate::store::{Store, damaged};
use crate::types::StoredEvent;

impl Store {
    /// Appends an event and returns its sequence number, greater than every number returned
    /// before by this store. Events beyond the configured retention or byte budget are
    /// deleted, oldest first, in the same transaction; the new event is always kept.
    pub fn append_event(&self, kind: &str, body: &[u8]) -> Result<u64, StoreError> {
        let retention = self.config().event_retention();
        let budget = self.config().budget().event_log;
        self.write(|txn, path| {
            let mut meta = txn.open_table(META).at(path)?;
            let seq = schema::meta_u64(&meta, META_NEXT_EVENT_SEQ, path)?
                .ok_or_else(|| StoreError::corrupt(path, "meta.next_event_seq is missing"))?;
            let next = seq.checked_add(1).ok_or_else(|| {
                StoreError::corrupt(path, "the event sequence number is exhausted")
            })?;
            let value = EventValue {
                kind: kind.to_owned(),
                body: body.to_vec(),
            };
            let mut meter = Meter::read_from(&meta, Tally::EventLog, path)?;
            let mut events = txn.open_table(EVENTS).at(path)?;
            let encoded = encoding::encode(&value);
            events.insert(seq, encoded.as_slice()).at(path)?;
            meter.add(row_bytes(8, encoded.len()));
            meta.insert(META_NEXT_EVENT_SEQ, next.to_be_bytes().as_slice())
                .at(path)?;
            let mut count = events.len().at(path)?;
            while count > 1 && (count > retention || meter.bytes() > budget) {
                let Some((_, old)) = events.pop_first().at(path)? else {
                    break;
                };
                meter.sub(row_bytes(8, old.value().len()));
                count -= 1;
            }
            meter.save_to(&mut meta, path)?;
            Ok(seq)
        })
    }

    /// At most `limit` events with a sequence number above `after`, oldest first. Pass 0 for
    /// the oldest still kept.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        if limit == 0 || after == u64::MAX {
            return Ok(Vec::new());
        }
        self.read(|txn, path| {
            let events = txn.open_table(EVENTS).at(path)?;
            let mut out = Vec::new();
            for entry in events.range(after + 1..).at(path)?.take(limit) {
                let (seq, value) = entry.at(path)?;
                let seq = seq.value();
                let value = encoding::decode::<EventValue>(value.value())
                    .map_err(|reason| damaged(path, "event", &seq.to_be_bytes(), reason))?;
                out.push(value.into_event(seq));
            }
            Ok(out)
        })
    }

    /// The sequence number of the last event appended, 0 if none ever was.
    pub fn last_event_seq(&self) -> Result<u64, StoreError> {
        self.read(|txn, path| {
            let meta = txn.open_table(META).at(path)?;
            let next = schema::meta_u64(&meta, META_NEXT_EVENT_SEQ, path)?
                .ok_or_else(|| StoreError::corrupt(path, "meta.next_event_seq is missing"))?;
            Ok(next.saturating_sub(FIRST_EVENT_SEQ))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;
    use crate::config::StoreConfig;
    use crate::test_support::open_temp;

    #[test]
    fn events_are_numbered_from_one_and_read_after_a_seq() {
        let (_dir, store) = open_temp();
        assert_eq!(store.last_event_seq().unwrap(), 0);
        for i in 1..=5u64 {
            assert_eq!(store.append_event("intent", &[i as u8]).unwrap(), i);
        }
        assert_eq!(store.last_event_seq().unwrap(), 5);
        let after_two = store.events_after(2, 10).unwrap();
        assert_eq!(
            after_two.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(after_two[0].kind, "intent");
        assert_eq!(after_two[0].body, [3]);
        assert_eq!(store.events_after(0, 2).unwrap().len(), 2);
        assert!(store.events_after(5, 10).unwrap().is_empty());
        assert!(store.events_after(u64::MAX, 10).unwrap().is_empty());
    }

    #[test]
    fn retention_keeps_the_newest_and_numbers_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let config = StoreConfig::new().with_event_retention(3);
        {
            let store = Store::open_with(&path, config.clone()).unwrap();
            for _ in 0..10 {
                store.append_event("e", b"x").unwrap();
            }
            let kept: Vec<u64> = store
                .events_after(0, 100)
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect();
            assert_eq!(kept, [8, 9, 10]);
        }
        let store = Store::open_with(&path, config).unwrap();
        assert_eq!(store.last_event_seq().unwrap(), 10);
        assert_eq!(store.append_event("e", b"y").unwrap(), 11);
        let kept: Vec<u64> = store
            .events_after(0, 100)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(kept, [9, 10, 11]);
        assert!(store.check().unwrap().is_clean());
    }

    #[test]
    fn the_byte_budget_trims_the_oldest_but_keeps_the_newest() {
        use crate::budget::StoreBudget;

        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig::new().with_budget(StoreBudget::new().with_event_log(3_500));
        let store = Store::open_with(&dir.path().join("store.redb"), config).unwrap();
        for _ in 0..10 {
            store.append_event("intent", &[7; 1_000]).unwrap();
            assert!(store.budget_usage().unwrap().event_log <= 3_500);
        }
        let kept: Vec<u64> = store
            .events_after(0, 100)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(kept, [8, 9, 10]);
        // One event larger than the budget replaces everything but is kept.
        assert_eq!(store.append_event("intent", &[7; 9_000]).unwrap(), 11);
        assert_eq!(store.events_after(0, 100).unwrap().len(), 1);
        assert!(store.check_budget_usage().unwrap().is_empty());
    }

    #[test]
    fn numbers_are_not_reused_after_every_event_was_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        {
            let store = Store::open(&path).unwrap();
            for _ in 0..4 {
                store.append_event("e", b"").unwrap();
            }
        }
        // Reopened with a retention of one: the next append trims all but itself.
        let store = Store::open_with(&path, StoreConfig::new().with_event_retention(1)).unwrap();
        assert_eq!(store.append_event("e", b"").unwrap(), 5);
        assert_eq!(store.events_after(0, 10).unwrap().len(), 1);
    }
}
