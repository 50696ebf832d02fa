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
//! - **3**: receipt attestations in `attestations`, indexed by expiry in `attestation_expiry`.
//!   Both start empty; nothing else changes.
//! - **4**: byte budgets. `meta` holds the byte total of each budgeted table (`bytes.<table>`,
//!   see `budget`), counted from the rows; new eviction indexes `intent_received` (others'
//!   intents by reception), `attestation_standing` (attestations by standing and expiry) and
//!   `agent_record_expiry`, built from the rows. An attestation gains a standing; those stored
//!   before read as `Stranger(0)`, the first dropped when over budget.

use std::path::Path;

use redb::{ReadableTable, TableError, WriteTransaction};

use crate::budget::{self, CountedTables};
use crate::encoding::{self, AgentRecordValue, AttestationValue, IntentValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{
    self, AGENT_RECORD_EXPIRY, AGENT_RECORDS, ATTESTATION_EXPIRY, ATTESTATION_STANDING,
    ATTESTATIONS, EVENTS, INTENT_CANCELLATIONS, INTENT_EXPIRY, INTENT_RECEIVED, INTENTS, META,
    META_SCHEMA_VERSION, PEERS, SCHEMA_VERSION,
};
use crate::store::damaged;
use crate::types::{Id, IntentStatus};

/// Brings the store from schema version `from` to [`SCHEMA_VERSION`], inside `txn`.
pub(crate) fn upgrade(txn: &WriteTransaction, from: u64, path: &Path) -> Result<(), StoreError> {
    let mut version = from;
    while version < SCHEMA_VERSION {
        match version {
            1 => v1_to_v2(txn, path)?,
            2 => v2_to_v3(txn, path)?,
            3 => v3_to_v4(txn, path)?,
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

/// Creates the attestation tables, empty.
fn v2_to_v3(txn: &WriteTransaction, path: &Path) -> Result<(), StoreError> {
    txn.open_table(ATTESTATIONS).at(path)?;
    txn.open_table(ATTESTATION_EXPIRY).at(path)?;
    Ok(())
}

/// Builds the eviction indexes from the rows and counts the byte totals into `meta`.
fn v3_to_v4(txn: &WriteTransaction, path: &Path) -> Result<(), StoreError> {
    schema::create_tables(txn).at(path)?;
    let intents = txn.open_table(INTENTS).at(path)?;
    let mut received = txn.open_table(INTENT_RECEIVED).at(path)?;
    for entry in intents.iter().at(path)? {
        let (id, value) = entry.at(path)?;
        let id = id.value();
        let value = encoding::decode::<IntentValue>(value.value())
            .map_err(|reason| damaged(path, "intent", id, reason))?;
        if !value.own {
            received
                .insert((value.received_at_unix_ms, id), ())
                .at(path)?;
        }
    }
    let attestations = txn.open_table(ATTESTATIONS).at(path)?;
    let mut standing = txn.open_table(ATTESTATION_STANDING).at(path)?;
    for entry in attestations.iter().at(path)? {
        let (key, value) = entry.at(path)?;
        let key = key.value();
        let value = encoding::decode::<AttestationValue>(value.value())
            .map_err(|reason| damaged(path, "attestation", key, reason))?;
        standing
            .insert((value.standing, value.expires_at_unix_ms, key), ())
            .at(path)?;
    }
    let records = txn.open_table(AGENT_RECORDS).at(path)?;
    let mut record_expiry = txn.open_table(AGENT_RECORD_EXPIRY).at(path)?;
    for entry in records.iter().at(path)? {
        let (peer_id, value) = entry.at(path)?;
        let peer_id = peer_id.value();
        let value = encoding::decode::<AgentRecordValue>(value.value())
            .map_err(|reason| damaged(path, "agent record", peer_id, reason))?;
        record_expiry
            .insert((value.expires_at_unix_ms, peer_id), ())
            .at(path)?;
    }
    let usage = budget::recount(
        CountedTables {
            intents: &intents,
            cancellations: &txn.open_table(INTENT_CANCELLATIONS).at(path)?,
            events: &txn.open_table(EVENTS).at(path)?,
            attestations: &attestations,
            peers: &txn.open_table(PEERS).at(path)?,
            agent_records: &records,
        },
        path,
    )?;
    budget::write_usage(&mut txn.open_table(META).at(path)?, &usage, path)
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

/// Writes stores of version 2, as that version did, for the upgrade tests. Its values are
/// encoded as version 3 encodes them: version 3 changed no value.
#[cfg(test)]
pub(crate) mod v2_writer {
    use std::path::Path;

    use redb::Database;

    use crate::encoding::{self, AgentRecordValue, EventValue, IntentValue, PeerValue};
    use crate::schema::{
        AGENT_RECORDS, CURSORS, EVENTS, FIRST_EVENT_SEQ, INTENT_CANCELLATIONS, INTENT_EXPIRY,
        INTENTS, MAGIC, META, META_MAGIC, META_NEXT_EVENT_SEQ, META_SCHEMA_VERSION, NEGOTIATIONS,
        OWN, OWN_AGENT_RECORD, PEERS, PEERS_BY_SEEN, REPUTATION, TRANSCRIPTS,
    };
    use crate::types::{StoredAgentRecord, StoredIntent, StoredPeer};

    /// What a version 2 store is written with.
    #[derive(Default)]
    pub(crate) struct V2Contents {
        pub peers: Vec<StoredPeer>,
        pub own_record: Option<Vec<u8>>,
        pub agent_records: Vec<StoredAgentRecord>,
        pub intents: Vec<StoredIntent>,
        /// Event kinds and bodies, numbered from [`FIRST_EVENT_SEQ`].
        pub events: Vec<(String, Vec<u8>)>,
        pub cursors: Vec<(String, u64)>,
    }

    /// Creates a version 2 store at `path` holding `contents`.
    pub(crate) fn write_v2_store(path: &Path, contents: &V2Contents) -> Result<(), redb::Error> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            let next_event_seq = FIRST_EVENT_SEQ + contents.events.len() as u64;
            let mut meta = txn.open_table(META)?;
            meta.insert(META_MAGIC, MAGIC)?;
            meta.insert(META_SCHEMA_VERSION, 2u64.to_be_bytes().as_slice())?;
            meta.insert(META_NEXT_EVENT_SEQ, next_event_seq.to_be_bytes().as_slice())?;

            let mut peers = txn.open_table(PEERS)?;
            let mut by_seen = txn.open_table(PEERS_BY_SEEN)?;
            for peer in &contents.peers {
                let id = peer.peer_id.as_slice();
                peers.insert(id, encoding::encode(&PeerValue::from_peer(peer)).as_slice())?;
                by_seen.insert((peer.last_seen_unix_ms, id), ())?;
            }
            let mut own = txn.open_table(OWN)?;
            if let Some(record) = &contents.own_record {
                own.insert(OWN_AGENT_RECORD, record.as_slice())?;
            }
            let mut records = txn.open_table(AGENT_RECORDS)?;
            for record in &contents.agent_records {
                let value = AgentRecordValue::from_record(record);
                records.insert(
                    record.peer_id.as_slice(),
                    encoding::encode(&value).as_slice(),
                )?;
            }
            let mut intents = txn.open_table(INTENTS)?;
            let mut expiry = txn.open_table(INTENT_EXPIRY)?;
            for intent in &contents.intents {
                let value = IntentValue::from_intent(intent);
                intents.insert(&intent.id, encoding::encode(&value).as_slice())?;
                expiry.insert((intent.expires_at_unix_ms, &intent.id), ())?;
            }
            txn.open_table(INTENT_CANCELLATIONS)?;
            let mut events = txn.open_table(EVENTS)?;
            for (seq, (kind, body)) in (FIRST_EVENT_SEQ..).zip(&contents.events) {
                let value = EventValue {
                    kind: kind.clone(),
                    body: body.clone(),
                };
                events.insert(seq, encoding::encode(&value).as_slice())?;
            }
            txn.open_table(NEGOTIATIONS)?;
            txn.open_table(TRANSCRIPTS)?;
            txn.open_table(REPUTATION)?;
            let mut cursors = txn.open_table(CURSORS)?;
            for (name, value) in &contents.cursors {
                cursors.insert(name.as_str(), *value)?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::slice;

    use redb::{Database, ReadableDatabase, TableHandle};

    use super::v1_writer::{IntentV1, write_v1_store};
    use super::v2_writer::{V2Contents, write_v2_store};
    use crate::schema::{self, META, META_SCHEMA_VERSION, SCHEMA_VERSION};
    use crate::test_support::{attestation, intent};
    use crate::types::{IntentStatus, StoredAgentRecord, StoredPeer};
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
            // The new tables work.
            store.put_cancellation(&[3; 32], b"cancel").unwrap();
            store.put_attestation(&attestation(1, 9_000)).unwrap();
            let report = store.check().unwrap();
            assert!(report.is_clean(), "{report}");
        }

        let (version, tables) = version_and_tables(&path);
        assert_eq!(version, SCHEMA_VERSION);
        assert!(!tables.iter().any(|t| t == "intents_v1"), "{tables:?}");
        assert!(tables.iter().any(|t| t == "intent_cancellations"));
        assert!(tables.iter().any(|t| t == "attestations"), "{tables:?}");
        assert!(tables.iter().any(|t| t == "attestation_expiry"));

        // Opening an upgraded store again changes nothing.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.intent_count().unwrap(), 3);
        assert_eq!(
            store.intent(&[3; 32]).unwrap().unwrap().status,
            IntentStatus::Cancelled
        );
    }

    #[test]
    fn a_version_2_store_is_upgraded_on_open_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let peer = StoredPeer {
            peer_id: vec![5; 38],
            addresses: vec!["/ip4/10.0.0.5/tcp/7701".into()],
            last_seen_unix_ms: 4_000,
        };
        let record = StoredAgentRecord {
            peer_id: vec![6; 38],
            envelope: vec![6; 300],
            expires_at_unix_ms: 50_000,
        };
        let mut agreed = intent(2, 7_000);
        agreed.status = IntentStatus::Agreed;
        agreed.own = true;
        write_v2_store(
            &path,
            &V2Contents {
                peers: vec![peer.clone()],
                own_record: Some(b"own signed record".to_vec()),
                agent_records: vec![record.clone()],
                intents: vec![intent(1, 3_000), agreed.clone()],
                events: vec![("intent".into(), b"first".to_vec())],
                cursors: vec![("sse".into(), 1)],
            },
        )
        .unwrap();
        let (version, tables) = version_and_tables(&path);
        assert_eq!(version, 2);
        assert!(!tables.iter().any(|t| t == "attestations"), "{tables:?}");

        {
            let store = Store::open(&path).unwrap();
            assert_eq!(store.peers(10).unwrap(), slice::from_ref(&peer));
            assert_eq!(
                store.own_record().unwrap().as_deref(),
                Some(&b"own signed record"[..])
            );
            assert_eq!(store.agent_records(0).unwrap(), slice::from_ref(&record));
            assert_eq!(store.intent_count().unwrap(), 2);
            assert_eq!(store.intent(&agreed.id).unwrap(), Some(agreed.clone()));
            let events = store.events_after(0, 10).unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(
                (events[0].seq, events[0].body.as_slice()),
                (1, &b"first"[..])
            );
            assert_eq!(store.append_event("intent", b"second").unwrap(), 2);
            assert_eq!(store.cursor("sse").unwrap(), Some(1));
            // Version 4 counted the bytes of every budgeted table.
            let usage = store.budget_usage().unwrap();
            assert!(usage.peers > 38 && usage.agent_records > 300, "{usage:?}");
            assert!(usage.others_intents > 0 && usage.event_log > 0, "{usage:?}");
            assert!(store.check_budget_usage().unwrap().is_empty());
            // The new tables are there, empty, and work.
            assert_eq!(store.attestation_count().unwrap(), 0);
            store.put_attestation(&attestation(9, 8_000)).unwrap();
            assert_eq!(store.attestations(0).unwrap(), [attestation(9, 8_000)]);
            let report = store.check().unwrap();
            assert!(report.is_clean(), "{report}");
        }

        let (version, tables) = version_and_tables(&path);
        assert_eq!(version, SCHEMA_VERSION);
        assert!(tables.iter().any(|t| t == "attestations"), "{tables:?}");
        assert!(
            tables.iter().any(|t| t == "attestation_expiry"),
            "{tables:?}"
        );
        for table in [
            "intent_received",
            "attestation_standing",
            "agent_record_expiry",
        ] {
            assert!(tables.iter().any(|t| t == table), "{table}: {tables:?}");
        }

        // Opening an upgraded store again changes nothing.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.peers(10).unwrap(), [peer]);
        assert_eq!(store.agent_records(0).unwrap(), [record]);
        assert_eq!(store.intent(&agreed.id).unwrap(), Some(agreed));
        assert_eq!(store.attestations(0).unwrap(), [attestation(9, 8_000)]);
        assert_eq!(store.events_after(0, 10).unwrap().len(), 2);
        assert!(store.check().unwrap().is_clean());
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
