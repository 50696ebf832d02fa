//! The event loop's part in reputation from receipts: joining the receipts topic, taking
//! attestations from gossip (and from catch-up answers, `receipt_catchup.rs`, down the same
//! path), attesting this node's own completed negotiations, storing them, and handing new
//! scores to the peer book.

use tokio::time::Instant;

use libp2p::PeerId;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use mesh_core::Observation;
use mesh_core::negotiation::NegotiationId;
use mesh_core::trust::VerifiedAttestation;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::receipt_catchup::ReceiptCatchup;
use super::{EventLoop, now_ms};
use crate::persist::Write;
use crate::rate_limit::KeyedLimiter;
use crate::receipts::{RECEIPTS_TOPIC, ReceiptBook, Taken};

/// Forwarding peers whose receipt rate is tracked at once.
const LIMITED_FORWARDERS: usize = 4096;
/// Stored attestations verified in one batch at start: one that no longer verifies makes only
/// its own batch be checked again one by one.
const RESTORE_BATCH: usize = 1024;

/// The receipts state of the loop.
pub(super) struct Receipts {
    pub(super) book: ReceiptBook,
    limit: KeyedLimiter<PeerId>,
    /// Whether this node publishes its own receipts and serves catch-up.
    pub(super) share: bool,
    /// Receipts catch-up: what this node serves, and the catch-ups it runs.
    pub(super) catchup: ReceiptCatchup,
    accepted: Counter,
    published: Counter,
    recomputations: Counter,
}

impl Receipts {
    pub(super) fn new(config: &crate::NetConfig, local: PeerId, registry: &mut Registry) -> Self {
        let trust = mesh_core::trust::Config::new(local)
            .with_pre_trusted(config.reputation.trusted_peers.iter().copied());
        let (accepted, published, recomputations) =
            (Counter::default(), Counter::default(), Counter::default());
        registry.register(
            "receipts_accepted",
            "Receipt attestations counted as new evidence (own and received)",
            accepted.clone(),
        );
        registry.register(
            "receipts_published",
            "Attestations of this node's completed negotiations published",
            published.clone(),
        );
        registry.register(
            "reputation_recomputations",
            "Recomputations of every peer's reputation from the receipts held",
            recomputations.clone(),
        );
        Self {
            book: ReceiptBook::new(trust, config.reputation.recompute_interval, Instant::now()),
            limit: KeyedLimiter::new(config.limits.receipts_per_peer, LIMITED_FORWARDERS),
            share: config.reputation.share_receipts,
            catchup: ReceiptCatchup::new(registry),
            accepted,
            published,
            recomputations,
        }
    }
}

impl EventLoop {
    /// Joins the receipts topic, which every node follows.
    pub(super) fn join_receipts_topic(&mut self) {
        let topic = IdentTopic::new(RECEIPTS_TOPIC);
        let gs = &mut self.swarm.behaviour_mut().gossipsub;
        if let Err(e) = gs.subscribe(&topic) {
            tracing::warn!(error = %e, "cannot join the receipts topic");
            return;
        }
        if let Err(e) = gs.set_topic_params(topic, crate::scoring::topic_params(None)) {
            tracing::warn!(error = %e, "cannot set the receipts topic's score parameters");
        }
    }

