//! Intents with their lifecycle status, the publishers' cancellations, and expiry.
//!
//! `intent_expiry` indexes every intent by (expiry, id), so the open intents are read newest
//! expiry first without a full scan, and pruning visits only what expired.
//!
//! Others' intents (and their cancellations) are held to a byte budget
//! ([`StoreBudget::others_intents`](crate::StoreBudget::others_intents)), counted in `meta` and
//! indexed by reception in `intent_received`. A write that takes them over it evicts, in the same
//! transaction, the intents no negotiation of this node is live on, oldest received first, then
//! if need be the others, oldest first. This node's own intents are neither counted nor evicted.

use std::collections::HashSet;
use std::path::Path;
use std::slice;

use redb::{ReadableTable, ReadableTableMetadata, Table, WriteTransaction};

use crate::budget::{Meter, Tally, row_bytes};
use crate::encoding::{self, CancellationValue, IntentValue, NegotiationValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{INTENT_CANCELLATIONS, INTENT_EXPIRY, INTENT_RECEIVED, INTENTS, NEGOTIATIONS};
use crate::store::{Store, damaged};
use crate::types::{ID_LEN, Id, IntentStatus, StoredIntent};

const MAX_ID: Id = [0xff; ID_LEN];

/// The states (as `mesh-net` names them) of a negotiation still running: an intent one of them
/// is on is kept over others' intents when over budget.
const LIVE_NEGOTIATION_STATES: [&str; 5] = [
    "awaiting_offer",
    "offered",
    "countered",
    "agreed",
    "delivered",
];

impl Store {
    /// Stores an intent, replacing what was stored under its id.
    ///
    /// The status given is kept, except for an intent whose cancellation is stored: that one
    /// stays [`IntentStatus::Cancelled`].
    pub fn put_intent(&self, intent: &StoredIntent) -> Result<(), StoreError> {
        self.put_intents(slice::from_ref(intent))
    }

    /// Stores several intents in one transaction (one disk sync), as [`Store::put_intent`]
    /// does each: all are stored, or none.
    ///
    /// Others' intents over the budget are then evicted (see the module documentation).
    pub fn put_intents(&self, intents: &[StoredIntent]) -> Result<(), StoreError> {
        let budget = self.config().budget().others_intents;
        self.write(|txn, path| {
            let mut tables = IntentTables::open(txn, path)?;
            for intent in intents {
                tables.put(intent, path)?;
            }
            tables.evict_over(budget, txn, path)?;
            tables.finish(txn, path)
        })
    }

    /// One intent, if stored (expired or not).
    pub fn intent(&self, id: &Id) -> Result<Option<StoredIntent>, StoreError> {
        self.read(|txn, path| load(&txn.open_table(INTENTS).at(path)?, id, path))
    }

    /// Sets an intent's status.
    ///
    /// [`StoreError::NotFound`] for an intent not stored; [`StoreError::IntentCancelled`] for a
    /// cancelled one (its cancellation is stored), unless `status` is `Cancelled`.
    pub fn set_intent_status(&self, id: &Id, status: IntentStatus) -> Result<(), StoreError> {
        self.write(|txn, path| {
            let mut tables = IntentTables::open(txn, path)?;
            let mut intent = tables.require(id, path)?;
            if status != IntentStatus::Cancelled && tables.cancellations.get(id).at(path)?.is_some()
            {
                return Err(StoreError::IntentCancelled {
                    id: hex::encode(id),
                });
            }
            intent.status = status;
            tables.put(&intent, path)?;
            tables.finish(txn, path)
        })
    }

    /// Stores the publisher's signed cancellation of an intent and sets its status to
    /// [`IntentStatus::Cancelled`], in one transaction.
    ///
    /// The caller checks first that the cancellation is signed by the intent's publisher. The
    /// intent must be stored ([`StoreError::NotFound`] otherwise); it is pruned with its
    /// cancellation when it expires.
    pub fn put_cancellation(&self, id: &Id, envelope: &[u8]) -> Result<(), StoreError> {
        let budget = self.config().budget().others_intents;
        self.write(|txn, path| {
            let mut tables = IntentTables::open(txn, path)?;
            let mut intent = tables.require(id, path)?;
            let value = encoding::encode(&CancellationValue {
                envelope: envelope.to_vec(),
            });
            let old = tables
                .cancellations
                .insert(id, value.as_slice())
                .at(path)?
                .map(|old| old.value().len());
            if !intent.own {
                if let Some(old) = old {
                    tables.meter.sub(row_bytes(ID_LEN, old));
                }
                tables.meter.add(row_bytes(ID_LEN, value.len()));
            }
            intent.status = IntentStatus::Cancelled;
            tables.put(&intent, path)?;
            tables.evict_over(budget, txn, path)?;
            tables.finish(txn, path)
        })
    }

    /// The stored cancellation of an intent, if any.
    pub fn cancellation(&self, id: &Id) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|txn, path| {
            let cancellations = txn.open_table(INTENT_CANCELLATIONS).at(path)?;
            let Some(value) = cancellations.get(id).at(path)? else {
                return Ok(None);
            };
            let value = encoding::decode::<CancellationValue>(value.value())
                .map_err(|reason| damaged(path, "cancellation", id, reason))?;
            Ok(Some(value.envelope))
        })
    }

    /// At most `limit` intents still taking offers at `now_ms` (status open or negotiating, not
    /// expired), the latest to expire first.
    pub fn open_intents(&self, now_ms: u64, limit: usize) -> Result<Vec<StoredIntent>, StoreError> {
        self.unexpired_intents(now_ms, limit, |intent| intent.status.is_open())
    }

    /// At most `limit` intents this node published that are not expired at `now_ms`, whatever
    /// their status, the latest to expire first.
    pub fn own_intents(&self, now_ms: u64, limit: usize) -> Result<Vec<StoredIntent>, StoreError> {
        self.unexpired_intents(now_ms, limit, |intent| intent.own)
    }

    /// How many intents are stored, expired ones included until pruned.
    pub fn intent_count(&self) -> Result<u64, StoreError> {
        self.read(|txn, path| txn.open_table(INTENTS).at(path)?.len().at(path))
    }

    fn unexpired_intents(
        &self,
        now_ms: u64,
        limit: usize,
        wanted: impl Fn(&StoredIntent) -> bool,
    ) -> Result<Vec<StoredIntent>, StoreError> {
        if limit == 0 || now_ms == u64::MAX {
            return Ok(Vec::new());
        }
        self.read(|txn, path| {
            let intents = txn.open_table(INTENTS).at(path)?;
            let expiry = txn.open_table(INTENT_EXPIRY).at(path)?;
            let mut out = Vec::new();
            // Keys from (now + 1, 00..) on: expiring after now.
            for entry in expiry.range((now_ms + 1, &[0; ID_LEN])..).at(path)?.rev() {
                let (key, _) = entry.at(path)?;
                let (_, id) = key.value();
                let intent = load(&intents, id, path)?.ok_or_else(|| {
                    StoreError::corrupt(
                        path,
                        format!("intent index names {}, which is absent", hex::encode(id)),
                    )
                })?;
                if wanted(&intent) {
                    out.push(intent);
                    if out.len() == limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }
}

/// The intent tables, open in one write transaction, with the byte total of others' intents.
struct IntentTables<'txn> {
    intents: Table<'txn, &'static Id, &'static [u8]>,
    expiry: Table<'txn, (u64, &'static Id), ()>,
    cancellations: Table<'txn, &'static Id, &'static [u8]>,
    received: Table<'txn, (u64, &'static Id), ()>,
    meter: Meter,
}

