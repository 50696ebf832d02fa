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
