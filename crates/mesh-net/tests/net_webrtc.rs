//! WebRTC-direct: two nodes connect over it alone, and a node's certificate (hence the certhash
//! in its address) survives a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use libp2p::Multiaddr;
use mesh_core::Keypair;
use mesh_net::NetConfig;

fn webrtc_only(pem: String) -> impl FnOnce(NetConfig) -> NetConfig {
    move |c: NetConfig| {
        c.with_listen(vec!["/ip4/127.0.0.1/udp/0/webrtc-direct".parse().unwrap()])
            .with_webrtc_certificate(pem)
    }
}

fn certhash(addr: &Multiaddr) -> Option<String> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::Certhash(h) => Some(format!("{h:?}")),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_connect_over_webrtc_direct_and_the_certificate_is_kept() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join(mesh_net::webrtc::CERTIFICATE_FILE);
    let pem = mesh_net::webrtc::load_or_create_certificate(&cert_path).unwrap();
    assert_eq!(
        mesh_net::webrtc::load_or_create_certificate(&cert_path).unwrap(),
        pem,
        "the same certificate is read back"
    );
    let other_pem =
        mesh_net::webrtc::load_or_create_certificate(&dir.path().join("other.pem")).unwrap();

    let key = Keypair::generate_ed25519();
    let a = common::start_configured(
        key.clone(),
        &["text-generation"],
        None,
        webrtc_only(pem.clone()),
    )
    .await;
    assert!(
        a.addr.to_string().contains("/webrtc-direct/certhash/"),
        "{}",
        a.addr
    );
    let hash = certhash(&a.addr);

    let b = common::start_configured(
        Keypair::generate_ed25519(),
        &[],
        None,
        webrtc_only(other_pem),
    )
    .await;
    b.handle.dial(a.addr.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let a_id = a.handle.peer_id().to_string();
    loop {
        let peers = b.handle.peers().await.unwrap();
        if peers.iter().any(|p| p.peer_id == a_id) {
            break;
        }
        assert!(Instant::now() < deadline, "no WebRTC-direct connection");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.handle.shutdown().await.unwrap();

    // The same node restarted with the certificate from its home has the same certhash.
    let again = common::start_configured(key, &[], None, webrtc_only(pem)).await;
    assert_eq!(certhash(&again.addr), hash);
    again.handle.shutdown().await.unwrap();
    b.handle.shutdown().await.unwrap();
}
