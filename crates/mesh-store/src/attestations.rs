//! Receipt attestations: signed evidence of completed negotiations, kept for reputation.
//!
//! `attestations` holds one attestation per key (the SHA-256 of its receipt) and
//! `attestation_expiry` indexes them by (expiry, key), so pruning visits only what expired.
//! `attestation_standing` indexes those not this node's own by (standing, expiry, key): the
//! bounds, a count ([`StoreConfig::max_attestations`](crate::StoreConfig::max_attestations))
//! and bytes ([`StoreBudget::attestations`](crate::StoreBudget::attestations), counted in
//! `meta`), drop the lowest [`Standing`](crate::Standing) first (strangers', least trusted rater
//! first; then trusted raters'), the one expiring soonest among equals, without a scan. This
//! node's own attestations are never dropped to make room.

use std::path::Path;

use redb::{ReadableTable, ReadableTableMetadata, Table, WriteTransaction};

use crate::budget::{Meter, Tally, row_bytes};
use crate::encoding::{self, AttestationValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{ATTESTATION_EXPIRY, ATTESTATION_STANDING, ATTESTATIONS};
use crate::store::{Store, damaged};
use crate::types::{ID_LEN, Id, Standing, StoredAttestation};

const MAX_KEY: Id = [0xff; ID_LEN];

impl Store {
    /// Stores a receipt attestation, replacing the bytes and expiry stored under its key:
    /// storing the same attestation again changes nothing.
    ///
    /// The store holds at most
    /// [`StoreConfig::max_attestations`](crate::StoreConfig::max_attestations) and
    /// [`StoreBudget::attestations`](crate::StoreBudget::attestations) bytes. When storing one
    /// takes it over either, attestations are removed in the same transaction, lowest
    /// [`Standing`] first and of equal standing the one expiring soonest (expired or not; of
    /// equal expiries, the lowest key), until it is within both: the one just stored too, when
    /// it is the lowest. This node's own ([`Standing::Own`]) are never removed to make room.
    pub fn put_attestation(&self, attestation: &StoredAttestation) -> Result<(), StoreError> {
        let max = self.config().max_attestations();
        let budget = self.config().budget().attestations;
        self.write(|txn, path| {
            let mut tables = AttestationTables::open(txn, path)?;
            let key = &attestation.key;
            tables.remove(key, path)?;
            let encoded = encoding::encode(&AttestationValue::from_attestation(attestation));
            tables
                .attestations
                .insert(key, encoded.as_slice())
                .at(path)?;
            tables
                .expiry
                .insert((attestation.expires_at_unix_ms, key), ())
                .at(path)?;
            if attestation.standing != Standing::Own {
                tables
                    .standing
                    .insert(
                        (
                            attestation.standing.code(),
                            attestation.expires_at_unix_ms,
                            key,
                        ),
                        (),
                    )
                    .at(path)?;
            }
            tables.meter.add(row_bytes(ID_LEN, encoded.len()));
            tables.evict_over(max, budget, path)?;
            tables.meter.save(txn, path)
        })
    }

    /// The attestation stored under `key`, if not expired at `now_ms`.
    pub fn attestation(
        &self,
        key: &[u8; 32],
        now_ms: u64,
    ) -> Result<Option<StoredAttestation>, StoreError> {
        self.read(|txn, path| {
            let attestations = txn.open_table(ATTESTATIONS).at(path)?;
            Ok(load(&attestations, key, path)?
                .filter(|attestation| attestation.expires_at_unix_ms > now_ms))
        })
    }

    /// Every stored attestation not expired at `now_ms`, by key.
    pub fn attestations(&self, now_ms: u64) -> Result<Vec<StoredAttestation>, StoreError> {
        self.read(|txn, path| {
            let attestations = txn.open_table(ATTESTATIONS).at(path)?;
            let mut out = Vec::new();
            for entry in attestations.iter().at(path)? {
                let (key, value) = entry.at(path)?;
                let key = key.value();
                let value = encoding::decode::<AttestationValue>(value.value())
                    .map_err(|reason| damaged(path, "attestation", key, reason))?;
                if value.expires_at_unix_ms > now_ms {
                    out.push(value.into_attestation(*key));
                }
            }
            Ok(out)
        })
    }

    /// How many attestations are stored, expired ones included until pruned.
    pub fn attestation_count(&self) -> Result<u64, StoreError> {
        self.read(|txn, path| txn.open_table(ATTESTATIONS).at(path)?.len().at(path))
    }
}

/// The attestation tables, open in one write transaction, with their byte total.
struct AttestationTables<'txn> {
    attestations: Table<'txn, &'static Id, &'static [u8]>,
    expiry: Table<'txn, (u64, &'static Id), ()>,
    standing: Table<'txn, (u32, u64, &'static Id), ()>,
    meter: Meter,
}

