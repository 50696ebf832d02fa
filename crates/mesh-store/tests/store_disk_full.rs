//! A full disk: the write that does not fit fails with a disk-full error, and everything
//! committed before it is intact. Needs root, to mount a small tmpfs, so it is `#[ignore]`d:
//! `cargo test` lists it as ignored, and `scripts/test` runs it as root (`--include-ignored`),
//! where it fails with the reason if the tmpfs cannot be mounted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use mesh_store::{IntentStatus, Store, StoreError, StoredIntent};

const TMPFS_SIZE: &str = "2m";
const BALLAST_BYTES: usize = 256 * 1024;

/// A tmpfs mounted on a temporary directory; unmounted when dropped, even if the test fails.
struct Tmpfs {
    mount_point: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Result<Tmpfs, String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not running as root".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mount_point = dir.path().to_path_buf();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE}"), "tmpfs"])
            .arg(&mount_point)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            mount_point,
            _dir: dir,
        })
    }

    fn path(&self) -> &Path {
        &self.mount_point
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let status = Command::new("umount").arg(&self.mount_point).status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("could not unmount {}", self.mount_point.display());
        }
    }
}

fn intent(n: u64) -> StoredIntent {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&n.to_be_bytes());
    StoredIntent {
        id,
        envelope: vec![(n % 251) as u8; 600],
        expires_at_unix_ms: u64::MAX / 2,
        status: IntentStatus::Open,
        own: false,
        received_at_unix_ms: n,
    }
}

fn assert_all_present(store: &Store, committed: u64) {
    assert_eq!(store.intent_count().unwrap(), committed);
    for n in 0..committed {
        let stored = store.intent(&intent(n).id).unwrap();
        assert_eq!(stored, Some(intent(n)), "intent {n}");
    }
    let report = store.check().unwrap();
    assert!(report.is_clean(), "{report}");
}

#[test]
#[ignore = "needs root to mount a tmpfs: run as root with --include-ignored (scripts/test does)"]
fn a_full_disk_fails_the_write_and_keeps_what_was_committed() {
    let tmpfs = Tmpfs::mount().unwrap_or_else(|why| panic!("cannot mount a tmpfs: {why}"));
    let path = tmpfs.path().join("store.redb");
    // Space the operator can free later.
    let ballast = tmpfs.path().join("ballast");
    fs::write(&ballast, vec![0u8; BALLAST_BYTES]).unwrap();

    let mut committed = 0u64;
    let err = {
        let store = Store::open(&path).unwrap();
        let err = loop {
            match store.put_intent(&intent(committed)) {
                Ok(()) => committed += 1,
                Err(err) => break err,
            }
            assert!(committed < 100_000, "the 2 MiB tmpfs never filled up");
        };
        // The handle refuses further writes until reopened.
        assert!(store.put_intent(&intent(committed)).is_err());
        err
    };
    println!("disk full after {committed} intents: {err}");
    assert!(err.is_disk_full(), "not a disk-full error: {err:?}");
    assert!(matches!(err, StoreError::Io { .. }));
    let text = err.to_string();
    assert!(text.contains("is the disk full?"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(committed > 0);

    // A copy taken off the full disk holds every committed intent.
    let outside = tempfile::tempdir().unwrap();
    let copy = outside.path().join("copy.redb");
    fs::copy(&path, &copy).unwrap();
    assert_all_present(&Store::open(&copy).unwrap(), committed);

    // With space freed, the store opens in place, has everything, and takes writes again.
    fs::remove_file(&ballast).unwrap();
    let store = Store::open(&path).unwrap();
    assert_all_present(&store, committed);
    store.put_intent(&intent(committed)).unwrap();
    assert_eq!(store.intent_count().unwrap(), committed + 1);
}
