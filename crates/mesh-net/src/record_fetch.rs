//! ADP record fetch (`/mesh/adp/record/1.0.0`): asks an agent for its own signed agent record.
//!
//! Discovery through a rendezvous point yields peers and addresses but no agent record; the
//! record is then fetched from the agent itself, so rendezvous discovery works without the
//! DHT. The answer is verified against the peer that sent it, like any record from the DHT.

use std::time::Duration;

use libp2p::StreamProtocol;
use libp2p::request_response::{self, ProtocolSupport};
use mesh_proto::v1::{AgentRecordRequest, AgentRecordResponse};

use crate::codec::ProtoCodec;

/// Protocol id of the record fetch.
pub(crate) const PROTOCOL: &str = "/mesh/adp/record/1.0.0";
/// Largest request (it is empty).
pub(crate) const MAX_REQUEST_BYTES: usize = 64;
/// Largest answer: one signed agent record plus framing.
pub(crate) const MAX_RESPONSE_BYTES: usize = mesh_core::agent_record::MAX_AGENT_RECORD_BYTES + 64;
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
