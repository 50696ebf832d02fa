//! Proof-of-work stamps, against real MESH nodes over loopback TCP.
//!
//! `relay` and `subscriber` are honest MESH nodes of a network that asks every intent for a
//! stamp of [`BITS`]; the subscriber reaches the network only through the relay, and `honest`
//! publishes through it. The attacker (a plain libp2p swarm connected to the relay alone)
//! publishes intents that are signed and valid in every other way: with a stamp, like an honest
//! publisher's, they arrive; without one they are rejected at the first hop and never reach
//! the subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::attacker::AttackerNode;
use common::{TestNode, start_configured};
use libp2p::PeerId;
use mesh_core::{Capability, Intent, Keypair, unix_ms};
use mesh_net::metrics::ReasonLabel;
use mesh_net::{MeshHandle, NetConfig};

const CAPABILITY: &str = "text-generation";
/// The network's difficulty: a few thousand hashes, quick in a debug build.
const BITS: u8 = 12;

fn topic() -> String {
    Capability::new(CAPABILITY).expect("capability").topic()
}

fn stamped(config: NetConfig) -> NetConfig {
    config.with_proof_of_work_bits(BITS)
}

fn rejected(node: &MeshHandle, reason: &str) -> u64 {
    node.metrics()
        .messages_rejected
        .get_or_create(&ReasonLabel {
            reason: reason.to_owned(),
        })
        .get()
}

/// Publisher and title of the intents `node` received within `wait`.
async fn received(node: &mut TestNode, wait: Duration) -> Vec<(PeerId, String)> {
    let mut out = Vec::new();
    let deadline = Instant::now() + wait;
    while let Ok(Ok(r)) = tokio::time::timeout_at(deadline.into(), node.intents.recv()).await {
        out.push((r.intent.publisher, r.intent.title().to_owned()));
    }
    out
}

fn signed(key: &Keypair, title: &str, bits: u8) -> Vec<u8> {
    Intent::new(title)
        .capabilities([CAPABILITY])
        .ttl(Duration::from_secs(600))
        .sign_with_work(key, unix_ms(SystemTime::now()), bits)
        .expect("sign")
        .envelope
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intents_without_the_networks_stamp_stop_at_the_first_hop() {
    common::init_tracing();
    let relay = start_configured(Keypair::generate_ed25519(), &[CAPABILITY], None, stamped).await;
    let mut subscriber = start_configured(
        Keypair::generate_ed25519(),
        &[CAPABILITY],
        Some(&relay.addr),
        stamped,
    )
    .await;
    let honest =
        start_configured(Keypair::generate_ed25519(), &[], Some(&relay.addr), stamped).await;

    // An honest node stamps its intents itself.
    let mut arrived = false;
    for k in 0..20 {
        let title = format!("honest {k}");
        let published = honest
            .handle
            .publish_intent(&Intent::new(&title).capabilities([CAPABILITY]))
            .await;
        if published.is_ok()
            && received(&mut subscriber, Duration::from_secs(3))
                .await
                .iter()
                .any(|(_, t)| *t == title)
        {
            arrived = true;
            break;
        }
    }
    assert!(arrived, "an honest, stamped intent reaches the subscriber");

    let attacker = AttackerNode::spawn_dialing_only();
    let (relay_id, addr) = (relay.handle.peer_id(), relay.addr.clone());
    attacker.join_topic_at(&topic(), relay_id, addr).await;

    // One that paid, like an honest publisher, arrives.
    attacker
        .publish(&topic(), signed(&attacker.key, "paid", BITS))
        .await
        .expect("publish");
    // Then unstamped ones (skipping the one in 4,096 that meets 12 bits by chance): each is
    // rejected and penalised, and the penalty soon graylists the attacker.
    let mut unstamped = 0;
    let mut k = 0;
    while unstamped < 5 {
        k += 1;
        let title = format!("free {k}");
        let data = signed(&attacker.key, &title, 0);
        let intent = mesh_core::SignedIntent::verify(&data, unix_ms(SystemTime::now()))
            .expect("a valid intent");
        if intent.work_bits() >= u32::from(BITS) {
            continue;
        }
        attacker.publish(&topic(), data).await.expect("publish");
        unstamped += 1;
    }
    let got = received(&mut subscriber, Duration::from_secs(8)).await;
    let from_attacker: Vec<&str> = got
        .iter()
        .filter(|(p, _)| *p == attacker.peer_id())
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(
        from_attacker,
        vec!["paid"],
        "only the attacker's stamped intent arrives"
    );
    assert!(
        rejected(&relay.handle, "insufficient_work") >= 1,
        "the relay rejected the unstamped intents"
    );
    assert_eq!(
        rejected(&subscriber.handle, "insufficient_work"),
        0,
        "no unstamped intent went past the first hop"
    );
}
