//! The MESH node's embedded persistent store, on [redb](https://docs.rs/redb).
//!
//! One file per node home holds what a node keeps across restarts: the peers it has seen, its
//! own and others' signed agent records, intents with their lifecycle status and cancellations,
//! the event log the local API replays to Server-Sent Events clients, negotiations with their
//! signed transcripts, local reputation, the receipt attestations (signed evidence of completed
//! negotiations) that reputation rests on, and named cursors. The tables are listed in the
//! `schema` module; [`SCHEMA_VERSION`] 3 added `attestations` with its expiry index
//! `attestation_expiry`, and 4 the byte budgets ([`StoreBudget`]) with their totals and
//! eviction indexes.
//!
//! - [`Store`] is the handle: cheap to clone, synchronous, every write durable before it
//!   returns. One handle per file: a second open is refused with [`StoreError::Locked`].
//! - The store is byte-oriented: signed envelopes are opaque bytes and ids are `[u8; 32]` or
//!   peer-id bytes, so it depends on no networking code. Values are versioned protobuf
//!   messages; see the `encoding` module.
//! - Opening checks the file is a MESH store before writing to it, and upgrades an older schema
//!   in one transaction ([`SCHEMA_VERSION`]).
//! - [`Store::check`] verifies every invariant, for crash tests and diagnostics.
//!
//! ```
//! use mesh_store::{Store, StoredPeer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let store = Store::open(&dir.path().join("store.redb"))?;
//! store.upsert_peer(&StoredPeer {
//!     peer_id: b"peer id bytes".to_vec(),
//!     addresses: vec!["/ip4/10.0.0.1/tcp/7701".into()],
//!     last_seen_unix_ms: 1_700_000_000_000,
//! })?;
//! let seq = store.append_event("intent", b"{\"id\":\"...\"}")?;
//! assert_eq!(store.events_after(seq - 1, 10)?.len(), 1);
//! assert!(store.check()?.is_clean());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod attestations;
mod budget;
mod check;
mod config;
mod encoding;
mod error;
mod events;
mod guard;
mod intents;
mod migrations;
mod negotiations;
mod open;
mod overlay;
mod peers;
mod records;
mod reputation;
mod schema;
mod store;
mod types;
#[doc(hidden)]
pub mod volatile;

#[cfg(test)]
mod test_support;

pub use budget::{
    BudgetUsage, DEFAULT_AGENT_RECORD_BYTES, DEFAULT_ATTESTATION_BYTES, DEFAULT_EVENT_LOG_BYTES,
    DEFAULT_OTHERS_INTENT_BYTES, DEFAULT_PEER_BYTES, DEFAULT_PEER_ROWS, StoreBudget,
};
pub use check::{CheckReport, Problem};
pub use config::{
    DEFAULT_CACHE_BYTES, DEFAULT_EVENT_RETENTION, DEFAULT_MAX_ATTESTATIONS, StoreConfig,
};
pub use error::StoreError;
pub use negotiations::TranscriptAppend;
pub use schema::{MAGIC, SCHEMA_VERSION};
pub use store::Store;
pub use types::{
    Appended, ID_LEN, Id, IntentStatus, NegotiationMeta, Pruned, Role, Standing, StoredAgentRecord,
    StoredAttestation, StoredEvent, StoredIntent, StoredNegotiation, StoredPeer, StoredReputation,
};
