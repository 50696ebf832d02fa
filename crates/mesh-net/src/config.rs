//! Network configuration.

use std::time::Duration;

use libp2p::Multiaddr;

pub use crate::rate_limit::Rate;
pub use crate::reach_config::{
    DiscoverySources, NatConfig, PeerExchangeConfig, RelayLimits, RendezvousConfig, Role,
};
use mesh_core::{Capability, Skill};

/// Everything the network layer needs to start. Built from [`NetConfig::new`] and its `with_*`
/// methods; its fields stay readable and settable, and new ones come with defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// Most established connections in total, for connections of no particular use (DHT
    /// requests, inbound attempts); connections for work (negotiation messages, offers to an
    /// intent of this node's) may use a reserve of an eighth more, and the trim brings the
    /// node back under it.
    pub max_connections: u32,
    /// Most established connections to one peer.
    pub max_connections_per_peer: u32,
    /// Most connections being set up at once, in each direction.
    pub max_pending_connections: u32,
    /// Most inbound connections from one IP address (checked before the handshake).
    pub max_inbound_per_ip: u32,
    /// Addresses whose inbound connections are not counted against `max_inbound_per_ip`.
    pub ip_limit_exempt: Vec<std::net::IpAddr>,
    /// Close connections idle for this long.
    pub idle_connection_timeout: Duration,
    /// How often the agent record and provider records are re-signed and re-published.
    pub announce_interval: Duration,
    /// How long `discover_agents` waits for the DHT at most.
    pub discovery_timeout: Duration,
    /// How long one DHT query (a lookup, and a record's storing) may take in all. Longer than
    /// [`NetConfig::request_timeout`], so that a lookup can route around a peer that does not
    /// answer.
    pub dht_query_timeout: Duration,
    /// How long a peer may take to answer one request: a DHT request or an IDP catch-up; an
    /// INP message may take twice as long (the other party stores it before answering).
    pub request_timeout: Duration,
    /// How long `publish_intent` waits for a subscriber to become reachable on a topic.
    pub publish_wait: Duration,
    /// Capacity of the queue of received intents kept for each local subscriber.
    pub intent_queue: usize,
    /// Where the node keeps what it learns across restarts; `None` keeps everything in memory.
    pub store: Option<mesh_store::Store>,
    /// Rate limits on what peers may ask of this node, and on intents per publisher.
    pub limits: Limits,
    /// How long gossipsub remembers the ids of the messages it has seen. A replay after that
    /// is still recognised, by MESH's own cache, until the intent expires.
    pub gossip_duplicate_cache: Duration,
    /// Peers each node forwards every intent to on a topic (gossipsub's `D`): more makes
    /// delivery faster and more robust against peers that do not forward, fewer sends fewer
    /// duplicate copies. See [`GossipDegree`].
    pub gossip_degree: GossipDegree,
    /// Messages larger than this (bytes, as framed by gossipsub) make a node tell its mesh
    /// peers IDONTWANT as soon as it receives them, so that those who have not yet forwarded
    /// a copy to it do not (gossipsub v1.2). Each IDONTWANT costs about 40 bytes per mesh
    /// peer. Default: [`GOSSIP_IDONTWANT_ABOVE`].
    pub gossip_idontwant_above: usize,
    /// Whether the node sends its own intents to every peer it knows on the topic (gossipsub's
    /// flood publishing, the default: a publisher's first copies do not depend on its mesh)
    /// or only to its mesh peers, like any forwarded message (fewer copies at the first hop).
    pub gossip_flood_publish: bool,
    /// Proof-of-work stamp every intent must carry on this network, in leading zero bits of
    /// its stamp hash (see `mesh_core::work`); 0, the default, asks for none. A network
    /// parameter: every node of one network must use the same value, since a node rejects
    /// (and penalises the sender of) an intent below it. This node stamps its own intents to
    /// it, about `2^bits` hashes each.
    pub proof_of_work_bits: u8,
    /// What the node does for the network: an agent, or a coordinator serving rendezvous,
    /// relay, AutoNAT and the DHT. See [`Role`].
    pub role: Role,
    /// NAT traversal: relays, UPnP, AutoNAT, and the relay limits of a coordinator.
    pub nat: NatConfig,
    /// Where agent discovery looks (DHT, rendezvous, or both).
    pub discovery: DiscoverySources,
    /// Rendezvous registrations.
    pub rendezvous: RendezvousConfig,
    /// Peer exchange and DHT random walks.
    pub peer_exchange: PeerExchangeConfig,
    /// The PEM of the WebRTC-direct certificate (see [`crate::webrtc`]); `None` leaves
    /// WebRTC-direct off. Listen on `/ip4/0.0.0.0/udp/<port>/webrtc-direct` to use it.
    pub webrtc_certificate: Option<String>,
    /// Reputation from receipts: whom to trust from the start, and whether to share receipts.
    pub reputation: ReputationConfig,
    /// How long a finished negotiation (completed, rejected, withdrawn or expired) is kept,
    /// in memory and in the store, counted from its end: then it is pruned. Default
    /// `DEFAULT_RETENTION`, 30 days.
    pub negotiation_retention: Duration,
}

