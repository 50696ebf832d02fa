//! Refuses new connections before their handshake while the node holds its most connections.
//!
//! libp2p's connection limits check the total only once a connection is established, after
//! the Noise handshake: a node at its limit spends a handshake (X25519 and signature checks on
//! both sides) on every DHT dial and every inbound attempt, only to throw the connection away.
//! A busy node at its limit does this all the time (in the simulator, half of all handshakes
//! were thrown away so: `docs/BENCHMARKS.md`). This behaviour counts established connections
//! and refuses a dial or an inbound attempt before it starts while the count is at the limit;
//! what it refuses would have been refused anyway. When a slot frees up, connections are
//! taken again at once.

use std::convert::Infallible;
use std::task::{Context, Poll};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// Why a connection was refused before its handshake.
#[derive(Debug, thiserror::Error)]
#[error(
    "this node already holds {max} connections, its most (`max_connections`); \
     it takes new ones once others close"
)]
pub struct AtConnectionLimit {
    /// The limit.
    pub max: usize,
}

/// Counts established connections; see the module docs.
#[derive(Debug)]
pub struct Behaviour {
    max: usize,
    established: usize,
    refused: u64,
}

impl Behaviour {
    /// Refuses new connections while `max` are established.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            established: 0,
            refused: 0,
        }
    }

    /// Connections refused so far, dials and inbound attempts.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Connections established now.
    pub fn established(&self) -> usize {
        self.established
    }

    fn check(&mut self) -> Result<(), ConnectionDenied> {
        if self.established >= self.max {
            self.refused += 1;
            return Err(ConnectionDenied::new(AtConnectionLimit { max: self.max }));
        }
        Ok(())
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.check()
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _maybe_peer: Option<PeerId>,
        _addresses: &[Multiaddr],
        _effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.check().map(|()| Vec::new())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(_) => {
                self.established += 1;
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { .. }) => {
                self.established = self.established.saturating_sub(1);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer_id: PeerId,
        _connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn refuses_only_while_at_the_limit() {
        let mut gate = Behaviour::new(2);
        assert!(gate.check().is_ok());
        gate.established = 2;
        let refused = gate.check().unwrap_err();
        let why = refused.downcast_ref::<AtConnectionLimit>().unwrap();
        assert_eq!(why.max, 2);
        assert!(why.to_string().contains("2 connections"), "{why}");
        assert_eq!(gate.refused(), 1);
        gate.established = 1;
        assert!(gate.check().is_ok());
    }
}
