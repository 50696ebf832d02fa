//! Whether this node can be reached, and how it is connected: AutoNAT's verdict and its
//! reason, UPnP, relay reservations, observed and external addresses, hole punching, and
//! which connections are direct or relayed.
//!
//! [`Reachability`] owns all of it. The event loop feeds it the swarm's events and asks it,
//! at each tick, which relay reservations to request (`due_reservations`);
//! [`Reachability::report`] turns the state into a [`ReachabilityReport`] that says in plain
//! words where the node stands and what to do about it (`mesh doctor`).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId, autonat, dcutr, relay, upnp};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use crate::config::NetConfig;
use crate::connections::bootstrap::{backoff, peer_id_of};
use crate::reach_config::Role;

/// Observed addresses remembered at most.
const MAX_OBSERVED: usize = 8;
/// Relay candidates remembered at most.
const MAX_RELAY_CANDIDATES: usize = 32;
/// Peers whose first relayed connection is remembered, to time the upgrade to direct.
const MAX_UPGRADES_TRACKED: usize = 1024;
/// Hole punch failures remembered, newest first.
const MAX_PUNCH_ERRORS: usize = 8;

/// The relay server of a coordinator, bounded by `config.nat.relay_limits`.
pub(crate) fn relay_config(config: &NetConfig) -> relay::Config {
    let l = config.nat.relay_limits;
    relay::Config {
        max_reservations: l.max_reservations,
        max_reservations_per_peer: l.max_reservations_per_peer,
        reservation_duration: l.reservation_duration,
        max_circuits: l.max_circuits,
        max_circuits_per_peer: l.max_circuits_per_peer,
        max_circuit_duration: l.max_circuit_duration,
        max_circuit_bytes: l.max_circuit_bytes,
        ..relay::Config::default()
    }
}

/// AutoNAT (v1), probing and serving: the client probes soon after start and retries while it
/// is not sure; the server answers a few dial-back requests per second.
pub(crate) fn autonat_config(config: &NetConfig) -> autonat::Config {
    autonat::Config {
        boot_delay: config.nat.autonat_boot_delay,
        retry_interval: config.nat.autonat_retry_interval,
        refresh_interval: Duration::from_secs(5 * 60),
        throttle_server_period: Duration::from_secs(15),
        only_global_ips: config.nat.autonat_only_global_ips,
        timeout: Duration::from_secs(15),
        ..autonat::Config::default()
    }
}

/// Whether `addr` goes through a relay.
pub(crate) fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// Label of a reachability status.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// `public`, `private` or `unknown`.
    pub status: String,
}

/// Label of a connection path.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabel {
    /// `direct` or `relayed`.
    pub path: String,
}

/// Label of an outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `ok` or `error`.
    pub result: String,
}

/// Metrics of reachability, registered under `mesh_nat_`.
#[derive(Debug, Clone)]
pub struct NatMetrics {
    /// 1 for the current AutoNAT status, 0 for the others.
    pub reachability: Family<StatusLabel, Gauge>,
    /// Relay reservations this node holds.
    pub reservations: Gauge,
    /// Reservations accepted (renewals included).
    pub reservations_accepted: Counter,
    /// Open connections, by path.
    pub connections: Family<PathLabel, Gauge>,
    /// Hole punches (DCUtR upgrades), by result.
    pub hole_punches: Family<OutcomeLabel, Counter>,
    /// Seconds from a peer's first relayed connection to its first direct one.
    pub direct_after_relayed_seconds: Histogram,
    /// Reservations this node's relay serves (coordinators).
    pub relay_served_reservations: Gauge,
    /// Circuits this node's relay opened (coordinators).
    pub relay_served_circuits: Counter,
}

