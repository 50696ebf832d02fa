//! MESH networking on rust-libp2p.
//!
//! One task, the event loop started by [`spawn`], owns the libp2p `Swarm`; everything else talks to it
//! through a cloneable [`MeshHandle`] that sends bounded commands, each with its own reply
//! channel. The event loop routes to one driver per protocol, each owning its state; the
//! public modules are those other crates use:
//!
//! - [`idp`]: the Intent Discovery Protocol (gossipsub on capability topics, validation,
//!   de-duplication, and the catch-up `/mesh/idp/1.0.0` over [`codec`]);
//! - [`inp`]: the Intent Negotiation Protocol (`/mesh/inp/1.0.0`) and the registry of this
//!   node's negotiations;
//! - [`award`]: the publisher's side of a negotiation: offer window, strategy, counter,
//!   exactly one acceptance;
//! - [`connections`]: the connection gate (the connection limit and the cap per IP address,
//!   before any handshake), dialling bootstrap peers with backoff, and trimming connections;
//! - [`reachability`]: AutoNAT, UPnP, relay reservations, hole punching, direct or relayed
//!   connections, and the plain-words report of `mesh doctor`;
//! - [`rendezvous`]: registering capabilities at coordinators (`mesh/cap/<capability>`) and
//!   discovering agents there;
//! - [`receipts`] and [`receipt_catchup`]: reputation from receipts (the gossip topic
//!   `mesh/receipts/1`), and the catch-up (`/mesh/receipts/1.0.0`) that hands a joining node
//!   the attestations its peers hold.
//!
//! The Agent Discovery Protocol (agent records and provider records in the Kademlia DHT,
//! discovery queries), the intent book, peers' facts, gossipsub's scoring, DHT random walks,
//! reading the store back and the store writer are private to the crate.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod addr_scope;
mod adp;
pub mod award;
// The derive macro generates an undocumented event enum.
#[allow(missing_docs)]
pub mod behaviour;
pub mod codec;
pub mod config;
pub mod connections;
mod error;
mod event_loop;
mod handle;
pub mod idp;
pub mod inp;
mod intent_book;
pub mod metrics;
mod open_intents;
mod peers;
mod persist;
pub mod rate_limit;
mod reach_config;
pub mod reachability;
pub mod receipt_catchup;
pub mod receipts;
mod record_fetch;
pub mod rendezvous;
mod restore;
mod scoring;
mod store_link;
pub mod unix_clock;
mod walk;
pub mod webrtc;

pub use adp::{AgentInfo, AgentQuery};
pub use award::{AwardOutcome, AwardPolicy, LowestPrice, OfferCandidate, OfferStrategy};
pub use config::{
    DiscoverySources, GossipDegree, Limits, NatConfig, NetConfig, PeerExchangeConfig, Rate,
    RelayLimits, RendezvousConfig, ReputationConfig, Role,
};
pub use error::{AwardError, CancelError, DiscoverError, NegotiateError, NetError, PublishError};
pub use event_loop::{spawn, spawn_on};
pub use handle::{HeldByDht, MeshHandle, NodeInfo, PublishOutcome, ReceivedIntent, TopicPeers};
pub use inp::{InpError, NegotiationEvent, NegotiationEventKind, NegotiationSummary, ProposalView};
pub use intent_book::{CancelOutcome, IntentUpdate, IntentView};
pub use metrics::MeshMetrics;
pub use peers::PeerInfo;
pub use reachability::ReachabilityReport;
pub use receipts::ReputationView;