/// How a node takes part in reputation from receipts (see [`crate::receipts`] and
/// docs/REPUTATION.md).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReputationConfig {
    /// Peers whose receipts count from the start, as this node's own do (at most
    /// [`mesh_core::trust::MAX_PRE_TRUSTED`]): operators' seed identities the user knows.
    /// Empty by default: then only this node's own receipts, and those of agents they vouch
    /// for, count.
    pub trusted_peers: Vec<libp2p::PeerId>,
    /// Whether to publish the attestations of this node's completed negotiations on
    /// [`crate::receipts::RECEIPTS_TOPIC`] (default on). Off, they still count here.
    pub share_receipts: bool,
    /// Least time between two recomputations of every peer's reputation; one runs only when
    /// receipts changed (default `RECOMPUTE_INTERVAL`, 30 s).
    pub recompute_interval: Duration,
}

impl Default for ReputationConfig {
    fn default() -> Self {
        Self {
            trusted_peers: Vec::new(),
            share_receipts: true,
            recompute_interval: crate::receipts::RECOMPUTE_INTERVAL,
        }
    }
}

/// Rate limits of a node: token buckets per peer and protocol, and a quota of intents per
/// publisher enforced at every hop.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Limits {
    /// Intents of one publisher this node forwards and delivers, whoever relays them: the
    /// excess is dropped (and its sender penalised when the sender is the publisher itself, so
    /// the excess stops at the first hop). This node's own publishing keeps to it too.
    pub intents_per_publisher: Rate,
    /// Intents new to this node that one peer may make it store, relayed on gossip or in IDP
    /// catch-up answers, whoever published them (default 240 a minute): fresh keys behind one
    /// peer each pass the per-publisher quota, this one they share. The excess is delivered
    /// and forwarded but not stored (counted in `mesh_intents_throttled_total{reason=
    /// "forwarder"}`), without a penalty: an honest peer relays other publishers' intents, and
    /// a burst of them is not its fault.
    pub intents_per_forwarder: Rate,
    /// Negotiation messages one peer may send this node; beyond, they are refused as
    /// `rate_limited` (the sender may retry).
    pub negotiation_messages_per_peer: Rate,
    /// Records and provider announcements one peer may store in this node's part of the DHT;
    /// beyond, they are dropped.
    pub dht_puts_per_peer: Rate,
    /// Receipt attestations this node takes from one forwarding peer on gossip; beyond, they
    /// are ignored (not forwarded, no penalty: an honest peer may relay a burst).
    pub receipts_per_peer: Rate,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            intents_per_publisher: Rate::per(120, Duration::from_secs(60)),
            intents_per_forwarder: Rate::per(240, Duration::from_secs(60)),
            negotiation_messages_per_peer: Rate::per(200, Duration::from_secs(10)),
            dht_puts_per_peer: Rate::per(60, Duration::from_secs(60)),
            receipts_per_peer: Rate::per(120, Duration::from_secs(60)),
        }
    }
}

/// The gossip mesh degree of a node and the bounds derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GossipDegree(usize);

impl GossipDegree {
    /// The default, gossipsub's own: 6.
    pub const DEFAULT: GossipDegree = GossipDegree(6);

    /// A degree of `d` mesh peers, at least 2 and at most 32.
    pub fn new(d: usize) -> Result<Self, crate::NetError> {
        if (2..=32).contains(&d) {
            Ok(Self(d))
        } else {
            Err(crate::NetError::Setup(format!(
                "gossip degree {d} is out of range: use 2 to 32 (6 by default)"
            )))
        }
    }

    /// Mesh peers aimed at (`D`).
    pub fn target(self) -> usize {
        self.0
    }

    /// Fewest mesh peers before more are grafted (`D_lo`): `D - 1`, as gossipsub's defaults.
    pub fn low(self) -> usize {
        self.0 - 1
    }

