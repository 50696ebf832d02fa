//! Agent records: this node's own, and the ones received from other peers.
//!
//! Others' records are indexed by expiry in `agent_record_expiry` and held to a byte budget
//! ([`StoreBudget::agent_records`](crate::StoreBudget::agent_records), counted in `meta`): a
//! write that takes them over it drops the records expiring soonest, in the same transaction.
//! The node's own record is kept apart and never dropped.

use std::path::Path;

use redb::{ReadableTable, Table, WriteTransaction};

use crate::budget::{Meter, Tally, row_bytes};
use crate::encoding::{self, AgentRecordValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{AGENT_RECORD_EXPIRY, AGENT_RECORDS, OWN, OWN_AGENT_RECORD};
use crate::store::{Store, damaged};
use crate::types::StoredAgentRecord;

impl Store {
    /// Stores this node's signed agent record, replacing the previous one.
    pub fn set_own_record(&self, envelope: &[u8]) -> Result<(), StoreError> {
        self.write(|txn, path| {
            txn.open_table(OWN)
                .at(path)?
                .insert(OWN_AGENT_RECORD, envelope)
                .at(path)?;
            Ok(())
        })
    }

    /// This node's signed agent record, if one was stored.
    pub fn own_record(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|txn, path| {
            let own = txn.open_table(OWN).at(path)?;
            Ok(own
                .get(OWN_AGENT_RECORD)
                .at(path)?
                .map(|value| value.value().to_vec()))
        })
    }

    /// Stores an agent record received from another peer, replacing that peer's previous one.
    /// When others' records are then over their byte budget, those expiring soonest are
    /// dropped.
    pub fn put_agent_record(&self, record: &StoredAgentRecord) -> Result<(), StoreError> {
        let budget = self.config().budget().agent_records;
        self.write(|txn, path| {
            let mut tables = RecordTables::open(txn, path)?;
            let id = record.peer_id.as_slice();
            tables.remove(id, path)?;
            let encoded = encoding::encode(&AgentRecordValue::from_record(record));
            tables.records.insert(id, encoded.as_slice()).at(path)?;
            tables
                .expiry
                .insert((record.expires_at_unix_ms, id), ())
                .at(path)?;
            tables.meter.add(row_bytes(id.len(), encoded.len()));
            while tables.meter.bytes() > budget {
                let Some((first, _)) = tables.expiry.pop_first().at(path)? else {
                    break;
                };
                let (_, first_id) = first.value();
                let first_id = first_id.to_vec();
                drop(first);
                tables.remove(&first_id, path)?;
            }
            tables.finish(txn, path)
        })
    }

    /// The agent record of `peer_id`, if stored and not expired at `now_ms`.
    pub fn agent_record(
        &self,
        peer_id: &[u8],
        now_ms: u64,
    ) -> Result<Option<StoredAgentRecord>, StoreError> {
        self.read(|txn, path| {
            let records = txn.open_table(AGENT_RECORDS).at(path)?;
            let Some(value) = records.get(peer_id).at(path)? else {
                return Ok(None);
            };
            let value = encoding::decode::<AgentRecordValue>(value.value())
                .map_err(|reason| damaged(path, "agent record", peer_id, reason))?;
            Ok((value.expires_at_unix_ms > now_ms).then(|| value.into_record(peer_id.to_vec())))
        })
    }

    /// Every stored agent record not expired at `now_ms`, by peer id.
    pub fn agent_records(&self, now_ms: u64) -> Result<Vec<StoredAgentRecord>, StoreError> {
        self.read(|txn, path| {
            let records = txn.open_table(AGENT_RECORDS).at(path)?;
            let mut out = Vec::new();
            for entry in records.iter().at(path)? {
                let (peer_id, value) = entry.at(path)?;
                let peer_id = peer_id.value();
                let value = encoding::decode::<AgentRecordValue>(value.value())
                    .map_err(|reason| damaged(path, "agent record", peer_id, reason))?;
                if value.expires_at_unix_ms > now_ms {
                    out.push(value.into_record(peer_id.to_vec()));
                }
            }
            Ok(out)
        })
    }
}

/// Deletes the agent records expired at `now_ms`; returns how many.
pub(crate) fn prune_agent_records(
    txn: &WriteTransaction,
    now_ms: u64,
    path: &Path,
) -> Result<usize, StoreError> {
    let mut tables = RecordTables::open(txn, path)?;
    let mut expired = Vec::new();
    for entry in tables.records.iter().at(path)? {
        let (peer_id, value) = entry.at(path)?;
        let peer_id = peer_id.value();
        let value = encoding::decode::<AgentRecordValue>(value.value())
            .map_err(|reason| damaged(path, "agent record", peer_id, reason))?;
        if value.expires_at_unix_ms <= now_ms {
            expired.push(peer_id.to_vec());
        }
    }
    for peer_id in &expired {
        tables.remove(peer_id, path)?;
    }
    tables.finish(txn, path)?;
    Ok(expired.len())
}

