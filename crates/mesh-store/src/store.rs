//! [`Store`]: the handle, and the transactions every call runs in.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};

use crate::check::CheckReport;
use crate::config::StoreConfig;
use crate::error::{ResultExt, StoreError};
use crate::guard::guarded;
use crate::types::Pruned;
use crate::{attestations, intents, open, records};

/// The node's persistent store: one redb file.
///
/// Cheap to clone (an `Arc` inside) and shared between threads. Every method is synchronous
/// and runs in its own transaction; from async code call it through
/// `tokio::task::spawn_blocking`. Every write is committed durably (fsync) before the method
/// returns, so an acknowledged write survives a crash or power loss, and a write that fails
/// leaves the store as it was.
///
/// Only one handle can have the file open at a time, in this process or another; a second
/// [`Store::open`] returns [`StoreError::Locked`]. The file is closed when the last clone is
/// dropped.
///
/// ```
/// use mesh_store::{IntentStatus, Store, StoredIntent};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let store = Store::open(&dir.path().join("store.redb"))?;
/// store.put_intent(&StoredIntent {
///     id: [7; 32],
///     envelope: b"signed envelope".to_vec(),
///     expires_at_unix_ms: 2_000,
///     status: IntentStatus::Open,
///     own: true,
///     received_at_unix_ms: 1_000,
/// })?;
/// assert_eq!(store.open_intents(1_500, 10)?.len(), 1);
/// assert!(store.open_intents(2_000, 10)?.is_empty()); // expired
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    path: PathBuf,
    config: StoreConfig,
}

impl Store {
    /// Opens the store at `path` with the default [`StoreConfig`], creating it (and its parent
    /// directory) if absent.
    ///
    /// An older store is upgraded in one transaction. A file that is not a sound MESH store is
    /// refused and left byte-for-byte untouched: [`StoreError::Corrupt`] for one that is not a
    /// redb database, is empty (zero length), is cut short, has a page that does not match its
    /// checksum or makes the engine fail; [`StoreError::Foreign`] for another program's redb
    /// database; [`StoreError::TooNew`] for a store of a newer MESH. [`StoreError::Locked`]
    /// when another handle has it open. Only a missing file becomes a new store.
    ///
    /// Those checks run on a copy-on-write view of the file whose writes stay in memory (where a
    /// file left needing recovery by a crash is recovered first), before anything opens the
    /// file for writing. They read the whole file once.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, StoreConfig::default())
    }

    /// Opens the store at `path` with `config`; see [`Store::open`].
    pub fn open_with(path: &Path, config: StoreConfig) -> Result<Store, StoreError> {
        let db = open::open_database(path, &config)?;
        Ok(Store::wrap(db, path, config))
    }

    /// Opens a store kept on `backend` instead of a file (created when the backend is empty),
    /// with the same checks as [`Store::open`]; `label` names it in errors. For tests that
    /// control what reaches the disk, such as the power-loss test.
    #[doc(hidden)]
    pub fn open_with_backend(
        backend: impl redb::StorageBackend,
        label: &Path,
        config: StoreConfig,
    ) -> Result<Store, StoreError> {
        let db = open::open_backend(Arc::new(backend), label, &config)?;
        Ok(Store::wrap(db, label, config))
    }

    /// Checks the store file at `path` without writing to it, whatever it holds: the file is
    /// recovered (if a crash left it needing recovery) and read in memory, every page's checksum
    /// is verified, then every invariant ([`Store::check`]).
    ///
    /// A file that is damaged beyond what [`Store::check`] can report (pages that do not match
    /// their checksums, a file cut short, a zero-length file, an engine that fails on it) is
    /// [`StoreError::Corrupt`]; [`StoreError::Locked`] while a node has it open. The file is
    /// left byte-for-byte as it was in every case.
    pub fn check_file(path: &Path) -> Result<CheckReport, StoreError> {
        let config = StoreConfig::default();
        let db = open::open_for_check(path, &config)?;
        Store::wrap(db, path, config).check()
    }

    fn wrap(db: Database, path: &Path, config: StoreConfig) -> Store {
        Store {
            inner: Arc::new(Inner {
                db,
                path: path.to_path_buf(),
                config,
            }),
        }
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Deletes, in one transaction, the agent records, the intents (whatever their status,
    /// with their cancellations) and the receipt attestations expired at `now_ms`.
    /// Negotiations and their transcripts are kept.
    pub fn prune_expired(&self, now_ms: u64) -> Result<Pruned, StoreError> {
        self.write(|txn, path| {
            Ok(Pruned {
                agent_records: records::prune_agent_records(txn, now_ms, path)?,
                intents: intents::prune_intents(txn, now_ms, path)?,
                attestations: attestations::prune_attestations(txn, now_ms, path)?,
            })
        })
    }

    /// Runs `body` in a write transaction and commits it durably if `body` succeeds; on an
    /// error nothing `body` did is kept. A panic of the engine (on a damaged page) is
    /// [`StoreError::Corrupt`].
    pub(crate) fn write<T>(
        &self,
        body: impl FnOnce(&WriteTransaction, &Path) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let path = self.path();
        guarded(path, "writing", || {
            let txn = self.inner.db.begin_write().at(path)?;
            let out = body(&txn, path)?;
            txn.commit().at(path)?;
            Ok(out)
        })
    }

    /// Runs `body` on a consistent snapshot; a panic of the engine is [`StoreError::Corrupt`].
    pub(crate) fn read<T>(
        &self,
        body: impl FnOnce(&ReadTransaction, &Path) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let path = self.path();
        guarded(path, "reading", || {
            let txn = self.inner.db.begin_read().at(path)?;
            body(&txn, path)
        })
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("config", &self.inner.config)
            .finish()
    }
}

/// Maps a value that failed to decode to [`StoreError::Corrupt`], naming the record.
pub(crate) fn damaged(path: &Path, what: &str, key: &[u8], reason: String) -> StoreError {
    StoreError::corrupt(
        path,
        format!("{what} {} does not decode: {reason}", hex::encode(key)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_clone_send_sync() {
        fn assert_traits<T: Clone + Send + Sync + 'static>() {}
        assert_traits::<Store>();
    }
}
