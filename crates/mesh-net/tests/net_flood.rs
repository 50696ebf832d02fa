//! Flood: one host opening hundreds of connections, and one peer opening hundreds of streams,
//! against a real MESH node over loopback TCP. An honest client's requests to the same node
//! keep succeeding, a client that arrives during the flood gets in, the node's memory stays
//! bounded, and the refusals are counted.
//!
//! The flooding host connects from 127.0.0.2 (every 127/8 address reaches the loopback
//! interface on Linux), which, unlike 127.0.0.1, the node does not exempt from its limit of
//! inbound connections per address.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::attacker::{AttackerNode, wait_until};
use common::start;
use libp2p::PeerId;
use libp2p::multiaddr::Protocol;
use mesh_net::AgentQuery;
use mesh_net::metrics::ReasonLabel;

const CAPABILITY: &str = "text-generation";
/// Raw TCP connections the flooding host opens.
const CONNECTIONS: usize = 300;
/// DHT requests the flooding peer has in flight at once.
const STREAMS: usize = 400;
/// Honest discovery queries measured during the flood.
const HONEST: usize = 100;

/// Resident memory of this process, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs [`HONEST`] discovery queries for the target: how many found it, and each one's time
/// in ms.
async fn honest_queries(client: &mesh_net::MeshHandle, target_id: &str) -> (usize, Vec<f64>) {
    let mut ok = 0;
    let mut times = Vec::with_capacity(HONEST);
    for _ in 0..HONEST {
        let t0 = std::time::Instant::now();
        let agents = client
            .discover_agents(AgentQuery::new().capabilities([CAPABILITY]))
            .await
            .expect("discovery runs");
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        if agents.iter().any(|a| a.peer_id == target_id) {
            ok += 1;
        }
    }
    (ok, times)
}

fn tcp_port(addr: &libp2p::Multiaddr) -> u16 {
    addr.iter()
        .find_map(|p| match p {
            Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .expect("a TCP address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_connections_and_streams_leaves_honest_requests_working() {
    common::init_tracing();
    let target = start(&[CAPABILITY], None).await;
    let client = start(&[], Some(&target.addr)).await;
    let target_id = target.handle.peer_id().to_string();
    let found = common::discover_until(&client.handle, &[CAPABILITY], 1).await;
    assert_eq!(
        found[0].peer_id, target_id,
        "discovery works before the flood"
    );
    // The same honest queries without a flood: the baseline of the figures printed below.
    let (baseline_ok, mut baseline_ms) = honest_queries(&client.handle, &target_id).await;
    let rss_before = rss_kib();

    // 1. Hundreds of TCP connections from one address that never start a handshake.
    let port = tcp_port(&target.addr);
    let mut held = Vec::new();
    for _ in 0..CONNECTIONS {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), 0)))
            .expect("bind 127.0.0.2");
        if let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_secs(2),
            socket.connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        )
        .await
        {
            held.push(stream);
        }
    }

    // 2. One peer with hundreds of DHT requests (each its own stream) in flight at once.
    let attacker = AttackerNode::spawn_dialing_only();
    let (tid, taddr) = (target.handle.peer_id(), target.addr.clone());
    attacker
        .with(move |s| s.dial(taddr).expect("dial the target"))
        .await;
    wait_until("the attacker to connect", async || {
        attacker.with(move |s| s.is_connected(&tid)).await
    })
    .await;
    attacker
        .with(move |s| {
            let kad = &mut s.behaviour_mut().kad;
            kad.add_address(&tid, "/ip4/127.0.0.1/tcp/1".parse().expect("addr"));
            for _ in 0..STREAMS {
                kad.get_closest_peers(PeerId::random());
            }
        })
        .await;

    // The honest client keeps asking the target the whole time.
    let (ok, mut flood_ms) = honest_queries(&client.handle, &target_id).await;
    // A client arriving during the flood still gets in: the flooding address holds at most its
    // share of the slots for connections being set up.
    let late = start(&[], Some(&target.addr)).await;
    let found = common::discover_until(&late.handle, &[CAPABILITY], 1).await;
    assert_eq!(
        found[0].peer_id, target_id,
        "a new client connects during the flood"
    );
    let rss_after = rss_kib();
    drop(held);

    assert!(
        ok * 100 >= HONEST * 99,
        "honest discovery succeeded {ok} times of {HONEST} during the flood"
    );
    let refused = target
        .handle
        .metrics()
        .connections_refused
        .get_or_create(&ReasonLabel {
            reason: "per_ip".to_owned(),
        })
        .get();
    assert!(
        refused >= (CONNECTIONS - 64) as u64,
        "the target refused {refused} of {CONNECTIONS} connections from one address"
    );
    // Both nodes and the attacker live in this process: all of it stays small.
    let grown_mib = rss_after.saturating_sub(rss_before) / 1024;
    eprintln!(
        "flood: honest discovery {ok} of {HONEST} (without the flood {baseline_ok}), median \
         {:.1} ms (without {:.1} ms); {refused} connections refused per IP; resident memory \
         {} MiB before, {} MiB after (+{grown_mib} MiB)",
        common::median(&mut flood_ms).unwrap_or(f64::NAN),
        common::median(&mut baseline_ms).unwrap_or(f64::NAN),
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(
        grown_mib < 256,
        "memory grew by {grown_mib} MiB under the flood"
    );
}