impl NatMetrics {
    /// Creates the metrics and registers them in `registry` under `mesh_nat_`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            reachability: Family::default(),
            reservations: Gauge::default(),
            reservations_accepted: Counter::default(),
            connections: Family::default(),
            hole_punches: Family::default(),
            direct_after_relayed_seconds: Histogram::new(exponential_buckets(0.25, 2.0, 12)),
            relay_served_reservations: Gauge::default(),
            relay_served_circuits: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("mesh_nat");
        r.register(
            "reachability",
            "AutoNAT status of this node: 1 for the current one",
            m.reachability.clone(),
        );
        r.register(
            "reservations",
            "Relay reservations this node holds",
            m.reservations.clone(),
        );
        r.register(
            "reservations_accepted",
            "Relay reservations accepted, renewals included",
            m.reservations_accepted.clone(),
        );
        r.register(
            "connections",
            "Open connections by path (direct or relayed)",
            m.connections.clone(),
        );
        r.register(
            "hole_punches",
            "DCUtR hole punches by result",
            m.hole_punches.clone(),
        );
        r.register(
            "direct_after_relayed_seconds",
            "Time from a peer's first relayed connection to its first direct one",
            m.direct_after_relayed_seconds.clone(),
        );
        r.register(
            "relay_served_reservations",
            "Reservations this node's relay holds for others",
            m.relay_served_reservations.clone(),
        );
        r.register(
            "relay_served_circuits",
            "Circuits this node's relay opened for others",
            m.relay_served_circuits.clone(),
        );
        m
    }
}

/// AutoNAT's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// A peer dialled back one of our addresses.
    Public,
    /// Peers tried and could not dial back.
    Private,
    /// Not known yet.
    Unknown,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Public => "public",
            Status::Private => "private",
            Status::Unknown => "unknown",
        }
    }
}

/// The state of one relay reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ReservationState {
    /// Asked for, no answer yet.
    Requested,
    /// Accepted: peers can reach this node through the relay.
    Active,
    /// Lost or refused; asked again after a backoff.
    Failed,
}

/// One relay reservation, as [`ReachabilityReport`] shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReservationView {
    /// The relay.
    pub relay: String,
    /// The address peers dial to reach this node through it (`.../p2p-circuit/p2p/<us>`).
    pub address: String,
    /// Where it stands.
    pub state: ReservationState,
    /// Times the relay renewed it.
    pub renewals: u32,
    /// Why it failed last, if it did.
    pub last_error: Option<String>,
    /// Whether it came from `--relay` (rather than from AutoNAT finding the node private).
    pub configured: bool,
}

/// One connected peer and how it is reached.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PeerPath {
    /// The peer.
    pub peer_id: String,
    /// `direct` when at least one connection is direct, else `relayed`.
    pub path: String,
    /// Direct connections open.
    pub direct: u32,
    /// Relayed connections open.
    pub relayed: u32,
    /// Milliseconds from the first relayed connection to the first direct one, when the
    /// peer was upgraded (hole punching or a direct dial).
    pub upgraded_after_ms: Option<u64>,
}

/// Hole punching so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HolePunching {
    /// Attempts that ended.
    pub attempts: u64,
    /// Attempts that gave a direct connection.
    pub successes: u64,
    /// Latest failures, newest first (`<peer>: <error>`).
    pub recent_errors: Vec<String>,
}

/// Everything `mesh doctor` reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReachabilityReport {
    /// The node's role (`agent` or `coordinator`).
    pub role: String,
    /// AutoNAT's verdict.
    pub status: Status,
    /// Why, in plain words.
    pub reason: String,
    /// AutoNAT's confidence in the verdict (probes in a row that agreed, at most 3).
    pub confidence: usize,
    /// The address a peer dialled back, when public.
    pub public_address: Option<String>,
    /// The NAT, in plain words (UPnP included).
    pub nat: String,
    /// UPnP: `off`, `searching`, `mapped`, `no gateway`, `gateway not public`.
    pub upnp: String,
    /// Addresses this node listens on.
    pub listen_addrs: Vec<String>,
    /// Addresses peers saw this node's connections come from (identify).
    pub observed_addrs: Vec<String>,
    /// Addresses confirmed reachable (AutoNAT, UPnP, relay reservations, configured).
    pub external_addrs: Vec<String>,
    /// Relay reservations.
    pub reservations: Vec<ReservationView>,
    /// Connected peers and how each is reached.
    pub peers: Vec<PeerPath>,
    /// Hole punching so far.
    pub hole_punching: HolePunching,
    /// What to do, if anything.
    pub advice: Vec<String>,
}

