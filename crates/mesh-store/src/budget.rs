//! [`StoreBudget`]: how many bytes of what other peers send the store keeps, set in one place.
//!
//! Everything a peer can make the node store has a byte budget: others' intents (with their
//! cancellations), the API's event log, receipt attestations, peers with their addresses, and
//! others' agent records. The store keeps a running total per budgeted table in `meta`
//! (`bytes.<table>`, the key and value bytes of its rows), updated in the same write
//! transaction as the rows, and evicts when a write takes a table over its budget:
//!
//! | table | default | dropped first | never dropped to make room |
//! |---|---|---|---|
//! | others' intents | [`DEFAULT_OTHERS_INTENT_BYTES`] | intents nobody here negotiates, oldest received first; then those with a negotiation | own intents (not counted) |
//! | event log | [`DEFAULT_EVENT_LOG_BYTES`] | oldest event | the newest event |
//! | attestations | [`DEFAULT_ATTESTATION_BYTES`] | lowest [`Standing`](crate::Standing) (strangers, least trusted rater first), then soonest expiry | this node's own |
//! | peers | [`DEFAULT_PEER_BYTES`], [`DEFAULT_PEER_ROWS`] rows | least recently seen | — |
//! | others' agent records | [`DEFAULT_AGENT_RECORD_BYTES`] | soonest expiry | own record (not counted) |
//!
//! Negotiations are pruned by their retention, not by this budget. redb files do not shrink:
//! space freed by eviction is reused by later writes, so the file stays near the sum of the
//! budgets (plus the node's own data) rather than under it.
//!
//! ```
//! use mesh_store::{StoreBudget, StoreConfig};
//!
//! let budget = StoreBudget::new().with_others_intents(8 << 20);
//! let config = StoreConfig::new().with_budget(budget);
//! assert_eq!(config.budget().others_intents, 8 << 20);
//! ```

use std::path::Path;

use redb::{ReadTransaction, ReadableTable, Table, WriteTransaction};

use crate::encoding::{self, IntentValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{
    self, AGENT_RECORDS, ATTESTATIONS, EVENTS, INTENT_CANCELLATIONS, INTENTS, META, PEERS,
};
use crate::store::{Store, damaged};
use crate::types::Id;

/// Bytes of others' intents (and their cancellations) kept by default: 64 MiB.
pub const DEFAULT_OTHERS_INTENT_BYTES: u64 = 64 << 20;
/// Bytes of the API's event log kept by default: 32 MiB.
pub const DEFAULT_EVENT_LOG_BYTES: u64 = 32 << 20;
/// Bytes of receipt attestations kept by default: 64 MiB.
pub const DEFAULT_ATTESTATION_BYTES: u64 = 64 << 20;
/// Bytes of peers (ids and addresses) kept by default: 4 MiB.
pub const DEFAULT_PEER_BYTES: u64 = 4 << 20;
/// Peers kept at most by default.
pub const DEFAULT_PEER_ROWS: u64 = 16_384;
/// Bytes of others' agent records kept by default: 16 MiB.
pub const DEFAULT_AGENT_RECORD_BYTES: u64 = 16 << 20;

/// The byte budgets of a store; see the module documentation for what each one drops first.
///
/// A budget of 0 keeps nothing evictable in its table (own data stays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreBudget {
    /// Bytes of intents other peers published, with their cancellations
    /// ([`DEFAULT_OTHERS_INTENT_BYTES`]).
    pub others_intents: u64,
    /// Bytes of the event log ([`DEFAULT_EVENT_LOG_BYTES`]); the count bound of
    /// [`StoreConfig::event_retention`](crate::StoreConfig::event_retention) applies too.
    pub event_log: u64,
    /// Bytes of receipt attestations, own ones included ([`DEFAULT_ATTESTATION_BYTES`]).
    pub attestations: u64,
    /// Bytes of peers ([`DEFAULT_PEER_BYTES`]).
    pub peers: u64,
    /// Peers kept at most ([`DEFAULT_PEER_ROWS`]).
    pub peer_rows: u64,
    /// Bytes of other peers' agent records ([`DEFAULT_AGENT_RECORD_BYTES`]).
    pub agent_records: u64,
}

