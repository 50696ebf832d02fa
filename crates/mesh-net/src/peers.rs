//! What this node knows of the peers it is connected to, and its local reputation of every peer.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use mesh_core::trust::TrustScores;
use mesh_core::{LocalReputation, Observation};
use serde::Serialize;

/// Most addresses remembered per peer.
pub(crate) const MAX_ADDRS_PER_PEER: usize = 8;

/// A connected peer, as shown by `mesh peers`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PeerInfo {
    /// The peer.
    pub peer_id: String,
    /// Addresses it listens on (from identify) or was reached at.
    pub addresses: Vec<String>,
    /// Latest ping round-trip time in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Its agent version string, from identify.
    pub agent_version: Option<String>,
    /// Open connections to it.
    pub connections: u32,
    /// Its reputation here, in `[0, 1]`: from receipts, lowered by misbehaviour this node saw
    /// (see `PeerBook::reputation`).
    pub reputation: f64,
    /// Its gossipsub peer score here (see `scoring`): below 0 it is pruned from this node's
    /// meshes, below -80 everything it sends on gossip is ignored. `None` before gossipsub has
    /// seen it.
    pub gossip_score: Option<f64>,
}

#[derive(Debug, Default)]
struct Entry {
    addrs: Vec<Multiaddr>,
    /// The addresses it says it listens on (identify), as given last.
    listen: Vec<Multiaddr>,
    rtt: Option<Duration>,
    agent_version: Option<String>,
    connections: u32,
    /// Whether a connection to it runs over loopback (it is on this host).
    local: bool,
    /// The IP address of its first connection (not what it claims to listen on).
    remote_ip: Option<std::net::IpAddr>,
}

/// Connected peers and their reputation: this node's local score of each peer's messages and
/// the network's receipts (the latest [`TrustScores`]), combined by
/// [`mesh_core::trust::combine`]. Owned by the event loop.
#[derive(Debug, Default)]
pub(crate) struct PeerBook {
    connected: HashMap<PeerId, Entry>,
    reputation: LocalReputation,
    trust: TrustScores,
    /// Peers whose score changed since the last [`PeerBook::take_changed`], with how many
    /// observations each score rests on in all.
    changed: HashMap<PeerId, u64>,
    observations: HashMap<PeerId, u64>,
}

/// Score changes remembered between two saves at most.
const CHANGED_CAPACITY: usize = 4096;

impl PeerBook {
    /// A connection to `peer` at `addr` opened.
    pub(crate) fn connection_opened(&mut self, peer: PeerId, addr: Multiaddr) {
        let e = self.connected.entry(peer).or_default();
        e.connections += 1;
        e.local |= crate::addr_scope::is_loopback(&addr);
        if e.remote_ip.is_none() {
            e.remote_ip = crate::connections::gate::ip_of(&addr);
        }
        push_bounded(&mut e.addrs, addr);
    }

    /// A connection to `peer` closed; `remaining` are still open.
    pub(crate) fn connection_closed(&mut self, peer: PeerId, remaining: u32) {
        if remaining == 0 {
            self.connected.remove(&peer);
        } else if let Some(e) = self.connected.get_mut(&peer) {
            e.connections = remaining;
        }
    }

    /// Identify told us `peer`'s listen addresses and agent version.
    pub(crate) fn identified(&mut self, peer: PeerId, listen: &[Multiaddr], agent_version: String) {
        if let Some(e) = self.connected.get_mut(&peer) {
            for a in listen.iter().take(MAX_ADDRS_PER_PEER) {
                push_bounded(&mut e.addrs, a.clone());
            }
            e.listen = listen.iter().take(MAX_ADDRS_PER_PEER).cloned().collect();
            e.agent_version = Some(agent_version);
        }
    }

    /// The addresses a connected `peer` said it listens on (empty before identify answered).
    pub(crate) fn listen_addrs(&self, peer: &PeerId) -> &[Multiaddr] {
        self.connected
            .get(peer)
            .map_or(&[], |e| e.listen.as_slice())
    }

    /// A ping to `peer` took `rtt`.
    pub(crate) fn rtt(&mut self, peer: PeerId, rtt: Duration) {
        if let Some(e) = self.connected.get_mut(&peer) {
            e.rtt = Some(rtt);
        }
    }

    /// The latest RTT of `peer`, if connected and pinged.
    pub(crate) fn rtt_of(&self, peer: &PeerId) -> Option<Duration> {
        self.connected.get(peer).and_then(|e| e.rtt)
    }

    /// Whether `peer` is connected.
    pub(crate) fn is_connected(&self, peer: &PeerId) -> bool {
        self.connected.contains_key(peer)
    }