#[derive(Debug)]
struct Reservation {
    relay: PeerId,
    /// `<relay addr>/p2p/<relay>/p2p-circuit`.
    circuit: Multiaddr,
    state: ReservationState,
    listener: Option<ListenerId>,
    renewals: u32,
    failures: u32,
    retry_at: Instant,
    last_error: Option<String>,
    configured: bool,
}

#[derive(Debug, Clone, Copy)]
struct Conn {
    peer: PeerId,
    relayed: bool,
}

/// The reachability state of a node. Owned by the event loop.
#[derive(Debug)]
pub struct Reachability {
    role: Role,
    max_auto_relays: usize,
    upnp_enabled: bool,
    status: Status,
    public_address: Option<Multiaddr>,
    reason: String,
    upnp: String,
    observed: Vec<Multiaddr>,
    reservations: Vec<Reservation>,
    /// Connected peers that serve circuit relay v2 (hop), with a direct address of theirs.
    relay_candidates: HashMap<PeerId, Multiaddr>,
    connections: HashMap<ConnectionId, Conn>,
    /// A direct address each peer was dialled at (relay candidates are reserved there).
    dialled: HashMap<PeerId, Multiaddr>,
    first_relayed: HashMap<PeerId, Instant>,
    upgraded_after: HashMap<PeerId, Duration>,
    punch: HolePunching,
    metrics: NatMetrics,
}

impl Reachability {
    /// The state of a node configured with `config`, with its metrics in `registry`.
    pub fn new(config: &NetConfig, registry: &mut Registry, now: Instant) -> Self {
        let metrics = NatMetrics::register(registry);
        let reservations = config
            .nat
            .relays
            .iter()
            .filter_map(|addr| {
                let relay = peer_id_of(addr)?;
                Some(Reservation {
                    relay,
                    circuit: addr.clone().with(Protocol::P2pCircuit),
                    state: ReservationState::Failed,
                    listener: None,
                    renewals: 0,
                    failures: 0,
                    retry_at: now,
                    last_error: None,
                    configured: true,
                })
            })
            .collect();
        let me = Self {
            role: config.role,
            max_auto_relays: config.nat.max_auto_relays,
            upnp_enabled: config.nat.upnp,
            status: Status::Unknown,
            public_address: None,
            reason: "no AutoNAT probe has run yet".into(),
            upnp: if config.nat.upnp { "searching" } else { "off" }.into(),
            observed: Vec::new(),
            reservations,
            relay_candidates: HashMap::new(),
            connections: HashMap::new(),
            dialled: HashMap::new(),
            first_relayed: HashMap::new(),
            upgraded_after: HashMap::new(),
            punch: HolePunching::default(),
            metrics,
        };
        me.set_status_metric();
        me
    }

    /// The metrics.
    pub fn metrics(&self) -> &NatMetrics {
        &self.metrics
    }

    /// AutoNAT's verdict.
    pub fn status(&self) -> Status {
        self.status
    }

    fn set_status_metric(&self) {
        for s in [Status::Public, Status::Private, Status::Unknown] {
            let v = i64::from(s == self.status);
            self.metrics
                .reachability
                .get_or_create(&StatusLabel {
                    status: s.name().into(),
                })
                .set(v);
        }
    }

    // ----- AutoNAT -----

    /// An AutoNAT event.
    pub(crate) fn on_autonat(&mut self, event: &autonat::Event) {
        match event {
            autonat::Event::StatusChanged { new, .. } => {
                let (status, public) = match new {
                    autonat::NatStatus::Public(a) => (Status::Public, Some(a.clone())),
                    autonat::NatStatus::Private => (Status::Private, None),
                    autonat::NatStatus::Unknown => (Status::Unknown, None),
                };
                tracing::info!(status = status.name(), "reachability changed");
                self.status = status;
                self.public_address = public;
                self.set_status_metric();
            }
            autonat::Event::OutboundProbe(probe) => {
                if let Some(reason) = probe_reason(probe) {
                    self.reason = reason;
                }
            }
            autonat::Event::InboundProbe(_) => {}
        }
    }

