//! Covert flash: attackers join the intent topic's meshes, forward everything for a while,
//! then stop forwarding while staying connected. Against real MESH nodes over loopback TCP.
//!
//! Shown: every honest node still receives every intent, before and after the attackers
//! stop; every honest node that has an attacker in its mesh when it stops scores it below
//! zero within a bounded number of gossipsub heartbeats (and so prunes it); honest peers keep
//! a score of zero or more.
//!
//! Reduced size here (8 honest nodes, 3 attackers); the full size is
//! `MESH_ATTACK_HONEST=30 MESH_ATTACK_ATTACKERS=10 cargo test --release -p mesh-net --test
//! net_covert_flash -- --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::attacker::{AttackerNode, wait_until};
use common::{TestNode, start};
use libp2p::PeerId;
use libp2p::gossipsub::IdentTopic;
use mesh_core::{Capability, Intent};
use mesh_net::MeshHandle;

const CAPABILITY: &str = "text-generation";
/// gossipsub's heartbeat in MESH.
const HEARTBEAT: Duration = Duration::from_millis(700);
/// Longest an attacker may keep a non-negative score after it stops forwarding.
const BOUND_HEARTBEATS: u32 = 60;
/// One intent from the next honest node every this long.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn capability() -> Capability {
    Capability::new(CAPABILITY).expect("capability")
}

async fn scores(node: &MeshHandle) -> HashMap<PeerId, f64> {
    node.peers()
        .await
        .expect("peers")
        .into_iter()
        .filter_map(|p| Some((p.peer_id.parse().ok()?, p.gossip_score?)))
        .collect()
}

async fn mesh(node: &MeshHandle) -> HashSet<PeerId> {
    node.topic_peers(capability())
        .await
        .expect("topic peers")
        .mesh
        .into_iter()
        .collect()
}

/// Publishes one intent per [`PUBLISH_EVERY`] from the honest nodes in turn for `length`,
/// calling `each` after every publish; returns the titles published and by whom.
async fn publish_for(
    honest: &[TestNode],
    round: &str,
    length: Duration,
    mut each: impl AsyncFnMut(),
) -> Vec<(usize, String)> {
    let mut published = Vec::new();
    let until = Instant::now() + length;
    let mut k = 0;
    while Instant::now() < until {
        let from = k % honest.len();
        let title = format!("{round} {k}");
        honest[from]
            .handle
            .publish_intent(&Intent::new(&title).capabilities([CAPABILITY]))
            .await
            .expect("an honest publish");
        published.push((from, title));
        k += 1;
        each().await;
        tokio::time::sleep(PUBLISH_EVERY).await;
    }
    published
}

/// Titles every node received so far; the latency of each delivery (signed to received, ms)
/// goes to `latencies`.
fn drain(honest: &mut [TestNode], got: &mut [HashSet<String>], latencies: &mut Vec<u64>) {
    for (node, got) in honest.iter_mut().zip(got.iter_mut()) {
        while let Ok(r) = node.intents.try_recv() {
            if got.insert(r.intent.title().to_owned()) {
                latencies.push(common::latency_ms(&r));
            }
        }
    }
}

/// The median and 99th percentile of `v`, ms.
fn percentiles(v: &mut [u64]) -> (u64, u64) {
    v.sort_unstable();
    let at = |q: f64| v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1)));
    (
        at(0.5).copied().unwrap_or_default(),
        at(0.99).copied().unwrap_or_default(),
    )
}

