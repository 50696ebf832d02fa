//! Connections: who this node is connected to, and which connections it keeps.
//!
//! | part | what it does |
//! |---|---|
//! | [`gate`] | refuses a connection before its handshake at the connection limit, or beyond the cap of inbound connections from one IP address |
//! | [`bootstrap`] | dials the configured bootstrap peers, with backoff, until enough peers are connected |
//! | [`trim`] | picks the connections worth least: above the trim target periodically, above the high mark at once, at the limit for a needed dial |
//! | `Connections` | the driver: owns the three, feeds gossipsub's scoring its inputs, and counts what it refused |
//!
//! The event loop hands the driver a `ConnContext` (the swarm, the peer book, the metrics)
//! and says which peers must be kept whatever their worth (those with messages in flight).

pub mod bootstrap;
pub mod gate;
pub mod trim;

use std::collections::HashSet;
use std::time::Duration;

use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{IdentTopic, TopicHash};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, Swarm};
use mesh_core::Capability;
use tokio::time::Instant;

use crate::behaviour::MeshBehaviour;
use crate::config::NetConfig;
use crate::metrics::MeshMetrics;
use crate::peers::PeerBook;
use crate::scoring;
use bootstrap::{Bootstrap, peer_id_of};
use trim::ConnectionTrim;

/// Providers dialled per topic lookup at most.
const TOPIC_DIALS_PER_LOOKUP: usize = 8;
/// How often topic score parameters and application scores are brought up to date.
const SCORING_INTERVAL: Duration = Duration::from_secs(1);

/// What the event loop lends the driver for one call.
pub(crate) struct ConnContext<'a> {
    pub(crate) swarm: &'a mut Swarm<MeshBehaviour>,
    pub(crate) peers: &'a mut PeerBook,
    pub(crate) metrics: &'a MeshMetrics,
}

/// Peers kept open whatever their worth, besides the driver's own reasons (gossip mesh
/// peers, peers negotiating lately): those with messages in flight.
pub(crate) type Kept<'a> = &'a dyn Fn(&PeerId) -> bool;

/// The connection driver; see the module docs.
pub(crate) struct Connections {
    bootstrap: Bootstrap,
    trim: ConnectionTrim,
    next_trim: Instant,
    max: usize,
    /// Traffic of each intent topic, which decides when mesh peers are judged on forwarding.
    traffic: scoring::TopicTraffic,
    next_scoring: Instant,
}

impl Connections {
    pub(crate) fn new(config: &NetConfig, now: Instant) -> Self {
        Self {
            bootstrap: Bootstrap::new(config.bootstrap.clone(), now),
            trim: ConnectionTrim::new(config.max_connections),
            next_trim: now + trim::INTERVAL,
            max: config.max_connections as usize,
            traffic: scoring::TopicTraffic::default(),
            next_scoring: now + SCORING_INTERVAL,
        }
    }

    /// Periodic work: bootstrap dials that are due, trimming, scoring inputs.
    pub(crate) fn tick(
        &mut self,
        ctx: &mut ConnContext<'_>,
        now: Instant,
        kept: Kept<'_>,
        subscriptions: &[Capability],
    ) {
        self.dial_bootstrap(ctx, now);
        if now >= self.next_trim {
            self.next_trim = now + trim::INTERVAL;
            self.close_connections(ctx, kept, "trimming a connection", |trim, open, k, rep| {
                trim.victims(open, now, k, rep)
            });
        }
        if now >= self.next_scoring {
            self.next_scoring = now + SCORING_INTERVAL;
            self.update_scoring(ctx, now, subscriptions);
        }
    }

    fn dial_bootstrap(&mut self, ctx: &mut ConnContext<'_>, now: Instant) {
        for addr in self.bootstrap.due(now, ctx.peers.connected_count()) {
            let fresh_port = self.bootstrap.fresh_port(&addr);
            let opts = match peer_id_of(&addr) {
                Some(peer) => {
                    let opts = DialOpts::peer_id(peer)
                        .addresses(vec![strip_p2p(&addr)])
                        .condition(PeerCondition::Always);
                    if fresh_port {
                        opts.allocate_new_port()
                    } else {
                        opts
                    }
                    .build()
                }
                None => {
                    let opts = DialOpts::unknown_peer_id().address(addr.clone());
                    if fresh_port {
                        opts.allocate_new_port()
                    } else {
                        opts
                    }
                    .build()
                }
            };
            let id = opts.connection_id();
            self.bootstrap.dialing(&addr, id);
            if let Err(e) = ctx.swarm.dial(opts) {
                tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
                self.bootstrap.failed(id, now);
            }
        }
    }

