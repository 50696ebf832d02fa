//! This node's local reputation of each peer.
//!
//! Each peer starts at [`NEUTRAL`]. A valid message moves the score a small step towards 1; an
//! invalid one (bad signature, malformed, forged record) moves it a large step towards 0, so
//! one forgery outweighs many good messages. The table is bounded: when full, the entry closest
//! to neutral is forgotten, which loses the least information.
//!
//! This is a local, first-hand score only. Network-wide reputation built from signed receipts
//! comes later and will combine with it.

use std::collections::HashMap;

use libp2p::identity::PeerId;

/// Score of a peer this node knows nothing about.
pub const NEUTRAL: f64 = 0.5;
/// Fraction of the distance to 1 gained per valid message.
pub const VALID_STEP: f64 = 0.02;
/// Fraction of the score lost per invalid message.
pub const INVALID_STEP: f64 = 0.25;
/// Fraction of the score lost per broken commitment in a negotiation: an agreement not
/// delivered by its due time, or a delivery left without a receipt. Heavier than an invalid
/// message: one fault takes an unknown peer from 0.5 to 0.25, below the default minimum of
/// the offer strategy.
pub const FAULT_STEP: f64 = 0.5;
/// Peers remembered at most.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// Something this node saw a peer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// A well-formed, correctly signed message or record.
    Valid,
    /// A malformed, forged, oversize or otherwise invalid message or record.
    Invalid,
    /// A broken commitment in a negotiation ([`FAULT_STEP`]): no delivery by the agreed due
    /// time, or no receipt after a delivery.
    Fault,
}

/// Bounded table of local scores in `[0, 1]`.
#[derive(Debug, Clone)]
pub struct LocalReputation {
    scores: HashMap<PeerId, f64>,
    capacity: usize,
}

impl Default for LocalReputation {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl LocalReputation {
    /// A table that remembers at most `capacity` peers.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            scores: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// The score of `peer`, [`NEUTRAL`] if unknown.
    pub fn score(&self, peer: &PeerId) -> f64 {
        self.scores.get(peer).copied().unwrap_or(NEUTRAL)
    }

    /// Records an observation and returns the new score.
    pub fn observe(&mut self, peer: PeerId, observation: Observation) -> f64 {
        if !self.scores.contains_key(&peer) && self.scores.len() >= self.capacity {
            self.forget_least_informative();
        }
        let score = self.scores.entry(peer).or_insert(NEUTRAL);
        *score = match observation {
            Observation::Valid => *score + (1.0 - *score) * VALID_STEP,
            Observation::Invalid => *score * (1.0 - INVALID_STEP),
            Observation::Fault => *score * (1.0 - FAULT_STEP),
        }
        .clamp(0.0, 1.0);
        *score
    }

    /// Sets a score read back from storage (clamped to `[0, 1]`).
    pub fn restore(&mut self, peer: PeerId, score: f64) {
        if !self.scores.contains_key(&peer) && self.scores.len() >= self.capacity {
            self.forget_least_informative();
        }
        let score = if score.is_finite() {
            score.clamp(0.0, 1.0)
        } else {
            NEUTRAL
        };
        self.scores.insert(peer, score);
    }

    /// Number of peers with a score.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Whether no peer has a score.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    fn forget_least_informative(&mut self) {
        let victim = self
            .scores
            .iter()
            .min_by(|a, b| (a.1 - NEUTRAL).abs().total_cmp(&(b.1 - NEUTRAL).abs()))
            .map(|(peer, _)| *peer);
        if let Some(peer) = victim {
            self.scores.remove(&peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_is_neutral_and_moves_with_evidence() {
        let mut rep = LocalReputation::default();
        let p = PeerId::random();
        assert_eq!(rep.score(&p), NEUTRAL);
        let up = rep.observe(p, Observation::Valid);
        assert!(up > NEUTRAL && up < 1.0);
        let down = rep.observe(p, Observation::Invalid);
        assert!(down < NEUTRAL);
    }

    #[test]
    fn one_forgery_outweighs_several_good_messages() {
        let mut rep = LocalReputation::default();
        let p = PeerId::random();
        for _ in 0..5 {
            rep.observe(p, Observation::Valid);
        }
        rep.observe(p, Observation::Invalid);
        assert!(rep.score(&p) < NEUTRAL);
    }

    #[test]
    fn a_fault_weighs_more_than_an_invalid_message() {
        let mut rep = LocalReputation::default();
        let (faulty, invalid) = (PeerId::random(), PeerId::random());
        assert_eq!(
            rep.observe(faulty, Observation::Fault),
            NEUTRAL * FAULT_STEP
        );
        assert!(rep.score(&faulty) < rep.observe(invalid, Observation::Invalid));
    }

    #[test]
    fn stays_in_unit_interval() {
        let mut rep = LocalReputation::default();
        let p = PeerId::random();
        for _ in 0..10_000 {
            rep.observe(p, Observation::Valid);
        }
        assert!(rep.score(&p) <= 1.0);
        for _ in 0..10_000 {
            rep.observe(p, Observation::Invalid);
        }
        assert!(rep.score(&p) >= 0.0);
    }

    #[test]
    fn bounded_and_forgets_the_least_informative() {
        let mut rep = LocalReputation::with_capacity(2);
        let (bad, good, new) = (PeerId::random(), PeerId::random(), PeerId::random());
        rep.observe(bad, Observation::Invalid);
        rep.observe(good, Observation::Valid);
        rep.observe(new, Observation::Valid);
        assert_eq!(rep.len(), 2);
        assert!(rep.score(&bad) < NEUTRAL, "the forger must be remembered");
    }
}
