//! The publisher side of a negotiation: collect offers for a window, choose one with a
//! pluggable strategy, counter where configured, accept exactly one and reject the rest.
//!
//! [`award`] drives it over a [`MeshHandle`]: it waits for the [`AwardPolicy::window`], lists
//! the open offers on the intent ([`offers`]), asks an [`OfferStrategy`] to pick one
//! ([`LowestPrice`] by default: the lowest price among agents at or above the minimum
//! reputation whose delivery would be due neither later than [`DEFAULT_MAX_ETA`] nor more than
//! [`MAX_DUE_PAST_EXPIRY`] after the intent's expiry, ties by reputation, then ETA), and, when [`AwardPolicy::counter_at`] is set and
//! the chosen offer asks more, counters at that price and waits for the agent's answer. The
//! agent that accepts the counter wins; otherwise the best remaining offer is accepted. Every
//! other open negotiation on the intent is rejected (or withdrawn, if it waits on the agent).
//! The publisher's node refuses a second agreement on the same intent in any case.

use std::time::Duration;

/// Default least reputation [`LowestPrice`] asks of an agent: below the neutral 0.5 of an
/// unknown agent, so newcomers can win, but above an agent that broke one commitment here
/// ([`mesh_core::reputation::FAULT_STEP`] takes it to 0.25) or sent invalid messages.
pub const DEFAULT_MIN_REPUTATION: f64 = 0.4;
/// Default longest time [`LowestPrice`] accepts between an agreement now and the delivery it
/// promises (7 days); an offer due later is not eligible.
pub const DEFAULT_MAX_ETA: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long after the intent's expiry an offer's delivery may still be due (1 hour): an ETA
/// beyond that is absurd for the intent and not eligible, whatever the strategy's settings.
pub const MAX_DUE_PAST_EXPIRY: Duration = Duration::from_secs(3600);

use mesh_core::IntentStatus;
use mesh_core::intent::IntentId;
use mesh_core::negotiation::{Body, NegotiationId, Price, Proposal, Role, StateKind};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use crate::error::{AwardError, NegotiateError, NetError};
use crate::handle::MeshHandle;
use crate::inp::{NegotiationEventKind, NegotiationSummary};

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
    /// When the intent expires, Unix ms.
    pub intent_expires_at_ms: u64,
    /// When the offers were listed ("now" of `due_at_ms`), Unix ms.
    pub listed_at_ms: u64,
}

impl OfferCandidate {
    /// Whether the promised delivery is neither more than `max_eta` away nor more than
    /// [`MAX_DUE_PAST_EXPIRY`] after the intent's expiry.
    pub fn eta_is_reasonable(&self, max_eta: Duration) -> bool {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.due_at_ms.saturating_sub(self.listed_at_ms) <= ms(max_eta)
            && self.due_at_ms
                <= self
                    .intent_expires_at_ms
                    .saturating_add(ms(MAX_DUE_PAST_EXPIRY))
    }
}

/// Picks the offer to accept, if any.
pub trait OfferStrategy: Send + Sync {
    /// The index of the chosen candidate, or `None` to accept none.
    fn choose(&self, candidates: &[OfferCandidate]) -> Option<usize>;
}

/// The default: the lowest price among agents at or above a minimum reputation
/// ([`DEFAULT_MIN_REPUTATION`] by default) whose ETA is reasonable
/// ([`OfferCandidate::eta_is_reasonable`]: at most `max_eta`, [`DEFAULT_MAX_ETA`] by default,
/// and not more than [`MAX_DUE_PAST_EXPIRY`] past the intent's expiry), in one currency; ties
/// go to the higher reputation, then the earlier delivery. So an offer of almost nothing with a
/// 30-day ETA does not win the intent and hold it for a month.
///
/// ```
/// use mesh_net::award::{LowestPrice, OfferCandidate, OfferStrategy};
/// use mesh_core::negotiation::{NegotiationId, Price};
/// let offer = |amount: &str, reputation| OfferCandidate {
///     negotiation_id: NegotiationId([0; 32]),
///     agent: "a".into(),
///     price: Price::new(amount, "USD").unwrap(),
///     due_at_ms: 60_000,
///     reputation,
///     intent_expires_at_ms: 600_000,
///     listed_at_ms: 0,
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
    /// Offers whose delivery would be due further than this from now are ignored.
    pub max_eta: Duration,
}

impl LowestPrice {
    /// Lowest price among agents with at least `min_reputation`.
    pub fn new(min_reputation: f64) -> Self {
        Self {
            min_reputation,
            currency: None,
            max_eta: DEFAULT_MAX_ETA,
        }
    }

