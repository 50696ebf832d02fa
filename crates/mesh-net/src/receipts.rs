//! Reputation from receipts, as a node runs it: the attestations of completed negotiations
//! travel on one gossip topic ([`RECEIPTS_TOPIC`]); each node verifies what arrives, keeps it in
//! its [`TrustGraph`] and recomputes every peer's standing on a timer (see docs/REPUTATION.md
//! for the model).
//!
//! [`ReceiptBook`] owns the graph and its latest scores; it does no I/O and reads no clock, so
//! the event loop decides when to store, publish and recompute.
//!
//! ```
//! use std::time::Duration;
//! use tokio::time::Instant;
//! use mesh_net::receipts::{ReceiptBook, Taken};
//! use mesh_core::trust::Config;
//! use mesh_core::PeerId;
//!
//! let t0 = Instant::now();
//! let mut book = ReceiptBook::new(Config::new(PeerId::random()), Duration::from_secs(30), t0);
//! // Not an attestation: refused, and the forwarder is to be penalised.
//! assert!(matches!(book.receive(b"not an attestation", 1_700_000_000_000), Taken::Reject(_)));
//! // Nothing new: no recomputation.
//! assert!(book.recompute_if_due(t0 + Duration::from_secs(60), 1_700_000_000_000).is_none());
//! ```

use std::time::Duration;

use tokio::time::Instant;

use libp2p::PeerId;
use mesh_core::negotiation::{NegotiationId, Transcript};
use mesh_core::trust::{
    AttestationError, Config, Disclosure, ReceiptAttestation, Refused, TrustGraph, TrustScores,
    VerifiedAttestation,
};

/// The gossip topic of receipt attestations (`mesh.v1.ReceiptAttestation`), which every node
/// joins.
pub const RECEIPTS_TOPIC: &str = "mesh/receipts/1";

/// Least time between two recomputations by default; one runs only when ratings changed.
pub(crate) const RECOMPUTE_INTERVAL: Duration = Duration::from_secs(30);

/// One node's view of a peer's reputation, and what it rests on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReputationView {
    /// The peer.
    pub peer_id: String,
    /// Its reputation in `[0, 1]`, as discovery's `min_reputation` and the offer strategy see
    /// it: `receipts_score`, lowered when `local_score` is below 0.5.
    pub reputation: f64,
    /// Its score from the receipts this node holds: 0.5 for an agent nobody trusted rated.
    pub receipts_score: f64,
    /// This node's own score of its messages (valid ones raise it, invalid ones lower it).
    pub local_score: f64,
    /// Its share of EigenTrust's vector: above 0 only if a chain of good receipts leads to it
    /// from a peer this node trusts.
    pub global_trust: f64,
    /// How much its own receipts count, in `[0, 1]`.
    pub rater_weight: f64,
    /// Weighted evidence for it (sum of the ratings counted).
    pub positive_evidence: f64,
    /// Weighted evidence against it (sum of one minus the ratings counted).
    pub negative_evidence: f64,
    /// Whether a receipt this node holds names it (as agent or publisher), as of the last
    /// recomputation.
    pub known: bool,
    /// When the scores were last recomputed, Unix ms (0: not yet).
    pub computed_at_ms: u64,
}

impl ReputationView {
    /// The view of `peer` from `scores` and this node's local score of it.
    pub fn of(peer: &libp2p::PeerId, scores: &TrustScores, local_score: f64) -> Self {
        let standing = scores.standing(peer);
        Self {
            peer_id: peer.to_string(),
            reputation: mesh_core::trust::combine(scores.score(peer), local_score),
            receipts_score: scores.score(peer),
            local_score,
            global_trust: standing.map_or(0.0, |s| s.global_trust),
            rater_weight: standing.map_or(0.0, |s| s.rater_weight),
            positive_evidence: standing.map_or(0.0, |s| s.positive),
            negative_evidence: standing.map_or(0.0, |s| s.negative),
            known: standing.is_some(),
            computed_at_ms: scores.computed_at_ms(),
        }
    }
}

