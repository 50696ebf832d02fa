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

use std::time::{Duration, Instant, SystemTime};

use common::attacker::{AttackerNode, wait_until};
use common::{TestNode, start};
use libp2p::PeerId;
use mesh_core::{Capability, Intent, Keypair, unix_ms};
use mesh_net::MeshHandle;

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

/// Publisher, title and forwarding peer of the intents `node` received within `wait`.
async fn received(node: &mut TestNode, wait: Duration) -> Vec<(PeerId, String, PeerId)> {
    let mut out = Vec::new();
    let deadline = Instant::now() + wait;
    while let Ok(Ok(r)) = tokio::time::timeout_at(deadline.into(), node.intents.recv()).await {
        out.push((r.intent.publisher, r.intent.title().to_owned(), r.from));
    }
    out
}

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

    // Before: the attacker's valid intent travels like anyone's.
    attacker
        .publish(&topic(), signed(&attacker.key, "before"))
        .await
        .expect("publish");
    let before = received(&mut subscriber, Duration::from_secs(5)).await;
    assert!(
        before
            .iter()
            .any(|(p, t, _)| *p == attacker_id && t == "before"),
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
    honest
        .handle
        .publish_intent(&Intent::new("honest").capabilities([CAPABILITY]))
        .await
        .expect("an honest publish");
    let after = received(&mut subscriber, Duration::from_secs(6)).await;
    assert!(
        after
            .iter()
            .all(|(p, _, from)| *p != attacker_id || *from != relay_id),
        "the relay forwarded the graylisted attacker's intents: {after:?}"
    );
    assert!(
        after
            .iter()
            .any(|(p, t, _)| *p == honest.handle.peer_id() && t == "honest"),
        "honest delivery continues: {after:?}"
    );
    let score = gossip_score(&relay.handle, attacker_id).await;
    assert!(
        score.is_some_and(|s| s < GRAYLIST),
        "the attacker stays graylisted: {score:?}"
    );
}