impl<'txn> AttestationTables<'txn> {
    fn open(txn: &'txn WriteTransaction, path: &Path) -> Result<Self, StoreError> {
        Ok(AttestationTables {
            attestations: txn.open_table(ATTESTATIONS).at(path)?,
            expiry: txn.open_table(ATTESTATION_EXPIRY).at(path)?,
            standing: txn.open_table(ATTESTATION_STANDING).at(path)?,
            meter: Meter::read(txn, Tally::Attestations, path)?,
        })
    }

    /// Removes the attestation stored under `key`, if any, with its index entries; `true` if
    /// there was one.
    fn remove(&mut self, key: &Id, path: &Path) -> Result<bool, StoreError> {
        let Some(len) = self
            .attestations
            .get(key)
            .at(path)?
            .map(|v| v.value().len())
        else {
            return Ok(false);
        };
        if let Some(old) = load(&self.attestations, key, path)? {
            self.expiry.remove((old.expires_at_unix_ms, key)).at(path)?;
            self.standing
                .remove((old.standing.code(), old.expires_at_unix_ms, key))
                .at(path)?;
        }
        self.attestations.remove(key).at(path)?;
        self.meter.sub(row_bytes(ID_LEN, len));
        Ok(true)
    }

    /// Removes attestations of the lowest standing, soonest expiry first, until at most `max`
    /// are stored in at most `budget` bytes, or only this node's own are left.
    fn evict_over(&mut self, max: u64, budget: u64, path: &Path) -> Result<(), StoreError> {
        while self.attestations.len().at(path)? > max || self.meter.bytes() > budget {
            let Some((index, _)) = self.standing.pop_first().at(path)? else {
                break;
            };
            let (_, _, key) = index.value();
            let key = *key;
            drop(index);
            self.remove(&key, path)?;
        }
        Ok(())
    }
}

fn load(
    attestations: &impl ReadableTable<&'static Id, &'static [u8]>,
    key: &Id,
    path: &Path,
) -> Result<Option<StoredAttestation>, StoreError> {
    let Some(value) = attestations.get(key).at(path)? else {
        return Ok(None);
    };
    let value = encoding::decode::<AttestationValue>(value.value())
        .map_err(|reason| damaged(path, "attestation", key, reason))?;
    Ok(Some(value.into_attestation(*key)))
}

/// Deletes the attestations expired at `now_ms`; returns how many.
pub(crate) fn prune_attestations(
    txn: &WriteTransaction,
    now_ms: u64,
    path: &Path,
) -> Result<usize, StoreError> {
    let mut tables = AttestationTables::open(txn, path)?;
    let mut expired: Vec<(u64, Id)> = Vec::new();
    for entry in tables.expiry.range(..=(now_ms, &MAX_KEY)).at(path)? {
        let (key, _) = entry.at(path)?;
        let (expires_at, key) = key.value();
        expired.push((expires_at, *key));
    }
    for (expires_at, key) in &expired {
        tables.remove(key, path)?;
        // An index entry whose attestation is absent goes too.
        tables.expiry.remove((*expires_at, key)).at(path)?;
    }
    tables.meter.save(txn, path)?;
    Ok(expired.len())
}

#[cfg(test)]
mod tests {
    use std::slice;

    use crate::budget::StoreBudget;
    use crate::config::StoreConfig;
    use crate::store::Store;
    use crate::test_support::{attestation, open_temp};
    use crate::types::{Standing, StoredAttestation};

    fn keys(attestations: &[crate::StoredAttestation]) -> Vec<u8> {
        attestations.iter().map(|a| a.key[0]).collect()
    }

