//! [`Store::check`]: a walk over every table that reports what breaks the store's invariants.
//!
//! The invariants: every value decodes; each index (`peers_by_seen`, `intent_expiry`,
//! `attestation_expiry`) matches its table exactly; each cancellation belongs to a stored intent marked cancelled; event
//! numbers are contiguous and below the `next_event_seq` counter; each transcript runs from
//! seq 0 without a gap and has its negotiation's meta.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use prost::Message;
use redb::{
    Key, ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition,
    TableError, Value,
};

use crate::encoding::{
    self, AgentRecordValue, AttestationValue, CancellationValue, EventValue, IntentValue,
    NegotiationValue, PeerValue, ReputationValue,
};
use crate::error::{ResultExt, StoreError};
use crate::schema::{
    self, AGENT_RECORDS, ATTESTATION_EXPIRY, ATTESTATIONS, CURSORS, EVENTS, FIRST_EVENT_SEQ,
    INTENT_CANCELLATIONS, INTENT_EXPIRY, INTENTS, MAGIC, META, META_MAGIC, META_NEXT_EVENT_SEQ,
    META_SCHEMA_VERSION, NEGOTIATIONS, OWN, PEERS, PEERS_BY_SEEN, REPUTATION, SCHEMA_VERSION,
    TRANSCRIPTS,
};
use crate::store::Store;
use crate::types::{Id, IntentStatus};

/// One broken invariant found by [`Store::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The table it was found in.
    pub table: &'static str,
    /// What is wrong.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.table, self.detail)
    }
}

/// What [`Store::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Entries read, over every table.
    pub entries: u64,
    /// Broken invariants; empty for a consistent store.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// Whether no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, table: &'static str, detail: impl Into<String>) {
        self.problems.push(Problem {
            table,
            detail: detail.into(),
        });
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            return write!(f, "consistent ({} entries)", self.entries);
        }
        write!(
            f,
            "{} problem(s) in {} entries:",
            self.problems.len(),
            self.entries
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl Store {
    /// Reads every table on one snapshot and reports each broken invariant (see the module
    /// docs). Damage is reported in the [`CheckReport`]; `Err` only when the file cannot be
    /// read at all.
    ///
    /// Meant for tests and diagnostics: it reads the whole store.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        self.read(|txn, path| {
            let mut report = CheckReport::default();
            let next_event_seq = check_meta(txn, path, &mut report)?;
            check_peers(txn, path, &mut report)?;
            check_plain::<AgentRecordValue>(
                txn,
                AGENT_RECORDS,
                "agent_records",
                path,
                &mut report,
            )?;
            check_plain::<ReputationValue>(txn, REPUTATION, "reputation", path, &mut report)?;
            if let Some(own) = open(txn, OWN, path, &mut report)? {
                report.entries += own.len().at(path)?;
            }
            if let Some(cursors) = open(txn, CURSORS, path, &mut report)? {
                report.entries += cursors.len().at(path)?;
            }
            check_intents(txn, path, &mut report)?;
            check_events(txn, next_event_seq, path, &mut report)?;
            check_negotiations(txn, path, &mut report)?;
            check_attestations(txn, path, &mut report)?;
            // The byte totals the budgets run on, only in a store of this schema (an older
            // one has none yet, and its version is reported above).
            if schema_is_current(txn, path) {
                match crate::budget::usage_mismatches(txn, path) {
                    Ok(lines) => lines.into_iter().for_each(|l| report.problem("meta", l)),
                    Err(err) => report.problem("meta", err.to_string()),
                }
            }
            Ok(report)
        })
    }
}

/// Opens a table, reporting it as a problem when it is missing or of the wrong types.
fn open<K: Key + 'static, V: Value + 'static>(
    txn: &ReadTransaction,
    definition: TableDefinition<K, V>,
    path: &Path,
    report: &mut CheckReport,
) -> Result<Option<ReadOnlyTable<K, V>>, StoreError> {
    match txn.open_table(definition) {
        Ok(table) => Ok(Some(table)),
        Err(TableError::Storage(err)) => Err(err).at(path),
        Err(err) => {
            report.problems.push(Problem {
                table: "(tables)",
                detail: err.to_string(),
            });
            Ok(None)
        }
    }
}

/// Returns the `next_event_seq` counter, if readable.
fn schema_is_current(txn: &ReadTransaction, path: &Path) -> bool {
    txn.open_table(META)
        .ok()
        .and_then(|meta| schema::meta_u64(&meta, META_SCHEMA_VERSION, path).ok())
        .flatten()
        == Some(SCHEMA_VERSION)
}

