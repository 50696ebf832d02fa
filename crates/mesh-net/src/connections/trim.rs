//! Headroom under the connection limit.
//!
//! The connection limit refuses every connection past `max_connections`, outbound ones
//! included: a node that has filled its slots with peers it met through the DHT and gossip
//! could no longer dial the publisher of an intent it wants to bid on, nor answer a peer that
//! needs it. So the node keeps its connections at a *target* below the limit: when it holds
//! more, it closes the excess, choosing among peers that are worth least to it right now.
//!
//! Never closed: peers in one of this node's gossip meshes, peers with negotiation messages in
//! flight or waiting, peers that sent or answered a negotiation message in the last
//! `NEGOTIATION_HOLD` (the next message of the negotiation is on its way), and peers connected for less than `GRACE` (a new connection gets the
//! time to be identified and grafted). Among the others, the lowest local reputation goes
//! first, then the longest connected.
//!
//! Trimming every `INTERVAL` is not fast enough on a busy network: DHT requests to peers not
//! yet connected open connections faster than the grace lets them close, and a node that
//! reaches its limit refuses every new connection, the offer of a bidder it has never met and
//! the lookups that would find it included. So above a *high mark*, between the target and the
//! limit, each new connection closes the one worth least at once, however young (never the new
//! one, nor a kept one): the node makes room for what arrives rather than refusing it, and the
//! limit is reached only by a burst faster than connections close.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use libp2p::PeerId;

/// A new connection is never trimmed before this age.
pub(crate) const GRACE: Duration = Duration::from_secs(10);
/// How often the node checks for excess connections.
pub(crate) const INTERVAL: Duration = Duration::from_secs(5);
/// A peer that took part in a negotiation is kept this long after its last message.
pub(crate) const NEGOTIATION_HOLD: Duration = Duration::from_secs(30);

/// When each connected peer was first connected, and the target. Owned by the event loop.
#[derive(Debug)]
pub(crate) struct ConnectionTrim {
    target: usize,
    high: usize,
    since: HashMap<PeerId, Instant>,
    /// Connected peers' last negotiation message; never holds a peer `since` does not.
    negotiated: HashMap<PeerId, Instant>,
}

impl ConnectionTrim {
    /// A trim that keeps at most [`ConnectionTrim::target_for`]`(max_connections)`
    /// connections.
    pub(crate) fn new(max_connections: u32) -> Self {
        Self {
            target: Self::target_for(max_connections),
            high: Self::high_for(max_connections),
            since: HashMap::new(),
            negotiated: HashMap::new(),
        }
    }

    /// The high mark for a limit of `max`: a sixteenth below it, at least one below, and never
    /// under the target.
    pub(crate) fn high_for(max: u32) -> usize {
        let high = (max as usize).saturating_sub((max as usize / 16).max(1));
        high.max(Self::target_for(max))
    }

    /// The high mark.
    pub(crate) fn high(&self) -> usize {
        self.high
    }

    /// The peer to close now that `connections` are open and `new` just connected: when they
    /// are above the high mark, the least valuable of those not `kept` and not `new`, however
    /// young, else none.
    pub(crate) fn evict_for(
        &self,
        connections: usize,
        new: &PeerId,
        kept: impl Fn(&PeerId) -> bool,
        reputation: impl Fn(&PeerId) -> f64,
    ) -> Option<PeerId> {
        if connections <= self.high {
            return None;
        }
        self.least_valuable(|p| p == new || kept(p), reputation)
    }

    /// The target for a limit of `max`: an eighth below it, at least two below, and at least 1.
    pub(crate) fn target_for(max: u32) -> usize {
        let max = max as usize;
        max.saturating_sub((max / 8).max(2)).max(1)
    }

    /// The target.
    pub(crate) fn target(&self) -> usize {
        self.target
    }

    /// `peer` got its first connection at `now`.
    pub(crate) fn opened(&mut self, peer: PeerId, now: Instant) {
        self.since.entry(peer).or_insert(now);
    }

