//! Opening a store file: telling a MESH store from anything else, and a sound file from a
//! damaged one, before writing to it; creating a new store; upgrading an old one.
//!
//! A file that is not ours, or is damaged, is never written. Before anything opens it for
//! writing, the file is opened through an [`Overlay`], a copy-on-write view whose writes stay in
//! memory: the database engine recovers it there if a crash left it needing recovery, checks the
//! checksum of every page (`check_integrity`), and the marker and schema version are read. Only
//! a MESH store of a version this code can handle that passed that check is then opened for
//! writing. Every call into the engine on a file not yet known to be sound is [`guarded`], so a
//! panic of the engine on damaged bytes becomes [`StoreError::Corrupt`].
//!
//! Only a missing file creates a new store, and it is created under a temporary name and linked
//! into place once its schema is committed, so a crash while creating it never leaves a
//! half-made file at the store's path; an empty (zero-length) file at that path is refused.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::backends::FileBackend;
use redb::{Builder, Database, ReadTransaction, ReadableDatabase, StorageBackend, TableError};

use crate::config::StoreConfig;
use crate::error::{ResultExt, StoreError};
use crate::guard::guarded;
use crate::migrations;
use crate::overlay::{Overlay, Shared};
use crate::schema::{self, MAGIC, META, META_MAGIC, META_SCHEMA_VERSION, SCHEMA_VERSION};

/// The first bytes of every redb file (its documented file format).
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// Suffix of the temporary name a new store is created under.
const NEW_SUFFIX: &str = ".new";

/// What a database turned out to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// No tables at all: a database created but never written.
    Empty,
    /// A MESH store of this schema version.
    Mesh(u64),
    /// Someone else's database.
    Foreign,
}

fn builder(config: &StoreConfig) -> Builder {
    let mut builder = Builder::new();
    builder.set_cache_size(config.cache_bytes());
    builder
}

/// Opens (or, when absent, creates) the store file at `path`, upgraded to [`SCHEMA_VERSION`].
pub(crate) fn open_database(path: &Path, config: &StoreConfig) -> Result<Database, StoreError> {
    let builder = builder(config);
    if !existing_file(path)? {
        return create_new(&builder, path);
    }
    check_header(path)?;
    drop(verify(&builder, file_overlay(path)?, path)?);
    let db = guarded(path, "opening the store", || builder.open(path).at(path))?;
    prepare(db, path)
}

/// Opens the store file at `path` for reading only: recovered and checked in memory through an
/// [`Overlay`], so the file is not written whatever it holds. Writing to the returned database
/// changes only memory.
pub(crate) fn open_for_check(path: &Path, config: &StoreConfig) -> Result<Database, StoreError> {
    if !existing_file(path)? {
        return Err(StoreError::io(
            path,
            io::Error::new(io::ErrorKind::NotFound, "there is no store file"),
        ));
    }
    check_header(path)?;
    verify(&builder(config), file_overlay(path)?, path)
}

/// Opens (or, when it is empty, creates) a store on `backend`, checked first like a file;
/// `path` names it in errors.
pub(crate) fn open_backend(
    backend: Arc<dyn StorageBackend>,
    path: &Path,
    config: &StoreConfig,
) -> Result<Database, StoreError> {
    let builder = builder(config);
    let empty = backend.len().map_err(|err| StoreError::io(path, err))? == 0;
    if !empty {
        let overlay =
            Overlay::new(Arc::clone(&backend), false).map_err(|err| StoreError::io(path, err))?;
        drop(verify(&builder, overlay, path)?);
    }
    let db = guarded(path, "opening the store", || {
        builder.create_with_backend(Shared(backend)).at(path)
    })?;
    prepare(db, path)
}

