//! Everything written is there after the store is closed and opened again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::thread;

use mesh_store::{
    IntentStatus, NegotiationMeta, Role, Store, StoreConfig, StoredAgentRecord, StoredAttestation,
    StoredIntent, StoredPeer, StoredReputation,
};

fn intent(tag: u8, status: IntentStatus, own: bool) -> StoredIntent {
    StoredIntent {
        id: [tag; 32],
        envelope: vec![tag; 600],
        expires_at_unix_ms: 10_000 + u64::from(tag),
        status,
        own,
        received_at_unix_ms: 500,
    }
}

#[test]
fn every_table_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let peer = StoredPeer {
        peer_id: vec![1; 38],
        addresses: vec![
            "/ip4/127.0.0.1/tcp/7701".into(),
            "/dns4/a.example/tcp/1".into(),
        ],
        last_seen_unix_ms: 1_000,
    };
    let record = StoredAgentRecord {
        peer_id: vec![2; 38],
        envelope: vec![9; 300],
        expires_at_unix_ms: 50_000,
    };
    let open = intent(3, IntentStatus::Open, true);
    let cancelled = intent(4, IntentStatus::Open, false);
    let meta = NegotiationMeta {
        intent_id: open.id,
        role: Role::Publisher,
        counterparty: vec![5; 38],
        state: "agreed".into(),
        updated_at_unix_ms: 2_000,
    };
    let reputation = StoredReputation {
        peer_id: vec![6; 38],
        score: 0.625,
        observations: 12,
        updated_at_unix_ms: 3_000,
    };
    let attestation = StoredAttestation {
        key: [8; 32],
        encoded: vec![8; 250],
        expires_at_unix_ms: 60_000,
        standing: mesh_store::Standing::Own,
    };
    {
        let store = Store::open(&path).unwrap();
        store.upsert_peer(&peer).unwrap();
        store.set_own_record(b"own signed record").unwrap();
        store.put_agent_record(&record).unwrap();
        store
            .put_intents(&[open.clone(), cancelled.clone()])
            .unwrap();
        store
            .put_cancellation(&cancelled.id, b"signed cancel")
            .unwrap();
        store.append_event("intent", b"first").unwrap();
        store.append_event("negotiation", b"second").unwrap();
        store
            .append_transcript_message(&[7; 32], &meta, 0, b"offer")
            .unwrap();
        store
            .append_transcript_message(&[7; 32], &meta, 1, b"accept")
            .unwrap();
        store.put_reputation(&reputation).unwrap();
        store.set_cursor("sse", 2).unwrap();
        store.put_attestation(&attestation).unwrap();
    }

    let store = Store::open(&path).unwrap();
    assert_eq!(store.peers(10).unwrap(), [peer]);
    assert_eq!(
        store.own_record().unwrap().as_deref(),
        Some(&b"own signed record"[..])
    );
    assert_eq!(store.agent_records(0).unwrap(), [record]);
    assert_eq!(store.intent(&open.id).unwrap(), Some(open.clone()));
    assert_eq!(
        store.intent(&cancelled.id).unwrap().unwrap().status,
        IntentStatus::Cancelled
    );
    assert_eq!(
        store.cancellation(&cancelled.id).unwrap().as_deref(),
        Some(&b"signed cancel"[..])
    );
    assert_eq!(store.open_intents(0, 10).unwrap(), [open]);
    let events = store.events_after(0, 10).unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| (e.seq, e.kind.as_str(), e.body.as_slice()))
            .collect::<Vec<_>>(),
        [
            (1, "intent", &b"first"[..]),
            (2, "negotiation", &b"second"[..])
        ]
    );
    assert_eq!(store.negotiation(&[7; 32]).unwrap(), Some(meta));
    assert_eq!(
        store.transcript(&[7; 32]).unwrap(),
        [b"offer".to_vec(), b"accept".to_vec()]
    );
    assert_eq!(store.reputations().unwrap(), [reputation]);
    assert_eq!(store.cursor("sse").unwrap(), Some(2));
    assert_eq!(store.attestations(0).unwrap(), [attestation]);
    let report = store.check().unwrap();
    assert!(report.is_clean(), "{report}");
}

#[test]
fn attestations_and_their_bound_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let config = StoreConfig::new().with_max_attestations(2);
    let attestation = |tag: u8, expires_at_unix_ms: u64| StoredAttestation {
        key: [tag; 32],
        encoded: vec![tag; 100],
        expires_at_unix_ms,
        standing: mesh_store::Standing::Stranger(0),
    };
    {
        let store = Store::open_with(&path, config.clone()).unwrap();
        store.put_attestation(&attestation(1, 1_000)).unwrap();
        store.put_attestation(&attestation(2, 9_000)).unwrap();
    }
    {
        let store = Store::open_with(&path, config.clone()).unwrap();
        assert_eq!(
            store.attestations(0).unwrap(),
            [attestation(1, 1_000), attestation(2, 9_000)]
        );
        // The expiry index came back too: the soonest-expiring one is evicted.
        store.put_attestation(&attestation(3, 5_000)).unwrap();
    }
    {
        let store = Store::open_with(&path, config).unwrap();
        assert_eq!(
            store.attestations(0).unwrap(),
            [attestation(2, 9_000), attestation(3, 5_000)]
        );
        assert_eq!(store.prune_expired(6_000).unwrap().attestations, 1);
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.attestations(0).unwrap(), [attestation(2, 9_000)]);
    assert_eq!(store.attestation_count().unwrap(), 1);
    let report = store.check().unwrap();
    assert!(report.is_clean(), "{report}");
}

#[test]
fn clones_write_from_several_threads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.redb")).unwrap();
    let handles: Vec<_> = (0..4u8)
        .map(|thread_no| {
            let store = store.clone();
            thread::spawn(move || {
                let mut seqs = Vec::new();
                for i in 0..25u8 {
                    seqs.push(store.append_event("t", &[thread_no, i]).unwrap());
                }
                seqs
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=100).collect::<Vec<u64>>());
    assert!(store.check().unwrap().is_clean());
}