/// What became of an attestation received on gossip.
#[derive(Debug)]
pub enum Taken {
    /// New evidence: counted, to be stored and forwarded.
    Accept(Box<VerifiedAttestation>),
    /// Valid but changes nothing here (known, too old, from a rater at its cap, ...): not
    /// forwarded, no penalty.
    Ignore(&'static str),
    /// Forged, tampered or malformed: the forwarder is penalised.
    Reject(&'static str),
}

/// The graph of ratings and the scores of its latest recomputation. Owned by the event loop.
#[derive(Debug)]
pub struct ReceiptBook {
    graph: TrustGraph,
    interval: Duration,
    next_recompute: Instant,
}

impl ReceiptBook {
    /// An empty book with the model's parameters, recomputing at most every `interval`; the
    /// first recomputation may run at once.
    pub fn new(config: Config, interval: Duration, now: Instant) -> Self {
        Self {
            graph: TrustGraph::new(config),
            interval,
            next_recompute: now,
        }
    }

    /// Whether the receipt of `negotiation` by `rater` about `ratee` is counted.
    pub fn contains(&self, rater: &PeerId, ratee: &PeerId, negotiation: &NegotiationId) -> bool {
        self.graph.contains(rater, ratee, negotiation)
    }

    /// Verifies and counts an attestation from gossip.
    pub fn receive(&mut self, data: &[u8], now_ms: u64) -> Taken {
        let verified = ReceiptAttestation::verify(data, now_ms);
        self.take_verified(verified, now_ms)
    }

    /// Verifies and counts many attestations (a catch-up answer, the store at start), in
    /// order: for each what [`receive`](Self::receive) of it would return after the ones
    /// before it, with the signatures checked in one batch
    /// ([`ReceiptAttestation::verify_batch`]).
    pub(crate) fn receive_batch(&mut self, items: &[&[u8]], now_ms: u64) -> Vec<Taken> {
        ReceiptAttestation::verify_batch(items, now_ms)
            .into_iter()
            .map(|verified| self.take_verified(verified, now_ms))
            .collect()
    }

    /// What becomes of an attestation verified (or refused) at `now_ms`.
    fn take_verified(
        &mut self,
        verified: Result<VerifiedAttestation, AttestationError>,
        now_ms: u64,
    ) -> Taken {
        match verified {
            Ok(verified) => self.take(verified, now_ms),
            // A clock behind the signer's: not the sender's fault.
            Err(AttestationError::FromTheFuture { .. }) => Taken::Ignore("from_the_future"),
            Err(e) => Taken::Reject(reason(&e)),
        }
    }

    /// Counts this node's own completed negotiation (it sent or received the receipt) with
    /// its delivery, and returns what to publish: the attestation with as little as the model
    /// needs disclosed ([`Disclosure::Minimal`]).
    pub fn own(
        &mut self,
        transcript: &Transcript,
        now_ms: u64,
    ) -> Result<(Taken, Vec<u8>), AttestationError> {
        let full = ReceiptAttestation::from_transcript(transcript, Disclosure::WithDelivery)?
            .validate(now_ms)?;
        // The published form comes from the verified attestation: the transcript is checked once.
        let minimal = full.encoded_as(Disclosure::Minimal).ok_or_else(|| {
            AttestationError::Malformed("this node's own attestation does not decode".to_owned())
        })?;
        Ok((self.take(full, now_ms), minimal))
    }

    fn take(&mut self, verified: VerifiedAttestation, now_ms: u64) -> Taken {
        match self.graph.insert_attestation(&verified, now_ms) {
            Ok(outcome) if outcome.is_new() => Taken::Accept(Box::new(verified)),
            Ok(_) => Taken::Ignore("known"),
            Err(e) => Taken::Ignore(refused(&e)),
        }
    }

    /// Recomputes the scores if ratings changed and the interval has passed since the last
    /// recomputation; returns the new scores then.
    pub fn recompute_if_due(&mut self, now: Instant, now_ms: u64) -> Option<&TrustScores> {
        if !self.graph.is_dirty() || now < self.next_recompute {
            return None;
        }
        self.next_recompute = now + self.interval;
        Some(self.graph.recompute(now_ms))
    }

    /// The scores of the latest recomputation.
    pub fn scores(&self) -> &TrustScores {
        self.graph.scores()
    }

    /// Until when a rating signed at `rated_at_ms` counts (after that it is dropped, and so
    /// is its stored copy).
    pub fn expires_at_ms(&self, rated_at_ms: u64) -> u64 {
        rated_at_ms.saturating_add(self.max_age_ms())
    }

    /// The latest signing time of a rating that no longer counts at `now_ms`.
    pub(crate) fn expired_until_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.max_age_ms())
    }

