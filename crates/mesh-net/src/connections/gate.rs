//! The connection gate: refuses a connection before its handshake when the node holds its most
//! connections, or when the remote IP address holds its most inbound ones.
//!
//! libp2p's connection limits check the total only once a connection is established, after
//! the Noise handshake: a node at its limit spends a handshake (X25519 and signature checks on
//! both sides) on every DHT dial and every inbound attempt, only to throw the connection away.
//! A busy node at its limit does this all the time (in the simulator, half of all handshakes
//! were thrown away so: `docs/BENCHMARKS.md`). The gate counts established connections and
//! refuses a dial or an inbound attempt before it starts while the count is at the limit;
//! what it refuses would have been refused anyway. When a slot frees up, connections are taken
//! again at once.
//!
//! Connections that carry work come first: a slot at the limit must not go to whatever DHT dial
//! asks first while an offer waits. The router marks the peers it must reach for work (a
//! negotiation message to a peer it is not connected to) with [`Behaviour::prioritise`]; a
//! dial to a marked peer may use a reserve of [`reserve_for`]`(max)` slots above the limit,
//! which no other dial or inbound attempt may take, and the trim then closes the connection
//! worth least to come back under its high mark. A mark lasts [`PRIORITY_TTL`]; at most
//! [`MAX_PRIORITY_PEERS`] peers are marked at once (the oldest mark goes first).
//!
//! Offers come the other way: a bidder dials the publisher, and before its handshake an
//! inbound attempt names no peer. So while the node has intents of its own open for offers,
//! the router opens the reserve to inbound attempts too ([`Behaviour::take_inbound_work`]):
//! there the node takes every connection up to the limit and the reserve, and the trim closes
//! the ones worth least (never a bidder with its offer in flight or just taken).
//!
//! libp2p's limits count per peer id too, but an attacker makes peer ids for free, so one host
//! could still take every slot. The gate also counts inbound connections per remote IP, from
//! the moment one is accepted (before Noise or QUIC spend any CPU on it) until it closes, and
//! refuses any beyond the cap. Addresses in the exempt list (loopback by default, where test
//! networks and local tools live) are not counted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, ListenFailure, NetworkBehaviour,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};
use tokio::time::Instant;

/// How long a peer marked for work may use the reserve.
pub const PRIORITY_TTL: Duration = Duration::from_secs(30);
/// Most peers marked for work at once.
pub const MAX_PRIORITY_PEERS: usize = 256;

/// Slots above `max` kept for dials to peers marked for work: an eighth of the limit, at
/// least one.
pub fn reserve_for(max: usize) -> usize {
    (max / 8).max(1)
}

/// Why a connection was refused before its handshake: the node is full.
#[derive(Debug, thiserror::Error)]
#[error(
    "this node already holds {max} connections, its most (`max_connections`); \
     it takes new ones once others close"
)]
pub struct AtConnectionLimit {
    /// The limit.
    pub max: usize,
}

/// Why an inbound connection was refused: its address holds its most.
#[derive(Debug, thiserror::Error)]
#[error("{ip} already has {max} inbound connections to this node, the most one address may have")]
pub(crate) struct TooManyFromIp {
    /// The remote address.
    pub ip: IpAddr,
    /// The cap.
    pub max: usize,
}

/// Counts connections in total and inbound ones per IP; see the module docs.
#[derive(Debug)]
pub struct Behaviour {
    max: usize,
    reserve: usize,
    established: usize,
    /// Peers marked for work, with when their mark ends.
    priority: HashMap<PeerId, Instant>,
    /// Whether inbound attempts may use the reserve (the node awaits offers).
    inbound_work: bool,
    max_per_ip: usize,
    exempt: Vec<IpAddr>,
    by_connection: HashMap<ConnectionId, IpAddr>,
    per_ip: HashMap<IpAddr, usize>,
    refused_at_limit: u64,
    refused_per_ip: u64,
}

impl Behaviour {
    /// Refuses new connections while `max` are established (dials to peers marked for work:
    /// while `max` and the reserve are), and inbound ones beyond `max_per_ip` from one address;
    /// `exempt` addresses are not counted per IP.
    pub fn new(max: usize, max_per_ip: usize, exempt: Vec<IpAddr>) -> Self {
        let max = max.max(1);
        Self {
            max,
            reserve: reserve_for(max),
            established: 0,
            priority: HashMap::new(),
            inbound_work: false,
            max_per_ip: max_per_ip.max(1),
            exempt,
            by_connection: HashMap::new(),
            per_ip: HashMap::new(),
            refused_at_limit: 0,
            refused_per_ip: 0,
        }
    }

