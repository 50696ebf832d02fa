//! Network-wide reputation from receipts: attestations, the trust graph and its aggregation.
//!
//! A completed negotiation ends with the publisher's signed `Receipt`, which rates the agent's
//! delivery in `[0, 1]` and chains to the agent's `Deliver`. Published as a
//! [`ReceiptAttestation`] (the receipt, and the agent's delivery when disclosed), it is
//! evidence anyone can check offline with [`ReceiptAttestation::verify`]. A rating below
//! [`NEUTRAL_RATING`] must carry the delivery, so that nobody can blame an agent it never
//! dealt with.
//!
//! A [`TrustGraph`] holds the verified [`Rating`]s, bounded, and [`TrustGraph::recompute`]
//! turns them into [`TrustScores`]:
//!
//! 1. **Who counts.** EigenTrust (Kamvar, Schlosser and Garcia-Molina, 2003) over the ratings,
//!    started from and teleporting to the pre-trusted peers (this node and
//!    [`Config::with_pre_trusted`]), gives each peer a share `t` of trust. Only peers reached
//!    by a chain of ratings above neutral from a pre-trusted peer have `t > 0`.
//! 2. **How much.** A rater's receipts are weighted by `min(1, t / median t)`, scaled down
//!    when it rated more than its budget; this node's own receipts by the direct weight.
//!    Receipts of identities without trust weigh nothing.
//! 3. **The score.** Each ratee's weighted ratings give a Beta estimate
//!    `(1 + positive) / (2 + positive + negative)`: 0.5 with no evidence, as for a brand-new
//!    agent, and towards the weighted mean rating as evidence accumulates.
//!
//! [`TrustScores::reputation`] then [`combine`]s the score with this node's
//! [`LocalReputation`](crate::LocalReputation), which can only lower it. docs/REPUTATION.md
//! gives the formulas, every parameter's default and the model's limits.
//!
//! Nothing here reads a clock or does I/O: calls that depend on time take `now_ms`, and the same
//! ratings and parameters always give the same scores, bit for bit.
//!
//! ```
//! use mesh_core::trust::{Config, Rating, TrustGraph, NEUTRAL_RATING};
//! use mesh_core::negotiation::NegotiationId;
//! use mesh_core::PeerId;
//!
//! let now = 1_700_000_000_000;
//! let (me, good, sybil_a, sybil_b) =
//!     (PeerId::random(), PeerId::random(), PeerId::random(), PeerId::random());
//! let rating = |rater, ratee, n: u8, value| Rating {
//!     rater, ratee, negotiation_id: NegotiationId([n; 32]), value,
//!     rated_at_ms: now, receipt_hash: [n; 32],
//! };
//! let mut graph = TrustGraph::new(Config::new(me));
//! graph.insert(rating(me, good, 1, 1.0), now)?;
//! // Two fresh identities rating each other: nobody trusted vouches for either.
//! graph.insert(rating(sybil_a, sybil_b, 2, 1.0), now)?;
//! graph.insert(rating(sybil_b, sybil_a, 3, 1.0), now)?;
//! let scores = graph.recompute(now);
//! assert!(scores.score(&good) > NEUTRAL_RATING);
//! assert_eq!(scores.score(&sybil_a), NEUTRAL_RATING);
//! assert_eq!(scores.score(&sybil_b), NEUTRAL_RATING);
//! # Ok::<(), mesh_core::trust::Refused>(())
//! ```

mod attestation;
mod config;
mod graph;
mod scores;

pub use attestation::{
    AttestationError, Disclosure, MAX_ATTESTATION_BYTES, ReceiptAttestation, VerifiedAttestation,
};
pub use config::{Config, MAX_PRE_TRUSTED};
pub use graph::{Outcome, Rating, Refused, TrustGraph};
pub use scores::{Standing, TrustScores, combine};

/// The neutral rating, and the score of a peer nobody trusted rated: a rating above it passes
/// trust on, a rating below it must prove the delivery.
pub const NEUTRAL_RATING: f64 = crate::reputation::NEUTRAL;