    /// A connection is established. Returns whether it is the first to `peer`.
    pub(crate) fn on_established(
        &mut self,
        ctx: &mut ConnContext<'_>,
        connection_id: ConnectionId,
        peer: PeerId,
        endpoint: &ConnectedPoint,
        first: bool,
        kept: Kept<'_>,
    ) {
        if first {
            self.trim.opened(peer, Instant::now());
            self.evict_for(ctx, peer, kept);
        }
        ctx.peers
            .connection_opened(peer, endpoint.get_remote_address().clone());
        ctx.metrics
            .connected_peers
            .set(ctx.peers.connected_count() as i64);
        if self.bootstrap.connected(connection_id, peer) {
            ctx.metrics.bootstrap_dial(true);
            tracing::info!(%peer, "connected to bootstrap peer");
            let kad = &mut ctx.swarm.behaviour_mut().kad;
            if endpoint.is_dialer() {
                kad.add_address(&peer, strip_p2p(endpoint.get_remote_address()));
            }
            let _ = kad.bootstrap();
        }
    }

    /// A connection closed; `remaining` to the peer stay open.
    pub(crate) fn on_closed(&mut self, ctx: &mut ConnContext<'_>, peer: PeerId, remaining: u32) {
        ctx.peers.connection_closed(peer, remaining);
        ctx.metrics
            .connected_peers
            .set(ctx.peers.connected_count() as i64);
        if remaining == 0 {
            self.trim.closed(&peer);
            self.bootstrap.disconnected(peer, Instant::now());
        }
    }

    /// A dial failed.
    pub(crate) fn on_dial_error(
        &mut self,
        ctx: &mut ConnContext<'_>,
        connection_id: ConnectionId,
        peer: Option<PeerId>,
        error: &libp2p::swarm::DialError,
    ) {
        if self.bootstrap.failed(connection_id, Instant::now()) {
            ctx.metrics.bootstrap_dial(false);
            tracing::warn!(error = %error, "bootstrap dial failed; will retry with backoff");
            return;
        }
        if let libp2p::swarm::DialError::Denied { cause } = error
            && cause.downcast_ref::<gate::AtConnectionLimit>().is_some()
        {
            ctx.metrics.connection_refused("dial_at_limit");
        }
        tracing::debug!(
            local = %ctx.swarm.local_peer_id(),
            ?peer,
            error = %error,
            "dial failed"
        );
    }

    /// An inbound connection was refused before its handshake.
    pub(crate) fn on_inbound_refused(
        &self,
        ctx: &mut ConnContext<'_>,
        cause: &libp2p::swarm::ConnectionDenied,
        from: &Multiaddr,
    ) {
        let reason = if cause.downcast_ref::<gate::TooManyFromIp>().is_some() {
            "per_ip"
        } else if cause
            .downcast_ref::<libp2p::connection_limits::Exceeded>()
            .is_some()
        {
            // Past the gate, refused by libp2p's limit once the handshake was done.
            "limit_after_handshake"
        } else {
            "limit"
        };
        ctx.metrics.connection_refused(reason);
        tracing::debug!(
            local = %ctx.swarm.local_peer_id(),
            addr = %from,
            %cause,
            "inbound connection refused"
        );
    }

    /// `peer` identified itself: its listen addresses usable from here (at most
    /// [`crate::peers::MAX_ADDRS_PER_PEER`]) go to the peer book, and to the DHT's routing
    /// table if it speaks the DHT. Returns them.
    pub(crate) fn on_identified(
        &mut self,
        ctx: &mut ConnContext<'_>,
        peer: PeerId,
        info: &libp2p::identify::Info,
    ) -> Vec<Multiaddr> {
        let local_link = ctx.peers.is_local_link(&peer);
        let listen: Vec<Multiaddr> = info
            .listen_addrs
            .iter()
            .filter(|a| crate::addr_scope::usable(a, local_link))
            .take(crate::peers::MAX_ADDRS_PER_PEER)
            .cloned()
            .collect();
        ctx.peers
            .identified(peer, &listen, info.agent_version.clone());
        let speaks_kad = info
            .protocols
            .iter()
            .any(|p| p.as_ref() == crate::behaviour::KAD_PROTOCOL);
        if speaks_kad {
            for addr in &listen {
                ctx.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
            }
        }
        listen
    }

    /// Peers found on the local network by mDNS: into the DHT's routing table, and dialled
    /// unless connected.
    pub(crate) fn on_mdns_discovered(
        &mut self,
        ctx: &mut ConnContext<'_>,
        found: Vec<(PeerId, Multiaddr)>,
    ) {
        let local = *ctx.swarm.local_peer_id();
        for (peer, addr) in found {
            if peer == local {
                continue;
            }
            ctx.swarm
                .behaviour_mut()
                .kad
                .add_address(&peer, addr.clone());
            if !ctx.peers.is_connected(&peer) {
                let opts = DialOpts::peer_id(peer)
                    .addresses(vec![addr])
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build();
                let _ = ctx.swarm.dial(opts);
            }
        }
    }