    /// Most mesh peers before some are pruned (`D_hi`): twice `D`.
    pub fn high(self) -> usize {
        2 * self.0
    }

    /// Outbound mesh peers kept at least (`D_out`): a third of `D`, at least 1.
    pub(crate) fn outbound_min(self) -> usize {
        (self.0 / 3).max(1)
    }

    /// Peers told about recent messages at each heartbeat (`D_lazy`): at least 6.
    pub(crate) fn lazy(self) -> usize {
        self.0.max(6)
    }
}

/// The default of [`NetConfig::gossip_idontwant_above`], gossipsub's own, bytes.
pub const GOSSIP_IDONTWANT_ABOVE: usize = 1000;

impl Default for GossipDegree {
    fn default() -> Self {
        Self::DEFAULT
    }
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
            max_inbound_per_ip: 32,
            ip_limit_exempt: vec![
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ],
            idle_connection_timeout: Duration::from_secs(120),
            announce_interval: Duration::from_secs(20 * 60),
            discovery_timeout: Duration::from_secs(15),
            dht_query_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            publish_wait: Duration::from_secs(5),
            intent_queue: 1024,
            store: None,
            gossip_degree: GossipDegree::DEFAULT,
            gossip_idontwant_above: GOSSIP_IDONTWANT_ABOVE,
            gossip_flood_publish: true,
            limits: Limits::default(),
            gossip_duplicate_cache: Duration::from_secs(120),
            proof_of_work_bits: 0,
            role: Role::Agent,
            nat: NatConfig::default(),
            discovery: DiscoverySources::default(),
            rendezvous: RendezvousConfig::default(),
            peer_exchange: PeerExchangeConfig::default(),
            webrtc_certificate: None,
            reputation: ReputationConfig::default(),
            negotiation_retention: crate::inp::DEFAULT_RETENTION,
        }
    }

    /// Sets the role.
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = role;
        self
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

    /// Sets the addresses to listen on.
    pub fn with_listen(mut self, listen: Vec<Multiaddr>) -> Self {
        self.listen = listen;
        self
    }

    /// Sets the rate limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the proof-of-work bits every intent must carry (0 for none).
    pub fn with_proof_of_work_bits(mut self, bits: u8) -> Self {
        self.proof_of_work_bits = bits;
        self
    }

    /// Sets where agent discovery looks.
    pub fn with_discovery(mut self, discovery: DiscoverySources) -> Self {
        self.discovery = discovery;
        self
    }

    /// Sets the WebRTC certificate (PEM).
    pub fn with_webrtc_certificate(mut self, pem: String) -> Self {
        self.webrtc_certificate = Some(pem);
        self
    }

    /// Sets how long gossipsub remembers message ids.
    pub fn with_gossip_duplicate_cache(mut self, ttl: Duration) -> Self {
        self.gossip_duplicate_cache = ttl;
        self
    }

    /// Sets how this node takes part in reputation from receipts.
    pub fn with_reputation(mut self, reputation: ReputationConfig) -> Self {
        self.reputation = reputation;
        self
    }
}

impl ReputationConfig {
    /// Sets the peers whose receipts count from the start.
    pub fn with_trusted_peers(mut self, peers: Vec<libp2p::PeerId>) -> Self {
        self.trusted_peers = peers;
        self
    }

    /// Sets whether to publish the attestations of this node's completed negotiations.
    pub fn with_share_receipts(mut self, on: bool) -> Self {
        self.share_receipts = on;
        self
    }
}

impl Limits {
    /// Sets the intents of one publisher this node forwards and delivers.
    pub fn with_intents_per_publisher(mut self, rate: Rate) -> Self {
        self.intents_per_publisher = rate;
        self
    }
}

#[cfg(test)]
mod gossip_degree_tests {
    #![allow(clippy::unwrap_used)]

    use super::GossipDegree;

    #[test]
    fn every_allowed_degree_makes_a_valid_gossipsub_config() {
        for d in 2..=32 {
            let g = GossipDegree::new(d).unwrap();
            libp2p::gossipsub::ConfigBuilder::default()
                .mesh_n(g.target())
                .mesh_n_low(g.low())
                .mesh_n_high(g.high())
                .mesh_outbound_min(g.outbound_min())
                .gossip_lazy(g.lazy())
                .build()
                .unwrap_or_else(|e| panic!("degree {d}: {e}"));
        }
        assert_eq!(GossipDegree::DEFAULT.low(), 5, "gossipsub's default D_lo");
        assert!(GossipDegree::new(1).is_err());
        assert!(GossipDegree::new(33).is_err());
    }
}
