//! The dial gate: a node at its connection limit refuses its own dials and inbound attempts
//! before any handshake, and takes connections again once a slot is free; dials for work, and
//! inbound attempts while the node awaits offers, use a reserve above the limit. Real libp2p
//! swarms (memory transport, Noise, Yamux) with the gate as their behaviour.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use libp2p::core::transport::{MemoryTransport, Transport};
use libp2p::core::upgrade::Version;
use libp2p::futures::StreamExt;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{DialError, ListenError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, noise, yamux};
use mesh_net::connections::gate::{AtConnectionLimit, Behaviour, reserve_for};

const WAIT: Duration = Duration::from_secs(20);

fn swarm(max: usize) -> Swarm<Behaviour> {
    let key = libp2p::identity::Keypair::generate_ed25519();
    let transport = MemoryTransport::default()
        .upgrade(Version::V1)
        .authenticate(noise::Config::new(&key).expect("noise"))
        .multiplex(yamux::Config::default())
        .boxed();
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(|_| transport)
        .expect("transport")
        .with_behaviour(|_| Behaviour::new(max, usize::MAX, Vec::new()))
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

async fn listening(s: &mut Swarm<Behaviour>) -> Multiaddr {
    s.listen_on("/memory/0".parse().unwrap()).expect("listen");
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = s.select_next_some().await {
            return address;
        }
    }
}

/// Drives every swarm until `done` says the event it waits for arrived; each event is given
/// to `done` with the index of the swarm that produced it.
async fn drive(
    swarms: &mut [&mut Swarm<Behaviour>],
    mut done: impl FnMut(usize, &SwarmEvent<std::convert::Infallible>) -> bool,
) {
    tokio::time::timeout(WAIT, async {
        loop {
            let polls = swarms
                .iter_mut()
                .enumerate()
                .map(|(i, s)| Box::pin(async move { (i, s.select_next_some().await) }));
            let ((i, event), ..) = libp2p::futures::future::select_all(polls).await;
            if done(i, &event) {
                return;
            }
        }
    })
    .await
    .expect("the awaited event within 20 s");
}

fn at_limit(cause: &libp2p::swarm::ConnectionDenied) -> bool {
    cause.downcast_ref::<AtConnectionLimit>().is_some()
}

/// Whether `e` is the gate refusing an inbound attempt at its limit, before the handshake.
fn refused_at_limit(e: &SwarmEvent<std::convert::Infallible>) -> bool {
    matches!(
        e,
        SwarmEvent::IncomingConnectionError {
            error: ListenError::Denied { cause },
            ..
        } if at_limit(cause)
    )
}

#[tokio::test]
async fn a_node_at_its_limit_refuses_dials_and_inbound_before_the_handshake() {
    let mut gated = swarm(1);
    let mut first = swarm(8);
    let mut second = swarm(8);
    let gated_addr = listening(&mut gated).await;
    let first_addr = listening(&mut first).await;
    let second_addr = listening(&mut second).await;
    let first_id: PeerId = *first.local_peer_id();

    // One slot: the first connection is taken.
    gated.dial(first_addr.clone()).expect("dial first");
    drive(&mut [&mut gated, &mut first], |i, e| {
        i == 0 && matches!(e, SwarmEvent::ConnectionEstablished { .. })
    })
    .await;
    assert_eq!(gated.behaviour().established(), 1);

    // Its own dial is refused at once, before any byte reaches the other node.
    match gated.dial(second_addr.clone()) {
        Err(DialError::Denied { cause }) => assert!(at_limit(&cause), "{cause}"),
        other => panic!("a dial at the limit must be denied by the gate, got {other:?}"),
    }
    // An inbound attempt is refused before its handshake too: the gated node reports the
    // refusal, and the dialer never gets a connection.
    second.dial(gated_addr.clone()).expect("dial gated");
    drive(&mut [&mut gated, &mut first, &mut second], |i, e| {
        // (Swarm 1 may still report its side of the first connection.)
        assert!(
            i == 1 || !matches!(e, SwarmEvent::ConnectionEstablished { .. }),
            "no connection is established past the limit: {e:?} at swarm {i}"
        );
        i == 0 && refused_at_limit(e)
    })
    .await;
    assert_eq!(gated.behaviour().refused_at_limit(), 2);

    // Once the slot is free, connections are taken again.
    gated.disconnect_peer_id(first_id).expect("disconnect");
    drive(&mut [&mut gated, &mut first], |i, e| {
        i == 0 && matches!(e, SwarmEvent::ConnectionClosed { .. })
    })
    .await;
    assert_eq!(gated.behaviour().established(), 0);
    gated.dial(second_addr).expect("a dial with a free slot");
    drive(&mut [&mut gated, &mut second], |i, e| {
        i == 0 && matches!(e, SwarmEvent::ConnectionEstablished { .. })
    })
    .await;
}

