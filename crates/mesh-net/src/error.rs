use mesh_core::{CapabilityError, IntentError};

/// Errors returned by [`MeshHandle`](crate::MeshHandle) calls.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The network task has stopped (the node was shut down or failed).
    #[error("the MESH node has stopped; start it again")]
    Stopped,
    /// The intent was refused before leaving this node.
    #[error(transparent)]
    Intent(#[from] IntentError),
    /// A capability name is invalid.
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    /// Gossipsub refused to publish.
    #[error("could not publish on {topic}: {reason}")]
    Publish {
        /// The topic.
        topic: String,
        /// Gossipsub's reason.
        reason: String,
    },
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
    /// A query needs at least one capability.
    #[error("name at least one capability to discover agents, e.g. --capability text-generation")]
    NoCapability,
    /// A negotiation step was refused locally.
    #[error(transparent)]
    Inp(#[from] crate::inp::InpError),
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
    /// Too many requests are in flight.
    #[error("too many {what} in flight (limit {limit}); retry shortly")]
    Busy {
        /// What is saturated.
        what: &'static str,
        /// Its limit.
        limit: usize,
    },
    /// This node keeps to a rate the network enforces.
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
    /// No intent with this id is known to this node.
    #[error(
        "intent {id} is not known to this node: check the id (64 hex digits) or that it has not expired"
    )]
    IntentNotFound {
        /// The id, hex.
        id: String,
    },
    /// Only the publisher of an intent may do this.
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
        status: mesh_core::IntentStatus,
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
    /// This node could not store something it must keep (the disk may be full).
    #[error("this node could not store {what}: {reason}; check the disk (is it full?)")]
    Storage {
        /// What it was.
        what: &'static str,
        /// Why.
        reason: String,
    },
}