impl<'txn> IntentTables<'txn> {
    fn open(txn: &'txn WriteTransaction, path: &Path) -> Result<Self, StoreError> {
        Ok(IntentTables {
            intents: txn.open_table(INTENTS).at(path)?,
            expiry: txn.open_table(INTENT_EXPIRY).at(path)?,
            cancellations: txn.open_table(INTENT_CANCELLATIONS).at(path)?,
            received: txn.open_table(INTENT_RECEIVED).at(path)?,
            meter: Meter::read(txn, Tally::OthersIntents, path)?,
        })
    }

    /// Saves the byte total.
    fn finish(self, txn: &WriteTransaction, path: &Path) -> Result<(), StoreError> {
        self.meter.save(txn, path)
    }

    /// The bytes an intent of another peer counts for: its row and its cancellation's.
    fn others_bytes(&self, id: &Id, value_len: usize, path: &Path) -> Result<u64, StoreError> {
        let cancellation = self
            .cancellations
            .get(id)
            .at(path)?
            .map_or(0, |c| row_bytes(ID_LEN, c.value().len()));
        Ok(row_bytes(ID_LEN, value_len) + cancellation)
    }

    /// Evicts others' intents until they hold at most `budget` bytes: first those no live
    /// negotiation of this node is on, oldest received first, then the rest, oldest first.
    fn evict_over(
        &mut self,
        budget: u64,
        txn: &WriteTransaction,
        path: &Path,
    ) -> Result<(), StoreError> {
        if self.meter.bytes() <= budget {
            return Ok(());
        }
        let live = live_negotiation_intents(txn, path)?;
        for keep_live in [true, false] {
            let mut victims = Vec::new();
            let mut projected = self.meter.bytes();
            for entry in self.received.iter().at(path)? {
                if projected <= budget {
                    break;
                }
                let (key, _) = entry.at(path)?;
                let (_, id) = key.value();
                if keep_live && live.contains(id) {
                    continue;
                }
                let len = self
                    .intents
                    .get(id)
                    .at(path)?
                    .map_or(0, |v| v.value().len());
                projected = projected.saturating_sub(self.others_bytes(id, len, path)?);
                victims.push(*id);
            }
            for id in &victims {
                self.remove(id, path)?;
            }
            if self.meter.bytes() <= budget {
                break;
            }
        }
        Ok(())
    }

