//! Quotas and replays, against real MESH nodes over loopback TCP.
//!
//! `relay` and `subscriber` are honest MESH nodes on one intent topic, the subscriber reaching
//! the network only through the relay; `honest` is a MESH publisher. The attacker (a plain
//! libp2p swarm) is connected to the relay alone and publishes valid intents of its own:
//! - ten times its quota: the relay, its first hop, forwards the quota and drops the rest
//!   (penalised until gossipsub graylists the attacker), while the honest publisher keeps
//!   full delivery;
//! - an intent again after gossipsub has forgotten it: the relay recognises the replay and
//!   forwards nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::attacker::{AttackerNode, PATIENCE, wait_until};
use common::{TestNode, start_configured};
use libp2p::PeerId;
use mesh_core::{Capability, Intent, Keypair, unix_ms};
use mesh_net::metrics::ReasonLabel;
use mesh_net::{Limits, MeshHandle, NetConfig, PublishError, Rate};

const CAPABILITY: &str = "text-generation";
/// Intents per publisher in this test.
const QUOTA: u32 = 5;

fn topic() -> String {
    Capability::new(CAPABILITY).expect("capability").topic()
}

/// Gossipsub forgets message ids after 2 s.
fn forgetful(config: NetConfig) -> NetConfig {
    config.with_gossip_duplicate_cache(Duration::from_secs(2))
}

fn limited(config: NetConfig) -> NetConfig {
    // Refilled once an hour: nothing comes back while the test runs.
    let quota = Rate {
        per_second: f64::from(QUOTA) / 3600.0,
        burst: f64::from(QUOTA),
    };
    forgetful(config).with_limits(Limits::default().with_intents_per_publisher(quota))
}

fn rejected(node: &MeshHandle, reason: &str) -> u64 {
    node.metrics()
        .messages_rejected
        .get_or_create(&ReasonLabel {
            reason: reason.to_owned(),
        })
        .get()
}

async fn reputation(node: &MeshHandle, peer: PeerId) -> f64 {
    node.peers()
        .await
        .expect("peers")
        .into_iter()
        .find(|p| p.peer_id == peer.to_string())
        .map_or(mesh_core::reputation::NEUTRAL, |p| p.reputation)
}

