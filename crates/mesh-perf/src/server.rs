//! The perf server: listens, and serves `/perf/1.0.0` streams until stopped.
//!
//! Each inbound stream is served in its own task, within the limits of [`Config`]: the largest
//! download a client may request and upload it may send, the number of streams served at once
//! (a stream past it is reset), the number of connections, and the time one stream may take.

use std::convert::Infallible;
use std::time::Duration;

use futures::StreamExt as _;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, connection_limits};

use crate::inbound;
use crate::protocol::StreamLimits;
use crate::transport::{self, SetupError};

/// Default largest download a client may request: 16 GiB.
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 16 << 30;
/// Default largest upload a client may send on one stream: 16 GiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 16 << 30;
/// Default number of perf streams served at once; streams past it are reset.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: usize = 64;
/// Default number of established connections.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 64;
/// Default longest time one stream may take, upload and download together.
pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a connection without streams stays open.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Server configuration: where to listen and what to accept.
#[derive(Debug, Clone)]
pub struct Config {
    listen: Vec<Multiaddr>,
    limits: StreamLimits,
    max_concurrent_streams: usize,
    max_connections: u32,
    stream_timeout: Duration,
}

impl Config {
    /// A server listening on `listen`, with the default limits.
    pub fn new(listen: Vec<Multiaddr>) -> Self {
        Self {
            listen,
            limits: StreamLimits {
                max_download_bytes: DEFAULT_MAX_DOWNLOAD_BYTES,
                max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            },
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            stream_timeout: DEFAULT_STREAM_TIMEOUT,
        }
    }

    /// Sets the largest download a client may request.
    pub fn with_max_download_bytes(mut self, bytes: u64) -> Self {
        self.limits.max_download_bytes = bytes;
        self
    }

    /// Sets the largest upload a client may send on one stream.
    pub fn with_max_upload_bytes(mut self, bytes: u64) -> Self {
        self.limits.max_upload_bytes = bytes;
        self
    }

    /// Sets how many streams are served at once (at least one).
    pub fn with_max_concurrent_streams(mut self, streams: usize) -> Self {
        self.max_concurrent_streams = streams.max(1);
        self
    }

    /// Sets how many connections may be established at once.
    pub fn with_max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections;
        self
    }

    /// Sets the longest time one stream may take.
    pub fn with_stream_timeout(mut self, timeout: Duration) -> Self {
        self.stream_timeout = timeout;
        self
    }
}

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The swarm could not be built.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// No listen address was given.
    #[error("no listen address given")]
    NoListenAddress,
    /// Listening on an address failed.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// Every listener has closed.
    #[error("every listener has closed; last error: {0}")]
    ListenersClosed(String),
}

/// The behaviour of the server's swarm.
#[derive(NetworkBehaviour)]
struct ServerBehaviour {
    limits: connection_limits::Behaviour,
    perf: inbound::Behaviour,
}

/// A perf server whose listeners are open.
pub struct Server {
    swarm: Swarm<ServerBehaviour>,
    listeners: usize,
}

impl Server {
    /// Builds the swarm with `keypair` and opens every listen address of `config`.
    pub fn bind(config: Config, keypair: Keypair) -> Result<Self, ServerError> {
        if config.listen.is_empty() {
            return Err(ServerError::NoListenAddress);
        }
        let behaviour = ServerBehaviour {
            limits: transport::connection_limits(config.max_connections),
            perf: inbound::Behaviour::new(
                config.limits,
                config.max_concurrent_streams,
                config.stream_timeout,
            ),
        };
        let mut swarm = transport::build_swarm(keypair, behaviour, IDLE_CONNECTION_TIMEOUT)?;
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| ServerError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
        }
        Ok(Self {
            swarm,
            listeners: config.listen.len(),
        })
    }

    /// The server's peer id.
    pub fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Serves perf streams until every listener has closed. `on_listen` is called with each
    /// address the server listens on, with `/p2p/<peer id>` at its end, as it becomes known.
    pub async fn run(
        mut self,
        mut on_listen: impl FnMut(&Multiaddr),
    ) -> Result<Infallible, ServerError> {
        let peer_id = self.peer_id();
        let mut listeners = self.listeners;
        let mut last_error = String::from("none");
        loop {
            match self.swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } => {
                    on_listen(&address.with(Protocol::P2p(peer_id)));
                }
                SwarmEvent::ListenerError { error, .. } => {
                    tracing::warn!("listener error: {error}");
                    last_error = error.to_string();
                }
                SwarmEvent::ListenerClosed {
                    addresses, reason, ..
                } => {
                    tracing::warn!(?addresses, ?reason, "listener closed");
                    if let Err(e) = reason {
                        last_error = e.to_string();
                    }
                    listeners = listeners.saturating_sub(1);
                    if listeners == 0 {
                        return Err(ServerError::ListenersClosed(last_error));
                    }
                }
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    tracing::debug!(%peer_id, "connection established");
                }
                SwarmEvent::IncomingConnectionError { error, .. } => {
                    tracing::debug!("incoming connection failed: {error}");
                }
                _ => {}
            }
        }
    }
}