    /// Removes an intent with its index entries and cancellation, counting it out.
    fn remove(&mut self, id: &Id, path: &Path) -> Result<(), StoreError> {
        let Some(len) = self.intents.get(id).at(path)?.map(|v| v.value().len()) else {
            return Ok(());
        };
        let Some(old) = load(&self.intents, id, path)? else {
            return Ok(());
        };
        if !old.own {
            let bytes = self.others_bytes(id, len, path)?;
            self.meter.sub(bytes);
            self.received
                .remove((old.received_at_unix_ms, id))
                .at(path)?;
        }
        self.expiry.remove((old.expires_at_unix_ms, id)).at(path)?;
        self.intents.remove(id).at(path)?;
        self.cancellations.remove(id).at(path)?;
        Ok(())
    }

    fn require(&self, id: &Id, path: &Path) -> Result<StoredIntent, StoreError> {
        load(&self.intents, id, path)?.ok_or_else(|| StoreError::NotFound {
            what: "intent",
            id: hex::encode(id),
        })
    }

    /// Writes `intent` and its index entry, dropping the entry of its previous expiry.
    fn put(&mut self, intent: &StoredIntent, path: &Path) -> Result<(), StoreError> {
        let id = &intent.id;
        let old_len = self.intents.get(id).at(path)?.map(|v| v.value().len());
        if let (Some(old), Some(old_len)) = (load(&self.intents, id, path)?, old_len) {
            self.expiry.remove((old.expires_at_unix_ms, id)).at(path)?;
            if !old.own {
                let bytes = self.others_bytes(id, old_len, path)?;
                self.meter.sub(bytes);
                self.received
                    .remove((old.received_at_unix_ms, id))
                    .at(path)?;
            }
        }
        let mut value = IntentValue::from_intent(intent);
        if self.cancellations.get(id).at(path)?.is_some() {
            value.status = IntentStatus::Cancelled.code();
        }
        let encoded = encoding::encode(&value);
        self.intents.insert(id, encoded.as_slice()).at(path)?;
        self.expiry
            .insert((intent.expires_at_unix_ms, id), ())
            .at(path)?;
        if !intent.own {
            let bytes = self.others_bytes(id, encoded.len(), path)?;
            self.meter.add(bytes);
            self.received
                .insert((intent.received_at_unix_ms, id), ())
                .at(path)?;
        }
        Ok(())
    }
}

