//! One module per target; each has a `run` function for libFuzzer and the replay test.

pub mod agent_record;
pub mod api_body;
pub mod attestation;
pub mod cancellation;
pub mod envelope;
pub mod framing;
pub mod intent;
pub mod negotiation;
pub mod receipts_answer;
pub mod transcript;
