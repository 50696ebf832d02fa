//! Upgrading a store written by an older schema version.
//!
//! [`upgrade`] runs each step from the file's version to [`SCHEMA_VERSION`] in the open's single
//! write transaction, so a crash or a failed step leaves the file exactly as it was, still at its
//! old version, and the next open runs the whole chain again.
//!
//! Version history:
//!
//! - **1**: intents in `intents_v1` ([`v1::IntentValueV1`]), without a lifecycle status, found
//!   only by a full scan; no cancellations.
//! - **2**: intents in `intents` with a status, indexed by expiry in `intent_expiry`;
//!   `intent_cancellations`. Every intent of version 1 becomes `Open`.

use std::path::Path;

use redb::{ReadableTable, TableError, WriteTransaction};

use crate::encoding::{self, IntentValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{self, INTENT_EXPIRY, INTENTS, META, META_SCHEMA_VERSION, SCHEMA_VERSION};
use crate::types::{Id, IntentStatus};

/// Brings the store from schema version `from` to [`SCHEMA_VERSION`], inside `txn`.
pub(crate) fn upgrade(txn: &WriteTransaction, from: u64, path: &Path) -> Result<(), StoreError> {
    let mut version = from;
    while version < SCHEMA_VERSION {
        match version {
            1 => v1_to_v2(txn, path)?,
            other => {
                return Err(StoreError::corrupt(
                    path,
                    format!("it has schema version {other}, which no MESH release wrote"),
                ));
            }
        }
        version += 1;
    }
    schema::create_tables(txn).at(path)?;
    txn.open_table(META)
        .at(path)?
        .insert(META_SCHEMA_VERSION, SCHEMA_VERSION.to_be_bytes().as_slice())
        .at(path)?;
    Ok(())
}

/// The tables and values of schema version 1 that version 2 replaced.
pub(crate) mod v1 {
    use prost::Message;
    use redb::TableDefinition;

    use crate::types::Id;

    /// Intents of version 1.
    pub(crate) const INTENTS_V1: TableDefinition<&Id, &[u8]> = TableDefinition::new("intents_v1");

    /// An intent of version 1: no status.
    #[derive(Clone, PartialEq, Message)]
    pub(crate) struct IntentValueV1 {
        #[prost(bytes = "vec", tag = "1")]
        pub envelope: Vec<u8>,
        #[prost(uint64, tag = "2")]
        pub expires_at_unix_ms: u64,
        #[prost(bool, tag = "3")]
        pub own: bool,
        #[prost(uint64, tag = "4")]
        pub received_at_unix_ms: u64,
    }
}

/// Moves `intents_v1` to `intents` with status `Open`, and builds the expiry index.
fn v1_to_v2(txn: &WriteTransaction, path: &Path) -> Result<(), StoreError> {
    let old = match txn.open_table(v1::INTENTS_V1) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(err) => return Err(err).at(path),
    };
    let mut intents = txn.open_table(INTENTS).at(path)?;
    let mut expiry = txn.open_table(INTENT_EXPIRY).at(path)?;
    for entry in old.iter().at(path)? {
        let (id, value) = entry.at(path)?;
        let id: Id = *id.value();
        let old_value: v1::IntentValueV1 = encoding::decode(value.value()).map_err(|reason| {
            StoreError::corrupt(
                path,
                format!("version 1 intent {}: {reason}", hex::encode(id)),
            )
        })?;
        let new_value = IntentValue {
            envelope: old_value.envelope,
            expires_at_unix_ms: old_value.expires_at_unix_ms,
            own: old_value.own,
            received_at_unix_ms: old_value.received_at_unix_ms,
            status: IntentStatus::Open.code(),
        };
        intents
            .insert(&id, encoding::encode(&new_value).as_slice())
            .at(path)?;
        expiry
            .insert((new_value.expires_at_unix_ms, &id), ())
            .at(path)?;
    }
    drop(old);
    txn.delete_table(v1::INTENTS_V1).at(path)?;
    Ok(())
}

/// Writes stores of version 1, as that version did, for the upgrade tests.
#[cfg(test)]
pub(crate) mod v1_writer {
    use std::path::Path;

    use redb::Database;

    use super::v1::{INTENTS_V1, IntentValueV1};
    use crate::encoding;
    use crate::schema::{
        AGENT_RECORDS, CURSORS, EVENTS, FIRST_EVENT_SEQ, MAGIC, META, META_MAGIC,
        META_NEXT_EVENT_SEQ, META_SCHEMA_VERSION, NEGOTIATIONS, OWN, PEERS, PEERS_BY_SEEN,
        REPUTATION, TRANSCRIPTS,
    };
    use crate::types::Id;

    /// An intent as version 1 stored it.
    pub(crate) struct IntentV1 {
        pub id: Id,
        pub envelope: Vec<u8>,
        pub expires_at_unix_ms: u64,
        pub own: bool,
        pub received_at_unix_ms: u64,
    }