fn load(
    intents: &impl ReadableTable<&'static Id, &'static [u8]>,
    id: &Id,
    path: &Path,
) -> Result<Option<StoredIntent>, StoreError> {
    let Some(value) = intents.get(id).at(path)? else {
        return Ok(None);
    };
    let intent = encoding::decode::<IntentValue>(value.value())
        .and_then(|value| value.into_intent(*id))
        .map_err(|reason| damaged(path, "intent", id, reason))?;
    Ok(Some(intent))
}

/// Deletes the intents expired at `now_ms`, whatever their status, with their cancellations;
/// returns how many.
pub(crate) fn prune_intents(
    txn: &WriteTransaction,
    now_ms: u64,
    path: &Path,
) -> Result<usize, StoreError> {
    let mut tables = IntentTables::open(txn, path)?;
    let mut expired: Vec<(u64, Id)> = Vec::new();
    for entry in tables.expiry.range(..=(now_ms, &MAX_ID)).at(path)? {
        let (key, _) = entry.at(path)?;
        let (expires_at, id) = key.value();
        expired.push((expires_at, *id));
    }
    for (expires_at, id) in &expired {
        if tables.intents.get(id).at(path)?.is_some() {
            tables.remove(id, path)?;
        }
        // An index entry whose intent is absent goes too.
        tables.expiry.remove((*expires_at, id)).at(path)?;
    }
    tables.finish(txn, path)?;
    Ok(expired.len())
}