/// Whether a (non-empty) file is at `path`; `false` when there is none. A directory or an empty
/// file is refused.
fn existing_file(path: &Path) -> Result<bool, StoreError> {
    match fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => Err(StoreError::corrupt(path, "it is a directory")),
        Ok(metadata) if metadata.len() == 0 => Err(StoreError::corrupt(
            path,
            "it is empty (0 bytes), so whatever it held was lost; only a missing file is \
             replaced by a new store",
        )),
        Ok(_) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(StoreError::io(path, err)),
    }
}

/// A new store at `path`: created and initialised under a temporary name, then linked into
/// place, so that the path never holds a half-created store.
fn create_new(builder: &Builder, path: &Path) -> Result<Database, StoreError> {
    let parent = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => parent.to_path_buf(),
        None => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|err| StoreError::io(&parent, err))?;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(NEW_SUFFIX);
    let temporary = parent.join(name);
    // Left by a crash while creating a store: never linked, so never acknowledged anything.
    match fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(StoreError::io(&temporary, err)),
    }
    let db = builder.create(&temporary).at(&temporary)?;
    let txn = db.begin_write().at(&temporary)?;
    schema::initialise(&txn).at(&temporary)?;
    txn.commit().at(&temporary)?;
    // A hard link never replaces a file that appeared at `path` meanwhile; a rename is the
    // fallback for file systems without hard links.
    let placed = match fs::hard_link(&temporary, path) {
        Ok(()) => fs::remove_file(&temporary),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            drop(db);
            let _ = fs::remove_file(&temporary);
            return Err(StoreError::Locked { path: path.into() });
        }
        Err(_) => fs::rename(&temporary, path),
    };
    placed.map_err(|err| StoreError::io(path, err))?;
    fs::File::open(&parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|err| StoreError::io(&parent, err))?;
    Ok(db)
}

/// An overlay on the file at `path`, taking its locks when the file can be opened for writing
/// (opening it so writes nothing).
fn file_overlay(path: &Path) -> Result<Overlay, StoreError> {
    let writable = fs::OpenOptions::new().read(true).write(true).open(path);
    let (file, locks) = match writable {
        Ok(file) => (file, true),
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            let file = fs::File::open(path).map_err(|err| StoreError::io(path, err))?;
            (file, false)
        }
        Err(err) => return Err(StoreError::io(path, err)),
    };
    let backend = FileBackend::new(file).at(path)?;
    Overlay::new(Arc::new(backend), locks).map_err(|err| StoreError::io(path, err))
}

/// Opens the database on `overlay`, recovering it in memory if needed, checks every page and
/// reads its marker: a damaged, foreign or too new database is refused.
fn verify(builder: &Builder, overlay: Overlay, path: &Path) -> Result<Database, StoreError> {
    let mut db = guarded(path, "opening the store", || {
        builder.create_with_backend(overlay).at(path)
    })
    .map_err(|err| as_damage(path, err))?;
    let clean = guarded(path, "checking the store's pages", || {
        db.check_integrity().at(path)
    })
    .map_err(|err| as_damage(path, err))?;
    if !clean {
        return Err(StoreError::corrupt(
            path,
            "pages do not match their checksums, and repairing it would drop data",
        ));
    }
    let found = guarded(path, "reading the store's marker", || {
        inspect(&db.begin_read().at(path)?, path)
    })
    .map_err(|err| as_damage(path, err))?;
    refuse_unusable(found, path)?;
    Ok(db)
}

/// What the engine reports while verifying a file is damage, unless it is about access to it.
fn as_damage(path: &Path, err: StoreError) -> StoreError {
    match err {
        StoreError::Io { source, .. } if source.kind() == io::ErrorKind::UnexpectedEof => {
            StoreError::corrupt(
                path,
                format!("it ends before the data it points to, so it was cut short ({source})"),
            )
        }
        StoreError::Database { reason, .. } => StoreError::corrupt(path, reason),
        other => other,
    }
}

/// Initialises or upgrades a database opened for writing.
fn prepare(db: Database, path: &Path) -> Result<Database, StoreError> {
    guarded(path, "preparing the store", || {
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
        Ok(())
    })?;
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