    // ----- UPnP -----

    /// A UPnP event.
    pub(crate) fn on_upnp(&mut self, event: &upnp::Event) {
        self.upnp = match event {
            upnp::Event::NewExternalAddr { external_addr, .. } => {
                format!("mapped {external_addr}")
            }
            upnp::Event::ExpiredExternalAddr { external_addr, .. } => {
                format!("mapping of {external_addr} expired")
            }
            upnp::Event::GatewayNotFound => "no gateway".into(),
            upnp::Event::NonRoutableGateway => "gateway not public".into(),
        };
    }

    // ----- identify -----

    /// A peer saw our connection come from `observed`; it also told us its protocols.
    pub(crate) fn on_identify(&mut self, peer: PeerId, observed: &Multiaddr, serves_hop: bool) {
        let is_ip = observed
            .iter()
            .next()
            .is_some_and(|p| matches!(p, Protocol::Ip4(_) | Protocol::Ip6(_)));
        if is_ip && !is_relayed(observed) && !self.observed.contains(observed) {
            if self.observed.len() >= MAX_OBSERVED {
                self.observed.remove(0);
            }
            self.observed.push(observed.clone());
        }
        if serves_hop
            && !self.relay_candidates.contains_key(&peer)
            && self.relay_candidates.len() < MAX_RELAY_CANDIDATES
            && let Some(addr) = self.direct_dialer_addr(peer)
        {
            self.relay_candidates.insert(peer, addr);
        }
    }

    /// An address we dialled `peer` at directly, from the open connections.
    fn direct_dialer_addr(&self, peer: PeerId) -> Option<Multiaddr> {
        self.dialled.get(&peer).cloned()
    }

    // ----- relay client -----

    /// Circuit addresses to listen on now: configured relays, and (when AutoNAT finds this
    /// node private) connected relays up to the configured number; each past its backoff.
    pub(crate) fn due_reservations(&mut self, now: Instant) -> Vec<(PeerId, Multiaddr)> {
        if self.status == Status::Private {
            let auto = self.reservations.iter().filter(|r| !r.configured).count();
            let mut room = self.max_auto_relays.saturating_sub(auto);
            let mut candidates: Vec<_> = self.relay_candidates.iter().collect();
            candidates.sort_by_key(|(p, _)| p.to_bytes());
            let mut new = Vec::new();
            for (peer, addr) in candidates {
                if room == 0 {
                    break;
                }
                if self.reservations.iter().any(|r| r.relay == *peer) {
                    continue;
                }
                room -= 1;
                new.push(Reservation {
                    relay: *peer,
                    circuit: addr
                        .clone()
                        .with(Protocol::P2p(*peer))
                        .with(Protocol::P2pCircuit),
                    state: ReservationState::Failed,
                    listener: None,
                    renewals: 0,
                    failures: 0,
                    retry_at: now,
                    last_error: None,
                    configured: false,
                });
            }
            self.reservations.extend(new);
        }
        self.reservations
            .iter()
            .filter(|r| r.listener.is_none() && r.retry_at <= now)
            .map(|r| (r.relay, r.circuit.clone()))
            .collect()
    }

    /// The event loop listens on `circuit` for `relay` with `listener` (or could not).
    pub(crate) fn reservation_requested(
        &mut self,
        relay: PeerId,
        listener: Result<ListenerId, String>,
        now: Instant,
    ) {
        let Some(r) = self.reservations.iter_mut().find(|r| r.relay == relay) else {
            return;
        };
        match listener {
            Ok(id) => {
                r.listener = Some(id);
                r.state = ReservationState::Requested;
            }
            Err(e) => {
                r.failures += 1;
                r.retry_at = now + backoff(r.failures);
                r.state = ReservationState::Failed;
                r.last_error = Some(e);
            }
        }
    }

