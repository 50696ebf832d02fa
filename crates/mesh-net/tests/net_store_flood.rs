//! Strangers do not fill the disk: a plain libp2p peer floods a real node with large intents,
//! each signed by a fresh key (so the per-publisher quota never bites), and with receipt
//! attestations of strangers. The node has a small store budget. Its forwarder quota stops
//! storing what the peer relays, the store keeps others' intents and attestations within their byte budgets, and
//! the node's own intents (published before and during the flood) and its own receipt are all
//! in the store after the node stopped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::attacker::{AttackerNode, wait_until};
use common::start_configured;
use mesh_core::negotiation::{
    Body, Config as NegotiationConfig, Delivery, Eta, Negotiation, Price, Proposal, Receipt,
};
use mesh_core::trust::{Disclosure, ReceiptAttestation};
use mesh_core::{Capability, Intent, IntentId, Keypair, unix_ms};
use mesh_net::metrics::ReasonLabel;
use mesh_net::receipts::RECEIPTS_TOPIC;
use mesh_net::{MeshHandle, Rate};
use mesh_store::{Standing, Store, StoreBudget, StoreConfig};

const CAPABILITY: &str = "text-generation";
/// Bytes of others' intents the node keeps: about 20 of the flood's.
const INTENT_BUDGET: u64 = 1 << 20;
/// Bytes of attestations the node keeps: a handful.
const ATTESTATION_BUDGET: u64 = 8 << 10;
/// New intents the attacker may relay before it is throttled (refilled once an hour).
const FORWARDER_BURST: u32 = 60;
/// Intents in the flood, each from a fresh key.
const FLOOD: usize = 100;
/// Payload of each flooding intent.
const PAYLOAD: usize = 48 * 1024;
/// Strangers' attestations in the flood.
const RECEIPT_FLOOD: u64 = 40;

fn topic() -> String {
    Capability::new(CAPABILITY).expect("capability").topic()
}

fn budget() -> StoreConfig {
    StoreConfig::new().with_budget(
        StoreBudget::new()
            .with_others_intents(INTENT_BUDGET)
            .with_attestations(ATTESTATION_BUDGET),
    )
}

fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

fn large_intent(key: &Keypair, k: usize) -> Vec<u8> {
    Intent::new(format!("flood {k}"))
        .capabilities([CAPABILITY])
        .payload("application/octet-stream", vec![k as u8; PAYLOAD])
        .ttl(Duration::from_secs(3_600))
        .sign(key, now_ms())
        .expect("sign")
        .envelope
}

/// The attestation of a negotiation between `publisher` and `agent`, run to its receipt.
fn attestation(publisher: &Keypair, agent: &Keypair, n: u64) -> Vec<u8> {
    let at = now_ms() - 60_000;
    let mut id = [9u8; 32];
    id[..8].copy_from_slice(&n.to_be_bytes());
    let mut neg = Negotiation::new(
        IntentId(id),
        publisher.public().to_peer_id(),
        agent.public().to_peer_id(),
        NegotiationConfig::default(),
        at,
    )
    .unwrap();
    let price = Price::new("1.00", "USD").unwrap();
    let offer = Proposal::new(price, Eta::Within(Duration::from_secs(60)));
    neg.send(Body::Offer(offer), agent, at).unwrap();
    neg.send(Body::Accept, publisher, at + 1).unwrap();
    let delivery = Delivery::inline("text/plain", b"done".to_vec());
    neg.send(Body::Deliver(delivery), agent, at + 2).unwrap();
    neg.send(Body::Receipt(Receipt::new(0.9)), publisher, at + 3)
        .unwrap();
    ReceiptAttestation::from_transcript(neg.transcript(), Disclosure::Minimal)
        .unwrap()
        .encode()
}

fn throttled(node: &MeshHandle) -> u64 {
    node.metrics()
        .intents_throttled
        .get_or_create(&ReasonLabel {
            reason: "forwarder".to_owned(),
        })
        .get()
}

async fn publish_own(node: &MeshHandle, title: &str) -> String {
    node.publish_intent(&Intent::new(title).capabilities([CAPABILITY]))
        .await
        .expect("own publish")
        .id
}

