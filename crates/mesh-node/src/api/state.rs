//! What every handler of the API shares.

use std::sync::Arc;

use mesh_net::MeshHandle;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use super::guard::StreamSlots;
use crate::events::EventLog;

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The network.
    pub handle: MeshHandle,
    /// The node's store (event log for stream resumption).
    pub store: mesh_store::Store,
    /// The node's event log, which the event streams read.
    pub events: EventLog,
    /// The bearer token.
    pub token: Arc<str>,
    /// Metrics registry (read-only once the node runs).
    pub registry: Arc<Registry>,
    /// Flips to `true` when the node shuts down, ending event streams.
    pub shutdown: watch::Receiver<bool>,
    /// Slots of the responses held open (event streams, award waits).
    pub streams: StreamSlots,
}
