//! The Rust SDK as an agent developer uses it: builder, connect, stream, publish, discover.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use mesh_sdk::{AgentQuery, Error, Intent, MeshNetwork, PeerId};

fn agent(dir: &std::path::Path, name: &str, caps: &[&str], bootstrap: &[String]) -> MeshNetwork {
    MeshNetwork::builder()
        .home(dir.join(name))
        .name(name)
        .capabilities(caps.iter().copied())
        .bootstrap_peers(bootstrap.iter().cloned())
        .listen_addresses(["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"])
        .mdns(false)
        .build()
        .expect("valid settings")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brief_example_works_end_to_end_over_quic_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let hub = agent(dir.path(), "hub", &[], &[]);
    hub.connect().await.unwrap();
    let addrs = hub.info().await.unwrap().listen_addrs;
    // The worker reaches the hub over QUIC, the publisher over TCP.
    let quic: Vec<String> = addrs
        .iter()
        .filter(|a| a.contains("/quic-v1/"))
        .cloned()
        .collect();
    let tcp: Vec<String> = addrs
        .iter()
        .filter(|a| a.contains("/tcp/"))
        .cloned()
        .collect();
    assert!(!quic.is_empty() && !tcp.is_empty(), "{addrs:?}");

    let worker = agent(dir.path(), "worker", &["image-generation"], &quic);
    worker.connect().await.unwrap();
    let mut worker_intents = worker.subscribe_to_intents();
    let network = agent(
        dir.path(),
        "agent",
        &["text-generation", "data-analysis"],
        &tcp,
    );
    network.connect().await.unwrap();
    network.connect().await.unwrap(); // idempotent

    let worker_id = worker.info().await.unwrap().peer_id;
    let mut agents = Vec::new();
    for _ in 0..120 {
        agents = network
            .discover_agents(
                AgentQuery::new()
                    .capabilities(["image-generation"])
                    .min_reputation(0.5),
            )
            .await
            .unwrap();
        if !agents.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].peer_id, worker_id);
    assert_eq!(agents[0].name, "worker");

    let outcome = network
        .publish_intent(Intent::new("Draw a logo").capabilities(["image-generation"]))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), worker_intents.next())
        .await
        .expect("intent within 20 s")
        .expect("stream open");
    assert_eq!(got.id.to_string(), outcome.id);
    assert_eq!(got.title(), "Draw a logo");

    // Shutdown ends the stream.
    worker.shutdown().await;
    let end = tokio::time::timeout(Duration::from_secs(10), worker_intents.next()).await;
    assert!(matches!(end, Ok(None)), "stream ends after shutdown");
    assert!(matches!(
        worker
            .publish_intent(Intent::new("x").capabilities(["a"]))
            .await,
        Err(Error::Publish(mesh_net::PublishError::Stopped)) | Err(Error::NotConnected)
    ));
    network.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test]
async fn bad_settings_and_misuse_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = MeshNetwork::builder()
        .bootstrap_peers(["not a multiaddr"])
        .home(dir.path())
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::BadMultiaddr { .. }));
    assert!(err.to_string().contains("/p2p/12D3Koo"), "{err}");

    let err = MeshNetwork::builder()
        .capabilities(["Image Generation"])
        .home(dir.path())
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Capability(_)), "{err}");

    let too_many = (0..=mesh_core::trust::MAX_PRE_TRUSTED)
        .fold(MeshNetwork::builder().home(dir.path()), |b, _| {
            b.trust_peer(PeerId::random())
        });
    let err = too_many.build().unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(err.to_string().contains("at most 64"), "{err}");

    let network = agent(dir.path(), "lonely", &[], &[]);
    assert!(matches!(
        network
            .discover_agents(AgentQuery::new().capabilities(["a"]))
            .await,
        Err(Error::NotConnected)
    ));
    assert!(network.subscribe_to_intents().next().await.is_none());
    assert!(matches!(
        network.reputation(PeerId::random()).await,
        Err(Error::NotConnected)
    ));

    // A bootstrap peer nobody listens on.
    let unreachable = MeshNetwork::builder()
        .home(dir.path().join("u"))
        .bootstrap_peers(["/ip4/127.0.0.1/tcp/1"])
        .listen_addresses(["/ip4/127.0.0.1/tcp/0"])
        .mdns(false)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let err = unreachable.connect().await.unwrap_err();
    assert!(
        matches!(err, Error::BootstrapUnreachable { count: 1, .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reputation_of_a_peer_nothing_is_known_of_is_neutral() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = PeerId::random();
    let network = MeshNetwork::builder()
        .home(dir.path().join("rater"))
        .listen_addresses(["/ip4/127.0.0.1/tcp/0"])
        .mdns(false)
        .trust_peer(trusted)
        .trust_peer(trusted)
        .share_receipts(false)
        .build()
        .expect("valid settings");
    network.connect().await.unwrap();
    for peer in [PeerId::random(), trusted] {
        let view: mesh_sdk::ReputationView = network.reputation(peer).await.unwrap();
        assert_eq!(view.peer_id, peer.to_string());
        assert_eq!(view.reputation, 0.5, "{view:?}");
        assert_eq!(view.receipts_score, 0.5, "{view:?}");
        assert_eq!(view.local_score, 0.5, "{view:?}");
        assert!(!view.known, "{view:?}");
        assert_eq!((view.positive_evidence, view.negative_evidence), (0.0, 0.0));
    }
    network.shutdown().await;
}
