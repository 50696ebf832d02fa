//! Settings of a node's reachability: its role, NAT traversal, the relay it serves, and where
//! agent discovery and peer exchange look for peers.
//!
//! ```
//! use mesh_net::{NatConfig, Role};
//! let nat = NatConfig::for_role(Role::Coordinator);
//! assert!(nat.relay_limits.max_circuits > 0);
//! assert!(!Role::Agent.serves_relay());
//! ```

use std::time::Duration;

use libp2p::Multiaddr;

/// What a node does for the network besides its own work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Role {
    /// Publishes and fulfils intents. Becomes a relay client when AutoNAT finds it private
    /// (or when relays are configured), registers its capabilities at rendezvous points.
    #[default]
    Agent,
    /// Serves bootstrap, rendezvous, circuit relay v2, AutoNAT and the DHT (server mode) for
    /// the agents around it; it can offer capabilities too.
    Coordinator,
}

impl Role {
    /// Whether this role serves circuit relay v2 (hop).
    pub fn serves_relay(self) -> bool {
        matches!(self, Role::Coordinator)
    }

    /// Whether this role serves rendezvous registrations and discovery.
    pub fn serves_rendezvous(self) -> bool {
        matches!(self, Role::Coordinator)
    }

    /// The role's name, as `mesh node --role` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Coordinator => "coordinator",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "agent" => Ok(Role::Agent),
            "coordinator" => Ok(Role::Coordinator),
            other => Err(format!(
                "unknown role {other:?}; use agent (the default) or coordinator"
            )),
        }
    }
}

/// Bounds on what a coordinator's relay serves. A relayed connection costs the relay
/// bandwidth and memory, so every resource is capped; the defaults are sized so that the relay
/// is a fallback that keeps agents behind symmetric NATs connected, not a bulk data path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayLimits {
    /// Reservations held at once (default 128).
    pub max_reservations: usize,
    /// Reservations one peer may hold (default 4).
    pub max_reservations_per_peer: usize,
    /// How long a reservation lasts before the client must renew it (default 1 h; libp2p's
    /// relay client renews before it lapses).
    pub reservation_duration: Duration,
    /// Relayed circuits open at once (default 64).
    pub max_circuits: usize,
    /// Relayed circuits one peer may have open (default 8).
    pub max_circuits_per_peer: usize,
    /// Longest life of one circuit (default 30 min); the connection is then closed and
    /// dialled again if still needed.
    pub max_circuit_duration: Duration,
    /// Most bytes relayed over one circuit, both directions together (default 64 MiB).
    pub max_circuit_bytes: u64,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_reservations: 128,
            max_reservations_per_peer: 4,
            reservation_duration: Duration::from_secs(3600),
            max_circuits: 64,
            max_circuits_per_peer: 8,
            max_circuit_duration: Duration::from_secs(30 * 60),
            max_circuit_bytes: 64 * 1024 * 1024,
        }
    }
}

/// NAT traversal settings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NatConfig {
    /// Relays to reserve a slot at from the start (`<relay addr>/p2p/<id>`), whatever AutoNAT
    /// says. Without any, an agent reserves at the relays it is connected to once AutoNAT
    /// finds it private.
    pub relays: Vec<Multiaddr>,
    /// Relays reserved at most when AutoNAT picks them (default 2).
    pub max_auto_relays: usize,
    /// Whether to ask the local router for a port mapping with UPnP IGD (default off in the
    /// library and its tests; `mesh node` turns it on for agents unless `--no-upnp`).
    pub upnp: bool,
    /// Whether AutoNAT ignores peers and addresses on private IP ranges (default on: on the
    /// Internet only global addresses prove reachability; off for private networks and test
    /// beds whose "public" side uses private addresses).
    pub autonat_only_global_ips: bool,
    /// Delay before the first AutoNAT probe (default 5 s).
    pub autonat_boot_delay: Duration,
    /// Interval between AutoNAT probes while the status is unknown or unconfirmed (default
    /// 30 s).
    pub autonat_retry_interval: Duration,
    /// Addresses this node is known to be reachable at (an operator's public address), added
    /// as confirmed external addresses at start.
    pub external_addresses: Vec<Multiaddr>,
    /// What the relay serves, for coordinators.
    pub relay_limits: RelayLimits,
}

impl NatConfig {
    /// The defaults of `role` (the same for both roles today; a coordinator simply never
    /// needs its relays).
    pub fn for_role(_role: Role) -> Self {
        Self {
            relays: Vec::new(),
            max_auto_relays: 2,
            upnp: false,
            autonat_only_global_ips: true,
            autonat_boot_delay: Duration::from_secs(5),
            autonat_retry_interval: Duration::from_secs(30),
            external_addresses: Vec::new(),
            relay_limits: RelayLimits::default(),
        }
    }
}

impl Default for NatConfig {
    fn default() -> Self {
        Self::for_role(Role::Agent)
    }
}

/// Where agent discovery looks; both on by default, and results are merged by peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoverySources {
    /// Capability provider records in the Kademlia DHT.
    pub dht: bool,
    /// Registrations at the rendezvous points (coordinators) this node is connected to.
    pub rendezvous: bool,
}

impl DiscoverySources {
    /// The DHT, rendezvous, both or neither.
    pub fn only(dht: bool, rendezvous: bool) -> Self {
        Self { dht, rendezvous }
    }
}

impl Default for DiscoverySources {
    fn default() -> Self {
        Self {
            dht: true,
            rendezvous: true,
        }
    }
}

/// Rendezvous registration settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RendezvousConfig {
    /// Time to live asked for each registration, in seconds (default and minimum of the
    /// libp2p rendezvous server: 2 h). Registrations are renewed at 80% of the TTL granted.
    pub ttl_secs: u64,
    /// Registrations one discovery query returns per namespace and rendezvous point at most.
    pub discover_limit: u64,
}

impl Default for RendezvousConfig {
    fn default() -> Self {
        Self {
            ttl_secs: libp2p::rendezvous::DEFAULT_TTL,
            discover_limit: 100,
        }
    }
}

/// Peer exchange: how a node that knows few peers finds more. Besides these DHT random walks,
/// gossipsub always sends peer exchange on prune, and takes peers from a prune only when its
/// sender's score reaches gossipsub's `accept_px_threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerExchangeConfig {
    /// Connected peers a node aims for; below it, it walks the DHT (default 8).
    pub target_peers: usize,
    /// Interval between two DHT random walks while below the target (default 15 s).
    pub random_walk_interval: Duration,
    /// Peers dialled per walk at most (default 8).
    pub dials_per_walk: usize,
}

impl Default for PeerExchangeConfig {
    fn default() -> Self {
        Self {
            target_peers: 8,
            random_walk_interval: Duration::from_secs(15),
            dials_per_walk: 8,
        }
    }
}
