//! [`StoreConfig`]: the knobs of a store, set when it is opened.

/// Events kept by default: older ones are deleted as new ones are appended.
pub const DEFAULT_EVENT_RETENTION: u64 = 100_000;
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
    cache_bytes: usize,
}

impl StoreConfig {
    /// The defaults: [`DEFAULT_EVENT_RETENTION`] events, [`DEFAULT_CACHE_BYTES`] of cache.
    pub fn new() -> Self {
        StoreConfig {
            event_retention: DEFAULT_EVENT_RETENTION,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }

    /// Keep at most `events` newest events (at least 1); each append deletes the oldest beyond
    /// that in the same transaction.
    pub fn with_event_retention(mut self, events: u64) -> Self {
        self.event_retention = events.max(1);
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