    /// Ignore offers whose delivery would be due further than `max_eta` from now.
    pub fn with_max_eta(mut self, max_eta: Duration) -> Self {
        self.max_eta = max_eta;
        self
    }

    /// Only consider offers in `currency`.
    pub fn in_currency(mut self, currency: impl Into<String>) -> Self {
        self.currency = Some(currency.into());
        self
    }
}

impl Default for LowestPrice {
    /// [`DEFAULT_MIN_REPUTATION`], any currency, [`DEFAULT_MAX_ETA`].
    fn default() -> Self {
        Self::new(DEFAULT_MIN_REPUTATION)
    }
}

impl OfferStrategy for LowestPrice {
    fn choose(&self, candidates: &[OfferCandidate]) -> Option<usize> {
        let eligible = |c: &&OfferCandidate| {
            c.reputation >= self.min_reputation && c.eta_is_reasonable(self.max_eta)
        };
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
    let listed_at_ms = crate::unix_clock::now_ms();
    let intent_expires_at_ms = handle
        .intent(intent)
        .await?
        .map_or(u64::MAX, |view| view.expires_at_ms);
    let wanted = intent.to_string();
    let mut out = Vec::new();
    for n in handle.negotiations().await? {
        if n.intent_id != wanted || n.role != Role::Publisher || n.state != StateKind::Offered {
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
            intent_expires_at_ms,
            listed_at_ms,
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
) -> Result<AwardOutcome, AwardError> {
    let view = handle
        .intent(intent)
        .await?
        .ok_or_else(|| AwardError::IntentNotFound {
            id: intent.to_string(),
        })?;
    if !view.own {
        return Err(AwardError::NotPublisher {
            id: view.id,
            publisher: view.publisher,
            what: "award",
        });
    }
    let status: IntentStatus = view.status.parse().unwrap_or(IntentStatus::Expired);
    if !status.takes_offers() {
        let closed = crate::inp::InpError::IntentClosed {
            id: view.id,
            status,
        };
        return Err(NegotiateError::from(closed).into());
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
            let c = candidates
                .get(chosen)
                .cloned()
                .ok_or(AwardError::BadChoice {
                    index: chosen,
                    offers: candidates.len(),
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
) -> Result<Option<usize>, AwardError> {
    match strategy.choose(candidates) {
        Some(i) if i >= candidates.len() => Err(AwardError::BadChoice {
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
) -> Result<bool, AwardError> {
    let mut events = handle.subscribe_negotiations();
    let eta = mesh_core::negotiation::Eta::At(offer.due_at_ms);
    let proposal = Proposal::new(price.clone(), eta);
    handle.counter(offer.negotiation_id, proposal).await?;
    let wanted = offer.negotiation_id.to_string();
    let answer = tokio::time::timeout(wait, async {
        loop {
            match events.recv().await {
                Ok(e) if e.negotiation_id == wanted && e.received => return Some(e.kind),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .await;
    Ok(matches!(answer, Ok(Some(NegotiationEventKind::Accept))))
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
        .filter(|n| n.intent_id == wanted && n.role == Role::Publisher)
        .filter(|n| matches!(n.state, StateKind::Offered | StateKind::Countered))
        .collect();
    for n in open {
        let Ok(id) = n.negotiation_id.parse::<NegotiationId>() else {
            continue;
        };
        if Some(id) == keep {
            continue;
        }
        let reason = "another offer was chosen".to_owned();
        let body = if n.state == StateKind::Offered {
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
            intent_expires_at_ms: 1_000_000,
            listed_at_ms: 0,
        }
    }

    #[test]
    fn a_tiny_price_with_an_absurd_eta_does_not_win_by_default() {
        let month = 30 * 24 * 3600 * 1000;
        let hostage = OfferCandidate {
            intent_expires_at_ms: 2 * month,
            ..offer("0.00000001", "USD", 0.5, month)
        };
        let honest = OfferCandidate {
            intent_expires_at_ms: 2 * month,
            ..offer("5", "USD", 0.5, 3_600_000)
        };
        assert_eq!(
            LowestPrice::default().choose(&[hostage.clone(), honest.clone()]),
            Some(1)
        );
        // Past the intent's expiry by more than the slack: not eligible however cheap.
        let late = offer("0.01", "USD", 0.5, 1_000_000 + 3_600_001);
        let on_time = offer("5", "USD", 0.5, 1_000_000 + 3_600_000);
        assert_eq!(LowestPrice::new(0.0).choose(&[late, on_time]), Some(1));
        // An agent that broke a commitment here falls below the default minimum.
        let faulty = offer("1", "USD", 0.25, 10);
        let unknown = offer("2", "USD", mesh_core::reputation::NEUTRAL, 10);
        assert_eq!(LowestPrice::default().choose(&[faulty, unknown]), Some(1));
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
