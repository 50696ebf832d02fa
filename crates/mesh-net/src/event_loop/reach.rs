//! The event loop's side of reachability, rendezvous and peer exchange: it feeds
//! [`Reachability`], [`Registrations`] and [`RandomWalk`] the swarm's events and carries out
//! what they decide.

use tokio::time::Instant;

use libp2p::kad;
use libp2p::metrics::Recorder;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, identify, relay, rendezvous};
use prometheus_client::registry::Registry;

use super::{EventLoop, QueryPurpose, now_ms};
use crate::behaviour::MeshBehaviourEvent;
use crate::config::NetConfig;
use crate::reachability::{Reachability, ReachabilityReport, is_relayed};
use crate::rendezvous::{DiscoveryMetrics, Registrations};
use crate::walk::RandomWalk;

/// Debug builds only: the environment variable that makes the network task panic this many
/// milliseconds after its first tick, so the process tests can show how a node ends when its
/// network task dies (`mesh node` exits 1 with the reason). Release builds do not read it.
#[cfg(debug_assertions)]
const DEBUG_PANIC_AFTER_MS: &str = "MESH_DEBUG_PANIC_AFTER_MS";

/// Panics once [`DEBUG_PANIC_AFTER_MS`] has passed since the first call, if it is set.
#[cfg(debug_assertions)]
fn panic_when_asked(now: Instant) {
    use std::sync::OnceLock;
    static DEADLINE: OnceLock<Option<Instant>> = OnceLock::new();
    let deadline = DEADLINE.get_or_init(|| {
        let ms: u64 = std::env::var(DEBUG_PANIC_AFTER_MS).ok()?.parse().ok()?;
        now.checked_add(std::time::Duration::from_millis(ms))
    });
    if deadline.is_some_and(|d| now >= d) {
        panic!("{DEBUG_PANIC_AFTER_MS} asked the network task to panic");
    }
}

/// Reachability, rendezvous and peer-exchange state of the event loop.
pub(super) struct Reach {
    pub state: Reachability,
    registrations: Registrations,
    walk: RandomWalk,
    metrics: DiscoveryMetrics,
    /// Listen addresses declared external only so that rendezvous registrations carry an
    /// address; withdrawn once a real one (relay, UPnP, AutoNAT) is confirmed.
    assumed_external: Vec<Multiaddr>,
    random_walks: prometheus_client::metrics::counter::Counter,
}

impl Reach {
    pub(super) fn new(config: &NetConfig, registry: &mut Registry, now: Instant) -> Self {
        let px = config.peer_exchange;
        let random_walks = prometheus_client::metrics::counter::Counter::default();
        registry.sub_registry_with_prefix("mesh").register(
            "random_walks",
            "DHT random walks started while below the target peer count",
            random_walks.clone(),
        );
        Self {
            state: Reachability::new(config, registry, now),
            registrations: Registrations::new(&config.capabilities),
            walk: RandomWalk::new(
                px.target_peers,
                px.random_walk_interval,
                px.dials_per_walk,
                now,
            ),
            metrics: DiscoveryMetrics::register(registry),
            assumed_external: Vec::new(),
            random_walks,
        }
    }

    /// The rendezvous points this node is connected to, which discoveries ask.
    pub(super) fn rendezvous_points(&self) -> Vec<PeerId> {
        self.registrations.points().collect()
    }

    /// The metrics of rendezvous and of where discovered agents came from.
    pub(super) fn discovery_metrics(&self) -> &DiscoveryMetrics {
        &self.metrics
    }
}

impl EventLoop {
    /// Events of the reachability and rendezvous behaviours.
    pub(super) fn on_reach_event(&mut self, event: MeshBehaviourEvent) {
        let now = Instant::now();
        match event {
            MeshBehaviourEvent::Autonat(e) => self.nat.state.on_autonat(&e),
            MeshBehaviourEvent::Upnp(e) => self.nat.state.on_upnp(&e),
            MeshBehaviourEvent::Dcutr(e) => {
                self.libp2p_metrics.record(&e);
                self.nat.state.on_dcutr(&e);
            }
            MeshBehaviourEvent::RelayServer(e) => {
                self.libp2p_metrics.record(&e);
                self.nat.state.on_relay_server(&e);
            }
            MeshBehaviourEvent::RelayClient(e) => {
                self.nat.state.on_relay_client(&e);
                if matches!(e, relay::client::Event::ReservationReqAccepted { .. }) {
                    self.withdraw_assumed_external();
                    self.nat.registrations.refresh(now);
                }
            }
            MeshBehaviourEvent::Rendezvous(e) => self.on_rendezvous(e, now),
            _ => {}
        }
    }

