//! The bounded store of ratings: one edge per (rater, ratee) pair holding that pair's newest
//! receipts, with caps per rater and in all.

use std::collections::{BTreeMap, BTreeSet};

use libp2p::identity::PeerId;

use super::scores::{self, TrustScores};
use super::{Config, VerifiedAttestation};
use crate::intent::MAX_CLOCK_SKEW;
use crate::negotiation::{MessageHash, NegotiationId};

/// One receipt's content: `rater` (the publisher) rated `ratee` (the agent) `value` in
/// `[0, 1]` for the negotiation `negotiation_id`, at `rated_at_ms`.
///
/// Take it from [`VerifiedAttestation::rating`]: a [`TrustGraph`] checks only that the fields
/// are plausible, not that anyone signed them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    /// Who rated: the negotiation's publisher, who signed the receipt.
    pub rater: PeerId,
    /// Who was rated: the negotiation's agent.
    pub ratee: PeerId,
    /// The negotiation the receipt completes.
    pub negotiation_id: NegotiationId,
    /// The rating, `0` worst, `1` best.
    pub value: f64,
    /// When the receipt was signed, Unix milliseconds.
    pub rated_at_ms: u64,
    /// SHA-256 of the receipt envelope; orders two receipts of one negotiation signed at the
    /// same millisecond.
    pub receipt_hash: MessageHash,
}

/// What an insertion changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A receipt of a negotiation not held before is now counted.
    Added,
    /// A newer receipt of a negotiation already held replaced the one counted (the publisher
    /// signed two receipts for one negotiation).
    Replaced,
    /// Nothing: the same or a newer receipt of that negotiation is held, or the pair's newest
    /// receipts are all newer than this one.
    Unchanged,
}

impl Outcome {
    /// Whether the graph changed, so the rating is worth forwarding.
    pub fn is_new(self) -> bool {
        self != Self::Unchanged
    }
}

/// Why a rating was not taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    /// The value is not a number in `[0, 1]`.
    #[error("rating {value} is outside [0, 1]")]
    InvalidValue {
        /// The value given.
        value: f64,
    },
    /// Rater and ratee are the same peer.
    #[error("{peer} cannot rate itself")]
    SelfRating {
        /// The peer.
        peer: String,
    },
    /// Older than the graph's maximum age: it would count for nothing.
    #[error(
        "rating signed at {rated_at_ms} is older than the maximum age (forgotten at {expired_at_ms})"
    )]
    Expired {
        /// When it was signed, Unix ms.
        rated_at_ms: u64,
        /// When it stopped counting, Unix ms.
        expired_at_ms: u64,
    },
    /// Signed more than 5 minutes after `now_ms`.
    #[error("rating signed at {rated_at_ms}, more than 5 minutes after now ({now_ms})")]
    FromTheFuture {
        /// When it claims to be signed, Unix ms.
        rated_at_ms: u64,
        /// The caller's time, Unix ms.
        now_ms: u64,
    },
    /// The rater already rates as many peers as allowed, all more recently.
    #[error("the rater already rates {max} peers, all more recently than this rating")]
    RaterFull {
        /// Most ratees per rater.
        max: usize,
    },
    /// The graph is full of pairs whose raters are at least as trusted and as recent.
    #[error(
        "the trust graph holds {max} pairs, all from raters at least as trusted and as recently active"
    )]
    Full {
        /// Most pairs held.
        max: usize,
    },
}

/// One kept receipt.
#[derive(Debug, Clone, Copy)]
pub(super) struct Kept {
    pub(super) negotiation: [u8; 32],
    pub(super) rated_at_ms: u64,
    pub(super) tiebreak: u64,
    pub(super) value: f64,
}

impl Kept {
    /// Newer is greater; a total order, so that which receipts are kept and the order they
    /// are summed in never depend on the order they arrived in.
    fn key(&self) -> (u64, u64, [u8; 32]) {
        (self.rated_at_ms, self.tiebreak, self.negotiation)
    }
}

/// The receipts of one (rater, ratee) pair: the newest of distinct negotiations.
#[derive(Debug, Clone, Default)]
pub(super) struct Edge {
    pub(super) receipts: Vec<Kept>,
}

impl Edge {
    fn latest_ms(&self) -> u64 {
        self.receipts
            .iter()
            .map(|r| r.rated_at_ms)
            .max()
            .unwrap_or(0)
    }

    /// Takes `new` if it is the newest receipt of its negotiation and among the `cap` newest of
    /// the pair. The result depends only on the set of receipts offered, not on their order.
    fn offer(&mut self, new: Kept, cap: usize) -> Outcome {
        let outcome = self.take(new, cap);
        if outcome.is_new() {
            self.receipts.sort_unstable_by_key(Kept::key);
        }
        outcome
    }

