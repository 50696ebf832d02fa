//! The parameters of the reputation model, with their defaults.

use std::time::Duration;

use libp2p::identity::PeerId;

/// Most pre-trusted peers besides this node.
pub const MAX_PRE_TRUSTED: usize = 64;

/// Parameters of a [`TrustGraph`](super::TrustGraph). Built with `Config::new(local_peer)` and
/// `with_*`; docs/REPUTATION.md explains every default.
///
/// ```
/// use mesh_core::trust::Config;
/// use mesh_core::PeerId;
/// use std::time::Duration;
/// let config = Config::new(PeerId::random())
///     .with_pre_trusted([PeerId::random()])
///     .with_max_age(Duration::from_secs(30 * 24 * 3600));
/// assert_eq!(config.max_age(), Duration::from_secs(30 * 24 * 3600));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    local_peer: PeerId,
    pre_trusted: Vec<PeerId>,
    teleport: f64,
    max_iterations: u32,
    tolerance: f64,
    max_age: Duration,
    receipts_per_pair: usize,
    rater_budget: f64,
    direct_weight: f64,
    prior_weight: f64,
    max_edges: usize,
    max_edges_per_rater: usize,
}

impl Config {
    /// The defaults, for the node `local_peer`, whose own receipts are its direct experience.
    pub fn new(local_peer: PeerId) -> Self {
        Self {
            local_peer,
            pre_trusted: Vec::new(),
            teleport: 0.2,
            max_iterations: 128,
            tolerance: 1e-10,
            max_age: Duration::from_secs(90 * 24 * 3600),
            receipts_per_pair: 4,
            rater_budget: 32.0,
            direct_weight: 2.0,
            prior_weight: 2.0,
            max_edges: 65_536,
            max_edges_per_rater: 1_024,
        }
    }

    /// Peers trusted from the start besides this node (e.g. operators the user knows); at most
    /// [`MAX_PRE_TRUSTED`] are kept, this node and repeats are dropped. Default: none.
    pub fn with_pre_trusted(mut self, peers: impl IntoIterator<Item = PeerId>) -> Self {
        let mut list: Vec<PeerId> = peers
            .into_iter()
            .filter(|p| *p != self.local_peer)
            .collect();
        list.sort_unstable();
        list.dedup();
        list.truncate(MAX_PRE_TRUSTED);
        self.pre_trusted = list;
        self
    }

    /// The EigenTrust teleport weight `a`, in `[0.01, 1]`: the share of trust that returns to
    /// the pre-trusted peers at each step. Default 0.2.
    pub fn with_teleport(mut self, teleport: f64) -> Self {
        self.teleport = clamp_or(teleport, 0.01, 1.0, self.teleport);
        self
    }

    /// Most power iterations per recomputation (at least 1). Default 128.
    pub fn with_max_iterations(mut self, iterations: u32) -> Self {
        self.max_iterations = iterations.max(1);
        self
    }

    /// Convergence threshold on the L1 change of the trust vector in one step, in
    /// `[0, 1e-3]`. Default 1e-10.
    pub fn with_tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = clamp_or(tolerance, 0.0, 1e-3, self.tolerance);
        self
    }

    /// Receipts older than this count for nothing and are forgotten. Default 90 days.
    pub fn with_max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// Receipts kept per (rater, ratee) pair, the newest distinct negotiations, at least 1.
    /// Default 4.
    pub fn with_receipts_per_pair(mut self, receipts: usize) -> Self {
        self.receipts_per_pair = receipts.max(1);
        self
    }

    /// Receipts a rater's voice is worth in all, at least 1: a rater with more receipts has
    /// each counted for `budget / receipts`. This node's own receipts are exempt. Default 32.
    pub fn with_rater_budget(mut self, budget: f64) -> Self {
        self.rater_budget = clamp_or(budget, 1.0, 1e9, self.rater_budget);
        self
    }

    /// Weight of each of this node's own receipts, against at most 1 for anyone else's, in
    /// `[0, 1000]`. Default 2.
    pub fn with_direct_weight(mut self, weight: f64) -> Self {
        self.direct_weight = clamp_or(weight, 0.0, 1000.0, self.direct_weight);
        self
    }

    /// Weight of the neutral prior, in receipts, in `[0.01, 1000]`: how much evidence it takes
    /// to move a score halfway to its evidence's mean. Default 2.
    pub fn with_prior_weight(mut self, weight: f64) -> Self {
        self.prior_weight = clamp_or(weight, 0.01, 1000.0, self.prior_weight);
        self
    }

    /// Most (rater, ratee) pairs held, at least 1; each takes about 300 bytes. Default 65,536.
    pub fn with_max_edges(mut self, edges: usize) -> Self {
        self.max_edges = edges.max(1);
        self
    }

    /// Most ratees held per rater, at least 1. Default 1,024.
    pub fn with_max_edges_per_rater(mut self, edges: usize) -> Self {
        self.max_edges_per_rater = edges.max(1);
        self
    }

    /// This node.
    pub fn local_peer(&self) -> PeerId {
        self.local_peer
    }

    /// The pre-trusted peers besides this node, sorted.
    pub fn pre_trusted(&self) -> &[PeerId] {
        &self.pre_trusted
    }

    /// Whether `peer` is this node or one of the pre-trusted peers.
    pub fn is_pre_trusted(&self, peer: &PeerId) -> bool {
        *peer == self.local_peer || self.pre_trusted.binary_search(peer).is_ok()
    }

    /// The teleport weight `a`.
    pub fn teleport(&self) -> f64 {
        self.teleport
    }

    /// Most power iterations.
    pub fn max_iterations(&self) -> u32 {
        self.max_iterations
    }

    /// Convergence threshold.
    pub fn tolerance(&self) -> f64 {
        self.tolerance
    }

    /// Age at which a receipt is forgotten.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Receipts kept per pair.
    pub fn receipts_per_pair(&self) -> usize {
        self.receipts_per_pair
    }

    /// A rater's budget, in receipts.
    pub fn rater_budget(&self) -> f64 {
        self.rater_budget
    }

    /// Weight of this node's own receipts.
    pub fn direct_weight(&self) -> f64 {
        self.direct_weight
    }

    /// Weight of the neutral prior.
    pub fn prior_weight(&self) -> f64 {
        self.prior_weight
    }

    /// Most pairs held.
    pub fn max_edges(&self) -> usize {
        self.max_edges
    }

    /// Most ratees per rater.
    pub fn max_edges_per_rater(&self) -> usize {
        self.max_edges_per_rater
    }

    pub(super) fn max_age_ms(&self) -> u64 {
        u64::try_from(self.max_age.as_millis()).unwrap_or(u64::MAX)
    }
}

fn clamp_or(value: f64, min: f64, max: f64, fallback: f64) -> f64 {
    if value.is_nan() {
        fallback
    } else {
        value.clamp(min, max)
    }
}
