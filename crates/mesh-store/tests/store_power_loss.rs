//! Power loss, not only a killed process: the store runs on a disk whose writes are lost unless
//! synced ([`VolatileDisk`]), the power is cut at a seeded point during a load of the writes a
//! node makes (intents, cancellations, negotiation messages), and the store opened on what the
//! disk kept must hold every write whose call returned `Ok`, and check clean.
//!
//! Half the cuts lose every write not synced; the other half keep a random part of them, as a
//! disk that wrote some of its cache before the power went.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mesh_store::volatile::VolatileDisk;
use mesh_store::{IntentStatus, NegotiationMeta, Role, Store, StoreConfig, StoredIntent};

/// Power cuts tried, each at a seeded point of its own load.
const CUTS: u64 = 50;
/// Writes in each load (the power usually goes before the end).
const LOAD: u64 = 120;
/// Disk operations (writes, length changes, syncs) before the cut, at most.
const MAX_OPERATIONS_BEFORE_CUT: u64 = 600;

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn id(tag: u64) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&tag.to_be_bytes());
    id[8..].copy_from_slice(b"power-loss-test-ident!!!");
    id
}

fn intent(n: u64) -> StoredIntent {
    StoredIntent {
        id: id(n),
        envelope: vec![n as u8; 150 + (n as usize % 5) * 100],
        expires_at_unix_ms: u64::MAX / 2,
        status: IntentStatus::Open,
        own: true,
        received_at_unix_ms: n,
    }
}

fn meta(negotiation: u64, seq: u64) -> NegotiationMeta {
    NegotiationMeta {
        intent_id: id(negotiation),
        role: Role::Publisher,
        counterparty: b"agent".to_vec(),
        state: "offered".into(),
        updated_at_unix_ms: seq,
    }
}

fn message(negotiation: u64, seq: u64) -> Vec<u8> {
    format!("negotiation {negotiation} message {seq}").into_bytes()
}

/// What the store acknowledged before the power went.
#[derive(Default)]
struct Acknowledged {
    intents: BTreeSet<u64>,
    cancelled: BTreeSet<u64>,
    /// Messages per negotiation (seq 0 up to this, exclusive).
    messages: BTreeMap<u64, u64>,
}

/// Runs the load until a write fails (the power went) or it ends.
fn load(store: &Store, rng: &mut u64) -> Acknowledged {
    let mut acked = Acknowledged::default();
    let mut next_intent = 0u64;
    for _ in 0..LOAD {
        let ok = match next(rng) % 5 {
            0 | 1 => {
                let n = next_intent;
                next_intent += 1;
                let ok = store.put_intent(&intent(n)).is_ok();
                if ok {
                    acked.intents.insert(n);
                }
                ok
            }
            2 => {
                let open: Vec<u64> = acked
                    .intents
                    .difference(&acked.cancelled)
                    .copied()
                    .collect();
                if open.is_empty() {
                    continue;
                }
                let n = open[(next(rng) % open.len() as u64) as usize];
                let ok = store
                    .put_cancellation(&id(n), b"signed cancellation")
                    .is_ok();
                if ok {
                    acked.cancelled.insert(n);
                }
                ok
            }
            3 => {
                let batch: Vec<StoredIntent> = (next_intent..next_intent + 4).map(intent).collect();
                next_intent += 4;
                let ok = store.put_intents(&batch).is_ok();
                if ok {
                    acked.intents.extend(
                        batch
                            .iter()
                            .map(|i| u64::from_be_bytes(i.id[..8].try_into().unwrap())),
                    );
                }
                ok
            }
            _ => {
                let negotiation = 10_000 + next(rng) % 6;
                let seq = acked.messages.get(&negotiation).copied().unwrap_or(0);
                let ok = store
                    .append_transcript_message(
                        &id(negotiation),
                        &meta(negotiation, seq),
                        seq,
                        &message(negotiation, seq),
                    )
                    .is_ok();
                if ok {
                    acked.messages.insert(negotiation, seq + 1);
                }
                ok
            }
        };
        if !ok {
            break;
        }
    }
    acked
}

#[test]
fn every_acknowledged_write_survives_a_power_cut() {
    let label = Path::new("power-loss.redb");
    let mut cuts_during_load = 0;
    for cut in 0..CUTS {
        let mut rng = 0x51ed_2701_u64.wrapping_mul(cut + 1) | 1;
        let disk = VolatileDisk::new();
        let store = Store::open_with_backend(disk.backend(), label, StoreConfig::default())
            .expect("a new store on an empty disk");
        disk.cut_power_after(next(&mut rng) % MAX_OPERATIONS_BEFORE_CUT);
        let acked = load(&store, &mut rng);
        if disk.is_off() {
            cuts_during_load += 1;
        }
        drop(store);

        let keep_some = cut % 2 == 1;
        let restarted = disk.after_power_loss(keep_some, next(&mut rng));
        let what = format!("cut {cut} (keep unsynced writes: {keep_some})");
        let store = Store::open_with_backend(restarted.backend(), label, StoreConfig::default())
            .unwrap_or_else(|e| panic!("{what}: the store does not open after the cut: {e}"));
        let report = store.check().unwrap();
        assert!(report.is_clean(), "{what}: {report}");

        for n in &acked.intents {
            let stored = store.intent(&id(*n)).unwrap();
            let stored = stored.unwrap_or_else(|| panic!("{what}: acknowledged intent {n} lost"));
            if acked.cancelled.contains(n) {
                assert_eq!(stored.status, IntentStatus::Cancelled, "{what}: intent {n}");
                assert!(
                    store.cancellation(&id(*n)).unwrap().is_some(),
                    "{what}: acknowledged cancellation of {n} lost"
                );
            }
        }
        for (negotiation, count) in &acked.messages {
            let transcript = store.transcript(&id(*negotiation)).unwrap();
            assert!(
                transcript.len() as u64 >= *count,
                "{what}: negotiation {negotiation} has {} of {count} acknowledged messages",
                transcript.len()
            );
            for (seq, bytes) in transcript.iter().enumerate() {
                assert_eq!(bytes, &message(*negotiation, seq as u64), "{what}");
            }
        }
    }
    // The cut points fall inside the loads, not only after them.
    assert!(
        cuts_during_load >= CUTS / 2,
        "only {cuts_during_load} cuts fell during a load"
    );
}

#[test]
fn a_store_only_written_to_the_cache_is_lost_but_opens() {
    // Nothing was ever synced after creation: the restart finds the new, empty store.
    let disk = VolatileDisk::new();
    let label = Path::new("power-loss.redb");
    let store = Store::open_with_backend(disk.backend(), label, StoreConfig::default()).unwrap();
    disk.cut_power_after(3);
    assert!(
        store.put_intent(&intent(1)).is_err(),
        "the write must fail once the power is off"
    );
    drop(store);
    let store = Store::open_with_backend(
        disk.after_power_loss(false, 1).backend(),
        label,
        StoreConfig::default(),
    )
    .unwrap();
    assert!(store.check().unwrap().is_clean());
}
