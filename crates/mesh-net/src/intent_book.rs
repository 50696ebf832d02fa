//! What this node knows about the lifecycle of intents: the ones it published, and the
//! cancellations it has seen. Owned by the event loop; bounded.
//!
//! An intent's status is derived (see [`mesh_core::IntentStatus::derive`]) from its expiry,
//! the cancellation held here, and the node's negotiations on it.

use std::collections::HashMap;
use std::sync::Arc;

use mesh_core::intent::IntentId;
use mesh_core::{IntentStatus, SignedCancellation, SignedIntent};
use serde::{Deserialize, Serialize};

/// Own intents kept at most (expired ones make room first).
pub(crate) const OWN_INTENTS_CAPACITY: usize = 4096;
/// Cancellations remembered at most (expired ones make room first).
pub(crate) const CANCELLATIONS_CAPACITY: usize = 16_384;

/// An intent with where it stands, as the API and SDK show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntentView {
    /// Intent id, hex.
    pub id: String,
    /// The publisher's peer id.
    pub publisher: String,
    /// Whether this node published it.
    pub own: bool,
    /// Lifecycle status: open, negotiating, agreed, delivered, completed, expired, cancelled.
    pub status: String,
    /// Title.
    pub title: String,
    /// Capabilities needed.
    pub capabilities: Vec<String>,
    /// Budget, e.g. `2.50 USD`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
    /// Lowest reputation asked of bidders.
    pub min_reputation: f64,
    /// When it was signed, Unix ms.
    pub created_at_ms: u64,
    /// When it expires, Unix ms.
    pub expires_at_ms: u64,
    /// This node's negotiations on it.
    pub negotiations: usize,
    /// The publisher's reason, when cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
}

/// A change in an intent's lifecycle that local subscribers hear about.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntentUpdate {
    /// Intent id, hex.
    pub id: String,
    /// The new status.
    pub status: String,
    /// The publisher's reason, for a cancellation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The outcome of cancelling one of this node's intents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CancelOutcome {
    /// Intent id, hex.
    pub id: String,
    /// Capability topics the cancellation was published on.
    pub topics: Vec<String>,
    /// Open negotiations this node withdrew from because of it.
    pub withdrawn: usize,
}

/// Own intents and seen cancellations.
#[derive(Debug, Default)]
pub(crate) struct IntentBook {
    own: HashMap<IntentId, Arc<SignedIntent>>,
    cancellations: HashMap<IntentId, Cancelled>,
}

#[derive(Debug)]
struct Cancelled {
    cancellation: Arc<SignedCancellation>,
    /// The intent, when this node held it: kept so late messages about it get a clear answer.
    intent: Option<Arc<SignedIntent>>,
}

impl IntentBook {
    /// Remembers an intent this node published.
    pub(crate) fn publish(&mut self, intent: Arc<SignedIntent>, now_ms: u64) {
        if self.own.len() >= OWN_INTENTS_CAPACITY {
            self.own.retain(|_, i| !i.is_expired(now_ms));
        }
        if self.own.len() >= OWN_INTENTS_CAPACITY {
            let oldest = self
                .own
                .values()
                .min_by_key(|i| i.content.created_at_ms)
                .map(|i| i.id);
            if let Some(id) = oldest {
                self.own.remove(&id);
            }
        }
        self.own.insert(intent.id, intent);
    }

    /// An intent this node published.
    pub(crate) fn own(&self, id: &IntentId) -> Option<Arc<SignedIntent>> {
        self.own.get(id).cloned()
    }

    /// This node's intents, newest first.
    pub(crate) fn own_intents(&self) -> Vec<Arc<SignedIntent>> {
        let mut all: Vec<_> = self.own.values().cloned().collect();
        all.sort_by(|a, b| {
            b.content
                .created_at_ms
                .cmp(&a.content.created_at_ms)
                .then(a.id.cmp(&b.id))
        });
        all
    }

    /// Remembers a verified cancellation, with the intent it cancels if this node held it (and
    /// it matches). Returns `false` if it was already known.
    pub(crate) fn record_cancellation(
        &mut self,
        c: Arc<SignedCancellation>,
        intent: Option<Arc<SignedIntent>>,
        now_ms: u64,
    ) -> bool {
        if self.cancellations.contains_key(&c.intent_id) {
            return false;
        }
        if self.cancellations.len() >= CANCELLATIONS_CAPACITY {
            self.cancellations
                .retain(|_, x| !x.cancellation.is_expired(now_ms));
        }
        if self.cancellations.len() >= CANCELLATIONS_CAPACITY {
            let first = self
                .cancellations
                .values()
                .min_by_key(|x| x.cancellation.content.expires_at_ms)
                .map(|x| x.cancellation.intent_id);
            if let Some(id) = first {
                self.cancellations.remove(&id);
            }
        }
        let intent = intent.filter(|i| c.cancels(i));
        self.cancellations.insert(
            c.intent_id,
            Cancelled {
                cancellation: c,
                intent,
            },
        );
        true
    }

