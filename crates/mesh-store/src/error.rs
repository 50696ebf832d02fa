//! [`StoreError`], and the mapping of redb's errors onto it.

use std::io;
use std::path::{Path, PathBuf};

/// Why a store operation failed.
///
/// Every message names the store's file and says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but is not a redb database, or is damaged.
    #[error(
        "{} is damaged or is not a MESH store ({reason}); it was left untouched: restore it from \
         a backup, or move it aside (for example `mv {0} {0}.bad`) and start again to create a \
         new store",
        path.display()
    )]
    Corrupt {
        /// The store's file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is a redb database written by another program.
    #[error(
        "{} is a redb database that does not belong to MESH (no \"mesh-store\" marker); it was \
         left untouched: move it aside or choose another path for the store",
        path.display()
    )]
    Foreign {
        /// The store's file.
        path: PathBuf,
    },
    /// The store was written by a newer version of MESH.
    #[error(
        "{} has schema version {found}, newer than the {supported} this build of MESH supports; \
         it was left untouched: run a newer MESH, or move the file aside to start afresh",
        path.display()
    )]
    TooNew {
        /// The store's file.
        path: PathBuf,
        /// Schema version found in the file.
        found: u64,
        /// Newest schema version this code knows.
        supported: u64,
    },
    /// Another handle, in this process or another, has the store open.
    #[error(
        "{} is already open, probably by another mesh node using this home; stop that node or \
         give this one another --home",
        path.display()
    )]
    Locked {
        /// The store's file.
        path: PathBuf,
    },
    /// Reading or writing the file failed.
    #[error("{}", io_message(path, source))]
    Io {
        /// The store's file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// An earlier write failed (see the error it returned); redb refuses further use of this
    /// handle until the store is opened again.
    #[error(
        "an earlier write to {} failed, so the store must be reopened: free some disk space if \
         it is full, then drop every handle and open the store again",
        path.display()
    )]
    NeedsReopen {
        /// The store's file.
        path: PathBuf,
    },
    /// A transcript already holds a different message at this sequence number.
    #[error(
        "negotiation {negotiation} already has a different message at seq {seq}; a signed \
         transcript cannot be rewritten, so resynchronise the negotiation instead"
    )]
    Conflict {
        /// Negotiation id, hex.
        negotiation: String,
        /// The sequence number taken.
        seq: u64,
    },
    /// A transcript message does not follow the last one stored.
    #[error(
        "negotiation {negotiation} expects its message at seq {expected} next, not {got}; store \
         the messages in order, starting at 0"
    )]
    OutOfOrder {
        /// Negotiation id, hex.
        negotiation: String,
        /// The next sequence number the transcript takes.
        expected: u64,
        /// The sequence number given.
        got: u64,
    },
    /// The call refers to something the store does not hold.
    #[error("no {what} {id} in the store; store it first")]
    NotFound {
        /// What was looked for, e.g. `intent`.
        what: &'static str,
        /// Its id, hex.
        id: String,
    },
    /// The intent was cancelled by its publisher, so its status can no longer change.
    #[error(
        "intent {id} is cancelled (its publisher's cancellation is stored), so its status can \
         no longer change"
    )]
    IntentCancelled {
        /// Intent id, hex.
        id: String,
    },
    /// Any other failure reported by the database engine.
    #[error("the store at {} failed: {reason}; restart the node to reopen it", path.display())]
    Database {
        /// The store's file.
        path: PathBuf,
        /// What the engine reported.
        reason: String,
    },
}

impl StoreError {
    /// Whether this is an I/O error caused by a full disk (or an exhausted quota).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::Io { source, .. } if is_disk_full(source))
    }

    /// A damaged or foreign file at `path`; `reason` is kept on one line.
    pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
        let reason: String = reason.into();
        StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }

    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Maps an error of the database engine, for the store at `path`.
    pub(crate) fn from_redb(path: &Path, err: redb::Error) -> Self {
        let path_buf = path.to_path_buf();
        match err {
            redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
                StoreError::Locked { path: path_buf }
            }
            // redb reports "not a redb database" as InvalidData.
            redb::Error::Io(source) if source.kind() == io::ErrorKind::InvalidData => {
                StoreError::corrupt(path, source.to_string())
            }
            redb::Error::Io(source) => StoreError::Io {
                path: path_buf,
                source,
            },
            redb::Error::PreviousIo => StoreError::NeedsReopen { path: path_buf },
            redb::Error::Corrupted(reason) => StoreError::corrupt(path, reason),
            redb::Error::UpgradeRequired(format) => StoreError::corrupt(
                path,
                format!("it is in redb file format {format}, which this build cannot read"),
            ),
            err @ (redb::Error::TableTypeMismatch { .. }
            | redb::Error::TableIsMultimap(_)
            | redb::Error::TableIsNotMultimap(_)
            | redb::Error::TypeDefinitionChanged { .. }
            | redb::Error::TableDoesNotExist(_)) => StoreError::corrupt(path, err.to_string()),
            other => StoreError::Database {
                path: path_buf,
                reason: other.to_string(),
            },
        }
    }
}

fn is_disk_full(err: &io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    matches!(
        err.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || matches!(err.raw_os_error(), Some(ENOSPC | EDQUOT))
}

fn io_message(path: &Path, source: &io::Error) -> String {
    if is_disk_full(source) {
        format!(
            "cannot write {}: {source}; is the disk full? Free some space and open the store \
             again (the last acknowledged write is safe)",
            path.display()
        )
    } else {
        format!("I/O error on {}: {source}", path.display())
    }
}

/// Converts the engine's results at the store's path.
pub(crate) trait ResultExt<T> {
    /// Maps the error for the store at `path`.
    fn at(self, path: &Path) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> ResultExt<T> for Result<T, E> {
    fn at(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|err| StoreError::from_redb(path, err.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_message_asks_about_the_disk() {
        let err = StoreError::io(Path::new("/x/store.redb"), io::Error::from_raw_os_error(28));
        assert!(err.is_disk_full());
        let text = err.to_string();
        assert!(text.contains("/x/store.redb"), "{text}");
        assert!(text.contains("is the disk full?"), "{text}");

        let other = StoreError::io(Path::new("/x/store.redb"), io::Error::other("boom"));
        assert!(!other.is_disk_full());
        assert!(!other.to_string().contains("disk full"));
    }

    #[test]
    fn already_open_is_locked() {
        let err =
            StoreError::from_redb(Path::new("/h/store.redb"), redb::Error::DatabaseAlreadyOpen);
        assert!(matches!(err, StoreError::Locked { .. }));
        assert!(err.to_string().contains("another mesh node"));
    }
}
