//! `mesh-sim`: many real MESH nodes in one process, over an in-memory transport whose links
//! have a configurable one-way latency, driven by seeded scenarios.
//!
//! Scenarios so far: [`propagation`] (time for intents to reach subscribers, delivery ratio,
//! duplicates, against the ideal of the mesh's hop count times the link latency).
#![deny(missing_docs)]

pub mod delay;
pub mod net;
pub mod propagation;

pub use propagation::{Params, Report};