    /// A relay client event.
    pub(crate) fn on_relay_client(&mut self, event: &relay::client::Event) {
        if let relay::client::Event::ReservationReqAccepted {
            relay_peer_id,
            renewal,
            ..
        } = event
            && let Some(r) = self
                .reservations
                .iter_mut()
                .find(|r| r.relay == *relay_peer_id)
        {
            if *renewal {
                r.renewals += 1;
            }
            r.state = ReservationState::Active;
            r.failures = 0;
            r.last_error = None;
            self.metrics.reservations_accepted.inc();
            tracing::info!(relay = %relay_peer_id, renewal, "relay reservation accepted");
        }
        self.set_reservation_metric();
    }

    /// A listener closed: if it held a reservation, ask again after a backoff.
    pub(crate) fn on_listener_closed(
        &mut self,
        listener: ListenerId,
        reason: String,
        now: Instant,
    ) {
        if let Some(r) = self
            .reservations
            .iter_mut()
            .find(|r| r.listener == Some(listener))
        {
            tracing::info!(relay = %r.relay, %reason, "relay reservation lost; will ask again");
            r.listener = None;
            r.failures += 1;
            r.retry_at = now + backoff(r.failures);
            r.state = ReservationState::Failed;
            r.last_error = Some(reason);
        }
        self.set_reservation_metric();
    }

    fn set_reservation_metric(&self) {
        let active = self
            .reservations
            .iter()
            .filter(|r| r.state == ReservationState::Active)
            .count();
        self.metrics.reservations.set(active as i64);
    }

    // ----- relay server -----

    /// An event of this node's relay server.
    pub(crate) fn on_relay_server(&mut self, event: &relay::Event) {
        match event {
            relay::Event::ReservationReqAccepted { renewed: false, .. } => {
                self.metrics.relay_served_reservations.inc();
            }
            relay::Event::ReservationClosed { .. } | relay::Event::ReservationTimedOut { .. } => {
                self.metrics.relay_served_reservations.dec();
            }
            relay::Event::CircuitReqAccepted { .. } => {
                self.metrics.relay_served_circuits.inc();
            }
            _ => {}
        }
    }

    // ----- DCUtR -----

    /// A hole punch ended.
    pub(crate) fn on_dcutr(&mut self, event: &dcutr::Event) {
        self.punch.attempts += 1;
        match &event.result {
            Ok(_) => {
                self.punch.successes += 1;
                self.metrics
                    .hole_punches
                    .get_or_create(&OutcomeLabel {
                        result: "ok".into(),
                    })
                    .inc();
                tracing::info!(peer = %event.remote_peer_id, "hole punch succeeded");
            }
            Err(e) => {
                self.metrics
                    .hole_punches
                    .get_or_create(&OutcomeLabel {
                        result: "error".into(),
                    })
                    .inc();
                tracing::info!(peer = %event.remote_peer_id, error = %e, "hole punch failed");
                self.punch
                    .recent_errors
                    .insert(0, format!("{}: {e}", event.remote_peer_id));
                self.punch.recent_errors.truncate(MAX_PUNCH_ERRORS);
            }
        }
    }

    // ----- connections -----

    /// A connection opened, to `addr` (the remote address), relayed or not, as dialler or
    /// listener. (The remote address of a relayed connection we accepted is only the peer's
    /// id: whether it is relayed comes from the local address.)
    pub(crate) fn connection_opened(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        relayed: bool,
        dialer: bool,
        now: Instant,
    ) {
        self.connections.insert(id, Conn { peer, relayed });
        if dialer && !relayed && !self.dialled.contains_key(&peer) {
            let plain: Multiaddr = addr
                .iter()
                .filter(|p| !matches!(p, Protocol::P2p(_)))
                .collect();
            if self.dialled.len() < MAX_UPGRADES_TRACKED {
                self.dialled.insert(peer, plain);
            }
        }
        if relayed {
            if self.first_relayed.len() < MAX_UPGRADES_TRACKED {
                self.first_relayed.entry(peer).or_insert(now);
            }
        } else if let Some(first) = self.first_relayed.get(&peer)
            && !self.upgraded_after.contains_key(&peer)
        {
            let after = now.saturating_duration_since(*first);
            self.metrics
                .direct_after_relayed_seconds
                .observe(after.as_secs_f64());
            if self.upgraded_after.len() < MAX_UPGRADES_TRACKED {
                self.upgraded_after.insert(peer, after);
            }
        }
        self.set_connection_metric();
    }

