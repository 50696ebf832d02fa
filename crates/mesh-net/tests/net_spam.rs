//! Invalid spam: a peer that sends invalid intents is graylisted, and nothing it sends
//! afterwards, valid intents included, reaches honest nodes. Against real MESH nodes over
//! loopback TCP.
//!
//! `relay` and `subscriber` are honest MESH nodes on one intent topic, the subscriber reaching
//! the network only through the relay; `honest` publishes through the relay. The attacker (a
//! plain libp2p swarm connected to the relay alone) sends garbage and forged intents, then
//! valid, signed intents of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::attacker::{AttackerNode, wait_until};
use common::start;
use libp2p::PeerId;
use mesh_core::{Capability, Intent, Keypair, unix_ms};
use mesh_net::{MeshHandle, ReceivedIntent};

const CAPABILITY: &str = "text-generation";
/// gossipsub's graylist threshold in MESH.
const GRAYLIST: f64 = -80.0;

fn topic() -> String {
    Capability::new(CAPABILITY).expect("capability").topic()
}

async fn gossip_score(node: &MeshHandle, peer: PeerId) -> Option<f64> {
    node.peers()
        .await
        .expect("peers")
        .into_iter()
        .find(|p| p.peer_id == peer.to_string())
        .and_then(|p| p.gossip_score)
}

/// Publishes `n` honest intents titled `<label> k` through `honest`.
async fn publish_honest(honest: &MeshHandle, label: &str, n: usize) {
    for k in 0..n {
        honest
            .publish_intent(&Intent::new(format!("{label} {k}")).capabilities([CAPABILITY]))
            .await
            .expect("an honest publish");
    }
}

/// The honest intents titled `<label> …` among `got`: how many, and their median latency.
fn honest_figures(
    got: &[Arc<ReceivedIntent>],
    honest: PeerId,
    label: &str,
) -> (usize, Option<u64>) {
    common::deliveries(got, |r| {
        r.intent.publisher == honest && r.intent.title().starts_with(label)
    })
}

/// Honest intents published before and during the attack.
const HONEST_INTENTS: usize = 5;

fn signed(key: &Keypair, title: &str) -> Vec<u8> {
    Intent::new(title)
        .capabilities([CAPABILITY])
        .ttl(Duration::from_secs(600))
        .sign(key, unix_ms(SystemTime::now()))
        .expect("sign")
        .envelope
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_invalid_intents_is_graylisted_and_silenced() {
    common::init_tracing();
    let relay = start(&[CAPABILITY], None).await;
    let mut subscriber = start(&[CAPABILITY], Some(&relay.addr)).await;
    let honest = start(&[], Some(&relay.addr)).await;

    let attacker = AttackerNode::spawn_dialing_only();
    let attacker_id = attacker.peer_id();
    let (relay_id, addr) = (relay.handle.peer_id(), relay.addr.clone());
    attacker.join_topic_at(&topic(), relay_id, addr).await;

    // Before: the attacker's valid intent travels like anyone's, and honest intents arrive
    // (the baseline of the figures printed at the end).
    attacker
        .publish(&topic(), signed(&attacker.key, "before"))
        .await
        .expect("publish");
    publish_honest(&honest.handle, "baseline", HONEST_INTENTS).await;
    let before = common::drain(&mut subscriber.intents, Duration::from_secs(5)).await;
    let baseline = honest_figures(&before, honest.handle.peer_id(), "baseline");
    assert!(
        before
            .iter()
            .any(|r| r.intent.publisher == attacker_id && r.intent.title() == "before"),
        "a valid intent from a peer in good standing arrives: {before:?}"
    );

    // Spam: garbage, and an intent whose signature no longer matches.
    attacker
        .publish(&topic(), b"not an envelope".to_vec())
        .await
        .expect("publish");
    let mut forged = signed(&attacker.key, "forged");
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    attacker.publish(&topic(), forged).await.expect("publish");
    wait_until("the relay to graylist the attacker", async || {
        gossip_score(&relay.handle, attacker_id)
            .await
            .is_some_and(|s| s < GRAYLIST)
    })
    .await;

    // After: nothing the attacker sends goes past the relay, however valid, while honest
    // intents do. (The attacker's DHT may connect it to the subscriber directly, which never
    // saw its spam and judges it on what it gets: only the relay's forwarding is at stake.)
    for k in 0..5 {
        attacker
            .publish(&topic(), signed(&attacker.key, &format!("after {k}")))
            .await
            .expect("publish");
    }
    publish_honest(&honest.handle, "honest", HONEST_INTENTS).await;
    let after = common::drain(&mut subscriber.intents, Duration::from_secs(6)).await;
    assert!(
        after
            .iter()
            .all(|r| r.intent.publisher != attacker_id || r.from != relay_id),
        "the relay forwarded the graylisted attacker's intents: {after:?}"
    );
    let during = honest_figures(&after, honest.handle.peer_id(), "honest");
    eprintln!(
        "spam: honest intents delivered {} of {HONEST_INTENTS} (without spam {} of \
         {HONEST_INTENTS}), median signed-to-received {:?} ms (without {:?} ms)",
        during.0, baseline.0, during.1, baseline.1
    );
    assert_eq!(
        during.0, HONEST_INTENTS,
        "every honest intent arrives while the attacker is graylisted: {after:?}"
    );
    let score = gossip_score(&relay.handle, attacker_id).await;
    assert!(
        score.is_some_and(|s| s < GRAYLIST),
        "the attacker stays graylisted: {score:?}"
    );
}
