//! A cap on inbound connections from one IP address, checked before the handshake.
//!
//! libp2p's connection limits count connections in total and per peer id; an attacker makes
//! peer ids for free, so one host could still take every slot. This behaviour counts inbound
//! connections per remote IP, from the moment one is accepted (before Noise or QUIC spend any
//! CPU on it) until it closes, and refuses any beyond the cap. Addresses in the exempt list
//! (loopback by default, where test networks and local tools live) are not counted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, ListenFailure, NetworkBehaviour,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// Why an inbound connection was refused.
#[derive(Debug, thiserror::Error)]
#[error("{ip} already has {max} inbound connections to this node, the most one address may have")]
pub struct TooManyFromIp {
    /// The remote address.
    pub ip: IpAddr,
    /// The cap.
    pub max: usize,
}

/// Counts inbound connections per IP; see the module docs.
#[derive(Debug)]
pub struct Behaviour {
    max_per_ip: usize,
    exempt: Vec<IpAddr>,
    by_connection: HashMap<ConnectionId, IpAddr>,
    per_ip: HashMap<IpAddr, usize>,
    refused: u64,
}

impl Behaviour {
    /// At most `max_per_ip` inbound connections from one address; `exempt` ones uncounted.
    pub fn new(max_per_ip: usize, exempt: Vec<IpAddr>) -> Self {
        Self {
            max_per_ip: max_per_ip.max(1),
            exempt,
            by_connection: HashMap::new(),
            per_ip: HashMap::new(),
            refused: 0,
        }
    }

    /// Inbound connections refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Inbound connections counted from `ip` now.
    pub fn count(&self, ip: &IpAddr) -> usize {
        self.per_ip.get(ip).copied().unwrap_or(0)
    }

    fn release(&mut self, connection: &ConnectionId) {
        if let Some(ip) = self.by_connection.remove(connection)
            && let Some(n) = self.per_ip.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

/// The IP address a multiaddr starts with, if any.
pub fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_of(remote_addr) else {
            return Ok(());
        };
        // A relayed connection comes from the relay's address, not from the peer's: the relay
        // bounds its circuits itself.
        if crate::reachability::is_relayed(remote_addr) || self.exempt.contains(&ip) {
            return Ok(());
        }
        let n = self.per_ip.entry(ip).or_default();
        if *n >= self.max_per_ip {
            self.refused += 1;
            return Err(ConnectionDenied::new(TooManyFromIp {
                ip,
                max: self.max_per_ip,
            }));
        }
        *n += 1;
        self.by_connection.insert(connection_id, ip);
        Ok(())
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
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                self.release(&connection_id);
            }
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.release(&connection_id);
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

    fn addr(ip: &str) -> Multiaddr {
        format!("/ip4/{ip}/tcp/4001").parse().unwrap()
    }

    fn pending(b: &mut Behaviour, id: usize, ip: &str) -> Result<(), ConnectionDenied> {
        b.handle_pending_inbound_connection(
            ConnectionId::new_unchecked(id),
            &addr("10.0.0.1"),
            &addr(ip),
        )
    }

    #[test]
    fn one_address_gets_at_most_the_cap_and_a_closed_connection_frees_a_slot() {
        let mut b = Behaviour::new(2, Vec::new());
        assert!(pending(&mut b, 1, "203.0.113.7").is_ok());
        assert!(pending(&mut b, 2, "203.0.113.7").is_ok());
        let refused = pending(&mut b, 3, "203.0.113.7").unwrap_err();
        assert!(refused.to_string().contains("203.0.113.7") || b.refused() == 1);
        assert_eq!(b.refused(), 1);
        assert!(pending(&mut b, 4, "203.0.113.8").is_ok(), "another address");
        b.release(&ConnectionId::new_unchecked(1));
        assert_eq!(b.count(&"203.0.113.7".parse().unwrap()), 1);
        assert!(pending(&mut b, 5, "203.0.113.7").is_ok());
    }

    #[test]
    fn exempt_addresses_are_not_counted() {
        let mut b = Behaviour::new(1, vec!["127.0.0.1".parse().unwrap()]);
        for id in 0..10 {
            assert!(pending(&mut b, id, "127.0.0.1").is_ok());
        }
        assert_eq!(b.count(&"127.0.0.1".parse().unwrap()), 0);
        assert!(pending(&mut b, 11, "127.0.0.2").is_ok());
        assert!(pending(&mut b, 12, "127.0.0.2").is_err());
    }
}
