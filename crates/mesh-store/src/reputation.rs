//! This node's local reputation of its peers, and named cursors.

use redb::ReadableTable;

use crate::encoding::{self, ReputationValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{CURSORS, REPUTATION};
use crate::store::{Store, damaged};
use crate::types::StoredReputation;

impl Store {
    /// Stores a peer's reputation, replacing the previous one.
    pub fn put_reputation(&self, reputation: &StoredReputation) -> Result<(), StoreError> {
        self.write(|txn, path| {
            let value = ReputationValue::from_reputation(reputation);
            txn.open_table(REPUTATION)
                .at(path)?
                .insert(
                    reputation.peer_id.as_slice(),
                    encoding::encode(&value).as_slice(),
                )
                .at(path)?;
            Ok(())
        })
    }

    /// Every stored reputation, by peer id.
    pub fn reputations(&self) -> Result<Vec<StoredReputation>, StoreError> {
        self.read(|txn, path| {
            let table = txn.open_table(REPUTATION).at(path)?;
            let mut out = Vec::new();
            for entry in table.iter().at(path)? {
                let (peer_id, value) = entry.at(path)?;
                let peer_id = peer_id.value();
                let value = encoding::decode::<ReputationValue>(value.value())
                    .map_err(|reason| damaged(path, "reputation", peer_id, reason))?;
                out.push(value.into_reputation(peer_id.to_vec()));
            }
            Ok(out)
        })
    }

    /// Sets the cursor `name` (e.g. how far a consumer has read a log).
    pub fn set_cursor(&self, name: &str, value: u64) -> Result<(), StoreError> {
        self.write(|txn, path| {
            txn.open_table(CURSORS)
                .at(path)?
                .insert(name, value)
                .at(path)?;
            Ok(())
        })
    }

    /// The cursor `name`, if set.
    pub fn cursor(&self, name: &str) -> Result<Option<u64>, StoreError> {
        self.read(|txn, path| {
            let cursors = txn.open_table(CURSORS).at(path)?;
            Ok(cursors.get(name).at(path)?.map(|value| value.value()))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::open_temp;
    use crate::types::StoredReputation;

    #[test]
    fn reputations_round_trip_and_replace() {
        let (_dir, store) = open_temp();
        let first = StoredReputation {
            peer_id: vec![1; 38],
            score: 0.5,
            observations: 0,
            updated_at_unix_ms: 10,
        };
        let mut second = first.clone();
        second.peer_id = vec![2; 38];
        second.score = 0.875;
        store.put_reputation(&first).unwrap();
        store.put_reputation(&second).unwrap();
        let mut updated = first.clone();
        updated.score = 0.25;
        updated.observations = 7;
        store.put_reputation(&updated).unwrap();
        assert_eq!(store.reputations().unwrap(), [updated, second]);
    }

    #[test]
    fn cursors_round_trip() {
        let (_dir, store) = open_temp();
        assert_eq!(store.cursor("sse").unwrap(), None);
        store.set_cursor("sse", 41).unwrap();
        store.set_cursor("sse", 42).unwrap();
        store.set_cursor("other", 1).unwrap();
        assert_eq!(store.cursor("sse").unwrap(), Some(42));
        assert_eq!(store.cursor("other").unwrap(), Some(1));
    }
}