    #[test]
    fn attestations_round_trip_by_key() {
        let (_dir, store) = open_temp();
        assert_eq!(store.attestation_count().unwrap(), 0);
        assert!(store.attestations(0).unwrap().is_empty());
        store.put_attestation(&attestation(2, 5_000)).unwrap();
        store.put_attestation(&attestation(1, 9_000)).unwrap();

        assert_eq!(
            store.attestations(0).unwrap(),
            [attestation(1, 9_000), attestation(2, 5_000)]
        );
        assert_eq!(
            store.attestation(&[2; 32], 0).unwrap(),
            Some(attestation(2, 5_000))
        );
        assert_eq!(store.attestation(&[7; 32], 0).unwrap(), None);
        assert_eq!(store.attestation_count().unwrap(), 2);
        assert!(store.check().unwrap().is_clean());
    }

    #[test]
    fn putting_the_same_key_again_replaces_bytes_and_expiry() {
        let (_dir, store) = open_temp();
        let first = attestation(1, 1_000);
        store.put_attestation(&first).unwrap();
        store.put_attestation(&first).unwrap();
        assert_eq!(store.attestation_count().unwrap(), 1);
        assert_eq!(store.attestations(0).unwrap(), slice::from_ref(&first));

        let mut replaced = first;
        replaced.encoded = b"re-signed".to_vec();
        replaced.expires_at_unix_ms = 8_000;
        store.put_attestation(&replaced).unwrap();
        assert_eq!(store.attestation_count().unwrap(), 1);
        assert_eq!(
            store.attestations(2_000).unwrap(),
            slice::from_ref(&replaced)
        );
        // Its old expiry no longer counts: nothing is pruned at 2 000.
        assert_eq!(store.prune_expired(2_000).unwrap().attestations, 0);
        assert_eq!(store.attestations(0).unwrap(), [replaced]);
        let report = store.check().unwrap();
        assert!(report.is_clean(), "{report}");
    }

    #[test]
    fn expired_attestations_are_not_returned_and_are_pruned() {
        let (_dir, store) = open_temp();
        for (tag, expires) in [(1, 1_000), (2, 2_000), (3, 3_000)] {
            store.put_attestation(&attestation(tag, expires)).unwrap();
        }
        assert_eq!(
            keys(&store.attestations(2_000).unwrap()),
            [3],
            "an attestation is expired from its expiry instant on"
        );
        assert_eq!(
            store.attestation(&[1; 32], 999).unwrap(),
            Some(attestation(1, 1_000))
        );
        assert_eq!(store.attestation(&[1; 32], 1_000).unwrap(), None);
        // Expired ones are still counted until pruned.
        assert_eq!(store.attestation_count().unwrap(), 3);

        let pruned = store.prune_expired(2_000).unwrap();
        assert_eq!(pruned.attestations, 2);
        assert_eq!(pruned.total(), 2);
        assert_eq!(store.attestation_count().unwrap(), 1);
        assert_eq!(store.attestations(0).unwrap(), [attestation(3, 3_000)]);
        assert_eq!(store.prune_expired(2_000).unwrap().total(), 0);
        let report = store.check().unwrap();
        assert!(report.is_clean(), "{report}");
    }

    #[test]
    fn the_bound_evicts_the_attestation_expiring_soonest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let store = Store::open_with(&path, StoreConfig::new().with_max_attestations(3)).unwrap();
        for (tag, expires) in [(1, 5_000), (2, 1_000), (3, 9_000)] {
            store.put_attestation(&attestation(tag, expires)).unwrap();
        }
        assert_eq!(store.attestation_count().unwrap(), 3);

        // Replacing one at the bound evicts nothing.
        store.put_attestation(&attestation(3, 7_000)).unwrap();
        assert_eq!(keys(&store.attestations(0).unwrap()), [1, 2, 3]);

        // A new key of the same standing expiring sooner than every stored one is itself
        // the one dropped.
        store.put_attestation(&attestation(4, 500)).unwrap();
        assert_eq!(store.attestation_count().unwrap(), 3);
        assert_eq!(keys(&store.attestations(0).unwrap()), [1, 2, 3]);

        // Others evict the one expiring soonest: 2 (1 000), then 1 (5 000).
        store.put_attestation(&attestation(5, 6_000)).unwrap();
        assert_eq!(keys(&store.attestations(0).unwrap()), [1, 3, 5]);
        store.put_attestation(&attestation(6, 6_000)).unwrap();
        assert_eq!(keys(&store.attestations(0).unwrap()), [3, 5, 6]);
        let report = store.check().unwrap();
        assert!(report.is_clean(), "{report}");
        drop(store);

