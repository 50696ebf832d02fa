//! Receipt attestations: signed evidence of completed negotiations, kept for reputation.
//!
//! `attestations` holds one attestation per key (the SHA-256 of its receipt) and
//! `attestation_expiry` indexes them by (expiry, key), so pruning visits only what expired and
//! the bound ([`StoreConfig::max_attestations`](crate::StoreConfig::max_attestations)) finds
//! the one expiring soonest without a scan.

use std::path::Path;

use redb::{ReadableTable, ReadableTableMetadata, Table, WriteTransaction};

use crate::encoding::{self, AttestationValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{ATTESTATION_EXPIRY, ATTESTATIONS};
use crate::store::{Store, damaged};
use crate::types::{ID_LEN, Id, StoredAttestation};

const MAX_KEY: Id = [0xff; ID_LEN];

impl Store {
    /// Stores a receipt attestation, replacing the bytes and expiry stored under its key:
    /// storing the same attestation again changes nothing.
    ///
    /// The store holds at most
    /// [`StoreConfig::max_attestations`](crate::StoreConfig::max_attestations). Storing one
    /// under a new key when that many are stored first removes the stored attestation expiring
    /// soonest (expired or not; of equal expiries, the lowest key), in the same transaction; if
    /// the store holds more (it was opened with a lower bound), enough are removed that it
    /// holds exactly the bound afterwards. Replacing an attestation removes nothing.
    pub fn put_attestation(&self, attestation: &StoredAttestation) -> Result<(), StoreError> {
        let max = self.config().max_attestations();
        self.write(|txn, path| {
            let mut tables = AttestationTables::open(txn, path)?;
            let key = &attestation.key;
            match load(&tables.attestations, key, path)? {
                Some(old) => {
                    tables
                        .expiry
                        .remove((old.expires_at_unix_ms, key))
                        .at(path)?;
                }
                None => {
                    let stored = tables.attestations.len().at(path)?;
                    tables.evict_soonest(stored.saturating_sub(max.saturating_sub(1)), path)?;
                }
            }
            let value = AttestationValue::from_attestation(attestation);
            tables
                .attestations
                .insert(key, encoding::encode(&value).as_slice())
                .at(path)?;
            tables
                .expiry
                .insert((attestation.expires_at_unix_ms, key), ())
                .at(path)?;
            Ok(())
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

/// The attestation tables, open in one write transaction.
struct AttestationTables<'txn> {
    attestations: Table<'txn, &'static Id, &'static [u8]>,
    expiry: Table<'txn, (u64, &'static Id), ()>,
}

impl<'txn> AttestationTables<'txn> {
    fn open(txn: &'txn WriteTransaction, path: &Path) -> Result<Self, StoreError> {
        Ok(AttestationTables {
            attestations: txn.open_table(ATTESTATIONS).at(path)?,
            expiry: txn.open_table(ATTESTATION_EXPIRY).at(path)?,
        })
    }

    /// Removes the `count` attestations expiring soonest, with their index entries.
    fn evict_soonest(&mut self, count: u64, path: &Path) -> Result<(), StoreError> {
        for _ in 0..count {
            let Some((key, _)) = self.expiry.pop_first().at(path)? else {
                break;
            };
            let (_, key) = key.value();
            self.attestations.remove(key).at(path)?;
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
        tables.expiry.remove((*expires_at, key)).at(path)?;
        tables.attestations.remove(key).at(path)?;
    }
    Ok(expired.len())
}

#[cfg(test)]
mod tests {
    use std::slice;

    use crate::config::StoreConfig;
    use crate::store::Store;
    use crate::test_support::{attestation, open_temp};

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

        // A new key evicts the one expiring soonest (2, at 1 000), even if the new one
        // expires sooner still.
        store.put_attestation(&attestation(4, 500)).unwrap();
        assert_eq!(store.attestation_count().unwrap(), 3);
        assert_eq!(keys(&store.attestations(0).unwrap()), [1, 3, 4]);

        // Then 4 (500) goes, then 1 (5 000).
        store.put_attestation(&attestation(5, 6_000)).unwrap();
        store.put_attestation(&attestation(6, 6_000)).unwrap();
        assert_eq!(keys(&store.attestations(0).unwrap()), [3, 5, 6]);
        let report = store.check().unwrap();
        assert!(report.is_clean(), "{report}");
        drop(store);

        // Reopened with a lower bound, the next new key brings the store down to it.
        let store = Store::open_with(&path, StoreConfig::new().with_max_attestations(1)).unwrap();
        assert_eq!(store.attestation_count().unwrap(), 3);
        store.put_attestation(&attestation(7, 100)).unwrap();
        assert_eq!(store.attestations(0).unwrap(), [attestation(7, 100)]);
        let report = store.check().unwrap();
        assert!(report.is_clean(), "{report}");
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