    /// Connections refused at the limit so far, dials and inbound attempts.
    pub fn refused_at_limit(&self) -> u64 {
        self.refused_at_limit
    }

    /// Inbound connections refused for their address so far.
    pub fn refused_per_ip(&self) -> u64 {
        self.refused_per_ip
    }

    /// Connections established now.
    pub fn established(&self) -> usize {
        self.established
    }

    /// Inbound connections counted from `ip` now.
    pub fn count(&self, ip: &IpAddr) -> usize {
        self.per_ip.get(ip).copied().unwrap_or(0)
    }

    /// Lets dials to `peer` use the reserve until `now + PRIORITY_TTL`.
    pub fn prioritise(&mut self, peer: PeerId, now: Instant) {
        self.priority.retain(|_, until| *until > now);
        if self.priority.len() >= MAX_PRIORITY_PEERS && !self.priority.contains_key(&peer) {
            let oldest = self.priority.iter().min_by_key(|(_, until)| **until);
            if let Some((&oldest, _)) = oldest {
                self.priority.remove(&oldest);
            }
        }
        self.priority.insert(peer, now + PRIORITY_TTL);
    }

    /// Lets inbound attempts use the reserve (`true`, while the node awaits offers on intents
    /// of its own) or not.
    pub fn take_inbound_work(&mut self, yes: bool) {
        self.inbound_work = yes;
    }

    /// Whether dials to `peer` may use the reserve now.
    pub fn is_prioritised(&self, peer: &PeerId, now: Instant) -> bool {
        self.priority.get(peer).is_some_and(|until| *until > now)
    }

    /// Peers marked for work now, expired marks included until the next mark.
    #[cfg(test)]
    pub(crate) fn prioritised(&self) -> usize {
        self.priority.len()
    }

    fn check_below(&mut self, limit: usize) -> Result<(), ConnectionDenied> {
        if self.established >= limit {
            self.refused_at_limit += 1;
            return Err(ConnectionDenied::new(AtConnectionLimit { max: self.max }));
        }
        Ok(())
    }

    fn check_ip(
        &mut self,
        connection_id: ConnectionId,
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
            self.refused_per_ip += 1;
            return Err(ConnectionDenied::new(TooManyFromIp {
                ip,
                max: self.max_per_ip,
            }));
        }
        *n += 1;
        self.by_connection.insert(connection_id, ip);
        Ok(())
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
pub(crate) fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
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
        let limit = if self.inbound_work {
            self.max + self.reserve
        } else {
            self.max
        };
        self.check_below(limit)?;
        self.check_ip(connection_id, remote_addr)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        _addresses: &[Multiaddr],
        _effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        let for_work = maybe_peer.is_some_and(|p| self.is_prioritised(&p, Instant::now()));
        let limit = if for_work {
            self.max + self.reserve
        } else {
            self.max
        };
        self.check_below(limit).map(|()| Vec::new())
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
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                self.established = self.established.saturating_sub(1);
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
    fn refuses_only_while_at_the_limit() {
        let mut gate = Behaviour::new(2, 8, Vec::new());
        assert!(gate.check_below(gate.max).is_ok());
        gate.established = 2;
        let refused = pending(&mut gate, 1, "203.0.113.7").unwrap_err();
        let why = refused.downcast_ref::<AtConnectionLimit>().unwrap();
        assert_eq!(why.max, 2);
        assert!(why.to_string().contains("2 connections"), "{why}");
        assert_eq!(gate.refused_at_limit(), 1);
        assert_eq!(
            gate.count(&"203.0.113.7".parse().unwrap()),
            0,
            "not counted"
        );
        gate.established = 1;
        assert!(gate.check_below(gate.max).is_ok());
    }