/// Publishers of the intents `node` received within `wait`, one entry per intent.
async fn received(node: &mut TestNode, wait: Duration) -> Vec<PeerId> {
    received_titles(node, wait)
        .await
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

/// Publisher and title of the intents `node` received within `wait`.
async fn received_titles(node: &mut TestNode, wait: Duration) -> Vec<(PeerId, String)> {
    let mut out = Vec::new();
    let deadline = Instant::now() + wait;
    while let Ok(Ok(r)) = tokio::time::timeout_at(deadline.into(), node.intents.recv()).await {
        out.push((r.intent.publisher, r.intent.title().to_owned()));
    }
    out
}

/// An attacker connected to `relay` only, subscribed to the intent topic, in the relay's view.
async fn attacker_at(relay: &TestNode) -> AttackerNode {
    let attacker = AttackerNode::spawn_dialing_only();
    let (relay_id, addr) = (relay.handle.peer_id(), relay.addr.clone());
    attacker.join_topic_at(&topic(), relay_id, addr).await;
    attacker
}

fn signed(key: &Keypair, title: String) -> Vec<u8> {
    Intent::new(title)
        .capabilities([CAPABILITY])
        .ttl(Duration::from_secs(600))
        .sign(key, unix_ms(SystemTime::now()))
        .expect("sign")
        .envelope
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_over_its_quota_is_cut_at_the_first_hop() {
    common::init_tracing();
    let relay = start_configured(Keypair::generate_ed25519(), &[CAPABILITY], None, limited).await;
    let mut subscriber = start_configured(
        Keypair::generate_ed25519(),
        &[CAPABILITY],
        Some(&relay.addr),
        limited,
    )
    .await;
    let honest =
        start_configured(Keypair::generate_ed25519(), &[], Some(&relay.addr), limited).await;
    let attacker = attacker_at(&relay).await;
    let attacker_id = attacker.peer_id();

    // The honest publisher reaches the subscriber first: the mesh works (and its latency is
    // the baseline of the figures printed below).
    honest
        .handle
        .publish_intent(&Intent::new("warm-up").capabilities([CAPABILITY]))
        .await
        .expect("an honest publish");
    let honest_id = honest.handle.peer_id();
    let warm = common::drain(&mut subscriber.intents, Duration::from_secs(10)).await;
    let (_, baseline) = common::deliveries(&warm, |r| r.intent.publisher == honest_id);
    assert!(
        baseline.is_some(),
        "the honest publisher's first intent arrives"
    );

    // Ten times the quota from the attacker, signed and valid in every other way.
    let flood = 10 * QUOTA as usize;
    for k in 0..flood {
        let data = signed(&attacker.key, format!("flood {k}"));
        if let Err(e) = attacker.publish(&topic(), data).await {
            panic!("attacker publish {k}: {e}");
        }
    }
    // Meanwhile the honest publisher stays within its quota (the warm-up was one).
    for k in 1..QUOTA {
        honest
            .handle
            .publish_intent(&Intent::new(format!("honest {k}")).capabilities([CAPABILITY]))
            .await
            .expect("an honest publish within the quota");
    }
    let got = common::drain(&mut subscriber.intents, Duration::from_secs(8)).await;
    let (from_attacker, _) = common::deliveries(&got, |r| r.intent.publisher == attacker_id);
    let (from_honest, honest_latency) =
        common::deliveries(&got, |r| r.intent.publisher == honest_id);
    eprintln!(
        "over quota: honest intents delivered {from_honest} of {}, median signed-to-received \
         {honest_latency:?} ms (before the attack {baseline:?} ms); attacker's delivered \
         {from_attacker} of {flood}",
        QUOTA - 1,
    );
    assert_eq!(
        from_honest,
        QUOTA as usize - 1,
        "every honest intent after the warm-up arrives"
    );
    assert_eq!(
        from_attacker, QUOTA as usize,
        "the subscriber got {from_attacker} of the attacker's {flood} intents"
    );
    // The relay refused the first intents over the quota; the penalty for them soon put the
    // attacker below gossipsub's graylist threshold, after which the relay ignores it unread.
    assert!(
        rejected(&relay.handle, "over_quota") >= 1,
        "the relay counted intents over the quota"
    );
    // A first hop is any node the attacker reaches directly (its DHT may connect it to the
    // subscriber too): intents over the quota are refused there, so no node ever sees one
    // relayed by another.
    for node in [&relay, &subscriber] {
        assert_eq!(
            rejected(&node.handle, "over_quota_relayed"),
            0,
            "an intent over the quota went past its first hop"
        );
    }
    assert!(
        reputation(&relay.handle, attacker_id).await < mesh_core::reputation::NEUTRAL,
        "the relay penalised the attacker"
    );

    // The honest node keeps to the quota itself and says so.
    match honest
        .handle
        .publish_intent(&Intent::new("one too many").capabilities([CAPABILITY]))
        .await
    {
        Err(PublishError::RateLimited { .. }) => {}
        other => panic!("expected a rate-limit error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_after_gossipsub_forgot_the_intent_is_not_forwarded() {
    common::init_tracing();
    let relay = start_configured(Keypair::generate_ed25519(), &[CAPABILITY], None, forgetful).await;
    let mut subscriber = start_configured(
        Keypair::generate_ed25519(),
        &[CAPABILITY],
        Some(&relay.addr),
        forgetful,
    )
    .await;
    let attacker = attacker_at(&relay).await;
    let attacker_id = attacker.peer_id();
    wait_until("the subscriber to join the relay's mesh", async || {
        relay
            .handle
            .topic_peers(Capability::new(CAPABILITY).expect("capability"))
            .await
            .expect("topic peers")
            .mesh
            .contains(&subscriber.handle.peer_id())
    })
    .await;

    let data = signed(&attacker.key, "once".to_owned());
    let deadline = Instant::now() + PATIENCE;
    let mut first = Vec::new();
    while first.is_empty() {
        assert!(Instant::now() < deadline, "the intent never arrived");
        let _ = attacker.publish(&topic(), data.clone()).await;
        first = received(&mut subscriber, Duration::from_secs(2)).await;
    }
    assert_eq!(first, vec![attacker_id]);

    // Gossipsub on every node forgets the message id after 2 s here; the attacker's too, so it
    // can publish the same bytes again.
    let replays = rejected(&relay.handle, "replayed");
    let mut again = Vec::new();
    let mut filler = 0;
    let deadline = Instant::now() + PATIENCE;
    while rejected(&relay.handle, "replayed") == replays {
        assert!(
            Instant::now() < deadline,
            "the replay never reached the relay"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        // Gossipsub drops expired ids only when it inserts a new one: a fresh intent first.
        filler += 1;
        let fresh = signed(&attacker.key, format!("filler {filler}"));
        let _ = attacker.publish(&topic(), fresh).await;
        let _ = attacker.publish(&topic(), data.clone()).await;
        again.extend(received_titles(&mut subscriber, Duration::from_millis(500)).await);
    }
    again.extend(received_titles(&mut subscriber, Duration::from_secs(2)).await);
    again.retain(|(_, title)| title == "once");
    assert!(
        again.is_empty(),
        "the subscriber got the replay again: {again:?}"
    );
}
