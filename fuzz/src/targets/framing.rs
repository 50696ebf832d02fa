//! Every wire message through every bounded decoder: `mesh_proto::decode_bounded`,
//! `mesh_proto::read_length_prefixed`, and the network's request-response codec
//! `mesh_net::codec::ProtoCodec`, which reads IDP catch-up, INP and receipts catch-up frames off
//! a stream.
//!
//! Flags: the low four bits pick the message (intent, cancellation, agent record, negotiation
//! message, transcript, catch-up request and response, INP request and acknowledgement,
//! receipts catch-up request and response; the rest wrap around); bit 4 set halves the size limit to the input's own length, so limits trip
//! too.

use futures::executor::block_on;
use futures::io::Cursor;
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;
use mesh_net::codec::ProtoCodec;
use mesh_proto::{CodecError, decode_bounded, encode_length_prefixed, read_length_prefixed, v1};
use prost::Message;

use crate::Outcome;
use crate::input::Input;

/// Runs one input.
pub fn run(bytes: &[u8]) -> Outcome {
    let Some(input) = Input::split(bytes) else {
        return Outcome::Skipped;
    };
    let limit = |max: usize| {
        if input.bit(4) {
            max.min(input.data.len() / 2)
        } else {
            max
        }
    };
    let data = input.data;
    match input.bits(0, 4) % 11 {
        0 => check::<v1::Intent>(data, limit(mesh_core::intent::MAX_INTENT_ENVELOPE_BYTES)),
        1 => check::<v1::IntentCancellation>(
            data,
            limit(mesh_core::cancellation::MAX_CANCELLATION_ENVELOPE_BYTES),
        ),
        2 => check::<v1::AgentRecord>(data, limit(mesh_core::agent_record::MAX_AGENT_RECORD_BYTES)),
        3 => {
            check::<v1::NegotiationMessage>(data, limit(mesh_core::negotiation::MAX_ENVELOPE_BYTES))
        }
        4 => check::<v1::Transcript>(data, limit(mesh_core::negotiation::MAX_TRANSCRIPT_BYTES)),
        5 => check::<v1::OpenIntentsRequest>(data, limit(mesh_net::idp::MAX_CATCHUP_REQUEST_BYTES)),
        6 => {
            check::<v1::OpenIntentsResponse>(data, limit(mesh_net::idp::MAX_CATCHUP_RESPONSE_BYTES))
        }
        7 => check::<v1::NegotiationSend>(data, limit(mesh_net::inp::MAX_INP_REQUEST_BYTES)),
        8 => check::<v1::NegotiationAck>(data, limit(mesh_net::inp::MAX_INP_RESPONSE_BYTES)),
        9 => {
            check::<v1::ReceiptsRequest>(data, limit(mesh_net::receipt_catchup::MAX_REQUEST_BYTES))
        }
        _ => check::<v1::ReceiptsResponse>(
            data,
            limit(mesh_net::receipt_catchup::MAX_RESPONSE_BYTES),
        ),
    }
}

fn check<M: Message + Default + Send + 'static>(data: &[u8], max: usize) -> Outcome {
    bounded::<M>(data, max);
    let framed = length_prefixed::<M>(data, max);
    let streamed = codec::<M>(data, max);
    match (&framed, &streamed) {
        (Some(a), Some(b)) => assert_eq!(a, b, "the two frame readers read different messages"),
        (Some(_), None) => panic!("the codec refused a frame mesh-proto reads"),
        (None, Some(_)) => assert!(
            prefix_len(data) > 9,
            "mesh-proto refused a frame the codec reads"
        ),
        (None, None) => {}
    }
    if framed.is_some() {
        Outcome::Accepted
    } else {
        Outcome::Refused
    }
}

/// Bytes of the unsigned varint at the front of `data`, as far as it goes.
fn prefix_len(data: &[u8]) -> usize {
    data.iter()
        .position(|b| b & 0x80 == 0)
        .map_or(data.len(), |i| i + 1)
}

/// `decode_bounded`: refuses anything over `max`; what it accepts re-encodes canonically, no
/// longer than it came.
fn bounded<M: Message + Default>(data: &[u8], max: usize) {
    match decode_bounded::<M>(data, max) {
        Ok(message) => {
            assert!(data.len() <= max);
            let canonical = message.encode_to_vec();
            assert!(canonical.len() <= data.len());
            let again = M::decode(canonical.as_slice()).expect("a re-encoded message decodes");
            assert_eq!(again.encode_to_vec(), canonical);
        }
        Err(CodecError::TooLarge { size, .. }) => assert!(size == data.len() && size > max),
        Err(e) => drop(e.to_string()),
    }
}

/// `read_length_prefixed`: returns the canonical encoding of the message it read.
fn length_prefixed<M: Message + Default>(data: &[u8], max: usize) -> Option<Vec<u8>> {
    match read_length_prefixed::<M>(data, max) {
        Ok((message, used)) => {
            assert!(used <= data.len());
            let prefix = prefix_len(data);
            assert!(used - prefix <= max);
            let body = decode_bounded::<M>(&data[prefix..used], max)
                .expect("the body of a frame read decodes alone");
            let canonical = message.encode_to_vec();
            assert_eq!(body.encode_to_vec(), canonical);
            let reframed = encode_length_prefixed(&message);
            let (again, len) = read_length_prefixed::<M>(&reframed, usize::MAX)
                .expect("a framed message reads back");
            assert_eq!(len, reframed.len());
            assert_eq!(again.encode_to_vec(), canonical);
            Some(canonical)
        }
        Err(CodecError::TooLarge { size, max: limit }) => {
            assert!(size > limit);
            None
        }
        Err(e) => {
            drop(e.to_string());
            None
        }
    }
}

/// The network codec, reading the frame as a request off a stream and writing it back.
fn codec<M: Message + Default + Send + 'static>(data: &[u8], max: usize) -> Option<Vec<u8>> {
    let protocol = StreamProtocol::new("/mesh/fuzz/1.0.0");
    let mut codec = ProtoCodec::<M, M>::new(max, max);
    let message = block_on(codec.read_request(&protocol, &mut Cursor::new(data))).ok()?;
    let canonical = message.encode_to_vec();
    let mut written = Cursor::new(Vec::new());
    block_on(codec.write_response(&protocol, &mut written, message))
        .expect("a message read within the limit is written within it");
    let echoed = block_on(codec.read_response(&protocol, &mut Cursor::new(written.into_inner())))
        .expect("a written frame reads back");
    assert_eq!(echoed.encode_to_vec(), canonical);
    Some(canonical)
}