    /// An attestation arrived on the receipts topic from `source`.
    pub(super) fn on_receipt_gossip(
        &mut self,
        source: PeerId,
        message_id: &gossipsub::MessageId,
        data: &[u8],
    ) {
        let taken = if self.receipts.limit.allow(&source, Instant::now()) {
            self.receipts.book.receive(data, now_ms())
        } else {
            Taken::Ignore("rate_limited")
        };
        let acceptance = match &taken {
            Taken::Accept(_) => MessageAcceptance::Accept,
            Taken::Ignore(_) => MessageAcceptance::Ignore,
            Taken::Reject(_) => MessageAcceptance::Reject,
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(message_id, &source, acceptance);
        self.settle_receipt(source, taken);
    }

    /// What becomes of an attestation `source` sent, on gossip or in a catch-up answer: new
    /// evidence is counted and stored and raises the source's local score; an invalid one
    /// lowers it; the rest is only counted in the metrics.
    pub(super) fn settle_receipt(&mut self, source: PeerId, taken: Taken) {
        match taken {
            Taken::Accept(verified) => {
                self.peers.observe(source, Observation::Valid);
                self.keep_attestation(&verified);
            }
            Taken::Ignore(reason) => self.metrics.reject_message(reason),
            Taken::Reject(reason) => {
                self.metrics.reject_message(reason);
                let score = self.peers.observe(source, Observation::Invalid);
                tracing::warn!(peer = %source, reason, score, "invalid receipt attestation dropped");
            }
        }
    }

    /// At start, after the stored attestations: the node's own completed negotiations whose
    /// attestation the store lacks (its write is not acknowledged to anyone, so it may have
    /// been dropped with a full queue or lost in a crash) are attested again from their stored
    /// transcripts, which are durable; nothing is published. Returns how many.
    pub(super) fn attest_restored(
        &mut self,
        completed: &[(NegotiationId, PeerId, PeerId)],
    ) -> usize {
        let mut again = 0;
        for (id, publisher, agent) in completed {
            if self.receipts.book.contains(publisher, agent, id) {
                continue;
            }
            let Some(transcript) = self.inp.registry().transcript(id) else {
                continue;
            };
            match self.receipts.book.own(&transcript, now_ms()) {
                Ok((Taken::Accept(verified), _)) => {
                    self.keep_attestation(&verified);
                    again += 1;
                }
                Ok(_) => {}
                // An old one may have expired: nothing to keep.
                Err(e) => tracing::debug!(negotiation = %id, error = %e, "not attested again"),
            }
        }
        again
    }

    /// This node sent or received the receipt of negotiation `id`: count it with its delivery,
    /// and publish its attestation unless sharing is off.
    pub(super) fn attest_completed(&mut self, id: &NegotiationId) {
        let Some(transcript) = self.inp.registry().transcript(id) else {
            return;
        };
        let (taken, minimal) = match self.receipts.book.own(&transcript, now_ms()) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(negotiation = %id, error = %e, "cannot attest a completed negotiation");
                return;
            }
        };
        if let Taken::Accept(verified) = taken {
            self.keep_attestation(&verified);
        }
        if !self.receipts.share {
            return;
        }
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(IdentTopic::new(RECEIPTS_TOPIC), minimal)
        {
            Ok(_) => {
                self.receipts.published.inc();
            }
            // Both parties publish, and the other may reach peers this node does not.
            Err(e) => {
                tracing::debug!(negotiation = %id, error = %e, "receipt not published");
            }
        }
    }

    /// Counts and stores a new attestation, and keeps it to serve when this node shares.
    fn keep_attestation(&mut self, verified: &VerifiedAttestation) {
        self.receipts.accepted.inc();
        if self.receipts.share {
            self.receipts.catchup.shelf.insert(verified);
        }
        let rating = verified.rating();
        self.save(Write::Attestation(mesh_store::StoredAttestation {
            key: rating.receipt_hash,
            encoded: verified.encoded().to_vec(),
            expires_at_unix_ms: self.receipts.book.expires_at_ms(rating.rated_at_ms),
            standing: self.standing_of(rating.rater, rating.ratee),
        }));
    }

    /// What the store keeps longest when over its budget: this node's own attestations (it
    /// rated, or was rated), then its trusted raters', then strangers' by the rater's
    /// reputation here.
    fn standing_of(&self, rater: PeerId, ratee: PeerId) -> mesh_store::Standing {
        if rater == self.local || ratee == self.local {
            mesh_store::Standing::Own
        } else if self.config.reputation.trusted_peers.contains(&rater) {
            mesh_store::Standing::Trusted
        } else {
            mesh_store::Standing::stranger(self.peers.reputation(&rater))
        }
    }

    /// Takes the attestations the store held, verified again, [`RESTORE_BATCH`] at a time.
    pub(super) fn restore_attestations(&mut self, attestations: &[Vec<u8>]) {
        let now = now_ms();
        for chunk in attestations.chunks(RESTORE_BATCH) {
            let items: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            for taken in self.receipts.book.receive_batch(&items, now) {
                self.restore_attestation(taken);
            }
        }
    }

    /// What becomes of one stored attestation: kept to serve when this node shares, or skipped.
    fn restore_attestation(&mut self, taken: Taken) {
        match taken {
            Taken::Accept(verified) if self.receipts.share => {
                self.receipts.catchup.shelf.insert(&verified);
            }
            Taken::Reject(reason) => {
                tracing::warn!(
                    reason,
                    "stored receipt attestation no longer verifies; skipped"
                );
            }
            _ => {}
        }
    }

    /// Periodic work: recomputes the scores when ratings changed, and forgets expired
    /// attestations held for catch-up.
    pub(super) fn receipts_tick(&mut self, now: Instant) {
        let expired_until = self.receipts.book.expired_until_ms(now_ms());
        self.receipts.catchup.shelf.forget_until(expired_until);
        if let Some(scores) = self.receipts.book.recompute_if_due(now, now_ms()) {
            let scores = scores.clone();
            self.receipts.recomputations.inc();
            tracing::debug!(
                peers = scores.len(),
                iterations = scores.iterations(),
                "reputation recomputed from receipts"
            );
            self.peers.set_trust(scores);
        }
    }
}
