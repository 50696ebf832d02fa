//! Headroom under the connection limit.
//!
//! The connection limit refuses every connection past `max_connections`, outbound ones
//! included: a node that has filled its slots with peers it met through the DHT and gossip
//! could no longer dial the publisher of an intent it wants to bid on, nor answer a peer that
//! needs it. So the node keeps its connections at a *target* below the limit: when it holds
//! more, it closes the excess, choosing among peers that are worth least to it right now.
//!
//! Never closed: peers in one of this node's gossip meshes, peers with negotiation messages in
//! flight or waiting, and peers connected for less than [`GRACE`] (a new connection gets the
//! time to be identified and grafted). Among the others, the lowest local reputation goes
//! first, then the longest connected.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use libp2p::PeerId;

/// A new connection is never trimmed before this age.
pub const GRACE: Duration = Duration::from_secs(10);
/// How often the node checks for excess connections.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// When each connected peer was first connected, and the target. Owned by the event loop.
#[derive(Debug)]
pub struct ConnectionTrim {
    target: usize,
    since: HashMap<PeerId, Instant>,
}

impl ConnectionTrim {
    /// A trim that keeps at most [`ConnectionTrim::target_for`]`(max_connections)`
    /// connections.
    pub fn new(max_connections: u32) -> Self {
        Self {
            target: Self::target_for(max_connections),
            since: HashMap::new(),
        }
    }

    /// The target for a limit of `max`: an eighth below it, at least two below, and at least 1.
    pub fn target_for(max: u32) -> usize {
        let max = max as usize;
        max.saturating_sub((max / 8).max(2)).max(1)
    }

    /// The target.
    pub fn target(&self) -> usize {
        self.target
    }

    /// `peer` got its first connection at `now`.
    pub fn opened(&mut self, peer: PeerId, now: Instant) {
        self.since.entry(peer).or_insert(now);
    }

    /// `peer`'s last connection closed.
    pub fn closed(&mut self, peer: &PeerId) {
        self.since.remove(peer);
    }

    /// The peers to disconnect when `connections` are open: none up to the target; beyond it,
    /// one per excess connection among the peers that are not `kept` and past the grace,
    /// lowest `reputation` first, then the longest connected.
    pub fn victims(
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
    pub fn least_valuable(
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