    #[test]
    fn one_address_gets_at_most_the_cap_and_a_closed_connection_frees_a_slot() {
        let mut b = Behaviour::new(100, 2, Vec::new());
        assert!(pending(&mut b, 1, "203.0.113.7").is_ok());
        assert!(pending(&mut b, 2, "203.0.113.7").is_ok());
        let refused = pending(&mut b, 3, "203.0.113.7").unwrap_err();
        let why = refused.downcast_ref::<TooManyFromIp>().unwrap();
        assert_eq!(why.max, 2);
        assert!(why.to_string().contains("203.0.113.7"), "{why}");
        assert_eq!(b.refused_per_ip(), 1);
        assert!(pending(&mut b, 4, "203.0.113.8").is_ok(), "another address");
        b.release(&ConnectionId::new_unchecked(1));
        assert_eq!(b.count(&"203.0.113.7".parse().unwrap()), 1);
        assert!(pending(&mut b, 5, "203.0.113.7").is_ok());
    }

    fn dial(b: &mut Behaviour, peer: PeerId) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        b.handle_pending_outbound_connection(
            ConnectionId::new_unchecked(0),
            Some(peer),
            &[],
            Endpoint::Dialer,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn dials_for_work_use_the_reserve_that_no_other_connection_takes() {
        let mut gate = Behaviour::new(16, 8, Vec::new());
        assert_eq!(reserve_for(16), 2);
        let (worker, other) = (PeerId::random(), PeerId::random());
        gate.established = 16;
        assert!(dial(&mut gate, worker).is_err(), "not marked yet");
        gate.prioritise(worker, Instant::now());
        assert!(dial(&mut gate, worker).is_ok(), "marked: the reserve");
        assert!(dial(&mut gate, other).is_err(), "unmarked: at the limit");
        assert!(
            pending(&mut gate, 1, "203.0.113.7").is_err(),
            "inbound: at the limit"
        );
        gate.established = 17;
        assert!(dial(&mut gate, worker).is_ok());
        gate.established = 18;
        let refused = dial(&mut gate, worker).unwrap_err();
        assert!(refused.downcast_ref::<AtConnectionLimit>().is_some());
        gate.established = 16;
        tokio::time::advance(PRIORITY_TTL).await;
        assert!(dial(&mut gate, worker).is_err(), "the mark has ended");
    }

    #[test]
    fn a_node_awaiting_offers_takes_inbound_attempts_into_the_reserve() {
        let mut gate = Behaviour::new(16, 8, Vec::new());
        gate.established = 16;
        assert!(pending(&mut gate, 1, "203.0.113.7").is_err());
        gate.take_inbound_work(true);
        assert!(pending(&mut gate, 2, "203.0.113.7").is_ok());
        gate.established = 18;
        assert!(
            pending(&mut gate, 3, "203.0.113.8").is_err(),
            "not past the reserve"
        );
        gate.established = 16;
        gate.take_inbound_work(false);
        assert!(pending(&mut gate, 4, "203.0.113.8").is_err());
        assert!(
            dial(&mut gate, PeerId::random()).is_err(),
            "own dials that are not for work stay at the limit"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_so_many_peers_are_marked_and_the_oldest_mark_goes_first() {
        let mut gate = Behaviour::new(16, 8, Vec::new());
        let first = PeerId::random();
        gate.prioritise(first, Instant::now());
        for _ in 1..MAX_PRIORITY_PEERS {
            tokio::time::advance(Duration::from_millis(1)).await;
            gate.prioritise(PeerId::random(), Instant::now());
        }
        assert_eq!(gate.prioritised(), MAX_PRIORITY_PEERS);
        assert!(gate.is_prioritised(&first, Instant::now()));
        let last = PeerId::random();
        gate.prioritise(last, Instant::now());
        assert_eq!(gate.prioritised(), MAX_PRIORITY_PEERS);
        assert!(
            !gate.is_prioritised(&first, Instant::now()),
            "the oldest went"
        );
        assert!(gate.is_prioritised(&last, Instant::now()));
    }

    #[test]
    fn exempt_addresses_are_not_counted() {
        let mut b = Behaviour::new(100, 1, vec!["127.0.0.1".parse().unwrap()]);
        for id in 0..10 {
            assert!(pending(&mut b, id, "127.0.0.1").is_ok());
        }
        assert_eq!(b.count(&"127.0.0.1".parse().unwrap()), 0);
        assert!(pending(&mut b, 11, "127.0.0.2").is_ok());
        assert!(pending(&mut b, 12, "127.0.0.2").is_err());
    }
}
