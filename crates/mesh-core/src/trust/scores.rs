//! The aggregation: EigenTrust over the ratings to weigh the raters, then a trust-weighted Beta
//! estimate of each ratee's ratings.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use libp2p::identity::PeerId;

use super::graph::{Kept, Rater};
use super::{Config, NEUTRAL_RATING};
use crate::reputation::{self, LocalReputation};

/// What the aggregation found about one peer. See docs/REPUTATION.md for the formulas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    /// Its share `t` of the EigenTrust vector (which sums to 1): 0 unless a chain of positive
    /// ratings leads to it from a pre-trusted peer.
    pub global_trust: f64,
    /// How much its own receipts count, before its budget: 1 for a pre-trusted peer,
    /// `min(1, t / median t)` for anyone else.
    pub rater_weight: f64,
    /// Weighted sum of the ratings it received.
    pub positive: f64,
    /// Weighted sum of one minus the ratings it received.
    pub negative: f64,
    /// Its reputation from receipts, `(w/2 + positive) / (w + positive + negative)` with `w`
    /// the prior weight.
    pub score: f64,
}

/// The result of one [`TrustGraph::recompute`](super::TrustGraph::recompute): every peer's
/// [`Standing`], looked up by peer id. A peer not in it has the standing of a new agent.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustScores {
    peers: Vec<PeerId>,
    standings: Vec<Standing>,
    computed_at_ms: u64,
    iterations: u32,
    converged: bool,
}

impl Default for TrustScores {
    /// The scores before any recomputation: every peer has a new agent's standing.
    fn default() -> Self {
        Self::empty()
    }
}

impl TrustScores {
    pub(super) fn empty() -> Self {
        Self {
            peers: Vec::new(),
            standings: Vec::new(),
            computed_at_ms: 0,
            iterations: 0,
            converged: true,
        }
    }

    /// The standing of `peer`, if any receipt names it or it is pre-trusted.
    pub fn standing(&self, peer: &PeerId) -> Option<&Standing> {
        self.peers
            .binary_search(peer)
            .ok()
            .and_then(|i| self.standings.get(i))
    }

    /// The reputation of `peer` from receipts, in `[0, 1]`: [`NEUTRAL_RATING`] for a peer
    /// nobody trusted rated, as for a brand-new agent.
    pub fn score(&self, peer: &PeerId) -> f64 {
        self.standing(peer).map_or(NEUTRAL_RATING, |s| s.score)
    }

    /// The reputation of `peer` in `[0, 1]`: its [`score`](Self::score) combined with this
    /// node's local score of its messages (see [`combine`]).
    pub fn reputation(&self, peer: &PeerId, local: &LocalReputation) -> f64 {
        combine(self.score(peer), local.score(peer))
    }

    /// The share of EigenTrust's vector held by `peer`; 0 if unknown.
    pub fn global_trust(&self, peer: &PeerId) -> f64 {
        self.standing(peer).map_or(0.0, |s| s.global_trust)
    }

    /// How much the receipts of `peer` count (before its budget); 0 if unknown.
    pub fn rater_weight(&self, peer: &PeerId) -> f64 {
        self.standing(peer).map_or(0.0, |s| s.rater_weight)
    }

    /// Every peer with a standing, in peer id order.
    pub fn iter(&self) -> impl Iterator<Item = (&PeerId, &Standing)> {
        self.peers.iter().zip(&self.standings)
    }

    /// Peers with a standing.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer has a standing.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The `now_ms` of the computation (0 before the first).
    pub fn computed_at_ms(&self) -> u64 {
        self.computed_at_ms
    }

    /// Power iterations run.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Whether the iteration met the tolerance before the iteration cap.
    pub fn converged(&self) -> bool {
        self.converged
    }
}

/// One reputation from a receipts score and a local score, both in `[0, 1]`:
/// `score * min(1, local / 0.5)`.
///
/// The local score ([`LocalReputation`]) only ever lowers the result: it rises with valid
/// messages, which any identity can send in numbers, so counting its rise would let a fresh
/// identity lift itself above a new agent; its fall (forged or malformed messages) is evidence
/// of misbehaviour that this node saw itself.
///
/// ```
/// use mesh_core::trust::combine;
/// assert_eq!(combine(0.8, 0.5), 0.8, "a neutral local score changes nothing");
/// assert_eq!(combine(0.8, 0.99), 0.8, "valid messages do not lift it");
/// assert_eq!(combine(0.8, 0.25), 0.4, "misbehaviour seen here lowers it");
/// ```
pub fn combine(score: f64, local: f64) -> f64 {
    let score = if score.is_nan() {
        NEUTRAL_RATING
    } else {
        score.clamp(0.0, 1.0)
    };
    let local = if local.is_nan() {
        reputation::NEUTRAL
    } else {
        local.clamp(0.0, 1.0)
    };
    score * (local / reputation::NEUTRAL).min(1.0)
}

/// How much of a rater's trust a rating passes on: nothing at or below neutral, all of it at 1.
fn gain(value: f64) -> f64 {
    ((value - NEUTRAL_RATING) / (1.0 - NEUTRAL_RATING)).max(0.0)
}

/// One rater's ratings, in the columns `cells`.
struct Row {
    rater: usize,
    cells: Range<usize>,
    /// Its fresh receipts, over all ratees.
    receipts: f64,
}

/// One rater's ratings of one ratee.
struct Cell {
    ratee: usize,
    /// The local trust `c_ij`: the ratee's share of the rater's receipts, times the gain.
    share: f64,
    /// Sum of the ratings.
    positive: f64,
    /// Sum of one minus the ratings.
    negative: f64,
}