    /// Up to `n` connected peers, best reputation first.
    pub(crate) fn connected_peers(&self, n: usize) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = self.connected.keys().copied().collect();
        peers.sort_by(|a, b| self.reputation(b).total_cmp(&self.reputation(a)));
        peers.truncate(n);
        peers
    }

    /// Whether `peer` is connected over loopback, so on this host: what it says of loopback
    /// addresses holds here (see [`crate::addr_scope`]).
    pub(crate) fn is_local_link(&self, peer: &PeerId) -> bool {
        self.connected.get(peer).is_some_and(|e| e.local)
    }

    /// Whether any connected peer is on this host. A DHT answer does not say who gave which
    /// address; loopback addresses in it are kept only then.
    pub(crate) fn any_local_link(&self) -> bool {
        self.connected.values().any(|e| e.local)
    }

    /// Number of connected peers.
    pub(crate) fn connected_count(&self) -> usize {
        self.connected.len()
    }

    /// The IP address `peer` is connected from (that of its first connection), if it is
    /// connected over IP.
    pub(crate) fn remote_ip(&self, peer: &PeerId) -> Option<std::net::IpAddr> {
        self.connected.get(peer)?.remote_ip
    }

    /// Records what `peer` did; returns its new score.
    pub(crate) fn observe(&mut self, peer: PeerId, observation: Observation) -> f64 {
        let count = if self.observations.len() < mesh_core::reputation::DEFAULT_CAPACITY
            || self.observations.contains_key(&peer)
        {
            let c = self.observations.entry(peer).or_default();
            *c += 1;
            *c
        } else {
            1
        };
        if self.changed.len() < CHANGED_CAPACITY || self.changed.contains_key(&peer) {
            self.changed.insert(peer, count);
        }
        self.reputation.observe(peer, observation)
    }

    /// Sets a score and its observation count read back from storage.
    pub(crate) fn restore_reputation(&mut self, peer: PeerId, score: f64, observations: u64) {
        self.reputation.restore(peer, score);
        if self.observations.len() < mesh_core::reputation::DEFAULT_CAPACITY {
            self.observations.insert(peer, observations);
        }
    }

    /// The scores that changed since the last call: peer, score, observations.
    pub(crate) fn take_changed(&mut self) -> Vec<(PeerId, f64, u64)> {
        self.changed
            .drain()
            .map(|(peer, count)| (peer, self.reputation.score(&peer), count))
            .collect()
    }

    /// The write that stores the scores changed since the last call, if any changed.
    pub(crate) fn reputations_changed(&mut self, now_ms: u64) -> Option<crate::persist::Write> {
        let changed: Vec<mesh_store::StoredReputation> = self
            .take_changed()
            .into_iter()
            .map(|(peer, score, observations)| mesh_store::StoredReputation {
                peer_id: peer.to_bytes(),
                score,
                observations,
                updated_at_unix_ms: now_ms,
            })
            .collect();
        (!changed.is_empty()).then_some(crate::persist::Write::Reputations(changed))
    }

    /// The reputation of `peer` in `[0, 1]`: its score from receipts (0.5 for an agent nobody
    /// trusted has rated), lowered by misbehaviour this node saw itself. What discovery's
    /// `min_reputation`, the offer strategy and gossip's application score use.
    pub(crate) fn reputation(&self, peer: &PeerId) -> f64 {
        self.trust.reputation(peer, &self.reputation)
    }

    /// This node's local score of `peer`'s messages alone.
    pub(crate) fn local_score(&self, peer: &PeerId) -> f64 {
        self.reputation.score(peer)
    }

    /// Takes the scores of a new recomputation of the receipts.
    pub(crate) fn set_trust(&mut self, scores: TrustScores) {
        self.trust = scores;
    }

    /// The latest scores from receipts.
    pub(crate) fn trust(&self) -> &TrustScores {
        &self.trust
    }

    /// Connected peers, best reputation first, with the gossip score `gossip_score` gives.
    pub(crate) fn list(&self, gossip_score: impl Fn(&PeerId) -> Option<f64>) -> Vec<PeerInfo> {
        let mut out: Vec<PeerInfo> = self
            .connected
            .iter()
            .map(|(peer, e)| PeerInfo {
                peer_id: peer.to_string(),
                addresses: e.addrs.iter().map(|a| a.to_string()).collect(),
                rtt_ms: e.rtt.map(|d| d.as_secs_f64() * 1000.0),
                agent_version: e.agent_version.clone(),
                connections: e.connections,
                reputation: self.reputation(peer),
                gossip_score: gossip_score(peer),
            })
            .collect();
        out.sort_by(|a, b| {
            b.reputation
                .total_cmp(&a.reputation)
                .then_with(|| a.peer_id.cmp(&b.peer_id))
        });
        out
    }
}

fn push_bounded(addrs: &mut Vec<Multiaddr>, addr: Multiaddr) {
    if !addrs.contains(&addr) {
        if addrs.len() >= MAX_ADDRS_PER_PEER {
            addrs.remove(0);
        }
        addrs.push(addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_local_while_a_loopback_connection_to_it_is_open() {
        let mut book = PeerBook::default();
        let (near, far) = (PeerId::random(), PeerId::random());
        book.connection_opened(far, "/ip4/198.18.0.12/tcp/4001".parse().unwrap());
        assert!(!book.any_local_link());
        book.connection_opened(near, "/ip4/127.0.0.1/tcp/4001".parse().unwrap());
        assert!(book.is_local_link(&near));
        assert!(!book.is_local_link(&far));
        assert!(book.any_local_link());
        book.connection_closed(near, 0);
        assert!(!book.is_local_link(&near));
        assert!(!book.any_local_link());
    }
}
