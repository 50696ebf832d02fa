//! Intent Negotiation Protocol on the network: `/mesh/inp/1.0.0`.
//!
//! Each negotiation message (a signed, hash-chained envelope built by
//! [`mesh_core::negotiation::Negotiation`]) travels as one request; the recipient answers with
//! an acknowledgement once the message is in its transcript, or with the reason it refused it.
//! The sender only advances its own copy of the negotiation when the recipient accepted the
//! message, so both copies of the transcript stay identical.
//!
//! The [`Registry`] holds every negotiation this node takes part in, bounded, keyed by
//! negotiation id. An `Offer` for an intent this node published opens a new negotiation on the
//! publisher's side; any other message must belong to a known one.

pub(crate) mod driver;
mod error;
pub(crate) mod outbox;
mod registry;
mod view;

use std::time::Duration;

use libp2p::StreamProtocol;
use libp2p::request_response::{self, ProtocolSupport};
use mesh_core::intent::IntentId;
use mesh_core::negotiation::{Body, NegotiationId};

use crate::codec::ProtoCodec;

pub use error::InpError;
pub use registry::Registry;
pub(crate) use registry::{IntentLookup, Prepared};
pub(crate) use view::FINISHED_STATES;
pub use view::{
    FaultView, NegotiationEvent, NegotiationEventKind, NegotiationSummary, ProposalView,
};

/// Negotiations one node keeps at most; finished ones are forgotten first when full.
pub(crate) const MAX_NEGOTIATIONS: usize = 4096;
/// Live offers (negotiations opened by an agent's `Offer` and not yet agreed or ended) that
/// one intent of this node takes at once; a further new offer is refused (`too_many_offers`)
/// until one ends. Offers already live are never evicted for a newcomer.
pub const MAX_LIVE_OFFERS_PER_INTENT: usize = 32;
/// Live offers one agent may have open on this node's intents at once (a sixteenth of the
/// registry): enough for an agent that bids on every job of a busy publisher, while the cap
/// per intent is what keeps fresh identities from crowding out a bidder.
pub(crate) const MAX_LIVE_OFFERS_PER_PEER: usize = 256;
/// Live offers that agents connected from one IP address may have open on this node's
/// intents at once (loopback addresses exempt, as for connections per IP): several agents may
/// share a host, so twice the cap of one agent, an eighth of the registry.
pub(crate) const MAX_LIVE_OFFERS_PER_IP: usize = 512;
/// Finished negotiations kept in the store at most (the most recently ended): as many as the
/// registry holds, so what a restart reads back is bounded, and the offers of strangers that
/// expired, which the registry forgets first when it needs room, do not pile up on disk for
/// the whole retention.
pub(crate) const MAX_FINISHED_STORED: usize = MAX_NEGOTIATIONS;
/// How long a finished negotiation is kept, in memory and in the store, by default (30 days):
/// then it is pruned. See `NetConfig::negotiation_retention`.
pub(crate) const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The protocol id; the version changes with any change to the wire messages.
pub const PROTOCOL: &str = "/mesh/inp/1.0.0";
/// Streams one peer may have open on this protocol at once (a peer keeps at most
/// 32 (`outbox::MAX_IN_FLIGHT_PER_PEER`) of its own requests on the wire, half of this).
pub(crate) const MAX_CONCURRENT_STREAMS: usize = 64;
/// Largest INP request: the largest negotiation envelope plus framing.
pub const MAX_INP_REQUEST_BYTES: usize = mesh_core::negotiation::MAX_ENVELOPE_BYTES + 1024;
/// Largest INP response.
pub const MAX_INP_RESPONSE_BYTES: usize = 4 * 1024;

/// Codec of INP.
pub type InpCodec = ProtoCodec<mesh_proto::v1::NegotiationSend, mesh_proto::v1::NegotiationAck>;

/// The protocol's request-response behaviour: its codec, bounded at both ends, and an answer
/// within `request_timeout` (the recipient writes the message to disk before it answers).
pub(crate) fn behaviour(request_timeout: Duration) -> request_response::Behaviour<InpCodec> {
    request_response::Behaviour::with_codec(
        InpCodec::new(MAX_INP_REQUEST_BYTES, MAX_INP_RESPONSE_BYTES),
        [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(request_timeout)
            .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS),
    )
}

/// What a local caller asks to send.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub(crate) enum Action {
    /// Bid on an intent this node has seen (opens the negotiation).
    Offer {
        /// The intent.
        intent: IntentId,
        /// The terms.
        proposal: mesh_core::negotiation::Proposal,
    },
    /// Any later message of a known negotiation.
    Reply {
        /// The negotiation.
        negotiation: NegotiationId,
        /// The message.
        body: Body,
    },
}
