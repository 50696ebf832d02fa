//! A damaged store with real processes: `mesh store check` and `mesh node` on a store with a
//! flipped bit, cut short or emptied exit with status 1 and a one-line error (never a panic's
//! 101), and leave the file as it was.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use mesh_store::{IntentStatus, NegotiationMeta, Role, Store, StoredIntent};

/// Single-bit flips tried, one in each equal stretch of the file.
const FLIPS: u64 = 120;
/// Seed of the flips' positions.
const SEED: u64 = 0x2545_f491_4f6c_dd1d;

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A home with an identity and a store holding intents and negotiations.
fn home_with_store() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let out = mesh(&home, &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = Store::open(&home.join("store.redb")).unwrap();
    for n in 0..80u64 {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&n.to_be_bytes());
        store
            .put_intent(&StoredIntent {
                id,
                envelope: vec![n as u8; 300],
                expires_at_unix_ms: u64::MAX / 2,
                status: IntentStatus::Open,
                own: n % 2 == 0,
                received_at_unix_ms: n,
            })
            .unwrap();
        let meta = NegotiationMeta {
            intent_id: id,
            role: Role::Publisher,
            counterparty: b"agent".to_vec(),
            state: "offered".into(),
            updated_at_unix_ms: n,
        };
        store
            .append_transcript_message(&id, &meta, 0, &[1; 120])
            .unwrap();
        store.append_event("intent", &[b'x'; 40]).unwrap();
    }
    drop(store);
    (dir, home)
}

/// A failed run: status 1, no panic, and one error line naming the store.
fn assert_one_line_error(out: &Output, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{what}: one error line: {err}");
    assert!(errors[0].contains("store.redb"), "{what}: {err}");
}

/// `mesh store check`, then when the check refused the file, `mesh node`: neither panics, a
/// refusal is one line with status 1, and neither changes the file.
fn check_then_start(home: &Path, bytes: &[u8], what: &str) -> bool {
    let store = home.join("store.redb");
    let out = mesh(home, &["store", "check"]);
    assert_ne!(out.status.code(), Some(101), "{what}: {}", stderr(&out));
    assert!(
        !stderr(&out).contains("panicked"),
        "{what}: {}",
        stderr(&out)
    );
    assert!(
        std::fs::read(&store).unwrap() == bytes,
        "{what}: check wrote"
    );
    let refused = stderr(&out).lines().any(|l| l.starts_with("error"));
    if !refused {
        // Consistent, or a report of what is inconsistent: status 0 or 1 either way.
        assert!(matches!(out.status.code(), Some(0 | 1)), "{what}");
        return false;
    }
    assert_one_line_error(&out, &format!("{what}: mesh store check"));
    let out = mesh(
        home,
        &["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"],
    );
    assert_one_line_error(&out, &format!("{what}: mesh node"));
    assert!(
        std::fs::read(&store).unwrap() == bytes,
        "{what}: node wrote"
    );
    true
}

#[test]
fn a_damaged_store_is_one_line_and_status_1_for_check_and_node() {
    let (_dir, home) = home_with_store();
    let store = home.join("store.redb");
    let pristine = std::fs::read(&store).unwrap();

    let out = mesh(&home, &["store", "check"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let bits = pristine.len() as u64 * 8;
    let mut state = SEED;
    let mut refused = 0;
    for flip in 0..FLIPS {
        let stretch = bits / FLIPS;
        let bit = flip * stretch + next(&mut state) % stretch;
        let mut bytes = pristine.clone();
        bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
        std::fs::write(&store, &bytes).unwrap();
        if check_then_start(&home, &bytes, &format!("bit {bit} flipped")) {
            refused += 1;
        }
    }
    assert!(refused > 0, "no flip was refused");

    for len in [0, 100, pristine.len() / 2] {
        let bytes = &pristine[..len];
        std::fs::write(&store, bytes).unwrap();
        let what = format!("cut to {len} bytes");
        assert!(check_then_start(&home, bytes, &what), "{what}: not refused");
    }
}