fn check_meta(
    txn: &ReadTransaction,
    path: &Path,
    report: &mut CheckReport,
) -> Result<Option<u64>, StoreError> {
    let Some(meta) = open(txn, META, path, report)? else {
        return Ok(None);
    };
    report.entries += meta.len().at(path)?;
    if meta.get(META_MAGIC).at(path)?.map(|m| m.value() == MAGIC) != Some(true) {
        report.problem("meta", "the magic marker is missing or wrong");
    }
    match schema::meta_u64(&meta, META_SCHEMA_VERSION, path) {
        Ok(Some(SCHEMA_VERSION)) => {}
        Ok(other) => report.problem(
            "meta",
            format!("schema_version is {other:?}, expected {SCHEMA_VERSION}"),
        ),
        Err(err) => report.problem("meta", err.to_string()),
    }
    match schema::meta_u64(&meta, META_NEXT_EVENT_SEQ, path) {
        Ok(Some(next)) if next >= FIRST_EVENT_SEQ => Ok(Some(next)),
        Ok(other) => {
            report.problem("meta", format!("next_event_seq is {other:?}"));
            Ok(None)
        }
        Err(err) => {
            report.problem("meta", err.to_string());
            Ok(None)
        }
    }
}

/// Checks that every value of a table keyed by bytes decodes as `M`.
fn check_plain<M: Message + Default>(
    txn: &ReadTransaction,
    definition: TableDefinition<&'static [u8], &'static [u8]>,
    table_name: &'static str,
    path: &Path,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    let Some(table) = open(txn, definition, path, report)? else {
        return Ok(());
    };
    for entry in table.iter().at(path)? {
        let (key, value) = entry.at(path)?;
        report.entries += 1;
        if let Err(reason) = encoding::decode::<M>(value.value()) {
            report.problem(
                table_name,
                format!("{} does not decode: {reason}", hex::encode(key.value())),
            );
        }
    }
    Ok(())
}

fn check_peers(
    txn: &ReadTransaction,
    path: &Path,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    let (Some(peers), Some(by_seen)) = (
        open(txn, PEERS, path, report)?,
        open(txn, PEERS_BY_SEEN, path, report)?,
    ) else {
        return Ok(());
    };
    let mut seen_of: HashMap<Vec<u8>, u64> = HashMap::new();
    for entry in peers.iter().at(path)? {
        let (id, value) = entry.at(path)?;
        report.entries += 1;
        match encoding::decode::<PeerValue>(value.value()) {
            Ok(value) => {
                seen_of.insert(id.value().to_vec(), value.last_seen_unix_ms);
            }
            Err(reason) => report.problem(
                "peers",
                format!("{} does not decode: {reason}", hex::encode(id.value())),
            ),
        }
    }
    let mut indexed = 0usize;
    for entry in by_seen.iter().at(path)? {
        let (key, _) = entry.at(path)?;
        report.entries += 1;
        let (seen, id) = key.value();
        match seen_of.get(id) {
            Some(&stored) if stored == seen => indexed += 1,
            Some(&stored) => report.problem(
                "peers_by_seen",
                format!(
                    "{} indexed at {seen}, but last seen at {stored}",
                    hex::encode(id)
                ),
            ),
            None => report.problem(
                "peers_by_seen",
                format!("{} is indexed but not stored", hex::encode(id)),
            ),
        }
    }
    if indexed != seen_of.len() {
        report.problem(
            "peers_by_seen",
            format!("{} of {} peers are indexed", indexed, seen_of.len()),
        );
    }
    Ok(())
}

fn check_intents(
    txn: &ReadTransaction,
    path: &Path,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    let (Some(intents), Some(expiry), Some(cancellations)) = (
        open(txn, INTENTS, path, report)?,
        open(txn, INTENT_EXPIRY, path, report)?,
        open(txn, INTENT_CANCELLATIONS, path, report)?,
    ) else {
        return Ok(());
    };
    let mut stored: HashMap<Id, (u64, IntentStatus)> = HashMap::new();
    for entry in intents.iter().at(path)? {
        let (id, value) = entry.at(path)?;
        report.entries += 1;
        let id = *id.value();
        match encoding::decode::<IntentValue>(value.value()).and_then(|v| v.into_intent(id)) {
            Ok(intent) => {
                stored.insert(id, (intent.expires_at_unix_ms, intent.status));
            }
            Err(reason) => report.problem(
                "intents",
                format!("{} does not decode: {reason}", hex::encode(id)),
            ),
        }
    }
    let mut indexed = 0usize;
    for entry in expiry.iter().at(path)? {
        let (key, _) = entry.at(path)?;
        report.entries += 1;
        let (expires_at, id) = key.value();
        match stored.get(id) {
            Some(&(stored_expiry, _)) if stored_expiry == expires_at => indexed += 1,
            Some(&(stored_expiry, _)) => report.problem(
                "intent_expiry",
                format!(
                    "{} indexed at {expires_at}, but expires at {stored_expiry}",
                    hex::encode(id)
                ),
            ),
            None => report.problem(
                "intent_expiry",
                format!("{} is indexed but not stored", hex::encode(id)),
            ),
        }
    }
    if indexed != stored.len() {
        report.problem(
            "intent_expiry",
            format!("{} of {} intents are indexed", indexed, stored.len()),
        );
    }
    for entry in cancellations.iter().at(path)? {
        let (id, value) = entry.at(path)?;
        report.entries += 1;
        let id = *id.value();
        if let Err(reason) = encoding::decode::<CancellationValue>(value.value()) {
            report.problem(
                "intent_cancellations",
                format!("{} does not decode: {reason}", hex::encode(id)),
            );
        }
        match stored.get(&id) {
            Some((_, IntentStatus::Cancelled)) => {}
            Some((_, status)) => report.problem(
                "intent_cancellations",
                format!(
                    "{} has a cancellation but status {}",
                    hex::encode(id),
                    status.as_str()
                ),
            ),
            None => report.problem(
                "intent_cancellations",
                format!("{} has a cancellation but no intent", hex::encode(id)),
            ),
        }
    }
    Ok(())
}

