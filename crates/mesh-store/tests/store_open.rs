//! Opening: new stores, files that are not ours (refused and left untouched), and the lock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use mesh_store::{MAGIC, SCHEMA_VERSION, Store, StoreError};
use redb::{Database, TableDefinition};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Deterministic pseudo-random bytes (xorshift), enough to look like nothing in particular.
fn noise(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Asserts that opening `path` fails as `check` expects and that the file is byte-for-byte
/// what it was.
fn assert_refused_untouched(path: &Path, check: impl Fn(&StoreError) -> bool) -> StoreError {
    let before = fs::read(path).unwrap();
    let err = Store::open(path).unwrap_err();
    assert!(check(&err), "unexpected error: {err}");
    assert_eq!(
        fs::read(path).unwrap(),
        before,
        "the refused file was modified"
    );
    // Refused the same way a second time: nothing was left half-done.
    let again = Store::open(path).unwrap_err();
    assert!(check(&again), "unexpected error the second time: {again}");
    assert_eq!(fs::read(path).unwrap(), before);
    err
}

#[test]
fn a_new_store_is_created_with_its_parent_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("home").join("data").join("store.redb");
    let store = Store::open(&path).unwrap();
    assert!(path.is_file());
    assert_eq!(store.path(), path);
    assert!(store.check().unwrap().is_clean());
}

#[test]
fn an_empty_file_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    fs::write(&path, b"").unwrap();
    let err = assert_refused_untouched(&path, |e| matches!(e, StoreError::Corrupt { .. }));
    assert!(err.to_string().contains("empty (0 bytes)"), "{err}");
}

#[test]
fn random_bytes_are_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    fs::write(&path, noise(64 * 1024, 0x9e37_79b9_7f4a_7c15)).unwrap();
    let err = assert_refused_untouched(&path, |e| matches!(e, StoreError::Corrupt { .. }));
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("move it aside"), "{text}");
}

#[test]
fn a_text_file_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    fs::write(&path, "# my notes\nnot a database\n").unwrap();
    assert_refused_untouched(&path, |e| matches!(e, StoreError::Corrupt { .. }));
}

#[test]
fn redb_magic_followed_by_garbage_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    for seed in [1u64, 2, 3, 0xdead_beef] {
        let mut bytes = vec![b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];
        bytes.extend(noise(16 * 1024, seed));
        fs::write(&path, &bytes).unwrap();
        assert_refused_untouched(&path, |e| matches!(e, StoreError::Corrupt { .. }));
    }
}

#[test]
fn a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("directory"), "{err}");
}

#[test]
fn a_foreign_redb_database_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let other: TableDefinition<u64, u64> = TableDefinition::new("accounts");
            txn.open_table(other).unwrap().insert(1, 100).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = assert_refused_untouched(&path, |e| matches!(e, StoreError::Foreign { .. }));
    assert!(err.to_string().contains("does not belong to MESH"), "{err}");
}

#[test]
fn a_redb_database_with_another_marker_is_foreign() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("magic", b"someone-else".as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    assert_refused_untouched(&path, |e| matches!(e, StoreError::Foreign { .. }));
}

#[test]
fn a_newer_schema_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(META).unwrap();
            meta.insert("magic", MAGIC).unwrap();
            meta.insert(
                "schema_version",
                (SCHEMA_VERSION + 1).to_be_bytes().as_slice(),
            )
            .unwrap();
        }
        txn.commit().unwrap();
    }
    let err = assert_refused_untouched(&path, |e| {
        matches!(e, StoreError::TooNew { found, supported, .. }
            if *found == SCHEMA_VERSION + 1 && *supported == SCHEMA_VERSION)
    });
    assert!(err.to_string().contains("newer MESH"), "{err}");
}

#[test]
fn a_second_open_in_the_same_process_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let store = Store::open(&path).unwrap();
    store.set_cursor("c", 1).unwrap();

    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("another mesh node"), "{err}");

    // The first handle is unaffected, and once it is dropped the store opens again.
    store.set_cursor("c", 2).unwrap();
    drop(store);
    assert_eq!(Store::open(&path).unwrap().cursor("c").unwrap(), Some(2));
}

#[test]
fn a_store_open_in_another_process_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut writer = Command::new(env!("CARGO_BIN_EXE_store_crash_writer"))
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(writer.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");

    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");

    writer.kill().unwrap();
    writer.wait().unwrap();
    drop(lines);
    let store = Store::open(&path).unwrap();
    assert!(store.check().unwrap().is_clean());
}
