//! The server's side of `/perf/1.0.0`: a behaviour whose connection handler hands every
//! negotiated inbound stream to its own task at once.
//!
//! [`libp2p_stream`] delivers inbound streams through a channel with room for one stream, and
//! drops a stream that arrives while the previous one has not been taken yet: under CPU load, a
//! client's parallel streams could be dropped before the server's accept loop ran. Here the
//! handler spawns the stream's task itself, so no negotiated stream is dropped except by the
//! concurrency limit.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::{DeniedUpgrade, ReadyUpgrade};
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol};
use tokio::sync::Semaphore;

use crate::protocol::{self, PROTOCOL, StreamLimits};

/// What every connection's handler needs to serve a stream.
struct Shared {
    limits: StreamLimits,
    stream_timeout: Duration,
    /// One permit per stream served at once, over all connections.
    permits: Arc<Semaphore>,
}

impl Shared {
    fn serve(&self, peer: PeerId, mut stream: Stream) {
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            tracing::warn!(%peer, "too many perf streams at once; resetting this one");
            return;
        };
        let (limits, stream_timeout) = (self.limits, self.stream_timeout);
        tokio::spawn(async move {
            let result =
                tokio::time::timeout(stream_timeout, protocol::serve(&mut stream, limits)).await;
            match result {
                Ok(Ok(served)) => tracing::debug!(
                    %peer,
                    uploaded = served.uploaded,
                    downloaded = served.downloaded,
                    "perf stream served"
                ),
                Ok(Err(e)) => tracing::warn!(%peer, "perf stream failed: {e}"),
                Err(_) => {
                    tracing::warn!(%peer, "perf stream took longer than {stream_timeout:?}; reset");
                }
            }
            drop(permit);
        });
    }
}

/// Serves `/perf/1.0.0` on every connection.
pub struct Behaviour {
    shared: Arc<Shared>,
}

impl Behaviour {
    /// Serves streams within `limits`, at most `max_concurrent_streams` at once over all
    /// connections, each for at most `stream_timeout`.
    pub fn new(
        limits: StreamLimits,
        max_concurrent_streams: usize,
        stream_timeout: Duration,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                limits,
                stream_timeout,
                permits: Arc::new(Semaphore::new(max_concurrent_streams)),
            }),
        }
    }

    fn handler(&self, peer: PeerId) -> Handler {
        Handler {
            peer,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

/// The handler of one connection: accepts inbound perf streams and opens none. A stream being
/// served keeps the connection alive.
pub struct Handler {
    peer: PeerId,
    shared: Arc<Shared>,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ())
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        match event {}
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
        if let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
            protocol: stream,
            ..
        }) = event
        {
            self.shared.serve(self.peer, stream);
        }
    }
}