fn check_events(
    txn: &ReadTransaction,
    next_event_seq: Option<u64>,
    path: &Path,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    let Some(events) = open(txn, EVENTS, path, report)? else {
        return Ok(());
    };
    let mut previous: Option<u64> = None;
    for entry in events.iter().at(path)? {
        let (seq, value) = entry.at(path)?;
        report.entries += 1;
        let seq = seq.value();
        if seq < FIRST_EVENT_SEQ {
            report.problem("events", format!("seq {seq} is below {FIRST_EVENT_SEQ}"));
        }
        if let Some(next) = next_event_seq.filter(|&next| seq >= next) {
            report.problem(
                "events",
                format!("seq {seq} is not below the next-seq counter {next}"),
            );
        }
        if let Some(previous) = previous.filter(|&previous| seq != previous + 1) {
            report.problem("events", format!("seq jumps from {previous} to {seq}"));
        }
        previous = Some(seq);
        if let Err(reason) = encoding::decode::<EventValue>(value.value()) {
            report.problem("events", format!("seq {seq} does not decode: {reason}"));
        }
    }
    Ok(())
}

fn check_negotiations(
    txn: &ReadTransaction,
    path: &Path,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    let (Some(negotiations), Some(transcripts)) = (
        open(txn, NEGOTIATIONS, path, report)?,
        open(txn, TRANSCRIPTS, path, report)?,
    ) else {
        return Ok(());
    };
    for entry in negotiations.iter().at(path)? {
        let (id, value) = entry.at(path)?;
        report.entries += 1;
        if let Err(reason) = encoding::decode::<NegotiationValue>(value.value())
            .and_then(NegotiationValue::into_meta)
        {
            report.problem(
                "negotiations",
                format!("{} does not decode: {reason}", hex::encode(id.value())),
            );
        }
    }
    let mut current: Option<(Id, u64)> = None;
    for entry in transcripts.iter().at(path)? {
        let (key, _) = entry.at(path)?;
        report.entries += 1;
        let (id, seq) = key.value();
        let expected = match current {
            Some((current_id, last)) if current_id == *id => last + 1,
            _ => {
                if negotiations.get(id).at(path)?.is_none() {
                    report.problem(
                        "transcripts",
                        format!(
                            "negotiation {} has a transcript but no meta",
                            hex::encode(id)
                        ),
                    );
                }
                0
            }
        };
        if seq != expected {
            report.problem(
                "transcripts",
                format!(
                    "negotiation {}: seq {expected} is missing (next stored is {seq})",
                    hex::encode(id)
                ),
            );
        }
        current = Some((*id, seq));
    }
    Ok(())
}