    fn take(&mut self, new: Kept, cap: usize) -> Outcome {
        if let Some(held) = self
            .receipts
            .iter_mut()
            .find(|r| r.negotiation == new.negotiation)
        {
            if new.key() > held.key() {
                *held = new;
                return Outcome::Replaced;
            }
            return Outcome::Unchanged;
        }
        if self.receipts.len() < cap {
            self.receipts.push(new);
            return Outcome::Added;
        }
        let oldest = self
            .receipts
            .iter_mut()
            .min_by_key(|r| r.key())
            .filter(|oldest| new.key() > oldest.key());
        match oldest {
            Some(oldest) => {
                *oldest = new;
                Outcome::Added
            }
            None => Outcome::Unchanged,
        }
    }
}

/// One rater's pairs.
#[derive(Debug, Clone)]
pub(super) struct Rater {
    pub(super) edges: BTreeMap<PeerId, Edge>,
    /// Its weight as a rater at the last recomputation (infinite when pre-trusted), for
    /// eviction only.
    weight: f64,
    /// Its newest receipt, Unix ms.
    latest_ms: u64,
}

impl Rater {
    fn priority(&self, peer: PeerId) -> (u64, u64, PeerId) {
        (self.weight.to_bits(), self.latest_ms, peer)
    }

    fn oldest_edge(&self) -> Option<(PeerId, u64)> {
        self.edges
            .iter()
            .map(|(ratee, edge)| (*ratee, edge.latest_ms()))
            .min_by_key(|(ratee, latest)| (*latest, *ratee))
    }
}

/// This node's view of who rated whom: verified receipts in, [`TrustScores`] out.
///
/// Deterministic and free of I/O: every call that depends on time takes `now_ms`. Memory is
/// bounded by [`Config::max_edges`] pairs of at most [`Config::receipts_per_pair`] receipts.
/// Insertion is incremental and cheap; [`recompute`](Self::recompute) runs the aggregation
/// (on a timer, or when [`is_dirty`](Self::is_dirty) and someone needs fresh scores) and
/// [`scores`](Self::scores) returns the last result.
///
/// At capacity, pairs from the raters that were least trusted at the last recomputation give
/// way first (the least recently active among equals), and a rating from a rater no more
/// trusted than all of those held is refused: a flood of receipts from identities without
/// trust never displaces receipts that count.
///
/// ```
/// use mesh_core::trust::{Config, Rating, TrustGraph};
/// use mesh_core::negotiation::NegotiationId;
/// use mesh_core::PeerId;
///
/// let (me, agent) = (PeerId::random(), PeerId::random());
/// let now = 1_700_000_000_000;
/// let mut graph = TrustGraph::new(Config::new(me));
/// // This node's own receipt: the agent did good work for it.
/// graph.insert(Rating {
///     rater: me, ratee: agent, negotiation_id: NegotiationId([1; 32]),
///     value: 0.9, rated_at_ms: now, receipt_hash: [0; 32],
/// }, now)?;
/// let scores = graph.recompute(now);
/// assert!(scores.score(&agent) > scores.score(&PeerId::random()));
/// # Ok::<(), mesh_core::trust::Refused>(())
/// ```
#[derive(Debug, Clone)]
pub struct TrustGraph {
    config: Config,
    raters: BTreeMap<PeerId, Rater>,
    /// Raters by (weight bits, newest receipt, peer): the first gives way first.
    priority: BTreeSet<(u64, u64, PeerId)>,
    edges: usize,
    receipts: usize,
    /// At most the signing time of the oldest receipt held: no receipt expires before this
    /// plus the maximum age, so pruning can skip the walk until then.
    oldest_ms: u64,
    dirty: bool,
    scores: TrustScores,
}

impl TrustGraph {
    /// An empty graph.
    pub fn new(config: Config) -> Self {
        Self {
            scores: TrustScores::empty(),
            config,
            raters: BTreeMap::new(),
            priority: BTreeSet::new(),
            edges: 0,
            receipts: 0,
            oldest_ms: u64::MAX,
            dirty: false,
        }
    }

    /// The parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes a verified attestation's rating.
    pub fn insert_attestation(
        &mut self,
        attestation: &VerifiedAttestation,
        now_ms: u64,
    ) -> Result<Outcome, Refused> {
        self.insert(attestation.rating(), now_ms)
    }