    /// A connection closed; `remaining` connections to its peer are still open.
    pub(crate) fn connection_closed(&mut self, id: ConnectionId, peer: PeerId, remaining: u32) {
        self.connections.remove(&id);
        if remaining == 0 {
            self.relay_candidates.remove(&peer);
            self.dialled.remove(&peer);
            self.first_relayed.remove(&peer);
            self.upgraded_after.remove(&peer);
        }
        self.set_connection_metric();
    }

    fn set_connection_metric(&self) {
        let relayed = self.connections.values().filter(|c| c.relayed).count();
        let direct = self.connections.len() - relayed;
        for (path, n) in [("direct", direct), ("relayed", relayed)] {
            self.metrics
                .connections
                .get_or_create(&PathLabel { path: path.into() })
                .set(n as i64);
        }
    }

    // ----- report -----

    /// The report `mesh doctor` prints, given this node's peer id, the swarm's listen and
    /// external addresses and AutoNAT's confidence.
    pub fn report(
        &self,
        local: PeerId,
        listen: &[Multiaddr],
        external: &[Multiaddr],
        confidence: usize,
    ) -> ReachabilityReport {
        let mut by_peer: HashMap<PeerId, (u32, u32)> = HashMap::new();
        for c in self.connections.values() {
            let e = by_peer.entry(c.peer).or_default();
            if c.relayed {
                e.1 += 1;
            } else {
                e.0 += 1;
            }
        }
        let mut peers: Vec<PeerPath> = by_peer
            .into_iter()
            .map(|(peer, (direct, relayed))| PeerPath {
                peer_id: peer.to_string(),
                path: if direct > 0 { "direct" } else { "relayed" }.into(),
                direct,
                relayed,
                upgraded_after_ms: self
                    .upgraded_after
                    .get(&peer)
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            })
            .collect();
        peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        let reservations = self
            .reservations
            .iter()
            .map(|r| ReservationView {
                relay: r.relay.to_string(),
                address: r.circuit.clone().with(Protocol::P2p(local)).to_string(),
                state: r.state,
                renewals: r.renewals,
                last_error: r.last_error.clone(),
                configured: r.configured,
            })
            .collect();
        let mut report = ReachabilityReport {
            role: self.role.name().into(),
            status: self.status,
            reason: self.reason.clone(),
            confidence,
            public_address: self.public_address.as_ref().map(ToString::to_string),
            nat: String::new(),
            upnp: self.upnp.clone(),
            listen_addrs: listen
                .iter()
                .filter(|a| !is_relayed(a))
                .map(ToString::to_string)
                .collect(),
            observed_addrs: self.observed.iter().map(ToString::to_string).collect(),
            external_addrs: external.iter().map(ToString::to_string).collect(),
            reservations,
            peers,
            hole_punching: self.punch.clone(),
            advice: Vec::new(),
        };
        report.nat = describe_nat(&report, self.upnp_enabled);
        report.advice = advise(&report, listen);
        report
    }
}