/// Others' agent records with their expiry index and byte total, open in one write
/// transaction.
struct RecordTables<'txn> {
    records: Table<'txn, &'static [u8], &'static [u8]>,
    expiry: Table<'txn, (u64, &'static [u8]), ()>,
    meter: Meter,
}

impl<'txn> RecordTables<'txn> {
    fn open(txn: &'txn WriteTransaction, path: &Path) -> Result<Self, StoreError> {
        Ok(RecordTables {
            records: txn.open_table(AGENT_RECORDS).at(path)?,
            expiry: txn.open_table(AGENT_RECORD_EXPIRY).at(path)?,
            meter: Meter::read(txn, Tally::AgentRecords, path)?,
        })
    }

    /// Removes the record of `peer_id`, if any, with its index entry, counting it out.
    fn remove(&mut self, peer_id: &[u8], path: &Path) -> Result<(), StoreError> {
        let Some(old) = self.records.remove(peer_id).at(path)? else {
            return Ok(());
        };
        self.meter.sub(row_bytes(peer_id.len(), old.value().len()));
        let value = encoding::decode::<AgentRecordValue>(old.value())
            .map_err(|reason| damaged(path, "agent record", peer_id, reason))?;
        drop(old);
        self.expiry
            .remove((value.expires_at_unix_ms, peer_id))
            .at(path)?;
        Ok(())
    }

    fn finish(self, txn: &WriteTransaction, path: &Path) -> Result<(), StoreError> {
        self.meter.save(txn, path)
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::open_temp;
    use crate::types::StoredAgentRecord;

    fn record(id: u8, expires: u64) -> StoredAgentRecord {
        StoredAgentRecord {
            peer_id: vec![id; 38],
            envelope: vec![id; 200],
            expires_at_unix_ms: expires,
        }
    }

    #[test]
    fn own_record_round_trips_and_is_replaced() {
        let (_dir, store) = open_temp();
        assert_eq!(store.own_record().unwrap(), None);
        store.set_own_record(b"first").unwrap();
        store.set_own_record(b"second").unwrap();
        assert_eq!(store.own_record().unwrap().as_deref(), Some(&b"second"[..]));
    }

    #[test]
    fn over_the_byte_budget_records_expiring_soonest_go_and_the_own_stays() {
        use crate::budget::StoreBudget;
        use crate::config::StoreConfig;

        let dir = tempfile::tempdir().unwrap();
        // Each record is about 250 bytes: room for three.
        let config = StoreConfig::new().with_budget(StoreBudget::new().with_agent_records(800));
        let store = crate::Store::open_with(&dir.path().join("store.redb"), config).unwrap();
        store.set_own_record(&[0; 5_000]).unwrap();
        for (id, expires) in [(1, 9_000), (2, 3_000), (3, 5_000), (4, 7_000)] {
            store.put_agent_record(&record(id, expires)).unwrap();
        }
        let live: Vec<u8> = store
            .agent_records(0)
            .unwrap()
            .iter()
            .map(|r| r.peer_id[0])
            .collect();
        assert_eq!(live, [1, 3, 4], "2, expiring soonest, went");
        assert_eq!(store.own_record().unwrap().map(|r| r.len()), Some(5_000));
        assert!(store.budget_usage().unwrap().agent_records <= 800);
        assert_eq!(store.prune_expired(6_000).unwrap().agent_records, 1);
        assert!(store.check_budget_usage().unwrap().is_empty());
    }

    #[test]
    fn agent_records_filter_expired_and_prune() {
        let (_dir, store) = open_temp();
        store.put_agent_record(&record(1, 1_000)).unwrap();
        store.put_agent_record(&record(2, 2_000)).unwrap();
        store.put_agent_record(&record(3, 3_000)).unwrap();

        let live: Vec<u8> = store
            .agent_records(2_000)
            .unwrap()
            .iter()
            .map(|r| r.peer_id[0])
            .collect();
        assert_eq!(live, [3], "a record is expired from its expiry instant on");
        assert_eq!(
            store.agent_record(&[1; 38], 500).unwrap(),
            Some(record(1, 1_000))
        );
        assert_eq!(store.agent_record(&[1; 38], 1_000).unwrap(), None);

        let pruned = store.prune_expired(2_000).unwrap();
        assert_eq!(pruned.agent_records, 2);
        assert_eq!(store.agent_records(0).unwrap(), [record(3, 3_000)]);
        assert_eq!(store.prune_expired(2_000).unwrap().total(), 0);
    }
}
