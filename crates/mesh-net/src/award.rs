//! The publisher side of a negotiation: collect offers for a window, choose one with a
//! pluggable strategy, counter where configured, accept exactly one and reject the rest.
//!
//! [`award`] drives it over a [`MeshHandle`]: it waits for the [`AwardPolicy::window`], lists
//! the open offers on the intent ([`offers`]), asks an [`OfferStrategy`] to pick one
//! ([`LowestPrice`] by default: the lowest price among agents at or above the minimum
//! reputation, ties by reputation, then ETA), and, when [`AwardPolicy::counter_at`] is set and
//! the chosen offer asks more, counters at that price and waits for the agent's answer. The
//! agent that accepts the counter wins; otherwise the best remaining offer is accepted. Every
//! other open negotiation on the intent is rejected (or withdrawn, if it waits on the agent).
//! The publisher's node refuses a second agreement on the same intent in any case.

use std::time::Duration;

use mesh_core::IntentStatus;
use mesh_core::intent::IntentId;
use mesh_core::negotiation::{Body, NegotiationId, Price, Proposal};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use crate::error::NetError;
use crate::handle::MeshHandle;
use crate::inp::NegotiationSummary;

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
/// use mesh_net::award::{LowestPrice, OfferCandidate, OfferStrategy};
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

/// How a publisher awards an intent.
#[derive(Debug, Clone, PartialEq)]
pub struct AwardPolicy {
    /// How long to collect offers before choosing, counted from the call.
    pub window: Duration,
    /// Offers from agents below this reputation are ignored; `None` takes the intent's own
    /// minimum.
    pub min_reputation: Option<f64>,
    /// Counter the chosen offer at this price when it asks more (same currency only).
    pub counter_at: Option<Price>,
    /// How long to wait for the agent's answer to a counter.
    pub answer_wait: Duration,
}

impl Default for AwardPolicy {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(5),
            min_reputation: None,
            counter_at: None,
            answer_wait: Duration::from_secs(10),
        }
    }
}

/// What [`award`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AwardOutcome {
    /// The agreed negotiation, if any offer was chosen and agreed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<String>,
    /// The winning agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The agreed price, e.g. `1.50 USD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// The negotiation countered, if the policy countered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countered: Option<String>,
    /// Offers considered.
    pub offers: usize,
    /// Negotiations rejected or withdrawn because another won.
    pub declined: Vec<String>,
}

/// The open offers on an intent this node published, with this node's reputation of each
/// agent.
pub async fn offers(
    handle: &MeshHandle,
    intent: IntentId,
) -> Result<Vec<OfferCandidate>, NetError> {
    let peers = handle.peers().await?;
    let wanted = intent.to_string();
    let mut out = Vec::new();
    for n in handle.negotiations().await? {
        if n.intent_id != wanted || n.role != "publisher" || n.state != "offered" {
            continue;
        }
        let (Some(p), Ok(id)) = (n.proposal, n.negotiation_id.parse::<NegotiationId>()) else {
            continue;
        };
        let Ok(price) = Price::new(&p.amount, &p.currency) else {
            continue;
        };
        let reputation = peers
            .iter()
            .find(|x| x.peer_id == n.agent)
            .map(|x| x.reputation)
            .unwrap_or(mesh_core::reputation::NEUTRAL);
        out.push(OfferCandidate {
            negotiation_id: id,
            agent: n.agent,
            price,
            due_at_ms: p.due_at_ms,
            reputation,
        });
    }
    Ok(out)
}