impl StoreBudget {
    /// The defaults.
    pub fn new() -> Self {
        StoreBudget {
            others_intents: DEFAULT_OTHERS_INTENT_BYTES,
            event_log: DEFAULT_EVENT_LOG_BYTES,
            attestations: DEFAULT_ATTESTATION_BYTES,
            peers: DEFAULT_PEER_BYTES,
            peer_rows: DEFAULT_PEER_ROWS,
            agent_records: DEFAULT_AGENT_RECORD_BYTES,
        }
    }

    /// Sets the bytes of others' intents.
    pub fn with_others_intents(mut self, bytes: u64) -> Self {
        self.others_intents = bytes;
        self
    }

    /// Sets the bytes of the event log.
    pub fn with_event_log(mut self, bytes: u64) -> Self {
        self.event_log = bytes;
        self
    }

    /// Sets the bytes of receipt attestations.
    pub fn with_attestations(mut self, bytes: u64) -> Self {
        self.attestations = bytes;
        self
    }

    /// Sets the bytes and the most rows of peers.
    pub fn with_peers(mut self, bytes: u64, rows: u64) -> Self {
        self.peers = bytes;
        self.peer_rows = rows;
        self
    }

    /// Sets the bytes of others' agent records.
    pub fn with_agent_records(mut self, bytes: u64) -> Self {
        self.agent_records = bytes;
        self
    }

    /// The sum of the byte budgets: about what strangers can make the store hold.
    pub fn total(&self) -> u64 {
        self.others_intents
            .saturating_add(self.event_log)
            .saturating_add(self.attestations)
            .saturating_add(self.peers)
            .saturating_add(self.agent_records)
    }
}

impl Default for StoreBudget {
    fn default() -> Self {
        StoreBudget::new()
    }
}

/// The bytes each budgeted table holds, as the store counts them (key and value bytes of its
/// rows); see [`Store::budget_usage`](crate::Store::budget_usage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetUsage {
    /// Others' intents with their cancellations.
    pub others_intents: u64,
    /// The event log.
    pub event_log: u64,
    /// Receipt attestations.
    pub attestations: u64,
    /// Peers.
    pub peers: u64,
    /// Others' agent records.
    pub agent_records: u64,
}

impl Store {
    /// The bytes each budgeted table holds, as kept in `meta`.
    pub fn budget_usage(&self) -> Result<BudgetUsage, StoreError> {
        self.read(|txn, path| read_usage(&txn.open_table(META).at(path)?, path))
    }

    /// Counts every budgeted table from its rows and compares with the totals kept in `meta`:
    /// one line per table whose total is wrong, none when all match. For `mesh store check`.
    pub fn check_budget_usage(&self) -> Result<Vec<String>, StoreError> {
        self.read(usage_mismatches)
    }
}

/// The lines of [`Store::check_budget_usage`], in an open read transaction.
pub(crate) fn usage_mismatches(
    txn: &ReadTransaction,
    path: &Path,
) -> Result<Vec<String>, StoreError> {
    let kept = read_usage(&txn.open_table(META).at(path)?, path)?;
    let counted = recount(
        CountedTables {
            intents: &txn.open_table(INTENTS).at(path)?,
            cancellations: &txn.open_table(INTENT_CANCELLATIONS).at(path)?,
            events: &txn.open_table(EVENTS).at(path)?,
            attestations: &txn.open_table(ATTESTATIONS).at(path)?,
            peers: &txn.open_table(PEERS).at(path)?,
            agent_records: &txn.open_table(AGENT_RECORDS).at(path)?,
        },
        path,
    )?;
    Ok(mismatches(&kept, &counted))
}

/// One running total in `meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tally {
    OthersIntents,
    EventLog,
    Attestations,
    Peers,
    AgentRecords,
}

impl Tally {
    pub(crate) const ALL: [Tally; 5] = [
        Tally::OthersIntents,
        Tally::EventLog,
        Tally::Attestations,
        Tally::Peers,
        Tally::AgentRecords,
    ];

