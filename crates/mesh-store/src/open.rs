//! Opening a store file: telling a MESH store from anything else before writing to it, creating
//! a new store, upgrading an old one.
//!
//! A file that is not ours is never written: it is first looked at through a read-only handle
//! (which redb guarantees not to modify), and only a MESH store of a version this code can
//! handle, or an empty redb database, is then opened for writing. The one exception is a redb
//! file left needing recovery by a crash: redb refuses to open it read-only, so it is opened
//! for writing (which recovers it) before its marker can be read.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use redb::{Builder, Database, DatabaseError, ReadTransaction, ReadableDatabase, TableError};

use crate::config::StoreConfig;
use crate::error::{ResultExt, StoreError};
use crate::migrations;
use crate::schema::{self, MAGIC, META, META_MAGIC, META_SCHEMA_VERSION, SCHEMA_VERSION};

/// The first bytes of every redb file (its documented file format).
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// What a database turned out to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// No tables at all: a database created but never written (e.g. by a crash during our own
    /// first open).
    Empty,
    /// A MESH store of this schema version.
    Mesh(u64),
    /// Someone else's database.
    Foreign,
}

/// Opens (or creates) the store file at `path`, upgraded to [`SCHEMA_VERSION`].
pub(crate) fn open_database(path: &Path, config: &StoreConfig) -> Result<Database, StoreError> {
    let mut builder = Builder::new();
    builder.set_cache_size(config.cache_bytes());

    let existing = match fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => {
            return Err(StoreError::corrupt(path, "it is a directory"));
        }
        Ok(metadata) => metadata.len() > 0,
        Err(err) if err.kind() == io::ErrorKind::NotFound => false,
        Err(err) => return Err(StoreError::io(path, err)),
    };

    let db = if existing {
        check_header(path)?;
        look_before_writing(&builder, path)?;
        builder.open(path).at(path)?
    } else {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|err| StoreError::io(parent, err))?;
        }
        // Also right for an empty file: redb initialises it.
        builder.create(path).at(path)?
    };

    let found = inspect(&db.begin_read().at(path)?, path)?;
    match refuse_unusable(found, path)? {
        Found::Mesh(SCHEMA_VERSION) => {}
        Found::Empty => {
            let txn = db.begin_write().at(path)?;
            schema::initialise(&txn).at(path)?;
            txn.commit().at(path)?;
        }
        Found::Mesh(version) => {
            let txn = db.begin_write().at(path)?;
            migrations::upgrade(&txn, version, path)?;
            txn.commit().at(path)?;
        }
        Found::Foreign => return Err(StoreError::Foreign { path: path.into() }),
    }
    Ok(db)
}

/// Refuses a file that does not start like a redb database, without handing it to redb.
fn check_header(path: &Path) -> Result<(), StoreError> {
    let mut head = Vec::with_capacity(REDB_MAGIC.len());
    fs::File::open(path)
        .and_then(|file| {
            file.take(REDB_MAGIC.len() as u64)
                .read_to_end(&mut head)
                .map(|_| ())
        })
        .map_err(|err| StoreError::io(path, err))?;
    if head != REDB_MAGIC {
        return Err(StoreError::corrupt(
            path,
            "it is not a redb database: it does not start with redb's magic number",
        ));
    }
    Ok(())
}

/// Reads the marker and version through a read-only handle, refusing a foreign or too new file
/// before anything opens it for writing.
fn look_before_writing(builder: &Builder, path: &Path) -> Result<(), StoreError> {
    let db = match builder.open_read_only(path) {
        Ok(db) => db,
        // Left by a crash; the writable open recovers it, and the marker is checked after.
        Err(DatabaseError::RepairAborted) => return Ok(()),
        Err(err) => return Err(StoreError::from_redb(path, err.into())),
    };
    let found = inspect(&db.begin_read().at(path)?, path)?;
    db.close().at(path)?;
    refuse_unusable(found, path).map(|_| ())
}

fn refuse_unusable(found: Found, path: &Path) -> Result<Found, StoreError> {
    match found {
        Found::Foreign => Err(StoreError::Foreign { path: path.into() }),
        Found::Mesh(version) if version > SCHEMA_VERSION => Err(StoreError::TooNew {
            path: path.into(),
            found: version,
            supported: SCHEMA_VERSION,
        }),
        Found::Mesh(0) => Err(StoreError::corrupt(path, "it has schema version 0")),
        found => Ok(found),
    }
}

fn inspect(txn: &ReadTransaction, path: &Path) -> Result<Found, StoreError> {
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(TableError::TableDoesNotExist(_)) => {
            let any_table = txn.list_tables().at(path)?.next().is_some()
                || txn.list_multimap_tables().at(path)?.next().is_some();
            return Ok(if any_table {
                Found::Foreign
            } else {
                Found::Empty
            });
        }
        Err(
            TableError::TableTypeMismatch { .. }
            | TableError::TableIsMultimap(_)
            | TableError::TypeDefinitionChanged { .. },
        ) => return Ok(Found::Foreign),
        Err(err) => return Err(err).at(path),
    };
    let is_mesh = meta
        .get(META_MAGIC)
        .at(path)?
        .is_some_and(|magic| magic.value() == MAGIC);
    if !is_mesh {
        return Ok(Found::Foreign);
    }
    let version = schema::meta_u64(&meta, META_SCHEMA_VERSION, path)?
        .ok_or_else(|| StoreError::corrupt(path, "it has the MESH marker but no schema version"))?;
    Ok(Found::Mesh(version))
}