    fn max_age_ms(&self) -> u64 {
        u64::try_from(self.graph.config().max_age().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The metric label of a refused attestation.
fn reason(e: &AttestationError) -> &'static str {
    match e {
        AttestationError::TooLarge { .. } => "attestation_too_large",
        AttestationError::Malformed(_) | AttestationError::NonCanonical => "attestation_malformed",
        _ => "attestation_invalid",
    }
}

/// The metric label of a verified rating the graph did not take.
fn refused(e: &Refused) -> &'static str {
    match e {
        Refused::Expired { .. } => "attestation_expired",
        Refused::RaterFull { .. } => "attestation_rater_full",
        Refused::Full { .. } => "attestation_graph_full",
        _ => "attestation_refused",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use mesh_core::negotiation::{
        Body, Config as NegotiationConfig, Delivery, Eta, Negotiation, Price, Proposal, Receipt,
    };
    use mesh_core::{IntentId, Keypair, PeerId};

    const NOW: u64 = 1_700_000_000_000;

    /// The attestation of a negotiation completed at `at`, rated `rating`, as `disclosure`
    /// publishes it.
    fn attestation(n: u8, at: u64, rating: f64, disclosure: Disclosure) -> Vec<u8> {
        let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let (p, a) = (publisher.public().to_peer_id(), agent.public().to_peer_id());
        let mut neg =
            Negotiation::new(IntentId([n; 32]), p, a, NegotiationConfig::default(), at).unwrap();
        let price = Price::new("1", "USD").unwrap();
        let offer = Proposal::new(price, Eta::Within(Duration::from_secs(60)));
        neg.send(Body::Offer(offer), &agent, at).unwrap();
        neg.send(Body::Accept, &publisher, at).unwrap();
        neg.send(
            Body::Deliver(Delivery::inline("text/plain", "done")),
            &agent,
            at,
        )
        .unwrap();
        neg.send(Body::Receipt(Receipt::new(rating)), &publisher, at)
            .unwrap();
        ReceiptAttestation::from_transcript(neg.transcript(), disclosure)
            .unwrap()
            .encode()
    }

    #[test]
    fn a_batch_is_taken_as_its_items_one_after_the_other() {
        let good = attestation(1, NOW, 0.9, Disclosure::Minimal);
        let mut forged = attestation(2, NOW, 0.2, Disclosure::Minimal);
        if let Some(last) = forged.last_mut() {
            *last ^= 0x01;
        }
        let items: Vec<Vec<u8>> = vec![
            good.clone(),
            attestation(3, NOW, 0.1, Disclosure::WithDelivery),
            good,
            forged,
            attestation(4, NOW + 3_600_000, 0.9, Disclosure::Minimal),
            attestation(5, NOW - 400 * 24 * 3_600_000, 0.9, Disclosure::Minimal),
            b"not an attestation".to_vec(),
            attestation(6, NOW, 0.7, Disclosure::WithDelivery),
        ];
        let new_book = || {
            ReceiptBook::new(
                Config::new(PeerId::random()),
                RECOMPUTE_INTERVAL,
                Instant::now(),
            )
        };
        let mut one_by_one = new_book();
        let alone: Vec<String> = items
            .iter()
            .map(|bytes| format!("{:?}", one_by_one.receive(bytes, NOW)))
            .collect();
        let slices: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        let batched: Vec<String> = new_book()
            .receive_batch(&slices, NOW)
            .iter()
            .map(|taken| format!("{taken:?}"))
            .collect();
        assert_eq!(batched, alone);
        let labels: Vec<&str> = alone
            .iter()
            .map(|taken| taken.split('(').next().unwrap_or(""))
            .collect();
        assert_eq!(
            labels,
            [
                "Accept", "Accept", "Ignore", "Reject", "Ignore", "Ignore", "Reject", "Accept"
            ]
        );
    }
}
