//! Damaged store files: single-bit flips, truncations and a zero-length file. Opening and
//! checking each gives `Ok` or a clear one-line error, never a panic, and a refused file is left
//! byte-for-byte as it was (a check never writes at all).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use mesh_store::{
    IntentStatus, NegotiationMeta, Role, Store, StoreError, StoredIntent, StoredPeer,
};

/// Single-bit flips tried, spread over the whole file.
const FLIPS: u64 = 300;
/// Seed of the flips' positions.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// xorshift64: the next pseudo-random number.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn id(tag: u64) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&tag.to_be_bytes());
    id[8..].copy_from_slice(b"store-damage-test-ident!");
    id
}

/// A store written through the API a node uses: intents (some cancelled), negotiations with
/// transcripts, events and peers.
fn write_store(path: &Path) {
    let store = Store::open(path).unwrap();
    for n in 0..120u64 {
        let intent = id(n);
        store
            .put_intent(&StoredIntent {
                id: intent,
                envelope: vec![n as u8; 200 + (n as usize % 7) * 40],
                expires_at_unix_ms: u64::MAX / 2,
                status: IntentStatus::Open,
                own: n % 2 == 0,
                received_at_unix_ms: n,
            })
            .unwrap();
        if n % 5 == 0 {
            store
                .put_cancellation(&intent, b"signed cancellation")
                .unwrap();
        }
        let meta = NegotiationMeta {
            intent_id: intent,
            role: if n % 2 == 0 {
                Role::Publisher
            } else {
                Role::Agent
            },
            counterparty: format!("peer {n}").into_bytes(),
            state: "offered".into(),
            updated_at_unix_ms: n,
        };
        for seq in 0..(n % 4) {
            store
                .append_transcript_message(&id(n + 1000), &meta, seq, &[seq as u8; 90])
                .unwrap();
        }
        store.append_event("intent", &[b'x'; 60]).unwrap();
        store
            .upsert_peer(&StoredPeer {
                peer_id: format!("peer {n}").into_bytes(),
                addresses: vec![format!("/ip4/10.0.0.{}/tcp/7701", n % 250)],
                last_seen_unix_ms: n,
            })
            .unwrap();
    }
    assert!(store.check().unwrap().is_clean());
}

/// A clear error: one line naming the file, and for damage, that the file was left untouched
/// and what to do.
fn assert_clear(err: &StoreError, path: &Path, what: &str) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "{what}: not one line: {text}");
    assert!(
        text.contains(&path.display().to_string()),
        "{what}: the error does not name the file: {text}"
    );
    if let StoreError::Corrupt { .. } = err {
        assert!(text.contains("left untouched"), "{what}: {text}");
        assert!(text.contains("move it aside"), "{what}: {text}");
    }
}

/// Checks then opens the file at `path` (holding `bytes`): neither panics, a check never
/// changes the file, a refused open leaves it as it was. Returns whether the open was refused.
fn try_damaged(path: &Path, bytes: &[u8], what: &str) -> bool {
    let checked = panic::catch_unwind(AssertUnwindSafe(|| Store::check_file(path)))
        .unwrap_or_else(|_| panic!("{what}: the check panicked"));
    if let Err(err) = &checked {
        assert_clear(err, path, what);
    }
    assert!(
        fs::read(path).unwrap() == bytes,
        "{what}: the check wrote to the file"
    );

    let opened = panic::catch_unwind(AssertUnwindSafe(|| Store::open(path)))
        .unwrap_or_else(|_| panic!("{what}: the open panicked"));
    match opened {
        Err(err) => {
            assert_clear(&err, path, what);
            assert!(
                fs::read(path).unwrap() == bytes,
                "{what}: a refused open wrote to the file ({err})"
            );
            true
        }
        Ok(store) => {
            // It passed the engine's integrity check: reading all of it works.
            let report = panic::catch_unwind(AssertUnwindSafe(|| store.check()))
                .unwrap_or_else(|_| panic!("{what}: the check of an opened store panicked"));
            if let Err(err) = report {
                assert_clear(&err, path, what);
            }
            false
        }
    }
}

#[test]
fn single_bit_flips_never_panic_and_refused_files_stay_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    write_store(&path);
    let pristine = fs::read(&path).unwrap();
    let bits = pristine.len() as u64 * 8;

    let mut state = SEED;
    let mut refused = 0;
    for flip in 0..FLIPS {
        // Spread over the file: one flip in each of FLIPS equal stretches, at a random bit.
        let stretch = bits / FLIPS;
        let bit = flip * stretch + next(&mut state) % stretch;
        let mut bytes = pristine.clone();
        bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
        fs::write(&path, &bytes).unwrap();
        if try_damaged(&path, &bytes, &format!("bit {bit} flipped")) {
            refused += 1;
        }
    }
    // Most flips land in pages in use, which the engine's checksums catch.
    assert!(refused > 0, "no flip was refused");
    eprintln!("{refused} of {FLIPS} single-bit flips refused");
}

#[test]
fn truncated_files_are_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    write_store(&path);
    let pristine = fs::read(&path).unwrap();
    let len = pristine.len();
    for cut in [
        1,
        9,
        100,
        512,
        4096,
        4097,
        len / 3,
        len / 2,
        len - 4096,
        len - 1,
    ] {
        let bytes = &pristine[..cut];
        fs::write(&path, bytes).unwrap();
        let what = format!("cut to {cut} of {len} bytes");
        assert!(try_damaged(&path, bytes, &what), "{what}: opened");
    }
}

#[test]
fn a_zero_length_file_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    fs::write(&path, b"").unwrap();
    for _ in 0..2 {
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("empty (0 bytes)"), "{err}");
        assert_clear(&err, &path, "zero length");
        let err = Store::check_file(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
    }
}

#[test]
fn a_sound_store_checks_without_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    write_store(&path);
    let before = fs::read(&path).unwrap();
    let report = Store::check_file(&path).unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(report.entries > 0);
    assert!(
        fs::read(&path).unwrap() == before,
        "the check wrote to the file"
    );

    // While a node holds it, a check is refused as locked rather than reading a moving file.
    let store = Store::open(&path).unwrap();
    let err = Store::check_file(&path).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    drop(store);
    assert!(Store::check_file(&path).unwrap().is_clean());
}

#[test]
fn a_missing_file_becomes_a_new_store_without_a_leftover() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("home").join("store.redb");
    // Left by a crash while creating a store.
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(dir.path().join("home").join("store.redb.new"), b"half").unwrap();
    let store = Store::open(&path).unwrap();
    store.set_cursor("c", 1).unwrap();
    assert!(store.check().unwrap().is_clean());
    drop(store);
    let names: Vec<_> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("store.redb")]);
    assert_eq!(Store::open(&path).unwrap().cursor("c").unwrap(), Some(1));
}