    /// Takes a rating at `now_ms`. Per pair, the newest receipt of each negotiation counts, and
    /// only the [`Config::receipts_per_pair`] newest negotiations; which receipts are kept
    /// depends only on the set inserted, not on the order, as long as no cap is reached.
    pub fn insert(&mut self, rating: Rating, now_ms: u64) -> Result<Outcome, Refused> {
        self.check(&rating, now_ms)?;
        let new = Kept {
            negotiation: rating.negotiation_id.0,
            rated_at_ms: rating.rated_at_ms,
            tiebreak: u64::from_be_bytes(prefix(&rating.receipt_hash)),
            value: rating.value + 0.0,
        };
        let cap = self.config.receipts_per_pair();
        self.oldest_ms = self.oldest_ms.min(new.rated_at_ms);
        if let Some(rater) = self.raters.get_mut(&rating.rater)
            && let Some(edge) = rater.edges.get_mut(&rating.ratee)
        {
            let before = edge.receipts.len();
            let outcome = edge.offer(new, cap);
            self.receipts += edge.receipts.len() - before;
            if outcome.is_new() {
                self.dirty = true;
                if new.rated_at_ms > rater.latest_ms {
                    self.priority.remove(&rater.priority(rating.rater));
                    rater.latest_ms = new.rated_at_ms;
                    self.priority.insert(rater.priority(rating.rater));
                }
            }
            return Ok(outcome);
        }
        self.make_room(&rating)?;
        let weight = self.weight_of(&rating.rater);
        let rater = self.raters.entry(rating.rater).or_insert_with(|| Rater {
            edges: BTreeMap::new(),
            weight,
            latest_ms: 0,
        });
        self.priority.remove(&rater.priority(rating.rater));
        rater.latest_ms = rater.latest_ms.max(new.rated_at_ms);
        rater.edges.insert(
            rating.ratee,
            Edge {
                receipts: vec![new],
            },
        );
        self.priority.insert(rater.priority(rating.rater));
        self.edges += 1;
        self.receipts += 1;
        self.dirty = true;
        Ok(Outcome::Added)
    }

    fn check(&self, rating: &Rating, now_ms: u64) -> Result<(), Refused> {
        if !(0.0..=1.0).contains(&rating.value) {
            return Err(Refused::InvalidValue {
                value: rating.value,
            });
        }
        if rating.rater == rating.ratee {
            return Err(Refused::SelfRating {
                peer: rating.rater.to_string(),
            });
        }
        let expired_at_ms = rating.rated_at_ms.saturating_add(self.config.max_age_ms());
        if expired_at_ms <= now_ms {
            return Err(Refused::Expired {
                rated_at_ms: rating.rated_at_ms,
                expired_at_ms,
            });
        }
        let skew_ms = u64::try_from(MAX_CLOCK_SKEW.as_millis()).unwrap_or(u64::MAX);
        if rating.rated_at_ms > now_ms.saturating_add(skew_ms) {
            return Err(Refused::FromTheFuture {
                rated_at_ms: rating.rated_at_ms,
                now_ms,
            });
        }
        Ok(())
    }

    /// Frees one pair for a new pair of `rating`, if a cap requires it and the rating
    /// outranks what would give way.
    fn make_room(&mut self, rating: &Rating) -> Result<(), Refused> {
        let per_rater = self.config.max_edges_per_rater();
        if let Some(rater) = self.raters.get(&rating.rater)
            && rater.edges.len() >= per_rater
        {
            return match rater.oldest_edge() {
                Some((ratee, latest)) if latest < rating.rated_at_ms => {
                    self.remove_edge(rating.rater, ratee);
                    Ok(())
                }
                _ => Err(Refused::RaterFull { max: per_rater }),
            };
        }
        if self.edges < self.config.max_edges() {
            return Ok(());
        }
        let full = Refused::Full {
            max: self.config.max_edges(),
        };
        let latest = self
            .raters
            .get(&rating.rater)
            .map_or(0, |r| r.latest_ms)
            .max(rating.rated_at_ms);
        let new_key = (self.weight_of(&rating.rater).to_bits(), latest);
        let Some(&(weight, latest, victim)) = self.priority.first() else {
            return Err(full);
        };
        if (weight, latest) >= new_key {
            return Err(full);
        }
        let Some((ratee, _)) = self.raters.get(&victim).and_then(Rater::oldest_edge) else {
            return Err(full);
        };
        self.remove_edge(victim, ratee);
        Ok(())
    }