        // Reopened with a lower bound, the next new key brings the store down to it.
        let store = Store::open_with(&path, StoreConfig::new().with_max_attestations(1)).unwrap();
        assert_eq!(store.attestation_count().unwrap(), 3);
        store.put_attestation(&attestation(7, 100)).unwrap();
        assert_eq!(store.attestations(0).unwrap(), [attestation(3, 7_000)]);
        let report = store.check().unwrap();
        assert!(report.is_clean(), "{report}");
    }

    fn ranked(tag: u8, expires_at_unix_ms: u64, standing: Standing) -> StoredAttestation {
        StoredAttestation {
            standing,
            ..attestation(tag, expires_at_unix_ms)
        }
    }

    #[test]
    fn over_the_byte_budget_strangers_go_first_least_trusted_first_and_own_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        // Room for four attestations of about 220 bytes each.
        let budget = StoreBudget::new().with_attestations(900);
        let store = Store::open_with(&path, StoreConfig::new().with_budget(budget)).unwrap();
        store
            .put_attestation(&ranked(1, 1_000, Standing::Own))
            .unwrap();
        store
            .put_attestation(&ranked(2, 2_000, Standing::Trusted))
            .unwrap();
        store
            .put_attestation(&ranked(3, 3_000, Standing::Stranger(60_000)))
            .unwrap();
        store
            .put_attestation(&ranked(4, 9_000, Standing::Stranger(10)))
            .unwrap();
        assert_eq!(keys(&store.attestations(0).unwrap()), [1, 2, 3, 4]);

        // A flood of strangers of little trust, expiring late: each drops the least trusted
        // (itself, or the earlier stranger of trust 10), never the trusted or own ones.
        for tag in 10..60 {
            store
                .put_attestation(&ranked(tag, 50_000, Standing::Stranger(5)))
                .unwrap();
            let usage = store.budget_usage().unwrap();
            assert!(usage.attestations <= 900, "{usage:?}");
        }
        let kept = keys(&store.attestations(0).unwrap());
        assert!(kept.starts_with(&[1, 2, 3]), "{kept:?}");
        assert_eq!(kept.len(), 4, "{kept:?}");

        // A more trusted stranger displaces the less trusted ones, then trusted raters'.
        store
            .put_attestation(&ranked(70, 50_000, Standing::Stranger(65_000)))
            .unwrap();
        assert_eq!(keys(&store.attestations(0).unwrap()), [1, 2, 3, 70]);
        store
            .put_attestation(&ranked(71, 50_000, Standing::Trusted))
            .unwrap();
        store
            .put_attestation(&ranked(72, 50_000, Standing::Trusted))
            .unwrap();
        assert_eq!(keys(&store.attestations(0).unwrap()), [1, 2, 71, 72]);

        // Own attestations are never dropped, even past the budget.
        for tag in 80..90 {
            store
                .put_attestation(&ranked(tag, 100, Standing::Own))
                .unwrap();
        }
        let kept = keys(&store.attestations(0).unwrap());
        assert_eq!(
            kept,
            [1, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89],
            "{kept:?}"
        );
        assert!(store.check_budget_usage().unwrap().is_empty());
        let report = store.check().unwrap();
        assert!(report.is_clean(), "{report}");
        drop(store);

        // The totals survive a reopen; pruning counts out what it removes.
        let store = Store::open_with(&path, StoreConfig::new().with_budget(budget)).unwrap();
        assert_eq!(store.attestations(0).unwrap()[0].standing, Standing::Own);
        assert_eq!(store.prune_expired(500).unwrap().attestations, 10);
        assert_eq!(keys(&store.attestations(0).unwrap()), [1]);
        assert!(store.budget_usage().unwrap().attestations < 300);
        assert!(store.check_budget_usage().unwrap().is_empty());
    }

    #[test]
    fn the_bound_defaults_to_100_000_and_is_at_least_1() {
        assert_eq!(StoreConfig::new().max_attestations(), 100_000);
        assert_eq!(
            StoreConfig::new()
                .with_max_attestations(0)
                .max_attestations(),
            1
        );
    }
}