    /// Its row in `meta`.
    pub(crate) fn meta_key(self) -> &'static str {
        match self {
            Tally::OthersIntents => "bytes.others_intents",
            Tally::EventLog => "bytes.event_log",
            Tally::Attestations => "bytes.attestations",
            Tally::Peers => "bytes.peers",
            Tally::AgentRecords => "bytes.agent_records",
        }
    }

    fn of(self, usage: &BudgetUsage) -> u64 {
        match self {
            Tally::OthersIntents => usage.others_intents,
            Tally::EventLog => usage.event_log,
            Tally::Attestations => usage.attestations,
            Tally::Peers => usage.peers,
            Tally::AgentRecords => usage.agent_records,
        }
    }

    fn slot(self, usage: &mut BudgetUsage) -> &mut u64 {
        match self {
            Tally::OthersIntents => &mut usage.others_intents,
            Tally::EventLog => &mut usage.event_log,
            Tally::Attestations => &mut usage.attestations,
            Tally::Peers => &mut usage.peers,
            Tally::AgentRecords => &mut usage.agent_records,
        }
    }
}

/// The bytes a row counts for: its key and its value.
pub(crate) fn row_bytes(key_len: usize, value_len: usize) -> u64 {
    (key_len as u64).saturating_add(value_len as u64)
}

/// A running total read at the start of a write and saved at its end, in the same
/// transaction.
#[derive(Debug)]
pub(crate) struct Meter {
    tally: Tally,
    bytes: u64,
}

impl Meter {
    /// Reads the total of `tally` (0 when absent).
    pub(crate) fn read(
        txn: &WriteTransaction,
        tally: Tally,
        path: &Path,
    ) -> Result<Meter, StoreError> {
        let meta = txn.open_table(META).at(path)?;
        Meter::read_from(&meta, tally, path)
    }

    /// Reads the total of `tally` from an open `meta` table.
    pub(crate) fn read_from(
        meta: &impl ReadableTable<&'static str, &'static [u8]>,
        tally: Tally,
        path: &Path,
    ) -> Result<Meter, StoreError> {
        let bytes = schema::meta_u64(meta, tally.meta_key(), path)?.unwrap_or(0);
        Ok(Meter { tally, bytes })
    }

    /// The total now.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Counts a row added.
    pub(crate) fn add(&mut self, bytes: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
    }

    /// Counts a row removed.
    pub(crate) fn sub(&mut self, bytes: u64) {
        self.bytes = self.bytes.saturating_sub(bytes);
    }

    /// Writes the total back.
    pub(crate) fn save(&self, txn: &WriteTransaction, path: &Path) -> Result<(), StoreError> {
        let mut meta = txn.open_table(META).at(path)?;
        self.save_to(&mut meta, path)
    }

    /// Writes the total back into an open `meta` table.
    pub(crate) fn save_to(
        &self,
        meta: &mut Table<'_, &'static str, &'static [u8]>,
        path: &Path,
    ) -> Result<(), StoreError> {
        meta.insert(self.tally.meta_key(), self.bytes.to_be_bytes().as_slice())
            .at(path)?;
        Ok(())
    }
}

/// The totals kept in `meta`.
pub(crate) fn read_usage(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    path: &Path,
) -> Result<BudgetUsage, StoreError> {
    let mut usage = BudgetUsage::default();
    for tally in Tally::ALL {
        *tally.slot(&mut usage) = Meter::read_from(meta, tally, path)?.bytes();
    }
    Ok(usage)
}

/// Writes every total of `usage` into `meta`.
pub(crate) fn write_usage(
    meta: &mut Table<'_, &'static str, &'static [u8]>,
    usage: &BudgetUsage,
    path: &Path,
) -> Result<(), StoreError> {
    for tally in Tally::ALL {
        Meter {
            tally,
            bytes: tally.of(usage),
        }
        .save_to(meta, path)?;
    }
    Ok(())
}