/// Awards `intent`, which this node published, following `policy` and `strategy` (see the
/// module docs). Returns with `accepted: None`, leaving every offer open, when no offer
/// qualifies.
pub async fn award(
    handle: &MeshHandle,
    intent: IntentId,
    policy: &AwardPolicy,
    strategy: &dyn OfferStrategy,
) -> Result<AwardOutcome, NetError> {
    let view = handle
        .intent(intent)
        .await?
        .ok_or_else(|| NetError::IntentNotFound {
            id: intent.to_string(),
        })?;
    if !view.own {
        return Err(NetError::NotPublisher {
            id: view.id,
            publisher: view.publisher,
            what: "award",
        });
    }
    let status: IntentStatus = view.status.parse().unwrap_or(IntentStatus::Expired);
    if !status.takes_offers() {
        return Err(NetError::Inp(crate::inp::InpError::IntentClosed {
            id: view.id,
            status,
        }));
    }
    tokio::time::sleep(policy.window).await;
    let min_reputation = policy.min_reputation.unwrap_or(view.min_reputation);
    let eligible = |all: Vec<OfferCandidate>| -> Vec<OfferCandidate> {
        all.into_iter()
            .filter(|c| c.reputation >= min_reputation)
            .collect()
    };
    let mut candidates = eligible(offers(handle, intent).await?);
    let mut outcome = AwardOutcome {
        offers: candidates.len(),
        ..AwardOutcome::default()
    };
    let Some(mut chosen) = pick(strategy, &candidates)? else {
        return Ok(outcome);
    };
    let mut winner = None;
    if let Some(target) = &policy.counter_at
        && let Some(first) = candidates.get(chosen)
        && first.price.currency() == target.currency()
        && first.price.atomic_units() > target.atomic_units()
    {
        let first = first.clone();
        outcome.countered = Some(first.negotiation_id.to_string());
        if counter_and_wait(handle, &first, target, policy.answer_wait).await? {
            winner = Some((first.negotiation_id, first.agent.clone(), target.clone()));
        } else {
            // The agent declined, re-offered or kept silent: choose again among what is open.
            candidates = eligible(offers(handle, intent).await?);
            match pick(strategy, &candidates)? {
                Some(i) => chosen = i,
                None => {
                    decline_all(handle, intent, None, &mut outcome).await?;
                    return Ok(outcome);
                }
            }
        }
    }
    let (id, agent, price) = match winner {
        Some(w) => w,
        None => {
            let c = candidates.get(chosen).cloned().ok_or(NetError::Busy {
                what: "offers",
                limit: candidates.len(),
            })?;
            handle.accept(c.negotiation_id).await?;
            (c.negotiation_id, c.agent, c.price)
        }
    };
    outcome.accepted = Some(id.to_string());
    outcome.agent = Some(agent);
    outcome.price = Some(price.to_string());
    decline_all(handle, intent, Some(id), &mut outcome).await?;
    Ok(outcome)
}

fn pick(
    strategy: &dyn OfferStrategy,
    candidates: &[OfferCandidate],
) -> Result<Option<usize>, NetError> {
    match strategy.choose(candidates) {
        Some(i) if i >= candidates.len() => Err(NetError::BadChoice {
            index: i,
            offers: candidates.len(),
        }),
        other => Ok(other),
    }
}

/// Counters `offer` at `price` and waits for the agent's answer. Returns whether it accepted.
async fn counter_and_wait(
    handle: &MeshHandle,
    offer: &OfferCandidate,
    price: &Price,
    wait: Duration,
) -> Result<bool, NetError> {
    let mut events = handle.subscribe_negotiations();
    let eta = mesh_core::negotiation::Eta::At(offer.due_at_ms);
    let proposal = Proposal::new(price.clone(), eta);
    handle.counter(offer.negotiation_id, proposal).await?;
    let wanted = offer.negotiation_id.to_string();
    let answer = tokio::time::timeout(wait, async {
        loop {
            match events.recv().await {
                Ok(e) if e.negotiation_id == wanted && e.received => return Some(e.kind.clone()),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .await;
    Ok(matches!(answer, Ok(Some(kind)) if kind == "accept"))
}

/// Rejects (or withdraws from) every open negotiation on `intent` but `keep`.
async fn decline_all(
    handle: &MeshHandle,
    intent: IntentId,
    keep: Option<NegotiationId>,
    outcome: &mut AwardOutcome,
) -> Result<(), NetError> {
    let wanted = intent.to_string();
    let open: Vec<NegotiationSummary> = handle
        .negotiations()
        .await?
        .into_iter()
        .filter(|n| n.intent_id == wanted && n.role == "publisher")
        .filter(|n| n.state == "offered" || n.state == "countered")
        .collect();
    for n in open {
        let Ok(id) = n.negotiation_id.parse::<NegotiationId>() else {
            continue;
        };
        if Some(id) == keep {
            continue;
        }
        let reason = "another offer was chosen".to_owned();
        let body = if n.state == "offered" {
            Body::Reject { reason }
        } else {
            Body::Withdraw { reason }
        };
        // A loser that left meanwhile is fine: nothing left to decline.
        if handle.reply(id, body).await.is_ok() {
            outcome.declined.push(n.negotiation_id);
        }
    }
    Ok(())
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
