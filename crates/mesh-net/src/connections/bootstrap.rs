//! Dialling bootstrap peers, with retry and exponential backoff.
//!
//! Pure bookkeeping: the event loop asks [`Bootstrap::due`] which addresses to dial now, and
//! reports what happened with `dialing`, [`Bootstrap::connected`] and
//! [`Bootstrap::failed`] / [`Bootstrap::disconnected`].
//!
//! A bootstrap peer the node never reached is retried with backoff for as long as the node
//! runs. One it reached and lost is dialled again only while the node has fewer than
//! `ENOUGH_PEERS` peers: a node that is well connected does not need its bootstrap peers,
//! and redialling them whenever an idle connection closes would load the bootstrap nodes
//! with every node of the network.
//!
//! Every second retry dials from a fresh local port instead of the listen port (libp2p's
//! default for TCP): a dial from the listen port fails for as long as the OS will not bind it
//! toward that peer (the same address pair is still taken), and libp2p only falls back to a
//! fresh port for one of the errors this can give.

use std::time::Duration;

use tokio::time::Instant;

use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};

/// First retry delay after a failed dial.
pub(crate) const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Longest delay between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Connected peers from which a bootstrap peer that was reached and lost is left alone.
pub(crate) const ENOUGH_PEERS: usize = 4;

#[derive(Debug)]
struct Entry {
    addr: Multiaddr,
    peer: Option<PeerId>,
    failures: u32,
    next_at: Instant,
    dialing: Option<ConnectionId>,
    connected: bool,
    ever_connected: bool,
}

/// The state of every configured bootstrap peer.
#[derive(Debug, Default)]
pub struct Bootstrap {
    entries: Vec<Entry>,
}

/// The peer id at the end of a multiaddr (`.../p2p/<id>`), if any.
pub(crate) fn peer_id_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// The delay before retry number `failures` (1-based): 1 s, 2 s, 4 s ... up to [`MAX_BACKOFF`].
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    INITIAL_BACKOFF.saturating_mul(1u32 << exp).min(MAX_BACKOFF)
}

impl Bootstrap {
    /// Bookkeeping for `addrs`, all due at `now`.
    pub fn new(addrs: Vec<Multiaddr>, now: Instant) -> Self {
        Self {
            entries: addrs
                .into_iter()
                .map(|addr| Entry {
                    peer: peer_id_of(&addr),
                    addr,
                    failures: 0,
                    next_at: now,
                    dialing: None,
                    connected: false,
                    ever_connected: false,
                })
                .collect(),
        }
    }

    /// Addresses to dial now, for a node with `peers` connected peers: neither connected nor
    /// being dialled, past their backoff, and either never reached or needed (fewer than
    /// `ENOUGH_PEERS` peers).
    pub fn due(&self, now: Instant, peers: usize) -> Vec<Multiaddr> {
        self.entries
            .iter()
            .filter(|e| !e.connected && e.dialing.is_none() && e.next_at <= now)
            .filter(|e| !e.ever_connected || peers < ENOUGH_PEERS)
            .map(|e| e.addr.clone())
            .collect()
    }

    /// Whether the next dial of `addr` should use a fresh local port rather than the listen
    /// port: after an odd number of failures in a row, so that both ways are tried in turn.
    pub(crate) fn fresh_port(&self, addr: &Multiaddr) -> bool {
        self.entries
            .iter()
            .any(|e| &e.addr == addr && e.failures % 2 == 1)
    }

    /// A dial of `addr` started with connection id `id`.
    pub(crate) fn dialing(&mut self, addr: &Multiaddr, id: ConnectionId) {
        if let Some(e) = self.entries.iter_mut().find(|e| &e.addr == addr) {
            e.dialing = Some(id);
        }
    }

    /// Connection `id` to `peer` is established. Returns whether it was a bootstrap dial.
    pub fn connected(&mut self, id: ConnectionId, peer: PeerId) -> bool {
        let mut hit = false;
        for e in &mut self.entries {
            if e.dialing == Some(id) || e.peer == Some(peer) {
                hit |= e.dialing == Some(id);
                e.dialing = None;
                e.connected = true;
                e.ever_connected = true;
                e.failures = 0;
                e.peer.get_or_insert(peer);
            }
        }
        hit
    }

