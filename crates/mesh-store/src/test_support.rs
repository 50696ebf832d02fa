//! Helpers shared by the unit tests.

use tempfile::TempDir;

use crate::store::Store;
use crate::types::{IntentStatus, Standing, StoredAttestation, StoredIntent};

/// A new store in a new temporary directory (kept alive by the returned guard).
pub(crate) fn open_temp() -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(&dir.path().join("store.redb")).expect("open a new store");
    (dir, store)
}

/// An open intent whose id is 32 times `tag`.
pub(crate) fn intent(tag: u8, expires_at_unix_ms: u64) -> StoredIntent {
    StoredIntent {
        id: [tag; 32],
        envelope: vec![tag; 120],
        expires_at_unix_ms,
        status: IntentStatus::Open,
        own: false,
        received_at_unix_ms: 0,
    }
}

/// An attestation whose key is 32 times `tag`.
pub(crate) fn attestation(tag: u8, expires_at_unix_ms: u64) -> StoredAttestation {
    StoredAttestation {
        key: [tag; 32],
        encoded: vec![tag; 180],
        expires_at_unix_ms,
        standing: Standing::Stranger(0),
    }
}
