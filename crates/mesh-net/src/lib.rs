//! MESH networking on rust-libp2p.
//!
//! One task, the event loop started by [`spawn`], owns the libp2p `Swarm`; everything else talks to it
//! through a cloneable [`MeshHandle`] that sends bounded commands, each with its own reply
//! channel. The protocols live one per module:
//!
//! - [`idp`]: the real-time part of the Intent Discovery Protocol (gossipsub on capability
//!   topics, application validation, de-duplication);
//! - [`open_intents`] and [`codec`]: IDP catch-up (`/mesh/idp/1.0.0`), which hands a joining
//!   node the open intents of its capabilities;
//! - [`adp`]: the Agent Discovery Protocol (signed agent records and capability provider
//!   records in the Kademlia DHT, discovery queries);
//! - [`inp`]: the Intent Negotiation Protocol's transport (`/mesh/inp/1.0.0`) and the registry
//!   of this node's negotiations;
//! - [`intent_book`]: this node's published intents and the cancellations it has seen, from
//!   which each intent's lifecycle status is derived;
//! - [`award`]: the publisher's side of a negotiation: offer window, strategy, counter,
//!   exactly one acceptance;
//! - [`connections`]: the connection gate (the connection limit and the cap per IP address,
//!   before any handshake), dialling bootstrap peers with backoff, and trimming connections;
//! - [`peers`]: what the node knows of each connected peer (addresses, RTT, local reputation);
//! - [`scoring`]: gossipsub peer scoring of intent topics, judged on forwarding while they
//!   carry traffic.
//! - [`reachability`]: AutoNAT, UPnP, relay reservations, hole punching, direct or relayed
//!   connections, and the plain-words report of `mesh doctor`;
//! - [`rendezvous`]: registering capabilities at coordinators (`mesh/cap/<capability>`) and
//!   discovering agents there; [`record_fetch`] asks an agent found there for its record;
//! - [`receipts`] and [`receipt_catchup`]: reputation from receipts (the gossip topic
//!   `mesh/receipts/1`), and the catch-up (`/mesh/receipts/1.0.0`) that hands a joining node
//!   the attestations its peers hold;
//! - [`walk`]: DHT random walks while the node has fewer peers than its target.
#![deny(missing_docs)]

pub mod addr_scope;
pub mod adp;
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
pub mod intent_book;
pub mod metrics;
pub mod open_intents;
pub mod peers;
pub mod persist;
pub mod rate_limit;
pub mod reach_config;
pub mod reachability;
pub mod receipt_catchup;
pub mod receipts;
pub mod record_fetch;
pub mod rendezvous;
pub mod restore;
pub mod scoring;
mod store_link;
pub mod walk;
pub mod webrtc;

pub use adp::{AgentInfo, AgentQuery};
pub use award::{AwardOutcome, AwardPolicy, LowestPrice, OfferCandidate, OfferStrategy};
pub use config::{
    DiscoverySources, GossipDegree, Limits, NatConfig, NetConfig, PeerExchangeConfig, Rate,
    RelayLimits, RendezvousConfig, ReputationConfig, Role,
};
pub use error::{AwardError, CancelError, DiscoverError, NegotiateError, NetError, PublishError};
pub use event_loop::{spawn, spawn_on};
pub use handle::{MeshHandle, NodeInfo, PublishOutcome, ReceivedIntent, TopicPeers};
pub use inp::{InpError, NegotiationEvent, NegotiationEventKind, NegotiationSummary, ProposalView};
pub use intent_book::{CancelOutcome, IntentUpdate, IntentView};
pub use metrics::MeshMetrics;
pub use peers::PeerInfo;
pub use reachability::ReachabilityReport;
pub use receipts::ReputationView;