    /// Dial `id` failed; schedule a retry. Returns whether it was a bootstrap dial.
    pub fn failed(&mut self, id: ConnectionId, now: Instant) -> bool {
        let mut hit = false;
        for e in &mut self.entries {
            if e.dialing == Some(id) {
                hit = true;
                e.dialing = None;
                e.failures = e.failures.saturating_add(1);
                e.next_at = now + backoff(e.failures);
            }
        }
        hit
    }

    /// The last connection to `peer` closed; dial it again after the first backoff step.
    pub fn disconnected(&mut self, peer: PeerId, now: Instant) {
        for e in &mut self.entries {
            if e.peer == Some(peer) && e.connected {
                e.connected = false;
                e.next_at = now + INITIAL_BACKOFF;
            }
        }
    }

    /// Number of bootstrap peers currently connected.
    pub fn connected_count(&self) -> usize {
        self.entries.iter().filter(|e| e.connected).count()
    }

    /// Whether any bootstrap peer is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/7700/p2p/{}", PeerId::random())
            .parse()
            .unwrap()
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(10), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn failed_dial_waits_then_retries() {
        let now = Instant::now();
        let a = addr();
        let mut b = Bootstrap::new(vec![a.clone()], now);
        assert_eq!(b.due(now, 0), vec![a.clone()]);
        let id = ConnectionId::new_unchecked(1);
        b.dialing(&a, id);
        assert!(
            b.due(now, 0).is_empty(),
            "no second dial while one is in flight"
        );
        assert!(b.failed(id, now));
        assert!(b.due(now, 0).is_empty());
        assert_eq!(b.due(now + Duration::from_secs(1), 0), vec![a.clone()]);
        let id2 = ConnectionId::new_unchecked(2);
        b.dialing(&a, id2);
        b.failed(id2, now);
        assert!(b.due(now + Duration::from_secs(1), 0).is_empty());
        assert_eq!(b.due(now + Duration::from_secs(2), 0).len(), 1);
    }

    #[test]
    fn retries_alternate_between_the_listen_port_and_a_fresh_one() {
        let now = Instant::now();
        let a = addr();
        let peer = peer_id_of(&a).unwrap();
        let mut b = Bootstrap::new(vec![a.clone()], now);
        let mut ways = Vec::new();
        for n in 0..4 {
            ways.push(b.fresh_port(&a));
            let id = ConnectionId::new_unchecked(10 + n);
            b.dialing(&a, id);
            b.failed(id, now);
        }
        assert_eq!(ways, [false, true, false, true]);
        let id = ConnectionId::new_unchecked(20);
        b.dialing(&a, id);
        b.connected(id, peer);
        assert!(
            !b.fresh_port(&a),
            "a success starts again from the listen port"
        );
        assert!(!b.fresh_port(&addr()), "an unknown address: the default");
    }

    #[test]
    fn connected_peer_is_not_dialled_until_it_drops() {
        let now = Instant::now();
        let a = addr();
        let peer = peer_id_of(&a).unwrap();
        let mut b = Bootstrap::new(vec![a.clone()], now);
        let id = ConnectionId::new_unchecked(3);
        b.dialing(&a, id);
        assert!(b.connected(id, peer));
        assert_eq!(b.connected_count(), 1);
        assert!(b.due(now + MAX_BACKOFF, 0).is_empty());
        b.disconnected(peer, now);
        assert_eq!(b.due(now + INITIAL_BACKOFF, 0), vec![a]);
    }

    #[test]
    fn a_lost_bootstrap_peer_is_redialled_only_while_the_node_has_few_peers() {
        let now = Instant::now();
        let (reached, never) = (addr(), addr());
        let peer = peer_id_of(&reached).unwrap();
        let mut b = Bootstrap::new(vec![reached.clone(), never.clone()], now);
        let id = ConnectionId::new_unchecked(4);
        b.dialing(&reached, id);
        assert!(b.connected(id, peer));
        b.disconnected(peer, now);
        let later = now + INITIAL_BACKOFF;
        // Well connected: only the peer never reached is still tried.
        assert_eq!(b.due(later, ENOUGH_PEERS), vec![never.clone()]);
        // Short of peers: both.
        assert_eq!(b.due(later, ENOUGH_PEERS - 1), vec![reached, never]);
    }
}
