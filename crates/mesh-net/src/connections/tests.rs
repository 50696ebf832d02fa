//! The connection driver on its own: real swarms with every MESH behaviour on a memory
//! transport (Noise, Yamux), the driver fed their connection events, without the event loop.

use std::time::Duration;

use futures::StreamExt;
use libp2p::core::transport::{MemoryTransport, Transport};
use libp2p::core::upgrade::Version;
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, yamux};
use mesh_core::{Keypair, Observation};
use prometheus_client::registry::Registry;

use super::*;
use crate::behaviour::{MeshBehaviourEvent, build_swarm_on};

const WAIT: Duration = Duration::from_secs(20);

/// A node: its swarm, the driver and what its context lends it.
struct Node {
    swarm: Swarm<MeshBehaviour>,
    conns: Connections,
    peers: PeerBook,
    metrics: MeshMetrics,
}

impl Node {
    fn new(config: NetConfig) -> Self {
        let keypair = Keypair::generate_ed25519();
        let transport = MemoryTransport::default()
            .upgrade(Version::V1)
            .authenticate(noise::Config::new(&keypair).expect("noise"))
            .multiplex(yamux::Config::default())
            .boxed();
        let swarm =
            build_swarm_on(keypair, &config, &mut Registry::default(), transport).expect("swarm");
        Self {
            conns: Connections::new(&config, Instant::now()),
            swarm,
            peers: PeerBook::default(),
            metrics: MeshMetrics::default(),
        }
    }

    fn peer(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    fn with<R>(&mut self, f: impl FnOnce(&mut Connections, &mut ConnContext<'_>) -> R) -> R {
        let mut ctx = ConnContext {
            swarm: &mut self.swarm,
            peers: &mut self.peers,
            metrics: &self.metrics,
        };
        f(&mut self.conns, &mut ctx)
    }

    /// Handles the swarm's next event as the event loop would for connections.
    async fn step(&mut self, kept: Kept<'_>) -> SwarmEvent<MeshBehaviourEvent> {
        let event = self.swarm.select_next_some().await;
        match &event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                let first = num_established.get() == 1;
                self.with(|c, ctx| {
                    c.on_established(ctx, *connection_id, *peer_id, endpoint, first, kept);
                });
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => self.with(|c, ctx| c.on_closed(ctx, *peer_id, *num_established)),
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => self.with(|c, ctx| c.on_dial_error(ctx, *connection_id, *peer_id, error)),
            _ => {}
        }
        event
    }

    async fn listening(&mut self) -> Multiaddr {
        self.swarm
            .listen_on("/memory/0".parse().expect("memory address"))
            .expect("listen");
        loop {
            if let SwarmEvent::NewListenAddr { address, .. } = self.step(&|_| false).await {
                return address.with(Protocol::P2p(self.peer()));
            }
        }
    }
}

fn config(max_connections: u32) -> NetConfig {
    NetConfig {
        max_connections,
        ..NetConfig::new(Vec::new()).with_mdns(false)
    }
}

/// Drives `hub` and `others` until `done(hub)` holds.
async fn drive(hub: &mut Node, others: &mut [Node], kept: Kept<'_>, done: impl Fn(&Node) -> bool) {
    tokio::time::timeout(WAIT, async {
        while !done(hub) {
            let polls = others
                .iter_mut()
                .map(|n| Box::pin(async move { n.step(&|_| false).await }));
            let all = libp2p::futures::future::select_all(polls);
            tokio::select! {
                _ = hub.step(kept) => {}
                _ = all => {}
            }
        }
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn at_the_limit_the_connection_worth_least_makes_room_and_kept_peers_stay() {
    let mut hub = Node::new(config(8));
    let mut others: Vec<Node> = (0..4).map(|_| Node::new(config(8))).collect();
    for other in &mut others {
        let addr = other.listening().await;
        hub.swarm.dial(addr).expect("dial");
    }
    let ids: Vec<PeerId> = others.iter().map(Node::peer).collect();
    drive(&mut hub, &mut others, &|_| false, |h| {
        h.peers.connected_count() == 4
    })
    .await;
    assert_eq!(hub.metrics.connected_peers.get(), 4);
    // ids[1] misbehaved, ids[0] has messages in flight (kept whatever its worth).
    hub.peers.observe(ids[0], Observation::Invalid);
    hub.peers.observe(ids[0], Observation::Invalid);
    hub.peers.observe(ids[1], Observation::Invalid);
    let kept = |p: &PeerId| *p == ids[0];
    // Below the limit nothing is closed.
    hub.with(|c, ctx| c.make_room(ctx, &kept));
    assert_eq!(hub.metrics.connections_trimmed.get(), 0);
    // At the limit, the least valuable peer that is not kept goes.
    hub.conns.max = 4;
    hub.with(|c, ctx| c.make_room(ctx, &kept));
    assert_eq!(hub.metrics.connections_trimmed.get(), 1);
    drive(&mut hub, &mut others, &kept, |h| {
        h.peers.connected_count() == 3
    })
    .await;
    assert!(
        !hub.peers.is_connected(&ids[1]),
        "the misbehaving peer goes"
    );
    assert!(hub.peers.is_connected(&ids[0]), "the kept peer stays");
    assert_eq!(hub.metrics.connected_peers.get(), 3);
}

#[tokio::test]
async fn bootstrap_peers_are_dialled_when_due_and_failures_are_counted() {
    let mut seed = Node::new(config(8));
    let reachable = seed.listening().await;
    let unreachable: Multiaddr = format!("/memory/{}", u64::MAX - 7)
        .parse::<Multiaddr>()
        .expect("address")
        .with(Protocol::P2p(PeerId::random()));
    let mut joining = Node::new(NetConfig {
        bootstrap: vec![reachable, unreachable],
        ..config(8)
    });
    // Nothing is dialled until the tick.
    assert_eq!(joining.peers.connected_count(), 0);
    let now = Instant::now();
    joining.with(|c, ctx| c.tick(ctx, now, &|_| false, &[]));
    let failed = |n: &Node| {
        n.metrics
            .bootstrap_dials
            .get_or_create(&crate::metrics::ResultLabel {
                result: "error".into(),
            })
            .get()
    };
    let mut others = [seed];
    drive(&mut joining, &mut others, &|_| false, |n| {
        n.peers.connected_count() == 1 && failed(n) == 1
    })
    .await;
    assert_eq!(joining.conns.bootstrap.connected_count(), 1);
    assert!(joining.peers.is_connected(&others[0].peer()));
}