    /// Dials up to [`TOPIC_DIALS_PER_LOOKUP`] of the peers a DHT lookup found on one of this
    /// node's topics, those not connected yet.
    pub(crate) fn dial_topic_peers(
        &mut self,
        ctx: &mut ConnContext<'_>,
        providers: HashSet<PeerId>,
    ) {
        let local = *ctx.swarm.local_peer_id();
        let mut dialled = 0;
        for peer in providers {
            if dialled >= TOPIC_DIALS_PER_LOOKUP {
                break;
            }
            if peer == local || ctx.peers.is_connected(&peer) {
                continue;
            }
            let opts = DialOpts::peer_id(peer)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if ctx.swarm.dial(opts).is_ok() {
                dialled += 1;
            }
        }
    }

    /// `peer` sent or answered a negotiation message: its connection is kept a while.
    pub(crate) fn negotiated(&mut self, peer: PeerId, now: Instant) {
        self.trim.negotiated(peer, now);
    }

    /// An intent from `publisher` arrived on `topic` (an input of gossipsub's scoring).
    pub(crate) fn intent_seen(&mut self, topic: &TopicHash, publisher: PeerId, now: Instant) {
        self.traffic.record(topic, publisher, now);
    }

    /// At the connection limit, closes the connection worth least, however young, so that a
    /// needed dial gets a slot.
    pub(crate) fn make_room(&mut self, ctx: &mut ConnContext<'_>, kept: Kept<'_>) {
        if open_connections(ctx.swarm) < self.max {
            return;
        }
        self.close_connections(
            ctx,
            kept,
            "closing a connection to make room for a dial",
            |trim, _, k, rep| trim.least_valuable(k, rep).into_iter().collect(),
        );
    }

    /// Above the high mark, closes the connection worth least, however young, to make room for
    /// `new` and whoever connects next (see [`trim`]).
    fn evict_for(&mut self, ctx: &mut ConnContext<'_>, new: PeerId, kept: Kept<'_>) {
        if open_connections(ctx.swarm) <= self.trim.high() {
            return;
        }
        self.close_connections(
            ctx,
            kept,
            "closing a connection to make room above the high mark",
            |trim, open, k, rep| trim.evict_for(open, &new, k, rep).into_iter().collect(),
        );
    }

    /// Closes the connections `pick` chooses, given the open count and what is kept: peers in a
    /// gossip mesh, peers with messages in flight and peers negotiating lately.
    fn close_connections(
        &mut self,
        ctx: &mut ConnContext<'_>,
        kept: Kept<'_>,
        why: &'static str,
        pick: impl FnOnce(
            &ConnectionTrim,
            usize,
            &dyn Fn(&PeerId) -> bool,
            &dyn Fn(&PeerId) -> f64,
        ) -> Vec<PeerId>,
    ) {
        let open = open_connections(ctx.swarm);
        let mesh: HashSet<PeerId> = ctx
            .swarm
            .behaviour()
            .gossipsub
            .all_mesh_peers()
            .copied()
            .collect();
        let now = Instant::now();
        let peers = &*ctx.peers;
        let victims = pick(
            &self.trim,
            open,
            &|p| mesh.contains(p) || kept(p) || self.trim.negotiating(p, now),
            &|p| peers.reputation(p),
        );
        for peer in victims {
            tracing::debug!(
                local = %ctx.swarm.local_peer_id(),
                %peer,
                open,
                target = self.trim.target(),
                high = self.trim.high(),
                "{why}"
            );
            ctx.metrics.connections_trimmed.inc();
            let _ = ctx.swarm.disconnect_peer_id(peer);
        }
    }

    /// Brings gossipsub's scoring up to date: each topic judged on forwarding or not as its
    /// traffic now asks (see [`scoring`]), and every connected peer's application score from
    /// its local reputation.
    fn update_scoring(
        &mut self,
        ctx: &mut ConnContext<'_>,
        now: Instant,
        subscriptions: &[Capability],
    ) {
        for (hash, judged) in self.traffic.changes(now) {
            let Some(cap) = subscriptions
                .iter()
                .find(|c| IdentTopic::new(c.topic()).hash() == hash)
            else {
                self.traffic.forget(&hash);
                continue;
            };
            tracing::debug!(%cap, ?judged, "topic forwarding threshold");
            let gs = &mut ctx.swarm.behaviour_mut().gossipsub;
            if let Err(e) =
                gs.set_topic_params(IdentTopic::new(cap.topic()), scoring::topic_params(judged))
            {
                tracing::warn!(%cap, error = %e, "cannot set topic score parameters");
            }
        }
        for peer in ctx.peers.connected_peers(usize::MAX) {
            let score = scoring::app_score(ctx.peers.reputation(&peer));
            ctx.swarm
                .behaviour_mut()
                .gossipsub
                .set_application_score(&peer, score);
        }
    }
}

/// Connections established now.
fn open_connections(swarm: &Swarm<MeshBehaviour>) -> usize {
    swarm.network_info().connection_counters().num_established() as usize
}

/// The address without its `/p2p/<peer id>` part.
pub(crate) fn strip_p2p(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}

#[cfg(test)]
mod tests;