#[tokio::test]
async fn a_dial_for_work_uses_the_reserve_that_other_dials_may_not() {
    assert_eq!(reserve_for(1), 1);
    let mut gated = swarm(1);
    let mut first = swarm(8);
    let mut worker = swarm(8);
    let mut other = swarm(8);
    listening(&mut gated).await;
    let first_addr = listening(&mut first).await;
    let worker_addr = listening(&mut worker).await;
    let other_addr = listening(&mut other).await;
    let worker_id = *worker.local_peer_id();

    gated.dial(first_addr).expect("dial first");
    drive(&mut [&mut gated, &mut first], |i, e| {
        i == 0 && matches!(e, SwarmEvent::ConnectionEstablished { .. })
    })
    .await;
    // At the limit: a dial to an unmarked peer is refused, one to a peer marked for work
    // goes through.
    match gated.dial(other_addr) {
        Err(DialError::Denied { cause }) => assert!(at_limit(&cause), "{cause}"),
        other => panic!("an unmarked dial at the limit must be denied, got {other:?}"),
    }
    gated
        .behaviour_mut()
        .prioritise(worker_id, tokio::time::Instant::now());
    gated
        .dial(
            DialOpts::peer_id(worker_id)
                .addresses(vec![worker_addr])
                .build(),
        )
        .expect("a dial for work at the limit");
    drive(&mut [&mut gated, &mut first, &mut worker], |i, e| {
        i == 0
            && matches!(e, SwarmEvent::ConnectionEstablished { peer_id, .. } if *peer_id == worker_id)
    })
    .await;
    assert_eq!(
        gated.behaviour().established(),
        2,
        "the limit and the reserve"
    );
}

#[tokio::test]
async fn a_node_awaiting_offers_takes_inbound_attempts_into_the_reserve() {
    let mut gated = swarm(1);
    let mut first = swarm(8);
    let mut bidder = swarm(8);
    let mut late = swarm(8);
    let gated_addr = listening(&mut gated).await;
    let first_addr = listening(&mut first).await;
    let bidder_id = *bidder.local_peer_id();

    gated.dial(first_addr).expect("dial first");
    drive(&mut [&mut gated, &mut first], |i, e| {
        i == 0 && matches!(e, SwarmEvent::ConnectionEstablished { .. })
    })
    .await;
    gated.behaviour_mut().take_inbound_work(true);
    bidder.dial(gated_addr.clone()).expect("dial gated");
    drive(&mut [&mut gated, &mut first, &mut bidder], |i, e| {
        i == 0
            && matches!(e, SwarmEvent::ConnectionEstablished { peer_id, .. } if *peer_id == bidder_id)
    })
    .await;
    assert_eq!(gated.behaviour().established(), 2);
    // The reserve is full: the next attempt is refused before its handshake.
    late.dial(gated_addr).expect("dial gated");
    drive(
        &mut [&mut gated, &mut first, &mut bidder, &mut late],
        |i, e| i == 0 && refused_at_limit(e),
    )
    .await;
}
