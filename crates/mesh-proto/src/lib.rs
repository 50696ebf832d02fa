//! MESH wire schema and bounded codecs.
//!
//! The `.proto` files live in `proto/mesh/v1/` at the root of the repository and are compiled
//! at build time with protox, so no `protoc` is needed. Every decoder in MESH goes through
//! [`decode_bounded`] (or [`read_length_prefixed`] on a stream), which refuses input larger
//! than the caller's limit before it allocates anything for it.
#![deny(missing_docs)]

/// Generated types of the `mesh.v1` protobuf package.
#[allow(missing_docs, clippy::all, rustdoc::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/mesh.v1.rs"));
}

mod codec;

pub use codec::{
    CodecError, decode_bounded, encode_length_prefixed, read_length_prefixed, varint_len,
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use prost::Message;

    use super::v1::{ReceiptsRequest, ReceiptsResponse};

    /// Field numbers and types of receipts catch-up, as docs/PROTOCOLS.md gives them: a
    /// change here breaks other implementations.
    #[test]
    fn receipts_catch_up_wire_format() {
        let request = ReceiptsRequest {
            limit: 256,
            after: vec![7; 2],
        };
        // limit = 1 (varint 256), after = 2 (bytes).
        assert_eq!(request.encode_to_vec(), [0x08, 0x80, 0x02, 0x12, 2, 7, 7]);
        let response = ReceiptsResponse {
            attestations: vec![vec![1], vec![2, 3]],
            next: vec![9],
        };
        // attestations = 1 (repeated bytes), next = 2 (bytes).
        let wire = [0x0a, 1, 1, 0x0a, 2, 2, 3, 0x12, 1, 9];
        assert_eq!(response.encode_to_vec(), wire);
        assert_eq!(ReceiptsResponse::decode(wire.as_slice()).unwrap(), response);
        assert_eq!(
            ReceiptsResponse::default().encode_to_vec(),
            Vec::<u8>::new()
        );
    }
}
