//! The lifecycle of an intent, derived from what is known about it.
//!
//! ```text
//!            offer           accept          deliver           receipt
//!   Open ──────────► Negotiating ───► Agreed ───────► Delivered ───────► Completed
//!     │                   │
//!     │ expiry / cancel   │ expiry / cancel
//!     ▼                   ▼
//!   Expired, Cancelled
//! ```
//!
//! The status is never stored on its own: [`IntentStatus::derive`] computes it from the
//! intent's expiry, whether its publisher cancelled it, and the states of the negotiations on
//! it. The furthest negotiation wins, so one agreement makes the intent `Agreed` however many
//! other offers were rejected; an agreement outlives the intent's expiry (the job's own ETA
//! governs it from then on). A cancellation is only possible before any agreement
//! ([`IntentStatus::can_cancel`]). An agreement the publisher cancelled because its delivery
//! was overdue (a `Withdraw` after the `Accept`) no longer counts: the intent is open again
//! until its expiry and may be awarded to another agent.

use std::fmt;
use std::str::FromStr;

use crate::negotiation::State;

/// Where an intent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntentStatus {
    /// Published, no live negotiation.
    Open,
    /// At least one offer or counter is outstanding.
    Negotiating,
    /// An offer was accepted; the agent is to deliver.
    Agreed,
    /// The agent delivered; the publisher is to send a receipt.
    Delivered,
    /// The publisher sent its receipt.
    Completed,
    /// Past its expiry without an agreement.
    Expired,
    /// Withdrawn by its publisher.
    Cancelled,
}

impl IntentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [IntentStatus; 7] = [
        Self::Open,
        Self::Negotiating,
        Self::Agreed,
        Self::Delivered,
        Self::Completed,
        Self::Expired,
        Self::Cancelled,
    ];

    /// The status of an intent expiring at `expires_at_ms`, at `now_ms`, given whether its
    /// publisher cancelled it and the states of the negotiations on it.
    pub fn derive(
        expires_at_ms: u64,
        cancelled: bool,
        negotiations: impl IntoIterator<Item = State>,
        now_ms: u64,
    ) -> Self {
        let mut live = false;
        let mut furthest = None;
        for state in negotiations {
            let rank = match state {
                State::Completed => 3,
                State::Delivered => 2,
                State::Agreed => 1,
                State::Offered | State::Countered | State::AwaitingOffer => {
                    live = true;
                    continue;
                }
                State::Rejected { .. } | State::Withdrawn { .. } | State::Expired { .. } => {
                    continue;
                }
            };
            furthest = furthest.max(Some(rank));
        }
        match furthest {
            Some(3) => Self::Completed,
            Some(2) => Self::Delivered,
            Some(_) => Self::Agreed,
            None if cancelled => Self::Cancelled,
            None if now_ms >= expires_at_ms => Self::Expired,
            None if live => Self::Negotiating,
            None => Self::Open,
        }
    }

    /// Whether the publisher may still cancel: nothing agreed yet and not already over.
    pub fn can_cancel(self) -> bool {
        matches!(self, Self::Open | Self::Negotiating)
    }

    /// Whether agents may still make offers.
    pub fn takes_offers(self) -> bool {
        matches!(self, Self::Open | Self::Negotiating)
    }

    /// Whether nothing more will happen to the intent.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Expired | Self::Cancelled)
    }

    /// Lower-case name, as used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Negotiating => "negotiating",
            Self::Agreed => "agreed",
            Self::Delivered => "delivered",
            Self::Completed => "completed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for IntentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`IntentStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown intent status {0:?}: use open, negotiating, agreed, delivered, completed, expired or cancelled"
)]
pub struct UnknownStatus(pub String);

impl FromStr for IntentStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negotiation::Role;

    const EXP: u64 = 1_000;

    #[test]
    fn follows_the_furthest_negotiation() {
        use IntentStatus as S;
        let d = |cancelled, states: &[State], now| S::derive(EXP, cancelled, states.to_vec(), now);
        assert_eq!(d(false, &[], 0), S::Open);
        assert_eq!(d(false, &[State::Offered], 0), S::Negotiating);
        let rejected = State::Rejected {
            by: Role::Publisher,
        };
        assert_eq!(d(false, &[rejected, State::Countered], 0), S::Negotiating);
        assert_eq!(d(false, &[rejected], 0), S::Open);
        assert_eq!(d(false, &[rejected, State::Agreed], 0), S::Agreed);
        assert_eq!(d(false, &[State::Delivered, rejected], 0), S::Delivered);
        assert_eq!(d(false, &[State::Completed], 0), S::Completed);
    }

    #[test]
    fn expiry_and_cancellation_end_only_unagreed_intents() {
        use IntentStatus as S;
        let d = |cancelled, states: &[State], now| S::derive(EXP, cancelled, states.to_vec(), now);
        assert_eq!(d(false, &[State::Offered], EXP), S::Expired);
        assert_eq!(d(true, &[State::Offered], 0), S::Cancelled);
        assert_eq!(d(true, &[], EXP + 1), S::Cancelled);
        assert_eq!(d(false, &[State::Agreed], EXP + 1), S::Agreed);
        assert!(S::Open.can_cancel() && S::Negotiating.can_cancel());
        assert!(!S::Agreed.can_cancel() && !S::Expired.can_cancel());
    }

    #[test]
    fn a_cancelled_agreement_reopens_the_intent() {
        use IntentStatus as S;
        let cancelled = State::Withdrawn {
            by: Role::Publisher,
        };
        assert_eq!(S::derive(EXP, false, [cancelled], 0), S::Open);
        assert!(S::derive(EXP, false, [cancelled], 0).takes_offers());
        assert_eq!(
            S::derive(EXP, false, [cancelled, State::Agreed], 0),
            S::Agreed
        );
        assert_eq!(S::derive(EXP, false, [cancelled], EXP), S::Expired);
    }

    #[test]
    fn names_round_trip() {
        for s in IntentStatus::ALL {
            assert_eq!(s.as_str().parse::<IntentStatus>(), Ok(s));
        }
        assert!("done".parse::<IntentStatus>().is_err());
    }
}
