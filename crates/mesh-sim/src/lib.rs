//! `mesh-sim`: many real MESH nodes in one process, over an in-memory transport whose links
//! have a configurable one-way latency and loss, driven by seeded scenarios.
//!
//! Scenarios: [`propagation`] (time for intents to reach subscribers, delivery ratio, copies
//! received, bytes sent, against the ideal of the gossip paths' hop count times the link
//! latency), [`discovery`] (DHT lookups for agents of a capability), [`negotiation`]
//! (completed negotiations per second), [`churn`] (delivery while nodes leave and join) and
//! [`flash`] (the covert flash attack: peers that stop forwarding).
//! Each runs on a [`clock::Clock`]: virtual (latencies exact, processing free) or real.
//! [`suite`] runs them all at one size and writes JSON, SVG charts ([`plot`]) and a report.
//! Every report carries the run's peak memory per node ([`memory`]).
#![deny(missing_docs)]

pub mod attacker;
pub mod churn;
pub mod clock;
pub mod delay;
pub mod discovery;
pub mod flash;
pub mod memory;
pub mod negotiation;
pub mod net;
pub mod observe;
pub mod plot;
pub mod population;
pub mod propagation;
pub mod provenance;
pub mod suite;
pub mod topology;

pub use propagation::{Params, Report};
