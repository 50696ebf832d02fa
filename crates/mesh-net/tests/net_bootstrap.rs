//! Bootstrap peers are dialled with retry and backoff: a node started before its bootstrap peer
//! connects once that peer comes up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use mesh_core::Keypair;
use mesh_net::NetConfig;
use prometheus_client::registry::Registry;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_keeps_retrying_until_bootstrap_peer_appears() {
    common::init_tracing();
    // A port nobody listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hub_key = Keypair::generate_ed25519();
    let hub_addr: libp2p::Multiaddr = format!(
        "/ip4/127.0.0.1/tcp/{port}/p2p/{}",
        hub_key.public().to_peer_id()
    )
    .parse()
    .unwrap();

    let agent = common::start(&["text-generation"], Some(&hub_addr)).await;
    // Let a few dials fail.
    let deadline = Instant::now() + Duration::from_secs(20);
    let failures = |h: &mesh_net::MeshHandle| {
        h.metrics()
            .bootstrap_dials
            .get_or_create(&mesh_net::metrics::ResultLabel {
                result: "error".into(),
            })
            .get()
    };
    while failures(&agent.handle) < 2 {
        assert!(
            Instant::now() < deadline,
            "no failed bootstrap dial was counted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(agent.handle.peers().await.unwrap().is_empty());

    // Now the bootstrap peer comes up on that address.
    let config = NetConfig::new(vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()])
        .with_mdns(false);
    let (hub, _task) = mesh_net::spawn(hub_key, config, &mut Registry::default()).unwrap();

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let peers = agent.handle.peers().await.unwrap();
        if peers.iter().any(|p| p.peer_id == hub.peer_id().to_string()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "agent never reached the bootstrap peer after it came up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ok = agent
        .handle
        .metrics()
        .bootstrap_dials
        .get_or_create(&mesh_net::metrics::ResultLabel {
            result: "ok".into(),
        })
        .get();
    assert_eq!(ok, 1);
    hub.shutdown().await.unwrap();
    agent.handle.shutdown().await.unwrap();
}
