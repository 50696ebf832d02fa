//! The errors of [`MeshHandle`](crate::MeshHandle) calls: one enum per operation (publish,
//! discover, negotiate, cancel, award), each with only what that operation can meet, and
//! [`NetError`] for starting the node and the remaining calls.

use mesh_core::{CapabilityError, IntentError, IntentStatus};

use crate::inp::InpError;

/// Errors of starting the node and of the calls without an error of their own (dial, info,
/// peers, the intents' and negotiations' views, shutdown).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The network task has stopped (the node was shut down or failed).
    #[error("the MESH node has stopped; start it again")]
    Stopped,
    /// A multiaddr could not be dialled.
    #[error("cannot dial {addr}: {reason}")]
    Dial {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The transport could not be set up or a listen address could not be bound.
    #[error("network setup failed: {0}")]
    Setup(String),
}

/// Errors of [`MeshHandle::publish_intent`](crate::MeshHandle::publish_intent).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The network task has stopped (the node was shut down or failed).
    #[error("the MESH node has stopped; start it again")]
    Stopped,
    /// The intent was refused before leaving this node.
    #[error(transparent)]
    Intent(#[from] IntentError),
    /// The store's write queue is full.
    #[error("too many {what} in flight (limit {limit}); retry shortly")]
    Busy {
        /// What is saturated.
        what: &'static str,
        /// Its limit.
        limit: usize,
    },
    /// This node keeps to the rate of intents the network accepts from one publisher.
    #[error(
        "too many {what}: the network accepts {per_minute:.0} a minute per publisher (bursts of {burst:.0}); wait and retry"
    )]
    RateLimited {
        /// What was limited.
        what: &'static str,
        /// The sustained rate.
        per_minute: f64,
        /// The largest burst.
        burst: f64,
    },
    /// This node could not store the intent before publishing it (the disk may be full).
    #[error("this node could not store {what}: {reason}; check the disk (is it full?)")]
    Storage {
        /// What it was.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// Errors of [`MeshHandle::discover_agents`](crate::MeshHandle::discover_agents).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// The network task has stopped (the node was shut down or failed).
    #[error("the MESH node has stopped; start it again")]
    Stopped,
    /// A query needs at least one capability.
    #[error("name at least one capability to discover agents, e.g. --capability text-generation")]
    NoCapability,
    /// A capability name is invalid.
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    /// Too many discoveries are in flight.
    #[error("too many {what} in flight (limit {limit}); retry shortly")]
    Busy {
        /// What is saturated.
        what: &'static str,
        /// Its limit.
        limit: usize,
    },
}

/// Errors of the negotiation calls: [`MeshHandle::offer`](crate::MeshHandle::offer),
/// [`MeshHandle::reply`](crate::MeshHandle::reply) and the steps built on it (counter,
/// accept, reject, withdraw, deliver, receipt, cancelling an overdue agreement).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiateError {
    /// The network task has stopped (the node was shut down or failed).
    #[error("the MESH node has stopped; start it again")]
    Stopped,
    /// A negotiation step was refused locally.
    #[error(transparent)]
    Inp(#[from] InpError),
    /// The other party refused a negotiation message.
    #[error("the other party refused the message ({code}): {reason}")]
    Refused {
        /// Stable code.
        code: String,
        /// Its reason.
        reason: String,
    },
    /// The other party could not be reached.
    #[error("cannot reach {peer}: {reason}; it may be offline or unreachable from here")]
    Unreachable {
        /// The peer.
        peer: String,
        /// Why.
        reason: String,
    },
    /// Too many messages wait for one peer.
    #[error("too many {what} in flight (limit {limit}); retry shortly")]
    Busy {
        /// What is saturated.
        what: &'static str,
        /// Its limit.
        limit: usize,
    },
    /// The other party took the message but this node could not store it (the disk may be
    /// full).
    #[error("this node could not store {what}: {reason}; check the disk (is it full?)")]
    Storage {
        /// What it was.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// Errors of [`MeshHandle::cancel_intent`](crate::MeshHandle::cancel_intent).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CancelError {
    /// The network task has stopped (the node was shut down or failed).
    #[error("the MESH node has stopped; start it again")]
    Stopped,
    /// No intent with this id is known to this node.
    #[error(
        "intent {id} is not known to this node: check the id (64 hex digits) or that it has not expired"
    )]
    IntentNotFound {
        /// The id, hex.
        id: String,
    },
    /// Only the publisher of an intent may cancel it.
    #[error(
        "intent {id} was published by {publisher}, not by this node; only its publisher can {what} it"
    )]
    NotPublisher {
        /// The id, hex.
        id: String,
        /// Its publisher.
        publisher: String,
        /// What was tried.
        what: &'static str,
    },
    /// The intent is past the point where it can be cancelled.
    #[error("intent {id} is {status}; only open or negotiating intents can be cancelled")]
    CannotCancel {
        /// The id, hex.
        id: String,
        /// Where it stands.
        status: IntentStatus,
    },
    /// The cancellation could not be made.
    #[error("could not publish on {topic}: {reason}")]
    Publish {
        /// What was to be published.
        topic: String,
        /// Why.
        reason: String,
    },
    /// The store's write queue is full.
    #[error("too many {what} in flight (limit {limit}); retry shortly")]
    Busy {
        /// What is saturated.
        what: &'static str,
        /// Its limit.
        limit: usize,
    },
    /// This node could not store the cancellation (the disk may be full).
    #[error("this node could not store {what}: {reason}; check the disk (is it full?)")]
    Storage {
        /// What it was.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// Errors of [`award`](crate::award::award).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AwardError {
    /// Reading the intent, the peers or the negotiations failed (the node stopped).
    #[error(transparent)]
    Net(#[from] NetError),
    /// Countering, accepting or declining an offer failed; an intent that takes no more
    /// offers is refused as [`InpError::IntentClosed`] inside it.
    #[error(transparent)]
    Negotiate(#[from] NegotiateError),
    /// No intent with this id is known to this node.
    #[error(
        "intent {id} is not known to this node: check the id (64 hex digits) or that it has not expired"
    )]
    IntentNotFound {
        /// The id, hex.
        id: String,
    },
    /// Only the publisher of an intent may award it.
    #[error(
        "intent {id} was published by {publisher}, not by this node; only its publisher can {what} it"
    )]
    NotPublisher {
        /// The id, hex.
        id: String,
        /// Its publisher.
        publisher: String,
        /// What was tried.
        what: &'static str,
    },
    /// An offer strategy chose an offer that does not exist.
    #[error(
        "the offer strategy chose offer {index} of {offers}: `choose` must return an index into the candidates"
    )]
    BadChoice {
        /// The index it returned.
        index: usize,
        /// How many offers it was given.
        offers: usize,
    },
}