/// Fails unless every intent of `published` reached every honest node but its publisher.
fn assert_all_delivered(round: &str, published: &[(usize, String)], got: &[HashSet<String>]) {
    let mut missing = Vec::new();
    for (from, title) in published {
        for (i, got) in got.iter().enumerate() {
            if i != *from && !got.contains(title) {
                missing.push(format!("{title:?} at node {i}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{round}: {} of {} deliveries missing: {:?}",
        missing.len(),
        published.len() * (got.len() - 1),
        &missing[..missing.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attackers_that_stop_forwarding_fall_below_zero_and_delivery_holds() {
    common::init_tracing();
    let honest_count = count("MESH_ATTACK_HONEST", 8);
    let attacker_count = count("MESH_ATTACK_ATTACKERS", 3);

    let first = start(&[CAPABILITY], None).await;
    let bootstrap = first.addr.clone();
    let mut honest = vec![first];
    for _ in 1..honest_count {
        honest.push(start(&[CAPABILITY], Some(&bootstrap)).await);
    }
    let mut attackers = Vec::new();
    for _ in 0..attacker_count {
        let attacker = AttackerNode::spawn_validating();
        let addrs: Vec<_> = honest.iter().map(|n| n.addr.clone()).collect();
        let topic = IdentTopic::new(capability().topic());
        attacker
            .with(move |s| {
                s.behaviour_mut()
                    .gossipsub
                    .subscribe(&topic)
                    .expect("subscribe");
                for addr in addrs {
                    s.dial(addr).expect("dial an honest node");
                }
            })
            .await;
        attackers.push(attacker);
    }
    let attacker_ids: HashSet<PeerId> = attackers.iter().map(|a| a.peer_id()).collect();

    // Every attacker gets into some honest node's mesh.
    wait_until("every attacker in an honest mesh", async || {
        let mut in_mesh = HashSet::new();
        for node in &honest {
            in_mesh.extend(mesh(&node.handle).await);
        }
        attacker_ids.iter().all(|a| in_mesh.contains(a))
    })
    .await;

    // The attackers behave: they forward everything, long enough to be judged.
    let mut got: Vec<HashSet<String>> = vec![HashSet::new(); honest.len()];
    let behaved = publish_for(&honest, "behaved", Duration::from_secs(20), async || {}).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut behaved_latency = Vec::new();
    drain(&mut honest, &mut got, &mut behaved_latency);
    assert_all_delivered("while the attackers forward", &behaved, &got);

    // Which honest node has which attacker in its mesh when they stop.
    let mut judges: Vec<(usize, PeerId)> = Vec::new();
    for (i, node) in honest.iter().enumerate() {
        for peer in mesh(&node.handle).await {
            if attacker_ids.contains(&peer) {
                judges.push((i, peer));
            }
        }
    }
    assert!(!judges.is_empty(), "no attacker is in an honest mesh");
    for attacker in &attackers {
        attacker.set_forwarding(false);
    }
    let stopped = Instant::now();

    // They stop; intents keep flowing. Watch each judge's score of its attacker.
    let mut fell: HashMap<(usize, PeerId), Duration> = HashMap::new();
    let mut flashed = Vec::new();
    for (round, length) in [("flash", Duration::from_secs(45))] {
        let handles: Vec<MeshHandle> = honest.iter().map(|n| n.handle.clone()).collect();
        flashed = publish_for(&honest, round, length, async || {
            for (i, attacker) in &judges {
                if fell.contains_key(&(*i, *attacker)) {
                    continue;
                }
                match scores(&handles[*i]).await.get(attacker) {
                    Some(score) if *score < 0.0 => {
                        fell.insert((*i, *attacker), stopped.elapsed());
                    }
                    // Disconnected: it can no longer harm this node.
                    None => {
                        fell.insert((*i, *attacker), stopped.elapsed());
                    }
                    Some(_) => {}
                }
            }
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut flash_latency = Vec::new();
    drain(&mut honest, &mut got, &mut flash_latency);
    assert_all_delivered("after the attackers stopped forwarding", &flashed, &got);
    let (b50, b99) = percentiles(&mut behaved_latency);
    let (f50, f99) = percentiles(&mut flash_latency);
    println!(
        "covert flash: delivery 100% in both phases; latency p50/p99 {b50}/{b99} ms while the \
         attackers forward, {f50}/{f99} ms after they stop"
    );

    let slowest = fell.values().max().copied().unwrap_or_default();
    println!(
        "covert flash: {} honest, {} attackers, {} (node, attacker) mesh links; all below zero \
         after {:.1} s = {:.0} heartbeats",
        honest.len(),
        attackers.len(),
        judges.len(),
        slowest.as_secs_f64(),
        slowest.as_secs_f64() / HEARTBEAT.as_secs_f64()
    );
    let late: Vec<_> = judges.iter().filter(|j| !fell.contains_key(j)).collect();
    assert!(
        late.is_empty(),
        "{} of {} judges still score their attacker at 0 or more after {:?}",
        late.len(),
        judges.len(),
        stopped.elapsed()
    );
    assert!(
        slowest <= HEARTBEAT * BOUND_HEARTBEATS,
        "the slowest fall took {slowest:?}, more than {BOUND_HEARTBEATS} heartbeats"
    );

    // Honest peers keep their standing.
    let honest_ids: HashSet<PeerId> = honest.iter().map(|n| n.handle.peer_id()).collect();
    for (i, node) in honest.iter().enumerate() {
        for (peer, score) in scores(&node.handle).await {
            if honest_ids.contains(&peer) {
                assert!(
                    score >= 0.0,
                    "node {i} scores honest peer {peer} at {score:.2}"
                );
            }
        }
    }
}