/// The intents a negotiation of this node is live on (in a state where a message can follow).
fn live_negotiation_intents(
    txn: &WriteTransaction,
    path: &Path,
) -> Result<HashSet<Id>, StoreError> {
    let negotiations = txn.open_table(NEGOTIATIONS).at(path)?;
    let mut live = HashSet::new();
    for entry in negotiations.iter().at(path)? {
        let (id, value) = entry.at(path)?;
        let value = encoding::decode::<NegotiationValue>(value.value())
            .map_err(|reason| damaged(path, "negotiation", id.value(), reason))?;
        if LIVE_NEGOTIATION_STATES.contains(&value.state.as_str())
            && let Ok(intent) = Id::try_from(value.intent_id.as_slice())
        {
            live.insert(intent);
        }
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use crate::error::StoreError;
    use crate::test_support::{intent, open_temp};
    use crate::types::IntentStatus;

    #[test]
    fn intent_round_trips_with_every_field() {
        let (_dir, store) = open_temp();
        let mut stored = intent(1, 5_000);
        stored.own = true;
        stored.status = IntentStatus::Agreed;
        stored.received_at_unix_ms = 1_234;
        store.put_intent(&stored).unwrap();
        assert_eq!(store.intent(&stored.id).unwrap(), Some(stored));
        assert_eq!(store.intent(&[9; 32]).unwrap(), None);
        assert_eq!(store.intent_count().unwrap(), 1);
    }

    #[test]
    fn open_intents_filter_status_and_expiry_latest_first() {
        let (_dir, store) = open_temp();
        let mut agreed = intent(4, 9_000);
        agreed.status = IntentStatus::Agreed;
        let mut negotiating = intent(3, 7_000);
        negotiating.status = IntentStatus::Negotiating;
        store
            .put_intents(&[intent(1, 1_000), intent(2, 3_000), negotiating, agreed])
            .unwrap();

        let ids = |v: Vec<crate::StoredIntent>| v.iter().map(|i| i.id[0]).collect::<Vec<_>>();
        assert_eq!(ids(store.open_intents(500, 10).unwrap()), [3, 2, 1]);
        assert_eq!(ids(store.open_intents(1_000, 10).unwrap()), [3, 2]);
        assert_eq!(ids(store.open_intents(500, 2).unwrap()), [3, 2]);
        assert!(store.open_intents(500, 0).unwrap().is_empty());
        assert!(store.open_intents(10_000, 10).unwrap().is_empty());
        assert_eq!(store.intent_count().unwrap(), 4);
    }

    #[test]
    fn replacing_an_intent_moves_its_expiry() {
        let (_dir, store) = open_temp();
        store.put_intent(&intent(1, 1_000)).unwrap();
        store.put_intent(&intent(1, 8_000)).unwrap();
        assert_eq!(store.open_intents(2_000, 10).unwrap().len(), 1);
        assert_eq!(store.prune_expired(2_000).unwrap().intents, 0);
        assert!(store.check().unwrap().is_clean());
    }

    #[test]
    fn status_changes_and_cancellation() {
        let (_dir, store) = open_temp();
        let open = intent(1, 5_000);
        store.put_intent(&open).unwrap();
        store
            .set_intent_status(&open.id, IntentStatus::Negotiating)
            .unwrap();
        assert_eq!(
            store.intent(&open.id).unwrap().unwrap().status,
            IntentStatus::Negotiating
        );

        assert!(matches!(
            store.set_intent_status(&[8; 32], IntentStatus::Agreed),
            Err(StoreError::NotFound { what: "intent", .. })
        ));
        assert!(matches!(
            store.put_cancellation(&[8; 32], b"c"),
            Err(StoreError::NotFound { .. })
        ));

        store.put_cancellation(&open.id, b"signed cancel").unwrap();
        assert_eq!(
            store.intent(&open.id).unwrap().unwrap().status,
            IntentStatus::Cancelled
        );
        assert_eq!(
            store.cancellation(&open.id).unwrap().as_deref(),
            Some(&b"signed cancel"[..])
        );
        assert!(store.open_intents(0, 10).unwrap().is_empty());

        // A cancelled intent stays cancelled, even when received again.
        assert!(matches!(
            store.set_intent_status(&open.id, IntentStatus::Open),
            Err(StoreError::IntentCancelled { .. })
        ));
        store.put_intent(&open).unwrap();
        assert_eq!(
            store.intent(&open.id).unwrap().unwrap().status,
            IntentStatus::Cancelled
        );
        assert!(store.check().unwrap().is_clean());
    }

    #[test]
    fn prune_removes_expired_intents_of_any_status_with_cancellations() {
        let (_dir, store) = open_temp();
        let mut completed = intent(2, 2_000);
        completed.status = IntentStatus::Completed;
        store
            .put_intents(&[intent(1, 1_000), completed, intent(3, 3_000)])
            .unwrap();
        store.put_cancellation(&[1; 32], b"cancel").unwrap();

        let pruned = store.prune_expired(2_000).unwrap();
        assert_eq!(pruned.intents, 2);
        assert_eq!(store.intent_count().unwrap(), 1);
        assert_eq!(store.intent(&[1; 32]).unwrap(), None);
        assert_eq!(store.cancellation(&[1; 32]).unwrap(), None);
        assert!(store.intent(&[3; 32]).unwrap().is_some());
        assert!(store.check().unwrap().is_clean());
    }

    fn received(tag: u8, at: u64, bytes: usize) -> crate::StoredIntent {
        crate::StoredIntent {
            envelope: vec![tag; bytes],
            received_at_unix_ms: at,
            ..intent(tag, 1_000_000)
        }
    }

    #[test]
    fn over_the_byte_budget_strangers_intents_go_oldest_first_keeping_own_and_negotiated() {
        use crate::budget::StoreBudget;
        use crate::config::StoreConfig;
        use crate::types::{NegotiationMeta, Role};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        // Room for about five intents of 1 000 bytes from others.
        let budget = StoreBudget::new().with_others_intents(5_500);
        let store = crate::Store::open_with(&path, StoreConfig::new().with_budget(budget)).unwrap();
        let mut own = received(1, 10, 4_000);
        own.own = true;
        store.put_intent(&own).unwrap();
        // This node bids on intent 2: a live negotiation keeps it.
        store.put_intent(&received(2, 20, 1_000)).unwrap();
        store
            .set_negotiation_meta(
                &[0xaa; 32],
                &NegotiationMeta {
                    intent_id: [2; 32],
                    role: Role::Agent,
                    counterparty: vec![2; 38],
                    state: "offered".into(),
                    updated_at_unix_ms: 20,
                },
            )
            .unwrap();
        for tag in 3..=5 {
            store
                .put_intent(&received(tag, u64::from(tag) * 10, 1_000))
                .unwrap();
        }
        assert_eq!(store.intent_count().unwrap(), 5);
        // Own intents are not counted.
        let before = store.budget_usage().unwrap().others_intents;
        assert!((4_000..5_500).contains(&before), "{before}");

        // A flood from strangers: the oldest received go first, never own or negotiated.
        let flood: Vec<_> = (10..40)
            .map(|tag| received(tag, 1_000 + u64::from(tag), 1_000))
            .collect();
        store.put_intents(&flood).unwrap();
        for tag in 40..50 {
            store
                .put_intent(&received(tag, 2_000 + u64::from(tag), 1_000))
                .unwrap();
            assert!(store.budget_usage().unwrap().others_intents <= 5_500);
        }
        assert!(store.intent(&[1; 32]).unwrap().is_some(), "own intent kept");
        assert!(
            store.intent(&[2; 32]).unwrap().is_some(),
            "negotiated intent kept"
        );
        for gone in [3, 4, 5, 10, 44] {
            assert!(
                store.intent(&[gone; 32]).unwrap().is_none(),
                "{gone} evicted"
            );
        }
        assert!(
            store.intent(&[49; 32]).unwrap().is_some(),
            "the newest kept"
        );
        assert!(store.check_budget_usage().unwrap().is_empty());
        let report = store.check().unwrap();
        assert!(report.is_clean(), "{report}");

        // Once its negotiation is over, the intent is one like the others.
        store
            .set_negotiation_meta(
                &[0xaa; 32],
                &NegotiationMeta {
                    intent_id: [2; 32],
                    role: Role::Agent,
                    counterparty: vec![2; 38],
                    state: "rejected".into(),
                    updated_at_unix_ms: 30,
                },
            )
            .unwrap();
        store.put_intent(&received(60, 9_000, 1_000)).unwrap();
        assert!(store.intent(&[2; 32]).unwrap().is_none());
        assert!(store.intent(&[1; 32]).unwrap().is_some());

        // Cancellations count and go with their intent; pruning counts out.
        store.put_cancellation(&[60; 32], &[0; 300]).unwrap();
        assert!(store.check_budget_usage().unwrap().is_empty());
        store.prune_expired(2_000_000).unwrap();
        assert_eq!(store.budget_usage().unwrap().others_intents, 0);
        assert!(store.check_budget_usage().unwrap().is_empty());
    }

    #[test]
    fn own_intents_are_listed_whatever_their_status() {
        let (_dir, store) = open_temp();
        let mut mine = intent(1, 5_000);
        mine.own = true;
        mine.status = IntentStatus::Delivered;
        store
            .put_intents(&[mine.clone(), intent(2, 5_000)])
            .unwrap();
        assert_eq!(store.own_intents(0, 10).unwrap(), [mine]);
        assert!(store.own_intents(5_000, 10).unwrap().is_empty());
    }
}
