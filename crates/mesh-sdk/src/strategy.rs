//! Choosing among offers: the publisher side of a negotiation.
//!
//! [`MeshNetwork::award`](crate::MeshNetwork::award) lists the open offers on an intent, asks an
//! [`OfferStrategy`] to pick one, accepts it and rejects the rest. [`LowestPrice`] is the
//! default strategy; write your own by implementing the trait.

use mesh_core::negotiation::{NegotiationId, Price};

/// One agent's open offer on an intent.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferCandidate {
    /// The negotiation it belongs to.
    pub negotiation_id: NegotiationId,
    /// The agent's peer id.
    pub agent: String,
    /// What it asks.
    pub price: Price,
    /// When it would deliver if accepted now, Unix ms.
    pub due_at_ms: u64,
    /// This node's reputation of the agent, in `[0, 1]`.
    pub reputation: f64,
}

/// Picks the offer to accept, if any.
pub trait OfferStrategy: Send + Sync {
    /// The index of the chosen candidate, or `None` to accept none.
    fn choose(&self, candidates: &[OfferCandidate]) -> Option<usize>;
}

/// The default: the lowest price among agents at or above a minimum reputation, in one
/// currency; ties go to the higher reputation, then the earlier delivery.
///
/// ```
/// use mesh_sdk::strategy::{LowestPrice, OfferCandidate, OfferStrategy};
/// use mesh_core::negotiation::{NegotiationId, Price};
/// let offer = |amount: &str, reputation| OfferCandidate {
///     negotiation_id: NegotiationId([0; 32]),
///     agent: "a".into(),
///     price: Price::new(amount, "USD").unwrap(),
///     due_at_ms: 0,
///     reputation,
/// };
/// let strategy = LowestPrice::new(0.5);
/// let candidates = [offer("3", 0.9), offer("2", 0.4), offer("2.5", 0.6)];
/// assert_eq!(strategy.choose(&candidates), Some(2));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LowestPrice {
    /// Offers from agents below this reputation are ignored.
    pub min_reputation: f64,
    /// Only offers in this currency count; `None` takes the currency of the first eligible
    /// offer.
    pub currency: Option<String>,
}

impl LowestPrice {
    /// Lowest price among agents with at least `min_reputation`.
    pub fn new(min_reputation: f64) -> Self {
        Self {
            min_reputation,
            currency: None,
        }
    }

    /// Only consider offers in `currency`.
    pub fn in_currency(mut self, currency: impl Into<String>) -> Self {
        self.currency = Some(currency.into());
        self
    }
}

impl Default for LowestPrice {
    fn default() -> Self {
        Self::new(0.0)
    }
}

impl OfferStrategy for LowestPrice {
    fn choose(&self, candidates: &[OfferCandidate]) -> Option<usize> {
        let eligible = |c: &&OfferCandidate| c.reputation >= self.min_reputation;
        let currency = self.currency.clone().or_else(|| {
            candidates
                .iter()
                .find(eligible)
                .map(|c| c.price.currency().to_owned())
        })?;
        candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| eligible(c) && c.price.currency() == currency)
            .min_by(|(_, a), (_, b)| {
                a.price
                    .atomic_units()
                    .cmp(&b.price.atomic_units())
                    .then(b.reputation.total_cmp(&a.reputation))
                    .then(a.due_at_ms.cmp(&b.due_at_ms))
            })
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(amount: &str, currency: &str, reputation: f64, due: u64) -> OfferCandidate {
        OfferCandidate {
            negotiation_id: NegotiationId([0; 32]),
            agent: String::new(),
            price: Price::new(amount, currency).unwrap(),
            due_at_ms: due,
            reputation,
        }
    }

    #[test]
    fn lowest_price_with_tie_breaks() {
        let s = LowestPrice::new(0.5);
        assert_eq!(s.choose(&[]), None);
        let c = [
            offer("2.00", "USD", 0.6, 10),
            offer("2", "USD", 0.8, 20),
            offer("2.0", "USD", 0.8, 5),
            offer("1", "USD", 0.1, 0),
        ];
        assert_eq!(
            s.choose(&c),
            Some(2),
            "same price: higher reputation, then earlier"
        );
        let mixed = [offer("1", "EUR", 0.9, 0), offer("5", "USD", 0.9, 0)];
        assert_eq!(
            LowestPrice::new(0.0).in_currency("USD").choose(&mixed),
            Some(1)
        );
        assert_eq!(LowestPrice::new(0.95).choose(&mixed), None);
    }
}