    /// Identify told us about `peer`: what it saw of us and whether it serves relay or
    /// rendezvous.
    pub(super) fn on_identify_reach(&mut self, peer: PeerId, info: &identify::Info) {
        let speaks = |p: &libp2p::StreamProtocol| info.protocols.iter().any(|x| x == p);
        let serves_hop = speaks(&relay::HOP_PROTOCOL_NAME);
        self.nat
            .state
            .on_identify(peer, &info.observed_addr, serves_hop);
        if self.config.discovery.rendezvous && speaks(&rendezvous::PROTOCOL_NAME) {
            self.nat.registrations.point_found(peer, Instant::now());
        }
    }

    /// A connection opened.
    pub(super) fn on_connection_reach(
        &mut self,
        id: libp2p::swarm::ConnectionId,
        peer: PeerId,
        endpoint: &libp2p::core::ConnectedPoint,
    ) {
        self.nat.state.connection_opened(
            id,
            peer,
            endpoint.get_remote_address(),
            endpoint.is_relayed(),
            endpoint.is_dialer(),
            Instant::now(),
        );
    }

    /// A connection closed; `remaining` connections to `peer` are open.
    pub(super) fn on_connection_closed_reach(
        &mut self,
        id: libp2p::swarm::ConnectionId,
        peer: PeerId,
        remaining: u32,
    ) {
        self.nat.state.connection_closed(id, peer, remaining);
        if remaining == 0 {
            self.nat.registrations.point_lost(&peer);
        }
    }

    /// A listener closed (a relay reservation among them).
    pub(super) fn on_listener_closed_reach(
        &mut self,
        listener: libp2p::core::transport::ListenerId,
        reason: String,
    ) {
        self.nat
            .state
            .on_listener_closed(listener, reason, Instant::now());
    }

    /// The swarm confirmed an external address.
    pub(super) fn on_external_confirmed(&mut self, addr: &Multiaddr) {
        if !self.nat.assumed_external.contains(addr) {
            self.withdraw_assumed_external();
            self.nat.registrations.refresh(Instant::now());
        }
    }

    fn withdraw_assumed_external(&mut self) {
        for addr in std::mem::take(&mut self.nat.assumed_external) {
            self.swarm.remove_external_address(&addr);
        }
    }

    /// A coordinator is meant to be reachable where it listens: its listen addresses are
    /// external addresses (its relay hands them to the agents that reserve), unless the
    /// operator declared the external addresses.
    pub(super) fn on_new_listen_addr_reach(&mut self, addr: &Multiaddr) {
        if self.config.role == crate::config::Role::Coordinator
            && self.config.nat.external_addresses.is_empty()
            && !is_relayed(addr)
            && super::start::is_dialable(addr)
        {
            self.swarm.add_external_address(addr.clone());
        }
    }

    /// Adds the configured external addresses.
    pub(super) fn add_configured_external(&mut self) {
        for addr in self.config.nat.external_addresses.clone() {
            self.swarm.add_external_address(addr);
        }
    }

    /// Periodic work: relay reservations, rendezvous registrations, random walks.
    pub(super) fn reach_tick(&mut self, now: Instant) {
        #[cfg(debug_assertions)]
        panic_when_asked(now);
        if self.swarm.behaviour().relay_client.is_enabled() {
            for (relay, circuit) in self.nat.state.due_reservations(now) {
                let result = self
                    .swarm
                    .listen_on(circuit.clone())
                    .map_err(|e| e.to_string());
                tracing::info!(%circuit, ok = result.is_ok(), "asking for a relay reservation");
                self.nat.state.reservation_requested(relay, result, now);
            }
        }
        for point in self.nat.registrations.due(now) {
            self.register_at(point, now);
        }
        let connected = self.peers.connected_count();
        if self.nat.walk.due(now, connected) {
            self.nat.random_walks.inc();
            let qid = self
                .swarm
                .behaviour_mut()
                .kad
                .get_closest_peers(PeerId::random());
            self.queries.insert(qid, QueryPurpose::RandomWalk);
        }
    }