    /// Creates a version 1 store at `path` holding `intents`.
    pub(crate) fn write_v1_store(path: &Path, intents: &[IntentV1]) -> Result<(), redb::Error> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            meta.insert(META_MAGIC, MAGIC)?;
            meta.insert(META_SCHEMA_VERSION, 1u64.to_be_bytes().as_slice())?;
            meta.insert(
                META_NEXT_EVENT_SEQ,
                FIRST_EVENT_SEQ.to_be_bytes().as_slice(),
            )?;
            txn.open_table(PEERS)?;
            txn.open_table(PEERS_BY_SEEN)?;
            txn.open_table(OWN)?;
            txn.open_table(AGENT_RECORDS)?;
            txn.open_table(EVENTS)?;
            txn.open_table(NEGOTIATIONS)?;
            txn.open_table(TRANSCRIPTS)?;
            txn.open_table(REPUTATION)?;
            txn.open_table(CURSORS)?;
            let mut table = txn.open_table(INTENTS_V1)?;
            for intent in intents {
                let value = IntentValueV1 {
                    envelope: intent.envelope.clone(),
                    expires_at_unix_ms: intent.expires_at_unix_ms,
                    own: intent.own,
                    received_at_unix_ms: intent.received_at_unix_ms,
                };
                table.insert(&intent.id, encoding::encode(&value).as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use redb::{Database, ReadableDatabase, TableHandle};

    use super::v1_writer::{IntentV1, write_v1_store};
    use crate::schema::{self, META, META_SCHEMA_VERSION};
    use crate::types::IntentStatus;
    use crate::{Store, StoreError};

    fn v1_intent(tag: u8, expires_at_unix_ms: u64, own: bool) -> IntentV1 {
        IntentV1 {
            id: [tag; 32],
            envelope: vec![tag; 600],
            expires_at_unix_ms,
            own,
            received_at_unix_ms: 10 + u64::from(tag),
        }
    }

    fn version_and_tables(path: &std::path::Path) -> (u64, Vec<String>) {
        let db = Database::open(path).unwrap();
        let txn = db.begin_read().unwrap();
        let meta = txn.open_table(META).unwrap();
        let version = schema::meta_u64(&meta, META_SCHEMA_VERSION, path)
            .unwrap()
            .unwrap();
        let tables = txn
            .list_tables()
            .unwrap()
            .map(|t| t.name().to_owned())
            .collect();
        (version, tables)
    }

    #[test]
    fn a_version_1_store_is_upgraded_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        write_v1_store(
            &path,
            &[
                v1_intent(1, 1_000, false),
                v1_intent(2, 5_000, true),
                v1_intent(3, 9_000, false),
            ],
        )
        .unwrap();
        assert_eq!(version_and_tables(&path).0, 1);

        {
            let store = Store::open(&path).unwrap();
            assert_eq!(store.intent_count().unwrap(), 3);
            let two = store.intent(&[2; 32]).unwrap().unwrap();
            assert_eq!(two.status, IntentStatus::Open);
            assert!(two.own);
            assert_eq!(two.envelope, vec![2; 600]);
            assert_eq!(two.expires_at_unix_ms, 5_000);
            assert_eq!(two.received_at_unix_ms, 12);
            // The expiry index was built.
            let open: Vec<u8> = store
                .open_intents(2_000, 10)
                .unwrap()
                .iter()
                .map(|i| i.id[0])
                .collect();
            assert_eq!(open, [3, 2]);
            // The new table works.
            store.put_cancellation(&[3; 32], b"cancel").unwrap();
            let report = store.check().unwrap();
            assert!(report.is_clean(), "{report}");
        }

        let (version, tables) = version_and_tables(&path);
        assert_eq!(version, 2);
        assert!(!tables.iter().any(|t| t == "intents_v1"), "{tables:?}");
        assert!(tables.iter().any(|t| t == "intent_cancellations"));

        // Opening an upgraded store again changes nothing.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.intent_count().unwrap(), 3);
        assert_eq!(
            store.intent(&[3; 32]).unwrap().unwrap().status,
            IntentStatus::Cancelled
        );
    }

    #[test]
    fn a_failed_upgrade_leaves_the_store_at_its_old_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        write_v1_store(&path, &[v1_intent(1, 1_000, false)]).unwrap();
        {
            let db = Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(super::v1::INTENTS_V1)
                .unwrap()
                .insert(&[2; 32], b"\x07garbage".as_slice())
                .unwrap();
            txn.commit().unwrap();
        }

        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("version 1 intent"), "{err}");

        let (version, tables) = version_and_tables(&path);
        assert_eq!(version, 1);
        assert!(tables.iter().any(|t| t == "intents_v1"));
        assert!(!tables.iter().any(|t| t == "intents"), "{tables:?}");
    }

    #[test]
    fn version_0_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        write_v1_store(&path, &[]).unwrap();
        {
            let db = Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(META_SCHEMA_VERSION, 0u64.to_be_bytes().as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
