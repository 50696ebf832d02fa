//! The swarm a perf server or client runs on.
//!
//! The transport stack mirrors `build_swarm` in `mesh-net` (`crates/mesh-net/src/behaviour.rs`),
//! so that the figures are those of a MESH node's connections: TCP with `TCP_NODELAY`, Noise and
//! Yamux in their default configurations, QUIC (`quic-v1`) in its default configuration, DNS,
//! and libp2p's bandwidth counters around the transport. Only the behaviours differ: connection
//! limits and the perf protocol, instead of MESH's protocols.

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{Multiaddr, Swarm, SwarmBuilder, connection_limits, noise, tcp, yamux};
use prometheus_client::registry::Registry;
use serde::Serialize;

/// The transport of a perf connection, as told by its multiaddr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP + Noise + Yamux.
    Tcp,
    /// QUIC v1.
    Quic,
}

impl Transport {
    /// The transport `addr` dials, or `None` if it is neither TCP nor QUIC v1.
    pub fn of(addr: &Multiaddr) -> Option<Self> {
        let mut transport = None;
        for protocol in addr {
            match protocol {
                Protocol::QuicV1 => return Some(Self::Quic),
                Protocol::Tcp(_) => transport = Some(Self::Tcp),
                Protocol::Udp(_) => transport = None,
                _ => {}
            }
        }
        transport
    }

    /// The name in results: `tcp` or `quic`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Quic => "quic",
        }
    }
}

/// Building the swarm failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the libp2p swarm: {0}")]
pub struct SetupError(String);

impl SetupError {
    pub(crate) fn from_display(e: &dyn std::fmt::Display) -> Self {
        Self(e.to_string())
    }
}

/// Connection limits allowing at most `max` established connections and `max` pending ones
/// each way.
pub fn connection_limits(max: u32) -> connection_limits::Behaviour {
    connection_limits::Behaviour::new(
        connection_limits::ConnectionLimits::default()
            .with_max_established(Some(max))
            .with_max_pending_incoming(Some(max))
            .with_max_pending_outgoing(Some(max)),
    )
}

/// Builds a swarm with MESH's transports around `behaviour`.
pub fn build_swarm<B: NetworkBehaviour>(
    keypair: Keypair,
    behaviour: B,
    idle_connection_timeout: Duration,
) -> Result<Swarm<B>, SetupError> {
    let setup = SetupError::from_display;
    // The counters are not read; they keep the transport the same as a MESH node's.
    let mut registry = Registry::default();
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        .with_quic()
        .with_dns()
        .map_err(|e| setup(&e))?
        .with_bandwidth_metrics(&mut registry)
        .with_behaviour(|_| behaviour)
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle_connection_timeout))
        .build();
    Ok(swarm)
}

/// An ed25519 keypair: a fresh one, or one derived from `seed` (the same seed gives the same
/// peer id).
pub fn keypair(seed: Option<u64>) -> Result<Keypair, SetupError> {
    match seed {
        Some(seed) => {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&seed.to_be_bytes());
            Keypair::ed25519_from_bytes(bytes).map_err(|e| SetupError::from_display(&e))
        }
        None => Ok(Keypair::generate_ed25519()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn transport_of_an_address() {
        let tcp: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let quic: Multiaddr = "/ip4/127.0.0.1/udp/4001/quic-v1/p2p/12D3KooWGhm7Ja6mc5EYA8VWqrBXYvnEyUfqmvqB5kfLQRedjnTQ"
            .parse()
            .unwrap();
        let dns: Multiaddr = "/dns4/localhost/tcp/4001".parse().unwrap();
        let udp: Multiaddr = "/ip4/127.0.0.1/udp/4001".parse().unwrap();
        let memory: Multiaddr = "/memory/1".parse().unwrap();
        assert_eq!(Transport::of(&tcp), Some(Transport::Tcp));
        assert_eq!(Transport::of(&quic), Some(Transport::Quic));
        assert_eq!(Transport::of(&dns), Some(Transport::Tcp));
        assert_eq!(Transport::of(&udp), None);
        assert_eq!(Transport::of(&memory), None);
    }

    #[test]
    fn seeded_keypairs_repeat() {
        let peer = |seed| keypair(Some(seed)).unwrap().public().to_peer_id();
        let (a, b, c) = (peer(7), peer(7), peer(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