/// Opens the store once the stopped node let go of it.
async fn reopen(path: &std::path::Path) -> Store {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match Store::open_with(path, budget()) {
            Ok(store) => return store,
            Err(mesh_store::StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot open the store: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_fresh_keys_stays_within_the_store_budget_and_own_data_survives() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let node_key = Keypair::generate_ed25519();
    let store = Store::open_with(&path, budget()).unwrap();
    let node = start_configured(node_key.clone(), &[CAPABILITY], None, move |mut c| {
        c.store = Some(store);
        c.publish_wait = Duration::from_secs(1);
        c.limits.intents_per_forwarder = Rate {
            per_second: f64::from(FORWARDER_BURST) / 3600.0,
            burst: f64::from(FORWARDER_BURST),
        };
        c
    })
    .await;
    let node_id = node.handle.peer_id();
    let file_before = std::fs::metadata(&path).unwrap().len();

    let attacker = AttackerNode::spawn();
    attacker
        .join_topic_at(&topic(), node_id, node.addr.clone())
        .await;
    attacker
        .join_topic_at(RECEIPTS_TOPIC, node_id, node.addr.clone())
        .await;

    // Before the flood: an own intent, and a receipt of a negotiation the node was the agent
    // of (its own receipt, whoever relays it).
    let mut own = vec![publish_own(&node.handle, "own before").await];
    let someone = Keypair::generate_ed25519();
    attacker
        .publish(RECEIPTS_TOPIC, attestation(&someone, &node_key, 0))
        .await
        .unwrap();

    // The flood: large intents from fresh keys, and strangers' receipts.
    for k in 0..FLOOD {
        let key = Keypair::generate_ed25519();
        // A publish may find the attacker's send queue full; the flood goes on.
        let _ = attacker.publish(&topic(), large_intent(&key, k)).await;
        if k == FLOOD / 2 {
            own.push(publish_own(&node.handle, "own during").await);
        }
        if k % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for n in 1..=RECEIPT_FLOOD {
        let (rater, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let _ = attacker
            .publish(RECEIPTS_TOPIC, attestation(&rater, &agent, n))
            .await;
    }
    wait_until("the node to throttle the forwarder", async || {
        throttled(&node.handle) > 0
    })
    .await;
    // Let the writer take what is queued.
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(attacker);
    node.handle.shutdown().await.unwrap();
    drop(node);

    // After a restart of the store: within budget, own data all there.
    let store = reopen(&path).await;
    let usage = store.budget_usage().unwrap();
    let file_after = std::fs::metadata(&path).unwrap().len();
    eprintln!(
        "store flood: {usage:?}; {} intents held; file {file_before} -> {file_after} bytes",
        store.intent_count().unwrap()
    );
    assert!(
        store.check_budget_usage().unwrap().is_empty(),
        "{:?}",
        store.check_budget_usage()
    );
    assert!(
        usage.others_intents > INTENT_BUDGET / 2,
        "the flood reached the store: {usage:?}"
    );
    assert!(usage.others_intents <= INTENT_BUDGET, "{usage:?}");
    assert!(usage.attestations <= ATTESTATION_BUDGET, "{usage:?}");
    // redb files do not shrink, but with the budget the file holds about the budgets, not
    // the whole flood (FORWARDER_BURST intents of 48 KiB, about 3 MiB).
    assert!(
        file_after < 12 * INTENT_BUDGET,
        "the file grew from {file_before} to {file_after} bytes"
    );
    let own_stored: Vec<String> = store
        .own_intents(now_ms(), 100)
        .unwrap()
        .iter()
        .map(|i| i.id.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    for id in &own {
        assert!(
            own_stored.contains(id),
            "own intent {id} lost: {own_stored:?}"
        );
    }
    let attestations = store.attestations(now_ms()).unwrap();
    assert!(
        attestations.iter().any(|a| a.standing == Standing::Own),
        "the node's own receipt was lost: {} attestations kept",
        attestations.len()
    );
    assert!(store.check().unwrap().is_clean());
}