    /// The publisher's cancellation of `intent`, if one was seen. A cancellation signed by
    /// anyone else does not count.
    pub(crate) fn cancellation_of(&self, intent: &SignedIntent) -> Option<&SignedCancellation> {
        self.cancellations
            .get(&intent.id)
            .map(|x| x.cancellation.as_ref())
            .filter(|c| c.cancels(intent))
    }

    /// A cancelled intent this node held when its cancellation arrived.
    pub(crate) fn cancelled_intent(&self, id: &IntentId) -> Option<Arc<SignedIntent>> {
        self.cancellations.get(id).and_then(|x| x.intent.clone())
    }

    /// Forgets expired cancellations.
    pub(crate) fn prune(&mut self, now_ms: u64) {
        self.cancellations
            .retain(|_, x| !x.cancellation.is_expired(now_ms));
        // Own intents stay past expiry while room allows, so their final status stays visible.
    }

    /// The view of `intent` with the given status and negotiation count.
    pub(crate) fn view(
        &self,
        intent: &SignedIntent,
        status: IntentStatus,
        negotiations: usize,
    ) -> IntentView {
        let c = &intent.content;
        IntentView {
            id: intent.id.to_string(),
            publisher: intent.publisher.to_string(),
            own: self.own.contains_key(&intent.id),
            status: status.to_string(),
            title: c.title.clone(),
            capabilities: c.capabilities.clone(),
            budget: c
                .budget
                .as_ref()
                .map(|b| format!("{} {}", b.amount, b.currency)),
            min_reputation: c.min_reputation,
            created_at_ms: c.created_at_ms,
            expires_at_ms: c.expires_at_ms,
            negotiations,
            cancel_reason: self.cancellation_of(intent).map(|x| x.reason().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::{Intent, Keypair};
    use std::time::Duration;

    const NOW: u64 = 1_700_000_000_000;

    fn intent(key: &Keypair, ttl: u64) -> Arc<SignedIntent> {
        Arc::new(
            Intent::new("t")
                .capabilities(["a"])
                .ttl(Duration::from_secs(ttl))
                .sign(key, NOW)
                .unwrap(),
        )
    }

    #[test]
    fn only_the_publishers_cancellation_counts() {
        let (owner, stranger) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let i = intent(&owner, 60);
        let mut book = IntentBook::default();
        assert!(book.cancellation_of(&i).is_none());
        let real = SignedCancellation::sign(&owner, &i, "done", NOW).unwrap();
        assert!(book.record_cancellation(Arc::new(real.clone()), Some(Arc::clone(&i)), NOW));
        assert!(!book.record_cancellation(Arc::new(real), None, NOW));
        assert_eq!(book.cancelled_intent(&i.id), Some(Arc::clone(&i)));
        assert_eq!(book.cancellation_of(&i).map(|c| c.reason()), Some("done"));
        // A stranger's cancellation of an intent with another id has no effect on this one.
        let other = intent(&stranger, 60);
        let theirs = SignedCancellation::sign(&stranger, &other, "", NOW).unwrap();
        book.record_cancellation(Arc::new(theirs), Some(Arc::clone(&i)), NOW);
        assert!(book.cancellation_of(&other).is_some());
        assert!(
            book.cancelled_intent(&other.id).is_none(),
            "mismatched intent not kept"
        );
        assert_eq!(
            book.view(&i, IntentStatus::Cancelled, 0).status,
            "cancelled"
        );
    }

    #[test]
    fn bounded_and_pruned() {
        let key = Keypair::generate_ed25519();
        let mut book = IntentBook::default();
        for _ in 0..OWN_INTENTS_CAPACITY + 10 {
            book.publish(intent(&key, 60), NOW);
        }
        assert_eq!(book.own_intents().len(), OWN_INTENTS_CAPACITY);
        let i = intent(&key, 1);
        let c = SignedCancellation::sign(&key, &i, "", NOW).unwrap();
        book.record_cancellation(Arc::new(c), None, NOW);
        book.prune(NOW + 2_000);
        assert!(book.cancellation_of(&i).is_none());
    }
}
