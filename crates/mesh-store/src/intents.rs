//! Intents with their lifecycle status, the publishers' cancellations, and expiry.
//!
//! `intent_expiry` indexes every intent by (expiry, id), so the open intents are read newest
//! expiry first without a full scan, and pruning visits only what expired.

use std::path::Path;
use std::slice;

use redb::{ReadableTable, ReadableTableMetadata, Table, WriteTransaction};

use crate::encoding::{self, CancellationValue, IntentValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{INTENT_CANCELLATIONS, INTENT_EXPIRY, INTENTS};
use crate::store::{Store, damaged};
use crate::types::{ID_LEN, Id, IntentStatus, StoredIntent};

const MAX_ID: Id = [0xff; ID_LEN];

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
    pub fn put_intents(&self, intents: &[StoredIntent]) -> Result<(), StoreError> {
        self.write(|txn, path| {
            let mut tables = IntentTables::open(txn, path)?;
            for intent in intents {
                tables.put(intent, path)?;
            }
            Ok(())
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
            tables.put(&intent, path)
        })
    }

    /// Stores the publisher's signed cancellation of an intent and sets its status to
    /// [`IntentStatus::Cancelled`], in one transaction.
    ///
    /// The caller checks first that the cancellation is signed by the intent's publisher. The
    /// intent must be stored ([`StoreError::NotFound`] otherwise); it is pruned with its
    /// cancellation when it expires.
    pub fn put_cancellation(&self, id: &Id, envelope: &[u8]) -> Result<(), StoreError> {
        self.write(|txn, path| {
            let mut tables = IntentTables::open(txn, path)?;
            let mut intent = tables.require(id, path)?;
            let value = CancellationValue {
                envelope: envelope.to_vec(),
            };
            tables
                .cancellations
                .insert(id, encoding::encode(&value).as_slice())
                .at(path)?;
            intent.status = IntentStatus::Cancelled;
            tables.put(&intent, path)
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

/// The intent tables, open in one write transaction.
struct IntentTables<'txn> {
    intents: Table<'txn, &'static Id, &'static [u8]>,
    expiry: Table<'txn, (u64, &'static Id), ()>,
    cancellations: Table<'txn, &'static Id, &'static [u8]>,
}

impl<'txn> IntentTables<'txn> {
    fn open(txn: &'txn WriteTransaction, path: &Path) -> Result<Self, StoreError> {
        Ok(IntentTables {
            intents: txn.open_table(INTENTS).at(path)?,
            expiry: txn.open_table(INTENT_EXPIRY).at(path)?,
            cancellations: txn.open_table(INTENT_CANCELLATIONS).at(path)?,
        })
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
        if let Some(old) = load(&self.intents, id, path)? {
            self.expiry.remove((old.expires_at_unix_ms, id)).at(path)?;
        }
        let mut value = IntentValue::from_intent(intent);
        if self.cancellations.get(id).at(path)?.is_some() {
            value.status = IntentStatus::Cancelled.code();
        }
        self.intents
            .insert(id, encoding::encode(&value).as_slice())
            .at(path)?;
        self.expiry
            .insert((intent.expires_at_unix_ms, id), ())
            .at(path)?;
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
        tables.expiry.remove((*expires_at, id)).at(path)?;
        tables.intents.remove(id).at(path)?;
        tables.cancellations.remove(id).at(path)?;
    }
    Ok(expired.len())
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
