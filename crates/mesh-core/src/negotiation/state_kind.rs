//! [`StateKind`]: where a negotiation stands, without who declined, left or was waited on.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::State;

/// The kind of a [`State`], without its data: what the API shows and the store's meta holds,
/// as a snake_case name (`awaiting_offer`, `offered`, ...).
///
/// ```
/// use mesh_core::negotiation::{Role, State, StateKind};
///
/// let kind = StateKind::from(State::Rejected { by: Role::Publisher });
/// assert_eq!(kind, StateKind::Rejected);
/// assert_eq!(kind.to_string(), "rejected");
/// assert!(kind.is_final());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    /// [`State::AwaitingOffer`].
    AwaitingOffer,
    /// [`State::Offered`].
    Offered,
    /// [`State::Countered`].
    Countered,
    /// [`State::Agreed`].
    Agreed,
    /// [`State::Delivered`].
    Delivered,
    /// [`State::Completed`] (final).
    Completed,
    /// [`State::Rejected`] (final).
    Rejected,
    /// [`State::Withdrawn`] (final).
    Withdrawn,
    /// [`State::Expired`] (final).
    Expired,
}

impl StateKind {
    /// Every kind, in the order of the transition table.
    pub const ALL: [StateKind; 9] = [
        Self::AwaitingOffer,
        Self::Offered,
        Self::Countered,
        Self::Agreed,
        Self::Delivered,
        Self::Completed,
        Self::Rejected,
        Self::Withdrawn,
        Self::Expired,
    ];

    /// The final kinds: no message can follow.
    pub const FINISHED: [StateKind; 4] = [
        Self::Completed,
        Self::Rejected,
        Self::Withdrawn,
        Self::Expired,
    ];

    /// Snake-case name, as the API shows it and the store's meta holds it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingOffer => "awaiting_offer",
            Self::Offered => "offered",
            Self::Countered => "countered",
            Self::Agreed => "agreed",
            Self::Delivered => "delivered",
            Self::Completed => "completed",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
        }
    }

    /// Whether no message can follow.
    pub fn is_final(self) -> bool {
        Self::FINISHED.contains(&self)
    }
}

impl From<State> for StateKind {
    fn from(state: State) -> Self {
        match state {
            State::AwaitingOffer => Self::AwaitingOffer,
            State::Offered => Self::Offered,
            State::Countered => Self::Countered,
            State::Agreed => Self::Agreed,
            State::Delivered => Self::Delivered,
            State::Completed => Self::Completed,
            State::Rejected { .. } => Self::Rejected,
            State::Withdrawn { .. } => Self::Withdrawn,
            State::Expired { .. } => Self::Expired,
        }
    }
}

impl From<&State> for StateKind {
    fn from(state: &State) -> Self {
        Self::from(*state)
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negotiation::Role;

    #[test]
    fn a_kind_is_final_exactly_when_its_state_is() {
        let states = [
            State::AwaitingOffer,
            State::Offered,
            State::Countered,
            State::Agreed,
            State::Delivered,
            State::Completed,
            State::Rejected { by: Role::Agent },
            State::Withdrawn {
                by: Role::Publisher,
            },
            State::Expired {
                waiting_on: Role::Agent,
            },
        ];
        let kinds: Vec<StateKind> = states.iter().map(StateKind::from).collect();
        assert_eq!(kinds, StateKind::ALL);
        for (state, kind) in states.into_iter().zip(kinds) {
            assert_eq!(state.is_final(), kind.is_final(), "{kind}");
        }
    }

    #[test]
    fn names_are_snake_case_in_display_and_serde() {
        for kind in StateKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(kind.to_string(), kind.as_str());
            assert_eq!(format!("{kind:<15}|"), format!("{:<15}|", kind.as_str()));
            assert_eq!(serde_json::from_str::<StateKind>(&json).unwrap(), kind);
        }
    }
}