    /// `peer`'s last connection closed.
    pub(crate) fn closed(&mut self, peer: &PeerId) {
        self.since.remove(peer);
        self.negotiated.remove(peer);
    }

    /// A negotiation message went to or came from the connected `peer` at `now`.
    pub(crate) fn negotiated(&mut self, peer: PeerId, now: Instant) {
        if self.since.contains_key(&peer) {
            self.negotiated.insert(peer, now);
        }
    }

    /// Whether `peer` took part in a negotiation within [`NEGOTIATION_HOLD`] of `now`.
    pub(crate) fn negotiating(&self, peer: &PeerId, now: Instant) -> bool {
        self.negotiated
            .get(peer)
            .is_some_and(|t| now.saturating_duration_since(*t) < NEGOTIATION_HOLD)
    }

    /// The peers to disconnect when `connections` are open: none up to the target; beyond it,
    /// one per excess connection among the peers that are not `kept` and past the grace,
    /// lowest `reputation` first, then the longest connected.
    pub(crate) fn victims(
        &self,
        connections: usize,
        now: Instant,
        kept: impl Fn(&PeerId) -> bool,
        reputation: impl Fn(&PeerId) -> f64,
    ) -> Vec<PeerId> {
        let excess = connections.saturating_sub(self.target);
        if excess == 0 {
            return Vec::new();
        }
        self.ranked(
            |peer, since| now.saturating_duration_since(since) >= GRACE && !kept(peer),
            reputation,
        )
        .into_iter()
        .take(excess)
        .collect()
    }

    /// The one peer to close when a needed dial finds no slot: the first of
    /// [`ConnectionTrim::victims`]' order among all that are not `kept`, however young.
    pub(crate) fn least_valuable(
        &self,
        kept: impl Fn(&PeerId) -> bool,
        reputation: impl Fn(&PeerId) -> f64,
    ) -> Option<PeerId> {
        self.ranked(|peer, _| !kept(peer), reputation)
            .into_iter()
            .next()
    }

