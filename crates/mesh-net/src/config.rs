//! Network configuration.

use std::time::Duration;

use libp2p::Multiaddr;
use mesh_core::{Capability, Skill};

/// Kademlia protocol id of the MESH DHT.
pub const KAD_PROTOCOL: &str = "/mesh/kad/1.0.0";
/// Request-response protocol id of IDP catch-up.
pub const IDP_PROTOCOL: &str = "/mesh/idp/1.0.0";
/// Identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/mesh/1.0.0";

/// Everything the network layer needs to start.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Addresses to listen on (TCP and/or QUIC).
    pub listen: Vec<Multiaddr>,
    /// Bootstrap peers, dialled at start and re-dialled with backoff while unreachable.
    pub bootstrap: Vec<Multiaddr>,
    /// Capabilities this node offers; an empty list makes it a pure client or coordinator.
    pub capabilities: Vec<Capability>,
    /// Skills advertised in the agent record.
    pub skills: Vec<Skill>,
    /// Display name advertised in the agent record.
    pub agent_name: String,
    /// Whether to discover peers on the local network with mDNS.
    pub mdns: bool,
    /// Most established connections in total.
    pub max_connections: u32,
    /// Most established connections to one peer.
    pub max_connections_per_peer: u32,
    /// Most connections being set up at once, in each direction.
    pub max_pending_connections: u32,
    /// Close connections idle for this long.
    pub idle_connection_timeout: Duration,
    /// How often the agent record and provider records are re-signed and re-published.
    pub announce_interval: Duration,
    /// How long `discover_agents` waits for the DHT at most.
    pub discovery_timeout: Duration,
    /// How long `publish_intent` waits for a subscriber to become reachable on a topic.
    pub publish_wait: Duration,
    /// Capacity of the queue of received intents kept for each local subscriber.
    pub intent_queue: usize,
    /// Where the node keeps what it learns across restarts; `None` keeps everything in memory.
    pub store: Option<mesh_store::Store>,
}

impl NetConfig {
    /// A configuration that listens on `listen` with defaults for everything else.
    pub fn new(listen: Vec<Multiaddr>) -> Self {
        Self {
            listen,
            bootstrap: Vec::new(),
            capabilities: Vec::new(),
            skills: Vec::new(),
            agent_name: String::new(),
            mdns: true,
            max_connections: 256,
            max_connections_per_peer: 4,
            max_pending_connections: 64,
            idle_connection_timeout: Duration::from_secs(120),
            announce_interval: Duration::from_secs(20 * 60),
            discovery_timeout: Duration::from_secs(15),
            publish_wait: Duration::from_secs(5),
            intent_queue: 1024,
            store: None,
        }
    }

    /// Sets the bootstrap peers.
    pub fn with_bootstrap(mut self, peers: Vec<Multiaddr>) -> Self {
        self.bootstrap = peers;
        self
    }

    /// Sets the capabilities offered.
    pub fn with_capabilities(mut self, capabilities: Vec<Capability>) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Turns mDNS on or off.
    pub fn with_mdns(mut self, on: bool) -> Self {
        self.mdns = on;
        self
    }

    /// Keeps peers, intents, negotiations and reputation in `store` and restores them at start.
    pub fn with_store(mut self, store: mesh_store::Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Sets the display name of the agent record.
    pub fn with_agent_name(mut self, name: impl Into<String>) -> Self {
        self.agent_name = name.into();
        self
    }
}
