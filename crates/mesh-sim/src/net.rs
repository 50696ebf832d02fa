//! Simulated nodes: real MESH nodes on an in-memory transport whose links have a latency.

use std::time::Duration;

use libp2p::core::transport::{MemoryTransport, Transport};
use libp2p::core::upgrade::Version;
use libp2p::{Multiaddr, noise, yamux};
use mesh_core::{Capability, Keypair};
use mesh_net::{MeshHandle, NetConfig};
use prometheus_client::registry::Registry;

use crate::delay::Delayed;

/// The transport of one simulated node: memory, one-way `latency` on every link, Noise, Yamux.
pub fn transport(
    key: &Keypair,
    latency: Duration,
) -> anyhow::Result<mesh_net::behaviour::BoxedTransport> {
    let noise = noise::Config::new(key)?;
    Ok(MemoryTransport::default()
        .map(move |stream, _| Delayed::new(stream, latency))
        .upgrade(Version::V1)
        .authenticate(noise)
        .multiplex(yamux::Config::default())
        .boxed())
}

/// One node of the simulation.
pub struct SimNode {
    /// Its handle.
    pub handle: MeshHandle,
    /// Its full address, `/memory/N/p2p/<peer id>`.
    pub addr: Multiaddr,
    /// Its metrics (libp2p's and MESH's), kept alive with the node.
    pub registry: Registry,
}

/// Starts node `index` (listening on `/memory/<port_base + index>`), subscribed to
/// `capability` if `subscribe`, bootstrapping from `bootstrap`.
pub fn start(
    key: Keypair,
    port: u64,
    capability: &Capability,
    subscribe: bool,
    bootstrap: Vec<Multiaddr>,
    latency: Duration,
) -> anyhow::Result<SimNode> {
    let listen: Multiaddr = format!("/memory/{port}").parse()?;
    let caps = if subscribe {
        vec![capability.clone()]
    } else {
        Vec::new()
    };
    let mut config = NetConfig::new(vec![listen.clone()])
        .with_capabilities(caps)
        .with_mdns(false)
        .with_bootstrap(bootstrap);
    // A simulated mesh publishes as soon as it can: subscribers are known by then.
    config.publish_wait = Duration::from_secs(2);
    let peer = key.public().to_peer_id();
    let mut registry = Registry::default();
    let (handle, _task) = mesh_net::spawn_on(
        key.clone(),
        config,
        &mut registry,
        transport(&key, latency)?,
    )?;
    let addr = listen.with(libp2p::multiaddr::Protocol::P2p(peer));
    Ok(SimNode {
        handle,
        addr,
        registry,
    })
}