    /// Peers passing `eligible`, lowest reputation first, then the longest connected.
    fn ranked(
        &self,
        eligible: impl Fn(&PeerId, Instant) -> bool,
        reputation: impl Fn(&PeerId) -> f64,
    ) -> Vec<PeerId> {
        let mut candidates: Vec<(PeerId, f64, Instant)> = self
            .since
            .iter()
            .filter(|(peer, since)| eligible(peer, **since))
            .map(|(peer, since)| (*peer, reputation(peer), *since))
            .collect();
        candidates.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.2.cmp(&b.2)));
        candidates.into_iter().map(|c| c.0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    #[test]
    fn the_high_mark_lies_between_the_target_and_the_limit() {
        for (max, target, high) in [(256, 224, 240), (48, 42, 45), (16, 14, 15), (4, 2, 3)] {
            assert_eq!(ConnectionTrim::target_for(max), target, "max {max}");
            assert_eq!(ConnectionTrim::high_for(max), high, "max {max}");
        }
        assert_eq!(ConnectionTrim::high_for(1), ConnectionTrim::target_for(1));
    }

    #[test]
    fn above_the_high_mark_a_new_connection_closes_the_least_valuable_however_young() {
        let mut trim = ConnectionTrim::new(16);
        let t0 = Instant::now();
        let ps = peers(16);
        for (i, p) in ps.iter().enumerate() {
            trim.opened(*p, t0 + Duration::from_millis(i as u64));
        }
        let new = ps[15];
        // At the high mark nothing is closed.
        assert_eq!(trim.evict_for(15, &new, |_| false, |_| 0.5), None);
        // Above it, the oldest of equal reputation, inside its grace, unless kept.
        assert_eq!(trim.evict_for(16, &new, |_| false, |_| 0.5), Some(ps[0]));
        assert_eq!(
            trim.evict_for(16, &new, |p| *p == ps[0], |_| 0.5),
            Some(ps[1])
        );
        // Lowest reputation first, but never the peer that just connected.
        let low = |p: &PeerId| if *p == new || *p == ps[7] { 0.0 } else { 0.5 };
        assert_eq!(trim.evict_for(16, &new, |_| false, low), Some(ps[7]));
        // Nothing to close when every other peer is kept.
        assert_eq!(trim.evict_for(16, &new, |_| true, |_| 0.5), None);
    }

    #[test]
    fn a_negotiating_peer_is_held_for_a_while_and_forgotten_when_it_leaves() {
        let mut trim = ConnectionTrim::new(16);
        let t0 = Instant::now();
        let [p, stranger] = [PeerId::random(), PeerId::random()];
        trim.opened(p, t0);
        trim.negotiated(p, t0);
        trim.negotiated(stranger, t0);
        assert!(trim.negotiating(&p, t0 + NEGOTIATION_HOLD - Duration::from_millis(1)));
        assert!(!trim.negotiating(&p, t0 + NEGOTIATION_HOLD));
        // Only connected peers are held, so the map stays as small as the connections.
        assert!(!trim.negotiating(&stranger, t0));
        trim.closed(&p);
        assert!(!trim.negotiating(&p, t0));
        assert!(trim.negotiated.is_empty());
    }

    #[test]
    fn nothing_is_trimmed_up_to_the_target() {
        let mut trim = ConnectionTrim::new(16);
        assert_eq!(trim.target(), 14);
        let t0 = Instant::now();
        for p in peers(14) {
            trim.opened(p, t0);
        }
        assert!(trim.victims(14, t0 + GRACE, |_| false, |_| 0.5).is_empty());
    }

    #[test]
    fn the_excess_goes_lowest_reputation_first_then_oldest() {
        let mut trim = ConnectionTrim::new(8);
        assert_eq!(trim.target(), 6);
        let t0 = Instant::now();
        let ps = peers(8);
        for (k, p) in ps.iter().enumerate() {
            trim.opened(*p, t0 + Duration::from_secs(k as u64));
        }
        let bad = ps[5];
        let now = t0 + GRACE + Duration::from_secs(10);
        let got = trim.victims(8, now, |_| false, |p| if *p == bad { 0.1 } else { 0.5 });
        assert_eq!(got, vec![bad, ps[0]]);
    }

    #[test]
    fn kept_and_young_peers_are_never_trimmed() {
        let mut trim = ConnectionTrim::new(4);
        assert_eq!(trim.target(), 2);
        let t0 = Instant::now();
        let ps = peers(4);
        trim.opened(ps[0], t0);
        trim.opened(ps[1], t0);
        trim.opened(ps[2], t0);
        trim.opened(ps[3], t0 + GRACE);
        let in_mesh = ps[0];
        let got = trim.victims(4, t0 + GRACE, |p| *p == in_mesh, |_| 0.5);
        // ps[3] is too young and ps[0] is kept: only two candidates for an excess of two.
        assert_eq!(got.len(), 2);
        assert!(!got.contains(&in_mesh) && !got.contains(&ps[3]));
        trim.closed(&ps[1]);
        let got = trim.victims(4, t0 + GRACE, |p| *p == in_mesh, |_| 0.5);
        assert_eq!(got, vec![ps[2]]);
    }

    #[test]
    fn making_room_ignores_the_grace_but_not_what_is_kept() {
        let mut trim = ConnectionTrim::new(4);
        let t0 = Instant::now();
        let ps = peers(2);
        trim.opened(ps[0], t0);
        trim.opened(ps[1], t0 + Duration::from_secs(1));
        assert_eq!(trim.least_valuable(|_| false, |_| 0.5), Some(ps[0]));
        assert_eq!(trim.least_valuable(|p| *p == ps[0], |_| 0.5), Some(ps[1]));
        assert_eq!(trim.least_valuable(|_| true, |_| 0.5), None);
    }

    #[test]
    fn small_limits_keep_a_target_of_at_least_one() {
        assert_eq!(ConnectionTrim::target_for(1), 1);
        assert_eq!(ConnectionTrim::target_for(3), 1);
        assert_eq!(ConnectionTrim::target_for(256), 224);
    }
}
