//! ADP record fetch (`/mesh/adp/record/1.0.0`): asks an agent for its own signed agent record,
//! and the other members of a capability's topic it knows.
//!
//! Discovery through a rendezvous point yields peers and addresses but no agent record; the
//! record is then fetched from the agent itself, so rendezvous discovery works without the
//! DHT. The answer is verified against the peer that sent it, like any record from the DHT.
//!
//! A request may name a capability: the answer then also names the peers subscribed to that
//! capability's intent topic that the agent is connected to ([`MAX_MEMBERS`] at most, with
//! [`MAX_MEMBER_ADDRS`] listen addresses each). The agents of a capability find one another
//! through its topic, so one agent found in the DHT leads a search to the others, even when
//! the DHT's lookup met only some of their provider records.

use std::time::Duration;

use libp2p::StreamProtocol;
use libp2p::request_response::{self, ProtocolSupport};
use mesh_proto::v1::{AgentRecordRequest, AgentRecordResponse};

use crate::codec::ProtoCodec;

/// Protocol id of the record fetch.
pub(crate) const PROTOCOL: &str = "/mesh/adp/record/1.0.0";
/// Largest request: a capability name plus framing.
pub(crate) const MAX_REQUEST_BYTES: usize = mesh_core::capability::MAX_CAPABILITY_LEN + 64;
/// Most topic members named in one answer.
pub(crate) const MAX_MEMBERS: usize = 16;
/// Most addresses given for one topic member.
pub(crate) const MAX_MEMBER_ADDRS: usize = 4;
/// Longest address given for a topic member, in bytes; longer ones are left out.
pub(crate) const MAX_MEMBER_ADDR_BYTES: usize = 128;
/// Largest answer: one signed agent record, and the members with their addresses, plus
/// framing.
pub(crate) const MAX_RESPONSE_BYTES: usize = mesh_core::agent_record::MAX_AGENT_RECORD_BYTES
    + MAX_MEMBERS * (64 + MAX_MEMBER_ADDRS * (MAX_MEMBER_ADDR_BYTES + 4))
    + 64;
/// Streams open at once per connection.
const MAX_CONCURRENT_STREAMS: usize = 16;

/// Codec of the record fetch.
pub(crate) type AgentRecordCodec = ProtoCodec<AgentRecordRequest, AgentRecordResponse>;

/// The request-response behaviour of the record fetch, answering within `timeout`.
pub(crate) fn behaviour(timeout: Duration) -> request_response::Behaviour<AgentRecordCodec> {
    request_response::Behaviour::with_codec(
        AgentRecordCodec::new(MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES),
        [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(timeout)
            .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS),
    )
}