fn check_attestations(
    txn: &ReadTransaction,
    path: &Path,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    let (Some(attestations), Some(expiry)) = (
        open(txn, ATTESTATIONS, path, report)?,
        open(txn, ATTESTATION_EXPIRY, path, report)?,
    ) else {
        return Ok(());
    };
    let mut expiry_of: HashMap<Id, u64> = HashMap::new();
    for entry in attestations.iter().at(path)? {
        let (key, value) = entry.at(path)?;
        report.entries += 1;
        let key = *key.value();
        match encoding::decode::<AttestationValue>(value.value()) {
            Ok(value) => {
                expiry_of.insert(key, value.expires_at_unix_ms);
            }
            Err(reason) => report.problem(
                "attestations",
                format!("{} does not decode: {reason}", hex::encode(key)),
            ),
        }
    }
    let mut indexed = 0usize;
    for entry in expiry.iter().at(path)? {
        let (index_key, _) = entry.at(path)?;
        report.entries += 1;
        let (expires_at, key) = index_key.value();
        match expiry_of.get(key) {
            Some(&stored) if stored == expires_at => indexed += 1,
            Some(&stored) => report.problem(
                "attestation_expiry",
                format!(
                    "{} indexed at {expires_at}, but expires at {stored}",
                    hex::encode(key)
                ),
            ),
            None => report.problem(
                "attestation_expiry",
                format!("{} is indexed but not stored", hex::encode(key)),
            ),
        }
    }
    if indexed != expiry_of.len() {
        report.problem(
            "attestation_expiry",
            format!(
                "{} of {} attestations are indexed",
                indexed,
                expiry_of.len()
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use redb::{Database, ReadableDatabase};

    use super::*;
    use crate::test_support::{attestation, intent, open_temp};
    use crate::types::{NegotiationMeta, Role};

    #[test]
    fn a_fresh_and_a_busy_store_are_clean() {
        let (_dir, store) = open_temp();
        assert!(store.check().unwrap().is_clean());
        store.put_intent(&intent(1, 100)).unwrap();
        store.append_event("e", b"").unwrap();
        store.put_attestation(&attestation(1, 100)).unwrap();
        store.put_attestation(&attestation(2, 100)).unwrap();
        let report = store.check().unwrap();
        assert!(report.is_clean(), "{report}");
        assert!(report.entries > 7);
    }

    #[test]
    fn attestation_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        {
            let store = Store::open(&path).unwrap();
            store.put_attestation(&attestation(1, 100)).unwrap();
            store.put_attestation(&attestation(2, 200)).unwrap();
            store.put_attestation(&attestation(3, 300)).unwrap();
            assert!(store.check().unwrap().is_clean());
        }
        {
            let db = Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut attestations = txn.open_table(ATTESTATIONS).unwrap();
                let mut expiry = txn.open_table(ATTESTATION_EXPIRY).unwrap();
                // 1 loses its index entry, 2 is indexed at the wrong expiry, 3 is garbage,
                // 4 is indexed but not stored.
                expiry.remove((100, &[1; 32])).unwrap();
                expiry.remove((200, &[2; 32])).unwrap();
                expiry.insert((250, &[2; 32]), ()).unwrap();
                attestations
                    .insert(&[3; 32], b"\x07garbage".as_slice())
                    .unwrap();
                expiry.insert((400, &[4; 32]), ()).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        let report = store.check().unwrap();
        let text = report.to_string();
        assert!(!report.is_clean());
        assert!(text.contains("attestation_expiry"), "{text}");
        assert!(
            text.contains(&format!(
                "{} indexed at 250, but expires at 200",
                hex::encode([2; 32])
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "attestations: {} does not decode",
                hex::encode([3; 32])
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "{} is indexed but not stored",
                hex::encode([4; 32])
            )),
            "{text}"
        );
        assert!(text.contains("0 of 2 attestations are indexed"), "{text}");
    }

    #[test]
    fn damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        {
            let store = Store::open(&path).unwrap();
            store.put_intent(&intent(1, 100)).unwrap();
            let meta = NegotiationMeta {
                intent_id: [1; 32],
                role: Role::Publisher,
                counterparty: vec![3],
                state: "offered".into(),
                updated_at_unix_ms: 1,
            };
            store
                .append_transcript_message(&[4; 32], &meta, 0, b"m0")
                .unwrap();
            store.append_event("e", b"").unwrap();
        }
        // Damage it behind the store's back, as a bug or a bad disk could.
        {
            let db = Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                txn.open_table(TRANSCRIPTS)
                    .unwrap()
                    .insert((&[4; 32], 2), b"m2".as_slice())
                    .unwrap();
                txn.open_table(EVENTS)
                    .unwrap()
                    .insert(50, encoding::encode(&EventValue::default()).as_slice())
                    .unwrap();
                txn.open_table(INTENT_EXPIRY)
                    .unwrap()
                    .remove((100, &[1; 32]))
                    .unwrap();
                txn.open_table(INTENT_CANCELLATIONS)
                    .unwrap()
                    .insert(&[9; 32], b"\x01".as_slice())
                    .unwrap();
            }
            txn.commit().unwrap();
            let read = db.begin_read().unwrap();
            assert_eq!(read.open_table(EVENTS).unwrap().len().unwrap(), 2);
        }
        let store = Store::open(&path).unwrap();
        let report = store.check().unwrap();
        let text = report.to_string();
        assert!(!report.is_clean());
        assert!(text.contains("seq 1 is missing"), "{text}");
        assert!(
            text.contains("seq 50 is not below the next-seq counter 2"),
            "{text}"
        );
        assert!(text.contains("seq jumps from 1 to 50"), "{text}");
        assert!(text.contains("0 of 1 intents are indexed"), "{text}");
        assert!(text.contains("has a cancellation but no intent"), "{text}");
    }
}