/// The tables a recount reads, open in any transaction.
pub(crate) struct CountedTables<'a, I, C, E, A, P, R> {
    pub intents: &'a I,
    pub cancellations: &'a C,
    pub events: &'a E,
    pub attestations: &'a A,
    pub peers: &'a P,
    pub agent_records: &'a R,
}

/// Counts the bytes of every budgeted table from its rows.
pub(crate) fn recount<I, C, E, A, P, R>(
    tables: CountedTables<'_, I, C, E, A, P, R>,
    path: &Path,
) -> Result<BudgetUsage, StoreError>
where
    I: ReadableTable<&'static Id, &'static [u8]>,
    C: ReadableTable<&'static Id, &'static [u8]>,
    E: ReadableTable<u64, &'static [u8]>,
    A: ReadableTable<&'static Id, &'static [u8]>,
    P: ReadableTable<&'static [u8], &'static [u8]>,
    R: ReadableTable<&'static [u8], &'static [u8]>,
{
    let mut usage = BudgetUsage::default();
    for entry in tables.intents.iter().at(path)? {
        let (id, value) = entry.at(path)?;
        let id = id.value();
        let decoded = encoding::decode::<IntentValue>(value.value())
            .map_err(|reason| damaged(path, "intent", id, reason))?;
        if decoded.own {
            continue;
        }
        usage.others_intents += row_bytes(id.len(), value.value().len());
        if let Some(cancellation) = tables.cancellations.get(id).at(path)? {
            usage.others_intents += row_bytes(id.len(), cancellation.value().len());
        }
    }
    for entry in tables.events.iter().at(path)? {
        let (_, value) = entry.at(path)?;
        usage.event_log += row_bytes(8, value.value().len());
    }
    for entry in tables.attestations.iter().at(path)? {
        let (key, value) = entry.at(path)?;
        usage.attestations += row_bytes(key.value().len(), value.value().len());
    }
    for entry in tables.peers.iter().at(path)? {
        let (key, value) = entry.at(path)?;
        usage.peers += row_bytes(key.value().len(), value.value().len());
    }
    for entry in tables.agent_records.iter().at(path)? {
        let (key, value) = entry.at(path)?;
        usage.agent_records += row_bytes(key.value().len(), value.value().len());
    }
    Ok(usage)
}

/// Where the totals in `meta` differ from the rows: one line per table, for `mesh store
/// check`.
pub(crate) fn mismatches(kept: &BudgetUsage, counted: &BudgetUsage) -> Vec<String> {
    Tally::ALL
        .into_iter()
        .filter(|tally| tally.of(kept) != tally.of(counted))
        .map(|tally| {
            format!(
                "meta.{} says {} bytes but the rows hold {}",
                tally.meta_key(),
                tally.of(kept),
                tally.of(counted)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let b = StoreBudget::default();
        assert_eq!(b.others_intents, 64 * 1024 * 1024);
        assert_eq!(b.event_log, 32 * 1024 * 1024);
        assert_eq!(b.attestations, 64 * 1024 * 1024);
        assert_eq!((b.peers, b.peer_rows), (4 * 1024 * 1024, 16_384));
        assert_eq!(b.agent_records, 16 * 1024 * 1024);
        assert_eq!(b.total(), (64 + 32 + 64 + 4 + 16) * 1024 * 1024);
    }

    #[test]
    fn the_store_check_reports_a_total_that_does_not_match_the_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.redb")).unwrap();
        store.append_event("intent", &[7; 1_000]).unwrap();
        assert!(store.check().unwrap().is_clean());
        store
            .write(|txn, path| {
                let meta = &mut txn.open_table(META).at(path)?;
                Meter {
                    tally: Tally::EventLog,
                    bytes: 1,
                }
                .save_to(meta, path)
            })
            .unwrap();
        let report = store.check().unwrap();
        assert!(!report.is_clean());
        assert!(report.to_string().contains("event"), "{report}");
    }

    #[test]
    fn mismatches_name_the_table() {
        let kept = BudgetUsage {
            peers: 10,
            ..BudgetUsage::default()
        };
        let lines = mismatches(&kept, &BudgetUsage::default());
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("bytes.peers"), "{lines:?}");
    }
}
