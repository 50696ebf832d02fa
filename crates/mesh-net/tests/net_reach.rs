//! Reaching agents: rendezvous discovery and DHT discovery each on their own, peer exchange up to
//! the target peer count, a dead bootstrap entry, and a relay reservation that another agent
//! dials through. Real nodes on loopback TCP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use mesh_core::Keypair;
use mesh_net::reachability::ReservationState;
use mesh_net::{DiscoverySources, NetConfig, Role};

fn sources(dht: bool, rendezvous: bool) -> impl Fn(NetConfig) -> NetConfig + Clone {
    move |c: NetConfig| c.with_discovery(DiscoverySources::only(dht, rendezvous))
}

fn coordinator(c: NetConfig) -> NetConfig {
    c.with_role(Role::Coordinator)
}

async fn wait_for(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A coordinator and two agents; `configure` sets the agents' discovery sources. Returns
/// (coordinator, offering agent, querying agent).
async fn three(
    dht: bool,
    rendezvous: bool,
) -> (common::TestNode, common::TestNode, common::TestNode) {
    let hub = common::start_configured(Keypair::generate_ed25519(), &[], None, |c| {
        sources(dht, rendezvous)(coordinator(c))
    })
    .await;
    let offer = common::start_configured(
        Keypair::generate_ed25519(),
        &["text-generation"],
        Some(&hub.addr),
        sources(dht, rendezvous),
    )
    .await;
    let query = common::start_configured(
        Keypair::generate_ed25519(),
        &["data-analysis"],
        Some(&hub.addr),
        sources(dht, rendezvous),
    )
    .await;
    (hub, offer, query)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendezvous_discovery_finds_agents_with_the_dht_off() {
    common::init_tracing();
    let (hub, offer, query) = three(false, true).await;
    let found = common::discover_until(&query.handle, &["text-generation"], 1).await;
    assert_eq!(found.len(), 1, "found through rendezvous alone: {found:?}");
    assert_eq!(found[0].peer_id, offer.handle.peer_id().to_string());
    assert_eq!(found[0].capabilities, vec!["text-generation".to_string()]);
    for n in [hub, offer, query] {
        n.handle.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dht_discovery_finds_agents_with_rendezvous_off() {
    common::init_tracing();
    let (hub, offer, query) = three(true, false).await;
    let found = common::discover_until(&query.handle, &["text-generation"], 1).await;
    assert_eq!(found.len(), 1, "found through the DHT alone: {found:?}");
    assert_eq!(found[0].peer_id, offer.handle.peer_id().to_string());
    for n in [hub, offer, query] {
        n.handle.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_with_both_sources_off_finds_nobody() {
    common::init_tracing();
    let (hub, _offer, query) = three(false, false).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let found = query
        .handle
        .discover_agents(mesh_net::AgentQuery::new().capabilities(["text-generation"]))
        .await
        .unwrap();
    assert!(found.is_empty(), "{found:?}");
    hub.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_knows_one_peer_reaches_its_target_peer_count() {
    common::init_tracing();
    let hub = common::start(&[], None).await;
    let mut others = Vec::new();
    for _ in 0..6 {
        others.push(common::start(&[], Some(&hub.addr)).await);
    }
    let target = 5;
    let newcomer =
        common::start_configured(Keypair::generate_ed25519(), &[], Some(&hub.addr), |c| {
            let mut c = c;
            c.peer_exchange.target_peers = target;
            c.peer_exchange.random_walk_interval = Duration::from_secs(2);
            c
        })
        .await;
    wait_for("the target peer count", 60, async || {
        newcomer.handle.peers().await.unwrap().len() >= target
    })
    .await;
    newcomer.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_bootstrap_entry_does_not_stop_the_join() {
    common::init_tracing();
    let hub = common::start(&[], None).await;
    let agent = common::start(&["text-generation"], Some(&hub.addr)).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead: Multiaddr = format!(
        "/ip4/127.0.0.1/tcp/{port}/p2p/{}",
        Keypair::generate_ed25519().public().to_peer_id()
    )
    .parse()
    .unwrap();
    let newcomer = common::start_configured(Keypair::generate_ed25519(), &[], None, |c| {
        c.with_bootstrap(vec![dead, hub.addr.clone()])
    })
    .await;
    let found = common::discover_until(&newcomer.handle, &["text-generation"], 1).await;
    assert_eq!(found.len(), 1, "joined through the live entry: {found:?}");
    assert_eq!(found[0].peer_id, agent.handle.peer_id().to_string());
    newcomer.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reserves_at_a_relay_and_is_reached_through_it() {
    common::init_tracing();
    let hub = common::start_configured(Keypair::generate_ed25519(), &[], None, coordinator).await;
    let relay = hub.addr.clone();
    let private = common::start_configured(
        Keypair::generate_ed25519(),
        &["text-generation"],
        None,
        |c| {
            let mut c = c;
            c.nat.relays = vec![relay];
            c
        },
    )
    .await;
    wait_for("an active reservation", 30, async || {
        let r = private.handle.reachability().await.unwrap();
        r.reservations
            .iter()
            .any(|x| x.state == ReservationState::Active)
    })
    .await;
    let report = private.handle.reachability().await.unwrap();
    let circuit: Multiaddr = report.reservations[0].address.parse().unwrap();
    assert!(
        circuit.iter().any(|p| p == Protocol::P2pCircuit),
        "{circuit}"
    );

    // Another node dials the agent through the relay only.
    let other = common::start(&[], None).await;
    other.handle.dial(circuit).await.unwrap();
    let target = private.handle.peer_id().to_string();
    wait_for("a connection through the relay", 30, async || {
        let r = other.handle.reachability().await.unwrap();
        r.peers.iter().any(|p| p.peer_id == target)
    })
    .await;
    // On loopback nothing stops hole punching: the relayed connection is upgraded.
    wait_for("the direct upgrade", 30, async || {
        let r = other.handle.reachability().await.unwrap();
        r.peers
            .iter()
            .any(|p| p.peer_id == target && p.path == "direct" && p.upgraded_after_ms.is_some())
    })
    .await;
    let served = hub.handle.reachability().await.unwrap();
    assert_eq!(served.role, "coordinator");
    for n in [hub, private, other] {
        n.handle.shutdown().await.unwrap();
    }
}
