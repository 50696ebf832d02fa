//! The bounded cache of open intents every node keeps, to answer IDP catch-up requests.
//!
//! Expired intents are dropped before every answer and never returned. When the cache is full
//! the intent that expires first makes room.

use std::collections::HashMap;
use std::sync::Arc;

use mesh_core::intent::IntentId;
use mesh_core::{Capability, SignedIntent};

/// Open intents kept at most.
pub(crate) const OPEN_INTENTS_CAPACITY: usize = 4096;
/// Intents returned per catch-up answer at most.
pub(crate) const MAX_CATCHUP_INTENTS: usize = 64;
/// Bytes of envelopes returned per catch-up answer at most.
pub(crate) const MAX_CATCHUP_BYTES: usize = 1024 * 1024;

/// Open intents by id.
#[derive(Debug)]
pub(crate) struct OpenIntents {
    intents: HashMap<IntentId, Arc<SignedIntent>>,
    capacity: usize,
}

impl Default for OpenIntents {
    fn default() -> Self {
        Self::with_capacity(OPEN_INTENTS_CAPACITY)
    }
}

impl OpenIntents {
    /// A cache of at most `capacity` intents.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            intents: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Keeps `intent` until it expires (or is pushed out by intents that expire later).
    pub(crate) fn insert(&mut self, intent: Arc<SignedIntent>, now_ms: u64) {
        if intent.is_expired(now_ms) || self.intents.contains_key(&intent.id) {
            return;
        }
        if self.intents.len() >= self.capacity {
            self.remove_expired(now_ms);
        }
        if self.intents.len() >= self.capacity {
            let first = self
                .intents
                .values()
                .min_by_key(|i| i.content.expires_at_ms)
                .map(|i| (i.id, i.content.expires_at_ms));
            match first {
                Some((id, expires)) if expires < intent.content.expires_at_ms => {
                    self.intents.remove(&id);
                }
                _ => return,
            }
        }
        self.intents.insert(intent.id, intent);
    }

    /// The intent with this id, if held.
    pub(crate) fn get(&self, id: &IntentId) -> Option<Arc<SignedIntent>> {
        self.intents.get(id).cloned()
    }

    /// Drops one intent (e.g. cancelled by its publisher).
    pub(crate) fn remove(&mut self, id: &IntentId) -> Option<Arc<SignedIntent>> {
        self.intents.remove(id)
    }

    /// Open intents, newest first, at most `limit`.
    pub(crate) fn newest(&self, limit: usize) -> Vec<Arc<SignedIntent>> {
        let mut all: Vec<_> = self.intents.values().cloned().collect();
        all.sort_by(|a, b| {
            b.content
                .created_at_ms
                .cmp(&a.content.created_at_ms)
                .then(a.id.cmp(&b.id))
        });
        all.truncate(limit);
        all
    }

    /// Drops every intent expired at `now_ms`.
    pub(crate) fn remove_expired(&mut self, now_ms: u64) {
        self.intents.retain(|_, i| !i.is_expired(now_ms));
    }

    /// Open intents needing any of `capabilities`, newest first, within the answer limits.
    pub(crate) fn matching(
        &mut self,
        capabilities: &[Capability],
        limit: usize,
        now_ms: u64,
    ) -> Vec<Arc<SignedIntent>> {
        self.remove_expired(now_ms);
        let mut found: Vec<&Arc<SignedIntent>> = self
            .intents
            .values()
            .filter(|i| i.capabilities.iter().any(|c| capabilities.contains(c)))
            .collect();
        found.sort_by(|a, b| {
            b.content
                .created_at_ms
                .cmp(&a.content.created_at_ms)
                .then(a.id.cmp(&b.id))
        });
        let mut bytes = 0;
        let mut out = Vec::new();
        for i in found.into_iter().take(limit.min(MAX_CATCHUP_INTENTS)) {
            bytes += i.envelope.len();
            if bytes > MAX_CATCHUP_BYTES {
                break;
            }
            out.push(Arc::clone(i));
        }
        out
    }

    /// Number of intents held.
    pub(crate) fn len(&self) -> usize {
        self.intents.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::{Intent, Keypair};
    use std::time::Duration;

    const NOW: u64 = 1_700_000_000_000;

    fn intent(cap: &str, created: u64, ttl_secs: u64) -> Arc<SignedIntent> {
        Arc::new(
            Intent::new("t")
                .capabilities([cap])
                .ttl(Duration::from_secs(ttl_secs))
                .sign(&Keypair::generate_ed25519(), created)
                .unwrap(),
        )
    }

    fn caps(names: &[&str]) -> Vec<Capability> {
        names.iter().map(|n| Capability::new(*n).unwrap()).collect()
    }

    #[test]
    fn matches_by_capability_newest_first_and_never_expired() {
        let mut cache = OpenIntents::default();
        let old = intent("a", NOW, 100);
        let new = intent("a", NOW + 1, 100);
        let other = intent("b", NOW, 100);
        let short = intent("a", NOW, 1);
        for i in [&old, &new, &other, &short] {
            cache.insert(Arc::clone(i), NOW);
        }
        let got = cache.matching(&caps(&["a"]), 10, NOW + 2_000);
        let ids: Vec<_> = got.iter().map(|i| i.id).collect();
        assert_eq!(ids, vec![new.id, old.id], "short-lived one expired");
        assert_eq!(cache.matching(&caps(&["a"]), 1, NOW + 2_000).len(), 1);
        assert_eq!(cache.len(), 3);
        assert!(cache.matching(&caps(&["c"]), 10, NOW).is_empty());
    }

    #[test]
    fn bounded_and_keeps_the_longest_lived() {
        let mut cache = OpenIntents::with_capacity(2);
        let a = intent("a", NOW, 10);
        let b = intent("a", NOW, 20);
        let c = intent("a", NOW, 30);
        let d = intent("a", NOW, 5);
        for i in [&a, &b, &c, &d] {
            cache.insert(Arc::clone(i), NOW);
        }
        let ids: Vec<_> = cache
            .matching(&caps(&["a"]), 10, NOW)
            .iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&b.id) && ids.contains(&c.id));
    }

    #[test]
    fn expired_intents_are_not_inserted() {
        let mut cache = OpenIntents::default();
        cache.insert(intent("a", NOW, 1), NOW + 1_000);
        assert_eq!(cache.len(), 0);
    }
}
