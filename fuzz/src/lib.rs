//! Fuzz targets for every MESH decoder.
//!
//! Each target is a function from arbitrary bytes to an [`Outcome`] that must never panic, and
//! that checks, wherever it means something, that what a decoder accepts survives a round
//! trip:
//!
//! | target | decoder | round trip |
//! |---|---|---|
//! | [`envelope`] | `mesh_core::envelope::open`, for each of the four payload types | the canonical re-encoding opens to the same payload and key |
//! | [`intent`] | `SignedIntent::verify` and gossip validation (`mesh_net::idp::validate`) | re-verified, re-encoded and re-signed: the same intent; its API view survives JSON |
//! | [`cancellation`] | `SignedCancellation::verify` and gossip validation | re-verified, re-encoded and re-signed: the same cancellation |
//! | [`agent_record`] | `SignedAgentRecord::verify` and the DHT record key | re-verified and re-signed: the same record; the key names the same peer |
//! | [`negotiation`] | `negotiation::peek`, `Negotiation::handle` after 0 to 5 valid messages, and the node's `inp::Registry::receive` | a message taken leaves a transcript that verifies offline and resumes in the same state |
//! | [`transcript`] | `Transcript::decode`, its JSON form, `Transcript::verify`, `Negotiation::resume` | both encodings round-trip; a valid chain's prefix is valid |
//! | [`framing`] | `mesh_proto::decode_bounded`, `read_length_prefixed` and the network's `ProtoCodec`, for every wire message | decoders agree with each other and with a re-encoding |
//! | [`api_body`] | `serde_json` into every request body of the local API, then what the handler makes of it | JSON round trip; what the API signs, the other party accepts |
//! | [`receipts_answer`] | the network's `ProtoCodec` for `mesh.v1.ReceiptsResponse` (receipts catch-up), `receipt_catchup::Paging::answer`, then each attestation through `ReceiptBook::receive` | what the codec reads writes back the same; a refused answer breaks the rule its error names; a shelf of what was taken pages it back, each verifying to the same rating |
//! | [`attestation`] | `ReceiptAttestation::verify` and the node's `receipts::ReceiptBook::receive` | what verifies is its own canonical encoding, verifies again and rates in `[0, 1]` a peer other than its rater, with the delivery below neutral |
//!
//! Most inputs start with one *flags* byte ([`input::Input`]): it picks between bytes as
//! received from the network and bytes signed with a fixture key (so the fuzzer reaches the
//! checks behind the signature), and the clock of the check. The `fuzz_targets/` binaries hand
//! each input to libFuzzer; `tests/replay.rs` runs the seeds and mutations of them on stable
//! Rust without it.

pub mod fixtures;
pub mod input;
pub mod mutate;
pub mod seeds;
mod targets;

pub use targets::{
    agent_record, api_body, attestation, cancellation, envelope, framing, intent, negotiation,
    receipts_answer, transcript,
};

/// What a target made of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The decoder took the input and every round trip held.
    Accepted,
    /// The decoder refused the input with an error.
    Refused,
    /// The input never reaches the decoder (empty, or larger than anything that carries it).
    Skipped,
}

/// A fuzz target: its name, as `cargo fuzz` and the seed directories know it, and its function.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Name of the target.
    pub name: &'static str,
    /// The target.
    pub run: fn(&[u8]) -> Outcome,
    /// Longest input worth trying, in bytes: the largest message of its kind, plus the flags.
    pub max_len: usize,
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "envelope",
        run: envelope::run,
        max_len: 1 + mesh_core::negotiation::MAX_ENVELOPE_BYTES + 1024,
    },
    Target {
        name: "intent",
        run: intent::run,
        max_len: 1 + mesh_core::intent::MAX_INTENT_ENVELOPE_BYTES + 1024,
    },
    Target {
        name: "cancellation",
        run: cancellation::run,
        max_len: 1 + mesh_core::cancellation::MAX_CANCELLATION_ENVELOPE_BYTES + 1024,
    },
    Target {
        name: "agent_record",
        run: agent_record::run,
        max_len: 1 + mesh_core::agent_record::MAX_AGENT_RECORD_BYTES + 1024,
    },
    Target {
        name: "negotiation",
        run: negotiation::run,
        max_len: 1 + mesh_core::negotiation::MAX_ENVELOPE_BYTES + 1024,
    },
    Target {
        name: "transcript",
        run: transcript::run,
        max_len: 1 + 2 * 64 * 1024,
    },
    Target {
        name: "framing",
        run: framing::run,
        max_len: 1 + mesh_net::inp::MAX_INP_REQUEST_BYTES + 16,
    },
    Target {
        name: "api_body",
        run: api_body::run,
        max_len: 1 + mesh_node::api::MAX_BODY_BYTES,
    },
    Target {
        name: "attestation",
        run: attestation::run,
        max_len: 1 + mesh_core::trust::MAX_ATTESTATION_BYTES + 1024,
    },
    Target {
        name: "receipts_answer",
        run: receipts_answer::run,
        max_len: 1 + mesh_net::receipt_catchup::MAX_RESPONSE_BYTES + 16,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
