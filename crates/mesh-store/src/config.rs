//! [`StoreConfig`]: the knobs of a store, set when it is opened.

use crate::budget::StoreBudget;

/// Events kept by default: older ones are deleted as new ones are appended.
pub const DEFAULT_EVENT_RETENTION: u64 = 100_000;
/// Receipt attestations kept at most by default: storing another one first removes one of the
/// lowest standing (the one expiring soonest among them), never one of this node's own.
pub const DEFAULT_MAX_ATTESTATIONS: u64 = 100_000;
/// Page cache of the database engine by default, in bytes.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// How a store is opened.
///
/// ```
/// use mesh_store::StoreConfig;
///
/// let config = StoreConfig::new().with_event_retention(10_000);
/// assert_eq!(config.event_retention(), 10_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    event_retention: u64,
    max_attestations: u64,
    cache_bytes: usize,
    budget: StoreBudget,
}

impl StoreConfig {
    /// The defaults: [`DEFAULT_EVENT_RETENTION`] events, [`DEFAULT_MAX_ATTESTATIONS`]
    /// attestations, [`DEFAULT_CACHE_BYTES`] of cache, the default [`StoreBudget`].
    pub fn new() -> Self {
        StoreConfig {
            event_retention: DEFAULT_EVENT_RETENTION,
            max_attestations: DEFAULT_MAX_ATTESTATIONS,
            cache_bytes: DEFAULT_CACHE_BYTES,
            budget: StoreBudget::new(),
        }
    }

    /// Sets the byte budgets of what other peers can make the store keep (see
    /// [`StoreBudget`]); the default is [`StoreBudget::new`].
    pub fn with_budget(mut self, budget: StoreBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The byte budgets.
    pub fn budget(&self) -> &StoreBudget {
        &self.budget
    }

    /// Keep at most `events` newest events (at least 1); each append deletes the oldest beyond
    /// that in the same transaction.
    pub fn with_event_retention(mut self, events: u64) -> Self {
        self.event_retention = events.max(1);
        self
    }

    /// Keep at most `attestations` receipt attestations (at least 1). Storing one under a new
    /// key when that many are stored first removes the one expiring soonest (expired or not),
    /// in the same transaction; see [`Store::put_attestation`](crate::Store::put_attestation).
    pub fn with_max_attestations(mut self, attestations: u64) -> Self {
        self.max_attestations = attestations.max(1);
        self
    }

    /// Give the database engine a page cache of at most `bytes`.
    pub fn with_cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Events kept at most.
    pub fn event_retention(&self) -> u64 {
        self.event_retention
    }

    /// Receipt attestations kept at most.
    pub fn max_attestations(&self) -> u64 {
        self.max_attestations
    }

    /// Page cache size, in bytes.
    pub fn cache_bytes(&self) -> usize {
        self.cache_bytes
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::new()
    }
}
