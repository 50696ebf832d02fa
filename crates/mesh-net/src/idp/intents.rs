//! This node's own intents and the cancellations it has seen, in the IDP driver: what it holds,
//! what a cancellation of ours needs before it is signed, and what any verified cancellation
//! changes.

use std::sync::Arc;

use libp2p::gossipsub::{self, IdentTopic};
use mesh_core::intent::IntentId;
use mesh_core::{IntentStatus, Keypair, SignedCancellation, SignedIntent};

use super::driver::{IdpContext, IdpDriver};
use crate::error::CancelError;
use crate::intent_book::{IntentBook, IntentUpdate};
use crate::persist::Write;

impl IdpDriver {
    /// This node's intents and the cancellations it has seen.
    pub(crate) fn book(&self) -> &IntentBook {
        &self.book
    }

    /// Holds an intent of ours, published now (or read back from the store).
    pub(crate) fn hold_own(&mut self, intent: Arc<SignedIntent>, now_ms: u64) {
        self.book.publish(Arc::clone(&intent), now_ms);
        self.hold(intent, now_ms);
    }

    /// Takes a cancellation read back from the store.
    pub(crate) fn restore_cancellation(
        &mut self,
        c: Arc<SignedCancellation>,
        intent: Arc<SignedIntent>,
        now_ms: u64,
    ) {
        self.forget(&intent.id);
        self.book.record_cancellation(c, Some(intent), now_ms);
    }

    /// Forgets cancellations past their intent's expiry (and own intents, when full).
    pub(crate) fn prune_book(&mut self, now_ms: u64) {
        self.book.prune(now_ms);
    }

    /// An intent this node holds: its own, an open one, or one cancelled while held.
    pub(crate) fn known_intent(&self, id: &IntentId) -> Option<Arc<SignedIntent>> {
        self.book
            .own(id)
            .or_else(|| self.open().get(id))
            .or_else(|| self.book.cancelled_intent(id))
    }

    /// Checks that intent `id` is ours and can be cancelled (`status_of` says where it
    /// stands), and signs its cancellation.
    pub(crate) fn sign_cancellation(
        &self,
        keypair: &Keypair,
        id: IntentId,
        reason: &str,
        status_of: impl Fn(&SignedIntent) -> IntentStatus,
        now_ms: u64,
    ) -> Result<SignedCancellation, CancelError> {
        let Some(intent) = self.book.own(&id) else {
            return Err(match self.known_intent(&id) {
                Some(i) => CancelError::NotPublisher {
                    id: id.to_string(),
                    publisher: i.publisher.to_string(),
                    what: "cancel",
                },
                None => CancelError::IntentNotFound { id: id.to_string() },
            });
        };
        let status = status_of(&intent);
        if !status.can_cancel() {
            return Err(CancelError::CannotCancel {
                id: id.to_string(),
                status,
            });
        }
        SignedCancellation::sign(keypair, &intent, reason, now_ms).map_err(|e| {
            CancelError::Publish {
                topic: "cancellation".into(),
                reason: e.to_string(),
            }
        })
    }

    /// Publishes our cancellation on the intent's topics; returns the topics it went out on.
    pub(crate) fn publish_cancellation(
        gossipsub: &mut gossipsub::Behaviour,
        cancellation: &SignedCancellation,
    ) -> Vec<String> {
        let mut topics = Vec::new();
        for cap in &cancellation.capabilities {
            let topic = IdentTopic::new(cap.topic());
            match gossipsub.publish(topic, cancellation.envelope.clone()) {
                Ok(_) | Err(gossipsub::PublishError::Duplicate) => topics.push(cap.to_string()),
                Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
                Err(e) => tracing::warn!(%cap, error = %e, "cancellation not published"),
            }
        }
        topics
    }

    /// Takes a verified cancellation into account: the intent leaves the open ones, and local
    /// subscribers hear of it.
    pub(crate) fn apply_cancellation(
        &mut self,
        ctx: &mut IdpContext<'_>,
        c: Arc<SignedCancellation>,
        now_ms: u64,
    ) {
        let held = self
            .book
            .own(&c.intent_id)
            .or_else(|| self.open().get(&c.intent_id))
            .filter(|i| c.cancels(i));
        if !self
            .book
            .record_cancellation(Arc::clone(&c), held.clone(), now_ms)
        {
            return;
        }
        let Some(intent) = held else {
            return;
        };
        self.forget(&intent.id);
        (ctx.store)(Write::Cancellation {
            id: intent.id.0,
            envelope: c.envelope.clone(),
        });
        ctx.metrics.intents_cancelled.inc();
        tracing::debug!(id = %intent.id, "intent cancelled by its publisher");
        let _ = ctx.updates.send(Arc::new(IntentUpdate {
            id: intent.id.to_string(),
            status: IntentStatus::Cancelled.to_string(),
            reason: Some(c.reason().to_owned()),
        }));
    }
}