    fn remove_edge(&mut self, rater_peer: PeerId, ratee: PeerId) {
        let Some(rater) = self.raters.get_mut(&rater_peer) else {
            return;
        };
        self.priority.remove(&rater.priority(rater_peer));
        if let Some(edge) = rater.edges.remove(&ratee) {
            self.edges -= 1;
            self.receipts -= edge.receipts.len();
            self.dirty = true;
        }
        if rater.edges.is_empty() {
            self.raters.remove(&rater_peer);
        } else {
            rater.latest_ms = rater.edges.values().map(Edge::latest_ms).max().unwrap_or(0);
            self.priority.insert(rater.priority(rater_peer));
        }
    }

    /// Weight of `peer` as a rater for eviction: infinite when pre-trusted, else its weight at
    /// the last recomputation.
    fn weight_of(&self, peer: &PeerId) -> f64 {
        if self.config.is_pre_trusted(peer) {
            f64::INFINITY
        } else {
            self.scores.rater_weight(peer)
        }
    }

    /// Forgets receipts older than [`Config::max_age`] at `now_ms`; returns how many.
    pub fn prune(&mut self, now_ms: u64) -> usize {
        let max_age = self.config.max_age_ms();
        if self.oldest_ms.saturating_add(max_age) > now_ms {
            return 0;
        }
        let fresh = |k: &Kept| k.rated_at_ms.saturating_add(max_age) > now_ms;
        let mut oldest_ms = u64::MAX;
        let mut forgotten = 0;
        let mut emptied = Vec::new();
        for (peer, rater) in &mut self.raters {
            let before = rater.priority(*peer);
            let mut changed = false;
            rater.edges.retain(|_, edge| {
                let len = edge.receipts.len();
                edge.receipts.retain(fresh);
                if edge.receipts.len() != len {
                    forgotten += len - edge.receipts.len();
                    changed = true;
                }
                if edge.receipts.is_empty() {
                    self.edges -= 1;
                }
                for kept in &edge.receipts {
                    oldest_ms = oldest_ms.min(kept.rated_at_ms);
                }
                !edge.receipts.is_empty()
            });
            if changed {
                self.priority.remove(&before);
                if rater.edges.is_empty() {
                    emptied.push(*peer);
                } else {
                    rater.latest_ms = rater.edges.values().map(Edge::latest_ms).max().unwrap_or(0);
                    self.priority.insert(rater.priority(*peer));
                }
            }
        }
        for peer in emptied {
            self.raters.remove(&peer);
        }
        self.receipts -= forgotten;
        self.oldest_ms = oldest_ms;
        if forgotten > 0 {
            self.dirty = true;
        }
        forgotten
    }

    /// Forgets expired receipts, runs the aggregation at `now_ms` and keeps its result (see
    /// [`TrustScores`] and docs/REPUTATION.md). The same receipts and parameters give the same
    /// scores, bit for bit.
    pub fn recompute(&mut self, now_ms: u64) -> &TrustScores {
        self.prune(now_ms);
        self.scores = scores::compute(&self.raters, &self.config, now_ms);
        let mut priority = BTreeSet::new();
        for (peer, rater) in &mut self.raters {
            rater.weight = if self.config.is_pre_trusted(peer) {
                f64::INFINITY
            } else {
                self.scores.rater_weight(peer)
            };
            priority.insert(rater.priority(*peer));
        }
        self.priority = priority;
        self.dirty = false;
        &self.scores
    }

    /// The scores of the last [`recompute`](Self::recompute) (every peer neutral before the
    /// first).
    pub fn scores(&self) -> &TrustScores {
        &self.scores
    }

    /// Whether ratings were taken or forgotten since the last [`recompute`](Self::recompute).
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Whether the receipt of `negotiation_id` by `rater` about `ratee` is counted.
    pub fn contains(&self, rater: &PeerId, ratee: &PeerId, negotiation_id: &NegotiationId) -> bool {
        self.raters
            .get(rater)
            .and_then(|r| r.edges.get(ratee))
            .is_some_and(|e| e.receipts.iter().any(|k| k.negotiation == negotiation_id.0))
    }

    /// (rater, ratee) pairs held.
    pub fn len(&self) -> usize {
        self.edges
    }

    /// Whether no rating is held.
    pub fn is_empty(&self) -> bool {
        self.edges == 0
    }

    /// Receipts held, over all pairs.
    pub fn receipts(&self) -> usize {
        self.receipts
    }

    /// Raters with at least one pair.
    pub fn raters(&self) -> usize {
        self.raters.len()
    }

    /// Ratees held for `rater`.
    pub fn ratees_of(&self, rater: &PeerId) -> usize {
        self.raters.get(rater).map_or(0, |r| r.edges.len())
    }
}

fn prefix(hash: &MessageHash) -> [u8; 8] {
    let mut out = [0; 8];
    out.copy_from_slice(&hash[..8]);
    out
}
