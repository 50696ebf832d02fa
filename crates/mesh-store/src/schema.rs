//! The tables of the current schema, and the `meta` table that identifies a MESH store.
//!
//! Schema version 4:
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | name | bytes: `magic`, `schema_version`, `next_event_seq` and the byte totals `bytes.<table>` of the budgets (u64, big-endian; see `budget`) |
//! | `peers` | peer id bytes | [`PeerValue`](crate::encoding::PeerValue) |
//! | `peers_by_seen` | (last seen ms, peer id bytes) | () — index of `peers` |
//! | `own` | name (`agent_record`) | the signed envelope |
//! | `agent_records` | peer id bytes | [`AgentRecordValue`](crate::encoding::AgentRecordValue) |
//! | `intents` | intent id | [`IntentValue`](crate::encoding::IntentValue) |
//! | `intent_expiry` | (expiry ms, intent id) | () — index of `intents` |
//! | `intent_cancellations` | intent id | [`CancellationValue`](crate::encoding::CancellationValue) |
//! | `events` | seq | [`EventValue`](crate::encoding::EventValue) |
//! | `negotiations` | negotiation id | [`NegotiationValue`](crate::encoding::NegotiationValue) |
//! | `transcripts` | (negotiation id, seq) | the signed message |
//! | `reputation` | peer id bytes | [`ReputationValue`](crate::encoding::ReputationValue) |
//! | `cursors` | name | u64 |
//! | `attestations` | receipt hash (SHA-256) | [`AttestationValue`](crate::encoding::AttestationValue) |
//! | `attestation_expiry` | (expiry ms, receipt hash) | () — index of `attestations` |
//! | `intent_received` | (received ms, intent id) | () — others' intents, in eviction order |
//! | `attestation_standing` | (standing, expiry ms, receipt hash) | () — attestations not this node's own, in eviction order |
//! | `agent_record_expiry` | (expiry ms, peer id bytes) | () — index of `agent_records` |

use std::path::Path;

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use crate::error::{ResultExt, StoreError};
use crate::types::Id;

/// The value of `meta.magic` in every MESH store.
pub const MAGIC: &[u8] = b"mesh-store";
/// The schema version this code writes; older stores are upgraded on open.
pub const SCHEMA_VERSION: u64 = 4;

pub(crate) const META_MAGIC: &str = "magic";
pub(crate) const META_SCHEMA_VERSION: &str = "schema_version";
pub(crate) const META_NEXT_EVENT_SEQ: &str = "next_event_seq";
pub(crate) const OWN_AGENT_RECORD: &str = "agent_record";

/// The first event sequence number.
pub(crate) const FIRST_EVENT_SEQ: u64 = 1;

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const PEERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("peers");
pub(crate) const PEERS_BY_SEEN: TableDefinition<(u64, &[u8]), ()> =
    TableDefinition::new("peers_by_seen");
pub(crate) const OWN: TableDefinition<&str, &[u8]> = TableDefinition::new("own");
pub(crate) const AGENT_RECORDS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("agent_records");
pub(crate) const INTENTS: TableDefinition<&Id, &[u8]> = TableDefinition::new("intents");
pub(crate) const INTENT_EXPIRY: TableDefinition<(u64, &Id), ()> =
    TableDefinition::new("intent_expiry");
pub(crate) const INTENT_CANCELLATIONS: TableDefinition<&Id, &[u8]> =
    TableDefinition::new("intent_cancellations");
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
pub(crate) const NEGOTIATIONS: TableDefinition<&Id, &[u8]> = TableDefinition::new("negotiations");
pub(crate) const TRANSCRIPTS: TableDefinition<(&Id, u64), &[u8]> =
    TableDefinition::new("transcripts");
pub(crate) const REPUTATION: TableDefinition<&[u8], &[u8]> = TableDefinition::new("reputation");
pub(crate) const CURSORS: TableDefinition<&str, u64> = TableDefinition::new("cursors");
pub(crate) const ATTESTATIONS: TableDefinition<&Id, &[u8]> = TableDefinition::new("attestations");
pub(crate) const ATTESTATION_EXPIRY: TableDefinition<(u64, &Id), ()> =
    TableDefinition::new("attestation_expiry");
pub(crate) const INTENT_RECEIVED: TableDefinition<(u64, &Id), ()> =
    TableDefinition::new("intent_received");
pub(crate) const ATTESTATION_STANDING: TableDefinition<(u32, u64, &Id), ()> =
    TableDefinition::new("attestation_standing");
pub(crate) const AGENT_RECORD_EXPIRY: TableDefinition<(u64, &[u8]), ()> =
    TableDefinition::new("agent_record_expiry");

/// Creates every table of the current schema that does not exist yet.
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(META)?;
    txn.open_table(PEERS)?;
    txn.open_table(PEERS_BY_SEEN)?;
    txn.open_table(OWN)?;
    txn.open_table(AGENT_RECORDS)?;
    txn.open_table(INTENTS)?;
    txn.open_table(INTENT_EXPIRY)?;
    txn.open_table(INTENT_CANCELLATIONS)?;
    txn.open_table(EVENTS)?;
    txn.open_table(NEGOTIATIONS)?;
    txn.open_table(TRANSCRIPTS)?;
    txn.open_table(REPUTATION)?;
    txn.open_table(CURSORS)?;
    txn.open_table(ATTESTATIONS)?;
    txn.open_table(ATTESTATION_EXPIRY)?;
    txn.open_table(INTENT_RECEIVED)?;
    txn.open_table(ATTESTATION_STANDING)?;
    txn.open_table(AGENT_RECORD_EXPIRY)?;
    Ok(())
}

/// Initialises an empty database as a MESH store of the current schema.
pub(crate) fn initialise(txn: &WriteTransaction) -> Result<(), redb::Error> {
    create_tables(txn)?;
    let mut meta = txn.open_table(META)?;
    meta.insert(META_MAGIC, MAGIC)?;
    meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION.to_be_bytes().as_slice())?;
    meta.insert(
        META_NEXT_EVENT_SEQ,
        FIRST_EVENT_SEQ.to_be_bytes().as_slice(),
    )?;
    Ok(())
}

/// Reads a big-endian u64 from `meta`; `None` when absent.
pub(crate) fn meta_u64(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
    path: &Path,
) -> Result<Option<u64>, StoreError> {
    let Some(value) = meta.get(key).at(path)? else {
        return Ok(None);
    };
    let bytes = value.value();
    match <[u8; 8]>::try_from(bytes) {
        Ok(array) => Ok(Some(u64::from_be_bytes(array))),
        Err(_) => Err(StoreError::corrupt(
            path,
            format!("meta.{key} holds {} bytes, not 8", bytes.len()),
        )),
    }
}
