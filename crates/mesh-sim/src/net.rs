//! Simulated nodes: real MESH nodes on an in-memory transport whose links have a latency and
//! a loss rate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use libp2p::core::transport::{MemoryTransport, Transport};
use libp2p::core::upgrade::Version;
use libp2p::{Multiaddr, PeerId, noise, yamux};
use mesh_core::{Capability, Keypair};
use mesh_net::{GossipDegree, MeshHandle, NetConfig};
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;

use crate::delay::{Delayed, LinkModel};

/// How every node of a simulation is set up.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Every link's behaviour.
    pub link: LinkModel,
    /// Most connections per node. A node of a real network keeps tens of connections, not one
    /// to every peer it ever queried; this also bounds the simulation's memory.
    pub max_connections: u32,
    /// Connections nothing uses close after this long.
    pub idle_connection_timeout: Duration,
    /// Gossip mesh degree.
    pub gossip_degree: GossipDegree,
    /// Gossip messages above this many bytes trigger IDONTWANT to mesh peers.
    pub idontwant_above: usize,
    /// Whether publishers send to every peer on the topic, not only their mesh.
    pub flood_publish: bool,
    /// How long a peer may take to answer a request, and a DHT query or a discovery may take
    /// in all, on the run's clock (on the real clock, hundreds of nodes sharing a few cores
    /// answer slowly, so a simulation may allow more than a real node does).
    pub timeout: Duration,
}

impl Default for NodeSettings {
    fn default() -> Self {
        Self {
            link: LinkModel {
                latency: Duration::from_millis(25),
                loss: 0.0,
            },
            max_connections: 48,
            idle_connection_timeout: Duration::from_secs(30),
            gossip_degree: GossipDegree::DEFAULT,
            idontwant_above: mesh_net::config::GOSSIP_IDONTWANT_ABOVE,
            flood_publish: true,
            timeout: Duration::from_secs(30),
        }
    }
}

/// The transport of one simulated node: memory, the link model on every connection, Noise,
/// Yamux. `sent` counts the bytes the node writes; `seed` drives its links' losses.
pub fn transport(
    key: &Keypair,
    link: LinkModel,
    seed: u64,
    sent: Arc<AtomicU64>,
) -> anyhow::Result<mesh_net::behaviour::BoxedTransport> {
    let noise = noise::Config::new(key)?;
    let connections = Arc::new(AtomicU64::new(0));
    Ok(MemoryTransport::default()
        .map(move |stream, _| {
            let n = connections.fetch_add(1, Ordering::Relaxed);
            Delayed::new(stream, link, seed ^ n.rotate_left(32), sent.clone())
        })
        .upgrade(Version::V1)
        .authenticate(noise)
        .multiplex(yamux::Config::default())
        .boxed())
}

/// One node of the simulation.
pub struct SimNode {
    /// Its handle.
    pub handle: MeshHandle,
    /// Its peer id.
    pub peer_id: PeerId,
    /// Its full address, `/memory/N/p2p/<peer id>`.
    pub addr: Multiaddr,
    /// Its metrics (libp2p's, gossipsub's and MESH's).
    pub registry: Registry,
    /// Bytes it has written to its links.
    pub sent: Arc<AtomicU64>,
    /// Its event loop.
    pub task: JoinHandle<()>,
}

/// What one node offers and where it starts.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Its key.
    pub key: Keypair,
    /// The memory port it listens on.
    pub port: u64,
    /// Capabilities it offers and subscribes to.
    pub capabilities: Vec<Capability>,
    /// Nodes it bootstraps from.
    pub bootstrap: Vec<Multiaddr>,
}

/// Starts a node.
pub fn start(spec: NodeSpec, settings: &NodeSettings) -> anyhow::Result<SimNode> {
    let listen: Multiaddr = format!("/memory/{}", spec.port).parse()?;
    let mut config = NetConfig::new(vec![listen.clone()])
        .with_capabilities(spec.capabilities)
        .with_mdns(false)
        .with_bootstrap(spec.bootstrap);
    // A simulated mesh publishes as soon as it can: subscribers are known by then.
    config.publish_wait = Duration::from_secs(2);
    config.max_connections = settings.max_connections;
    config.idle_connection_timeout = settings.idle_connection_timeout;
    config.gossip_degree = settings.gossip_degree;
    config.gossip_idontwant_above = settings.idontwant_above;
    config.gossip_flood_publish = settings.flood_publish;
    config.request_timeout = settings.timeout / 2;
    config.dht_query_timeout = settings.timeout;
    config.discovery_timeout = settings.timeout;
    let peer_id = spec.key.public().to_peer_id();
    let sent = Arc::new(AtomicU64::new(0));
    let mut registry = Registry::default();
    let (handle, task) = mesh_net::spawn_on(
        spec.key.clone(),
        config,
        &mut registry,
        transport(&spec.key, settings.link, spec.port, sent.clone())?,
    )?;
    let addr = listen.with(libp2p::multiaddr::Protocol::P2p(peer_id));
    Ok(SimNode {
        handle,
        peer_id,
        addr,
        registry,
        sent,
        task,
    })
}

impl SimNode {
    /// Stops the node and waits for its event loop to end.
    pub async fn stop(self) {
        let _ = self.handle.shutdown().await;
        let _ = self.task.await;
    }
}
