//! Agent records: this node's own, and the ones received from other peers.

use std::path::Path;

use redb::{ReadableTable, WriteTransaction};

use crate::encoding::{self, AgentRecordValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{AGENT_RECORDS, OWN, OWN_AGENT_RECORD};
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
    pub fn put_agent_record(&self, record: &StoredAgentRecord) -> Result<(), StoreError> {
        self.write(|txn, path| {
            let value = AgentRecordValue::from_record(record);
            txn.open_table(AGENT_RECORDS)
                .at(path)?
                .insert(
                    record.peer_id.as_slice(),
                    encoding::encode(&value).as_slice(),
                )
                .at(path)?;
            Ok(())
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
    let mut records = txn.open_table(AGENT_RECORDS).at(path)?;
    let mut expired = Vec::new();
    for entry in records.iter().at(path)? {
        let (peer_id, value) = entry.at(path)?;
        let peer_id = peer_id.value();
        let value = encoding::decode::<AgentRecordValue>(value.value())
            .map_err(|reason| damaged(path, "agent record", peer_id, reason))?;
        if value.expires_at_unix_ms <= now_ms {
            expired.push(peer_id.to_vec());
        }
    }
    for peer_id in &expired {
        records.remove(peer_id.as_slice()).at(path)?;
    }
    Ok(expired.len())
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