/// Runs the aggregation over the receipts fresh at `now_ms`.
pub(super) fn compute(
    raters: &BTreeMap<PeerId, Rater>,
    config: &Config,
    now_ms: u64,
) -> TrustScores {
    let max_age = config.max_age_ms();
    let fresh = |k: &&Kept| k.rated_at_ms.saturating_add(max_age) > now_ms;

    // Every peer, in peer id order: summing in this order makes the result independent of
    // the order of insertion, and peers that only add zeros change no other peer's sums.
    let mut positions: HashMap<PeerId, usize> = HashMap::with_capacity(2 * raters.len() + 1);
    let all = std::iter::once(config.local_peer())
        .chain(config.pre_trusted().iter().copied())
        .chain(
            raters
                .iter()
                .flat_map(|(rater, r)| std::iter::once(*rater).chain(r.edges.keys().copied())),
        );
    for peer in all {
        positions.entry(peer).or_insert(0);
    }
    let mut peers: Vec<PeerId> = positions.keys().copied().collect();
    peers.sort_unstable();
    for (position, peer) in peers.iter().enumerate() {
        positions.insert(*peer, position);
    }
    let index = |peer: &PeerId| positions.get(peer).copied().unwrap_or(0);
    let n = peers.len();

    let mut rows = Vec::with_capacity(raters.len());
    let mut cells = Vec::new();
    for (rater, r) in raters {
        let start = cells.len();
        let mut receipts = 0usize;
        for (ratee, edge) in &r.edges {
            let (mut count, mut share, mut positive, mut negative) = (0usize, 0.0, 0.0, 0.0);
            for kept in edge.receipts.iter().filter(fresh) {
                count += 1;
                share += gain(kept.value);
                positive += kept.value;
                negative += 1.0 - kept.value;
            }
            if count > 0 {
                receipts += count;
                cells.push(Cell {
                    ratee: index(ratee),
                    share,
                    positive,
                    negative,
                });
            }
        }
        if receipts == 0 {
            continue;
        }
        let receipts = receipts as f64;
        for cell in &mut cells[start..] {
            cell.share /= receipts;
        }
        rows.push(Row {
            rater: index(rater),
            cells: start..cells.len(),
            receipts,
        });
    }

    // The pre-trusted distribution p: uniform over this node and the pre-trusted peers.
    let mut pre: Vec<usize> = std::iter::once(config.local_peer())
        .chain(config.pre_trusted().iter().copied())
        .map(|p| index(&p))
        .collect();
    pre.sort_unstable();
    pre.dedup();
    let mut is_pre = vec![false; n];
    for &k in &pre {
        is_pre[k] = true;
    }
    let p_each = 1.0 / pre.len() as f64;

    // t <- (1 - a) C^T t + (1 - (1 - a) |C^T t|) p: what raters do not pass on (ratings at or
    // below neutral, raters without positive ratings) returns to p, so |t| stays 1.
    let a = config.teleport();
    let mut t = vec![0.0; n];
    for &k in &pre {
        t[k] = p_each;
    }
    let mut next = vec![0.0; n];
    let (mut iterations, mut converged) = (0, false);
    while iterations < config.max_iterations() {
        iterations += 1;
        next.fill(0.0);
        for row in &rows {
            let trust = t[row.rater];
            if trust == 0.0 {
                continue;
            }
            let flow = (1.0 - a) * trust;
            for cell in &cells[row.cells.clone()] {
                next[cell.ratee] += flow * cell.share;
            }
        }
        let passed: f64 = next.iter().sum();
        let back = (1.0 - passed).max(0.0) * p_each;
        for &k in &pre {
            next[k] += back;
        }
        let delta: f64 = t.iter().zip(&next).map(|(x, y)| (x - y).abs()).sum();
        std::mem::swap(&mut t, &mut next);
        if delta <= config.tolerance() {
            converged = true;
            break;
        }
    }

    // Rater weights: relative to the median trust of the peers reached from p (pre-trusted
    // peers aside), at most 1.
    let mut reached: Vec<f64> = (0..n)
        .filter(|&k| t[k] > 0.0 && !is_pre[k])
        .map(|k| t[k])
        .collect();
    let median = if reached.is_empty() {
        None
    } else {
        let middle = reached.len() / 2;
        Some(*reached.select_nth_unstable_by(middle, f64::total_cmp).1)
    };
    let rater_weight: Vec<f64> = (0..n)
        .map(|k| match (is_pre[k], median) {
            (true, _) => 1.0,
            (false, Some(median)) if t[k] > 0.0 => (t[k] / median).min(1.0),
            _ => 0.0,
        })
        .collect();

    // Evidence: each receipt counts its rating as positive and one minus it as negative,
    // weighted by its rater (this node's own receipts by the direct weight, without budget).
    let local = index(&config.local_peer());
    let mut positive = vec![0.0; n];
    let mut negative = vec![0.0; n];
    for row in &rows {
        let weight = if row.rater == local {
            config.direct_weight()
        } else {
            rater_weight[row.rater] * (config.rater_budget() / row.receipts).min(1.0)
        };
        if weight == 0.0 {
            continue;
        }
        for cell in &cells[row.cells.clone()] {
            positive[cell.ratee] += weight * cell.positive;
            negative[cell.ratee] += weight * cell.negative;
        }
    }

    let prior = config.prior_weight();
    let standings = (0..n)
        .map(|k| Standing {
            global_trust: t[k],
            rater_weight: rater_weight[k],
            positive: positive[k],
            negative: negative[k],
            score: ((prior * NEUTRAL_RATING + positive[k]) / (prior + positive[k] + negative[k]))
                .clamp(0.0, 1.0),
        })
        .collect();
    TrustScores {
        peers,
        standings,
        computed_at_ms: now_ms,
        iterations,
        converged,
    }
}