fn probe_reason(probe: &autonat::OutboundProbeEvent) -> Option<String> {
    use autonat::{OutboundProbeError as E, OutboundProbeEvent as P, ResponseError as R};
    match probe {
        P::Request { .. } => None,
        P::Response { peer, address, .. } => {
            Some(format!("peer {peer} dialled back this node at {address}"))
        }
        P::Error { peer, error, .. } => Some(match (peer, error) {
            (_, E::NoServer) => "no peer to probe with: AutoNAT needs a connected peer that \
                                 serves it (a coordinator) and that has not been asked lately"
                .into(),
            (_, E::NoAddresses) => "this node has no address to test yet".into(),
            (Some(p), E::OutboundRequest(e)) => format!("the probe to {p} failed: {e}"),
            (Some(p), E::Response(R::DialError)) => {
                format!("peer {p} could not dial back any of this node's addresses")
            }
            (Some(p), E::Response(R::DialRefused)) => format!(
                "peer {p} refused to dial back (throttled, or this node's address is not \
                 a global one)"
            ),
            (Some(p), E::Response(e)) => format!("peer {p} answered the probe with {e:?}"),
            (None, e) => format!("the probe failed: {e:?}"),
        }),
    }
}

fn describe_nat(r: &ReachabilityReport, upnp_enabled: bool) -> String {
    let upnp = if upnp_enabled {
        format!("UPnP: {}", r.upnp)
    } else {
        "UPnP off".to_owned()
    };
    let punch = if r.hole_punching.attempts > 0 {
        format!(
            "; hole punching succeeded {} of {} times",
            r.hole_punching.successes, r.hole_punching.attempts
        )
    } else {
        String::new()
    };
    let base = match r.status {
        Status::Public => "no NAT in the way: peers can dial this node directly".to_owned(),
        Status::Private => {
            let other_observed = r
                .observed_addrs
                .iter()
                .filter(|a| !r.listen_addrs.contains(a))
                .count();
            if other_observed > 0 {
                "behind a NAT: peers see this node at an address it does not listen on".to_owned()
            } else {
                "behind a NAT or a firewall that drops inbound connections".to_owned()
            }
        }
        Status::Unknown => "not known yet".to_owned(),
    };
    format!("{base} ({upnp}{punch})")
}

fn port_of(listen: &[Multiaddr]) -> Option<(u16, &'static str)> {
    listen.iter().find_map(|a| {
        a.iter().find_map(|p| match p {
            Protocol::Tcp(port) => Some((port, "TCP")),
            _ => None,
        })
    })
}

fn advise(r: &ReachabilityReport, listen: &[Multiaddr]) -> Vec<String> {
    let mut advice = Vec::new();
    let port = port_of(listen)
        .map(|(p, t)| format!("{t} port {p}"))
        .unwrap_or_else(|| "the listen port".into());
    let active = r
        .reservations
        .iter()
        .filter(|x| x.state == ReservationState::Active)
        .count();
    if r.peers.is_empty() {
        advice.push(
            "no peer is connected: start with --bootstrap <coordinator multiaddr>, or run on a \
             LAN with another node (mDNS)"
                .into(),
        );
    }
    match (r.role.as_str(), r.status) {
        ("coordinator", Status::Public) => {}
        ("coordinator", _) => advice.push(format!(
            "this coordinator is not confirmed reachable: agents behind NATs rely on it, so \
             open {port} (and the QUIC UDP port) to the Internet and, behind a 1:1 NAT, start \
             it with --external-address /ip4/<public ip>/tcp/<port>"
        )),
        (_, Status::Private) if active == 0 => advice.push(format!(
            "you are behind a NAT and no relay reservation is active: start with --relay \
             <coordinator multiaddr>, or forward {port} on your router to this machine"
        )),
        (_, Status::Private) => advice.push(format!(
            "you are behind a NAT and reachable through {active} relay reservation(s); direct \
             connections are attempted by hole punching; forwarding {port} on your router \
             would let peers connect directly"
        )),
        (_, Status::Unknown) if active == 0 && !r.peers.is_empty() => advice.push(
            "reachability is not known yet: AutoNAT needs a connected coordinator; if peers \
             cannot reach you, start with --relay <coordinator multiaddr>"
                .into(),
        ),
        _ => {}
    }
    let relayed = r.peers.iter().filter(|p| p.path == "relayed").count();
    if relayed > 0 && r.hole_punching.attempts > r.hole_punching.successes {
        advice.push(format!(
            "{relayed} peer(s) are reached only through a relay: hole punching failed, which \
             symmetric NATs cause; the relay keeps them connected"
        ));
    }
    advice
}