    fn register_at(&mut self, point: PeerId, now: Instant) {
        let ttl = Some(self.config.rendezvous.ttl_secs);
        for ns in self.nat.registrations.namespaces().to_vec() {
            let rdv = &mut self.swarm.behaviour_mut().rendezvous;
            let mut result = rdv.register(ns.clone(), point, ttl);
            if matches!(
                result,
                Err(rendezvous::client::RegisterError::NoExternalAddresses)
            ) {
                self.assume_listen_addrs_external();
                result = self
                    .swarm
                    .behaviour_mut()
                    .rendezvous
                    .register(ns.clone(), point, ttl);
            }
            if let Err(e) = result {
                tracing::debug!(%point, error = %e, "cannot register at rendezvous point");
                self.nat.metrics.registration_failures.inc();
                self.nat.registrations.failed(point, now);
                return;
            }
        }
    }

    /// With no confirmed external address, registers the listen addresses (as go-libp2p's
    /// rendezvous does); withdrawn once a real external address is confirmed.
    fn assume_listen_addrs_external(&mut self) {
        let addrs: Vec<Multiaddr> = self
            .listen_addrs
            .iter()
            .filter(|a| !is_relayed(a) && super::start::is_dialable(a))
            .cloned()
            .collect();
        for addr in addrs {
            if !self.nat.assumed_external.contains(&addr) {
                self.nat.assumed_external.push(addr.clone());
                self.swarm.add_external_address(addr);
            }
        }
    }

    fn on_rendezvous(&mut self, event: rendezvous::client::Event, now: Instant) {
        match event {
            rendezvous::client::Event::Registered {
                rendezvous_node,
                ttl,
                namespace,
            } => {
                tracing::debug!(point = %rendezvous_node, %namespace, ttl, "registered");
                self.nat.metrics.registrations.inc();
                self.nat.registrations.registered(rendezvous_node, ttl, now);
            }
            rendezvous::client::Event::RegisterFailed {
                rendezvous_node,
                namespace,
                error,
            } => {
                tracing::debug!(point = %rendezvous_node, %namespace, ?error, "registration refused");
                self.nat.metrics.registration_failures.inc();
                self.nat.registrations.failed(rendezvous_node, now);
            }
            rendezvous::client::Event::Discovered {
                rendezvous_node,
                registrations,
                ..
            } => {
                let local_link = self.peers.is_local_link(&rendezvous_node);
                let addresses = self.with_adp(|adp, ctx| {
                    adp.on_rendezvous_discovered(
                        ctx,
                        rendezvous_node,
                        registrations,
                        local_link,
                        now_ms(),
                    )
                });
                for (peer, addr) in addresses {
                    self.swarm.add_peer_address(peer, addr);
                }
            }
            rendezvous::client::Event::DiscoverFailed {
                rendezvous_node,
                error,
                ..
            } => {
                tracing::debug!(point = %rendezvous_node, ?error, "rendezvous discovery failed");
                self.with_adp(|adp, ctx| adp.on_rendezvous_failed(ctx, rendezvous_node));
            }
            rendezvous::client::Event::Expired { .. } => {}
        }
    }

    /// A random walk ended with `result`: dial some of the peers it found.
    pub(super) fn on_walk_result(
        &mut self,
        result: Result<kad::GetClosestPeersOk, kad::GetClosestPeersError>,
    ) {
        self.nat.walk.finished(Instant::now());
        let peers = match result {
            Ok(ok) => ok.peers,
            Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
        };
        let mut budget = self.nat.walk.dials(self.peers.connected_count());
        tracing::debug!(found = peers.len(), budget, "random walk ended");
        let local_link = self.peers.any_local_link();
        for p in peers {
            if budget == 0 {
                break;
            }
            if p.peer_id == self.local || self.peers.is_connected(&p.peer_id) {
                continue;
            }
            let addrs = p
                .addrs
                .into_iter()
                .filter(|a| crate::addr_scope::usable(a, local_link))
                .collect();
            let opts = DialOpts::peer_id(p.peer_id)
                .addresses(addrs)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if self.swarm.dial(opts).is_ok() {
                budget -= 1;
            }
        }
    }

    /// The report of `mesh doctor`.
    pub(super) fn reachability_report(&self) -> ReachabilityReport {
        let external: Vec<Multiaddr> = self.swarm.external_addresses().cloned().collect();
        let listen: Vec<Multiaddr> = self
            .listen_addrs
            .iter()
            .map(|a| a.clone().with(Protocol::P2p(self.local)))
            .collect();
        self.nat.state.report(
            self.local,
            &listen,
            &external,
            self.swarm.behaviour().autonat.confidence(),
        )
    }
}
