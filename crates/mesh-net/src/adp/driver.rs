//! The ADP driver: the state of the Agent Discovery Protocol on one node and what it does with
//! each event.
//!
//! The event loop routes here the discovery commands, the results of the Kademlia queries the
//! driver started, agent records other nodes put in this node's part of the DHT, the answers of
//! rendezvous points to discovery requests, the record fetch (`/mesh/adp/record/1.0.0`) and the
//! ticks. The driver owns the verified agent records, the discoveries in flight (from their
//! provider lookups and rendezvous requests to their answer) and the announcements: this
//! node's agent record, its sequence number and load, and when it is next put in the DHT. What
//! reaches outside goes through an [`AdpContext`] the router hands in: the Kademlia, rendezvous
//! and record-fetch behaviours, the key, peers' local reputation, metrics, the store link and
//! the router's table of query purposes. Every method takes its clock readings (`now`,
//! `now_ms`) as arguments, so tests drive it with a controlled clock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use libp2p::gossipsub::{self, IdentTopic};
use libp2p::kad::store::{MemoryStore, RecordStore};
use libp2p::kad::{self, GetProvidersOk, GetRecordOk, QueryId, QueryResult, Quorum, Record};
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::{Multiaddr, PeerId, rendezvous};
use mesh_core::agent_record::{RECORD_TTL, agent_record_key, peer_of_record_key};
use mesh_core::{AgentRecord, Capability, Keypair, Observation, SignedAgentRecord, Skill};
use mesh_proto::v1::{AgentRecordRequest, AgentRecordResponse, TopicMember};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{AgentInfo, AgentQuery, MAX_RECORD_FETCHES, RecordCache, rank};
use crate::config::{DiscoverySources, NetConfig};
use crate::error::DiscoverError;
use crate::metrics::MeshMetrics;
use crate::peers::{MAX_ADDRS_PER_PEER, PeerBook};
use crate::persist::Write;
use crate::rate_limit::KeyedLimiter;
use crate::record_fetch::{AgentRecordCodec, MAX_MEMBER_ADDR_BYTES, MAX_MEMBER_ADDRS, MAX_MEMBERS};
use crate::rendezvous::{DiscoveryMetrics, namespace_of};

use super::spread::{self, Spread};

/// Least time between two announcements brought forward (see [`AdpDriver::announce_soon`]):
/// at most 12 a minute, each a few puts per close peer, under the default per-peer DHT put
/// limit (60 a minute).
const REANNOUNCE_GAP: Duration = Duration::from_secs(5);
/// Providers named by the DHT that a discovery also asks directly, each once, for their record
/// and which other members of the capability's topic they know: enough to enter the topic's
/// connection graph; the agents they name are asked in turn.
const MEMBER_ASKS: usize = 4;
/// Agents a discovery asks for their records because another agent named them (a topic
/// member), at most; none once the discovery holds as many agents as it was asked for.
const MEMBER_FOLLOWS: usize = 32;
/// How soon an announcement brought forward happens, at the earliest.
const ANNOUNCE_SOON: Duration = Duration::from_secs(1);
/// When the first announcement happens after the node starts.
const FIRST_ANNOUNCE: Duration = Duration::from_millis(300);
/// Announcements again this long after the node started, besides the periodic ones: the
/// peers closest to the node's keys are found only as its view of the network fills, and a
/// network changes most around a node that just joined it (or that started with many others).
/// A record announced once at start lies at the peers that were closest then; lookups made
/// later end at the peers closest now and miss it.
pub(crate) const SETTLING_ANNOUNCES: [Duration; 3] = [
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(8 * 60),
];
/// Each settling announcement falls at its time after the start plus up to this share of it
/// more, the node's own share ([`super::spread`]).
pub(crate) const SETTLING_SPREAD: f64 = 0.5;
/// Each periodic announcement falls up to this share of the interval early, the node's own
/// share for that announcement ([`super::spread`]).
pub(crate) const PERIODIC_SPREAD: f64 = 0.25;
/// Least time between two announcements asked for because one failed.
const ANNOUNCE_RETRY_GAP: Duration = Duration::from_secs(60);
/// Discovery queries in flight at most.
const MAX_DISCOVERIES: usize = 64;
/// Routing table size under which every new peer asks for a re-announcement (kept
/// [`REANNOUNCE_GAP`] apart): a node that just joined knows too few peers to find the closest.
const SMALL_NETWORK: usize = 20;
/// Rendezvous discover requests waiting for an answer, per rendezvous point, at most.
const MAX_WAITING_PER_POINT: usize = 64;
/// Peers the DHT put limit remembers at most.
const LIMITED_PEERS: usize = 16_384;

/// What a Kademlia query started by the driver is for; the router keeps it by query id and
/// hands it back with the query's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AdpQuery {
    /// The providers of a wanted capability, for the discovery of this id.
    Providers(u64),
    /// The agent record of a provider, for the discovery of this id.
    Record(u64, PeerId),
}

/// A change to the router's table of query purposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueryNote {
    /// The driver started this query: route its results back.
    Started(QueryId, AdpQuery),
    /// The driver is done with this query: its later results go nowhere.
    Dropped(QueryId),
}

/// What the driver reaches outside its own state. The router builds it from the swarm's
/// behaviours and its own fields by disjoint borrow.
pub(crate) struct AdpContext<'a> {
    /// The Kademlia DHT: provider lookups, record lookups and puts, the local record store.
    pub(crate) kad: &'a mut kad::Behaviour<MemoryStore>,
    /// The rendezvous client: discover requests to rendezvous points.
    pub(crate) rendezvous: &'a mut rendezvous::client::Behaviour,
    /// The record fetch: asks an agent for its own record, answers others' requests.
    pub(crate) record_fetch: &'a mut request_response::Behaviour<AgentRecordCodec>,
    /// Gossipsub, read only: which connected peers are subscribed to a capability's topic.
    pub(crate) gossipsub: &'a gossipsub::Behaviour,
    /// The connection gate: an agent asked for its record directly is marked for work, so
    /// the dial may use the reserve (a caller waits on the answer).
    pub(crate) gate: &'a mut crate::connections::gate::Behaviour,
    /// The node's key, which signs its agent record.
    pub(crate) keypair: &'a Keypair,
    /// Local reputation of peers, and their RTT for ranking.
    pub(crate) peers: &'a mut PeerBook,
    /// The node's metrics.
    pub(crate) metrics: &'a MeshMetrics,
    /// Where discovered agents came from (DHT or rendezvous).
    pub(crate) sources: &'a DiscoveryMetrics,
    /// The store link: queues a write, dropped when the queue is full or there is no store.
    pub(crate) store: &'a mut dyn FnMut(Write),
    /// The router's table of query purposes.
    pub(crate) queries: &'a mut dyn FnMut(QueryNote),
}

/// One discovery query in flight.
#[derive(Debug)]
struct Discovery {
    caps: Vec<Capability>,
    min_reputation: f64,
    limit: usize,
    deadline: Instant,
    /// When the query started, and whether it has held an agent record yet.
    started: Instant,
    agent_held: bool,
    provider_queries: HashSet<QueryId>,
    record_queries: HashMap<QueryId, PeerId>,
    requested: HashSet<PeerId>,
    found: HashMap<PeerId, SignedAgentRecord>,
    /// Whether a provider has been found yet (its lookup cost is counted once).
    provider_seen: bool,
    /// Rendezvous discover requests not answered yet.
    rendezvous_pending: usize,
    /// Agent records asked of the agents themselves, not answered yet.
    record_fetches: usize,
    /// Agents named by a rendezvous point (the others came from the DHT).
    via_rendezvous: HashSet<PeerId>,
    /// Agents named only by other agents of the capability (topic members).
    via_members: HashSet<PeerId>,
    /// Agents named by the DHT asked directly for their record and the topic's members
    /// ([`MEMBER_ASKS`] at most).
    members_asked: HashSet<PeerId>,
    reply: oneshot::Sender<Result<Vec<AgentInfo>, DiscoverError>>,
}

impl Discovery {
    /// Holds `record`, the verified agent record of `peer`; the first one held is timed.
    fn hold(&mut self, peer: PeerId, record: SignedAgentRecord, metrics: &MeshMetrics) {
        if !self.agent_held {
            self.agent_held = true;
            metrics
                .discovery_first_agent_seconds
                .0
                .observe(self.started.elapsed().as_secs_f64());
        }
        self.found.insert(peer, record);
    }

    fn new(
        caps: Vec<Capability>,
        min_reputation: f64,
        limit: usize,
        started: Instant,
        deadline: Instant,
        reply: oneshot::Sender<Result<Vec<AgentInfo>, DiscoverError>>,
    ) -> Self {
        Self {
            caps,
            min_reputation,
            limit,
            deadline,
            started,
            agent_held: false,
            provider_queries: HashSet::new(),
            record_queries: HashMap::new(),
            requested: HashSet::new(),
            found: HashMap::new(),
            provider_seen: false,
            rendezvous_pending: 0,
            record_fetches: 0,
            via_rendezvous: HashSet::new(),
            via_members: HashSet::new(),
            members_asked: HashSet::new(),
            reply,
        }
    }

    /// Whether every DHT query and rendezvous request of this discovery has finished.
    fn is_done(&self) -> bool {
        self.provider_queries.is_empty()
            && self.record_queries.is_empty()
            && self.rendezvous_pending == 0
            && self.record_fetches == 0
    }
}

/// What the driver takes from the node's configuration.
#[derive(Debug)]
struct Settings {
    agent_name: String,
    capabilities: Vec<Capability>,
    skills: Vec<Skill>,
    announce_interval: Duration,
    discovery_timeout: Duration,
    sources: DiscoverySources,
    discover_limit: u64,
}

/// The Agent Discovery Protocol's state on this node.
#[derive(Debug)]
pub(crate) struct AdpDriver {
    local: PeerId,
    settings: Settings,
    /// Verified agent records, this node's own among them.
    records: RecordCache,
    /// Discovery queries in flight, by id.
    discoveries: HashMap<u64, Discovery>,
    next_discovery: u64,
    /// The load this node advertises, in `[0, 1]`.
    load: f64,
    /// Sequence number of this node's last signed record.
    record_seq: u64,
    next_announce: Instant,
    /// When the driver started, which [`SETTLING_ANNOUNCES`] count from.
    started: Instant,
    /// The settling announcements made (or passed) so far.
    settled: usize,
    /// When this node last announced; re-announcements asked for keep [`REANNOUNCE_GAP`].
    last_announce: Option<Instant>,
    /// Routing table size at the last announcement.
    announced_table_size: usize,
    /// When a failed provider announcement last asked for a new one.
    last_announce_retry: Option<Instant>,
    /// Announcements made so far.
    announced: u64,
    /// When this node refreshes its DHT routing table the first time, unless done.
    first_refresh: Option<Instant>,
    /// Record fetches in flight: the discovery and the agent.
    record_fetches: HashMap<OutboundRequestId, (u64, PeerId)>,
    /// Discoveries waiting on each rendezvous point, in the order they asked.
    waiting: HashMap<PeerId, VecDeque<u64>>,
    /// DHT records and provider announcements stored per peer.
    put_limit: KeyedLimiter<PeerId>,
}

impl AdpDriver {
    /// A driver for the node `local` configured by `config`, started at `now`.
    pub(crate) fn new(config: &NetConfig, local: PeerId, now: Instant) -> Self {
        Self {
            local,
            settings: Settings {
                agent_name: config.agent_name.clone(),
                capabilities: config.capabilities.clone(),
                skills: config.skills.clone(),
                announce_interval: config.announce_interval,
                discovery_timeout: config.discovery_timeout,
                sources: config.discovery,
                discover_limit: config.rendezvous.discover_limit,
            },
            records: RecordCache::default(),
            discoveries: HashMap::new(),
            next_discovery: 0,
            load: 0.0,
            record_seq: 0,
            next_announce: now + FIRST_ANNOUNCE,
            started: now,
            settled: 0,
            last_announce: None,
            announced_table_size: 0,
            last_announce_retry: None,
            announced: 0,
            first_refresh: Some(
                now + crate::behaviour::DHT_REFRESH_INTERVAL
                    .mul_f64(spread::share(&local, Spread::Refresh)),
            ),
            record_fetches: HashMap::new(),
            waiting: HashMap::new(),
            put_limit: KeyedLimiter::new(config.limits.dht_puts_per_peer, LIMITED_PEERS),
        }
    }

    /// Answers every discovery in flight that the node stopped.
    pub(crate) fn stop(&mut self) {
        for (_, d) in self.discoveries.drain() {
            let _ = d.reply.send(Err(DiscoverError::Stopped));
        }
    }

    // ----- agent records -----

    /// Caches a record read back from the store.
    pub(crate) fn cache_record(&mut self, record: SignedAgentRecord) {
        self.records.insert(record);
    }

    /// Caches a verified record and, unless it is this node's, stores it.
    fn remember(&mut self, ctx: &mut AdpContext<'_>, record: &SignedAgentRecord) {
        self.records.insert(record.clone());
        if record.peer_id != self.local {
            (ctx.store)(Write::AgentRecord(mesh_store::StoredAgentRecord {
                peer_id: record.peer_id.to_bytes(),
                envelope: record.envelope.clone(),
                expires_at_unix_ms: record.expires_at_ms,
            }));
        }
    }

    /// A peer stores a record or a provider announcement in this node's part of the DHT
    /// (Kademlia hands these over unstored): each peer within its put limit.
    pub(crate) fn on_inbound(
        &mut self,
        ctx: &mut AdpContext<'_>,
        request: kad::InboundRequest,
        now: Instant,
        now_ms: u64,
    ) {
        match request {
            kad::InboundRequest::PutRecord {
                source,
                record: Some(record),
                ..
            } => {
                if !self.put_limit.allow(&source, now) {
                    ctx.metrics.reject_record("rate_limited");
                    tracing::debug!(peer = %source, "record dropped: over the put limit");
                    return;
                }
                self.on_put_record(ctx, source, record, now, now_ms);
            }
            kad::InboundRequest::AddProvider {
                record: Some(record),
            } => {
                // libp2p takes a provider record only from the provider itself.
                if !self.put_limit.allow(&record.provider, now) {
                    ctx.metrics.reject_record("rate_limited");
                    tracing::debug!(peer = %record.provider, "provider record dropped: over the put limit");
                    return;
                }
                tracing::trace!(local = %self.local, provider = %record.provider, key = ?record.key, "provider record stored");
                if let Err(e) = ctx.kad.store_mut().add_provider(record) {
                    tracing::debug!(error = %e, "provider store full");
                }
            }
            _ => {}
        }
    }

    /// `source` put `record` in this node's part of the DHT, within its put limit: kept if it
    /// is a valid agent record newer than the one held, for an hour at most; a record that
    /// does not verify lowers the sender's reputation.
    fn on_put_record(
        &mut self,
        ctx: &mut AdpContext<'_>,
        source: PeerId,
        mut record: Record,
        now: Instant,
        now_ms: u64,
    ) {
        let Some(owner) = peer_of_record_key(record.key.as_ref()) else {
            ctx.metrics.reject_record("unknown_key");
            ctx.peers.observe(source, Observation::Invalid);
            return;
        };
        match SignedAgentRecord::verify(&record.value, Some(owner), now_ms) {
            Ok(verified) => {
                let newer = self
                    .records
                    .get(&owner, now_ms)
                    .is_none_or(|r| r.seq <= verified.seq);
                if newer {
                    let expires = now
                        + Duration::from_millis(verified.expires_at_ms.saturating_sub(now_ms))
                            .min(RECORD_TTL);
                    record.expires = Some(expires);
                    if let Err(e) = ctx.kad.store_mut().put(record) {
                        tracing::debug!(error = %e, "record store full");
                    }
                    self.remember(ctx, &verified);
                }
                ctx.peers.observe(source, Observation::Valid);
            }
            Err(e) => {
                ctx.metrics.reject_record(record_reason(&e));
                let score = ctx.peers.observe(source, Observation::Invalid);
                tracing::warn!(peer = %source, error = %e, score, "invalid agent record refused");
            }
        }
    }

    /// An event of the record fetch: a request for this node's record, or the answer to a
    /// request of a discovery.
    pub(crate) fn on_record_fetch(
        &mut self,
        ctx: &mut AdpContext<'_>,
        event: request_response::Event<AgentRecordRequest, AgentRecordResponse>,
        now_ms: u64,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let envelope = self
                    .records
                    .get(&self.local, now_ms)
                    .map(|r| r.envelope.clone())
                    .unwrap_or_default();
                let members = topic_members(ctx, &request.capability, &peer);
                let _ = ctx
                    .record_fetch
                    .send_response(channel, AgentRecordResponse { envelope, members });
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                let Some((id, asked)) = self.record_fetches.remove(&request_id) else {
                    return;
                };
                if !response.envelope.is_empty() {
                    match SignedAgentRecord::verify(&response.envelope, Some(asked), now_ms) {
                        Ok(record) => {
                            self.remember(ctx, &record);
                            if let Some(d) = self.discoveries.get_mut(&id) {
                                d.hold(asked, record, ctx.metrics);
                                // The agent answered first: its record lookup is not needed.
                                d.record_queries.retain(|qid, p| {
                                    let keep = *p != asked;
                                    if !keep {
                                        end_record_lookup(ctx, *qid);
                                    }
                                    keep
                                });
                            }
                        }
                        Err(e) => {
                            let score = ctx.peers.observe(peer, Observation::Invalid);
                            tracing::warn!(%peer, error = %e, score, "invalid agent record sent");
                        }
                    }
                }
                self.follow_members(ctx, id, response.members, now_ms);
                self.record_fetch_done(ctx, id);
            }
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some((id, peer)) = self.record_fetches.remove(&request_id) {
                    tracing::debug!(%peer, %error, "agent record fetch failed");
                    ctx.metrics.record_fetch_failures.inc();
                    self.look_up_member(ctx, id, peer);
                    self.record_fetch_done(ctx, id);
                }
            }
            _ => {}
        }
    }

    // ----- announcements -----

    /// Sets the load this node advertises, and announces it soon.
    pub(crate) fn set_load(&mut self, load: f64, now: Instant) {
        self.load = load;
        self.announce_soon(now);
    }

    /// Brings the next announcement forward (new addresses, a new load, a routing table that
    /// is still filling up), but never closer than [`REANNOUNCE_GAP`] to the last one: a node
    /// joining a network meets a new peer every few hundred milliseconds, and each
    /// announcement is several DHT puts to each of the closest peers, whose put limits would
    /// refuse the burst.
    pub(crate) fn announce_soon(&mut self, now: Instant) {
        let mut soon = now + ANNOUNCE_SOON;
        if let Some(last) = self.last_announce {
            soon = soon.max(last + REANNOUNCE_GAP);
        }
        if self.next_announce > soon {
            self.next_announce = soon;
        }
    }

    /// When the announcement after one made at `now` is due: the next settling announcement
    /// still ahead, or else a period later.
    fn after_announcing(&mut self, now: Instant) -> Instant {
        let periodic = self.periodic_after(now);
        while self.settled < SETTLING_ANNOUNCES.len() {
            let at = self.settling_at(self.settled);
            if at > now {
                return periodic.min(at);
            }
            self.settled += 1;
        }
        periodic
    }

    /// When the `n`th settling announcement is due: [`SETTLING_ANNOUNCES`]`[n]` after the
    /// start, and this node's share of [`SETTLING_SPREAD`] of it later.
    pub(crate) fn settling_at(&self, n: usize) -> Instant {
        let after = SETTLING_ANNOUNCES.get(n).copied().unwrap_or_default();
        let share = spread::share(&self.local, Spread::Settling(n));
        self.started + after + after.mul_f64(SETTLING_SPREAD * share)
    }

    /// When the periodic announcement after one made at `at` is due: an interval later, less
    /// this node's share of [`PERIODIC_SPREAD`] of it for this announcement.
    pub(crate) fn periodic_after(&self, at: Instant) -> Instant {
        let interval = self.settings.announce_interval;
        let share = spread::share(&self.local, Spread::Periodic(self.announced));
        at + interval - interval.mul_f64(PERIODIC_SPREAD * share)
    }

    /// Whether the node's first DHT refresh is due at `now`; true once. Every node refreshes
    /// its routing table every [`crate::behaviour::DHT_REFRESH_INTERVAL`] from its last
    /// refresh; the first falls at this node's share of the interval after its start, so that
    /// nodes started together do not refresh together ever after.
    pub(crate) fn first_refresh_due(&mut self, now: Instant) -> bool {
        if self.first_refresh.is_some_and(|at| now >= at) {
            self.first_refresh = None;
            return true;
        }
        false
    }

    /// Passes over the settling announcements, for tests of the other announcements.
    #[cfg(test)]
    pub(crate) fn skip_settling(&mut self) {
        self.settled = SETTLING_ANNOUNCES.len();
    }

    /// Whether the next announcement is due.
    pub(crate) fn announce_due(&self, now: Instant) -> bool {
        now >= self.next_announce
    }

    /// Announces this node: provides the topic key of each of its `topics` and, if it offers
    /// capabilities, signs a new agent record with `addresses`, puts it in the DHT and provides
    /// the key of each capability.
    pub(crate) fn announce(
        &mut self,
        ctx: &mut AdpContext<'_>,
        topics: &[Capability],
        addresses: Vec<Multiaddr>,
        now: Instant,
        now_ms: u64,
    ) {
        self.announced += 1;
        self.next_announce = self.after_announcing(now);
        self.last_announce = Some(now);
        self.announced_table_size = routing_table_size(ctx.kad);
        for cap in topics {
            provide(ctx.kad, cap.topic_provider_key());
        }
        if self.settings.capabilities.is_empty() {
            return;
        }
        self.record_seq = now_ms.max(self.record_seq + 1);
        let record = AgentRecord {
            name: self.settings.agent_name.clone(),
            capabilities: self.settings.capabilities.clone(),
            skills: self.settings.skills.clone(),
            addresses,
            load: self.load,
        };
        let signed = match record.sign(ctx.keypair, self.record_seq, now_ms, RECORD_TTL) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot sign own agent record");
                return;
            }
        };
        let kad_record = Record {
            key: kad::RecordKey::new(&agent_record_key(&self.local)),
            value: signed.envelope.clone(),
            publisher: Some(self.local),
            expires: Some(now + RECORD_TTL),
        };
        if let Err(e) = ctx.kad.put_record(kad_record, Quorum::One) {
            tracing::warn!(error = %e, "cannot store own agent record");
        }
        for cap in &self.settings.capabilities {
            provide(ctx.kad, cap.provider_key());
        }
        (ctx.store)(Write::OwnRecord(signed.envelope.clone()));
        self.records.insert(signed);
        ctx.metrics.announcements.inc();
        tracing::debug!(seq = self.record_seq, "agent record announced");
    }

    /// The DHT routing table changed. Beyond a small network, a new peer asks for an
    /// announcement again each time the table doubled since the last one: the peers closest
    /// to this node's keys are only found as the table fills, and records stored elsewhere are
    /// missed by lookups until the next periodic announcement.
    pub(crate) fn on_routing_updated(
        &mut self,
        ctx: &mut AdpContext<'_>,
        is_new_peer: bool,
        now: Instant,
    ) {
        let size = routing_table_size(ctx.kad);
        if is_new_peer && (size <= SMALL_NETWORK || size >= 2 * self.announced_table_size) {
            self.announce_soon(now);
        }
    }

    /// A Kademlia query progressed: a failed provider announcement asks for a new one, at most
    /// once every [`ANNOUNCE_RETRY_GAP`]. Other results are not the driver's concern here.
    pub(crate) fn on_provide_result(
        &mut self,
        result: &QueryResult,
        stats: &kad::QueryStats,
        now: Instant,
    ) {
        match result {
            QueryResult::StartProviding(Err(e)) => {
                // The lookup before the puts timed out (a loaded node, unresponsive peers), so
                // no peer stored the record: announce again, at most once a minute.
                tracing::debug!(error = %e, requests = stats.num_requests(), successes = stats.num_successes(), "provider announcement failed");
                if self
                    .last_announce_retry
                    .is_none_or(|t| now.duration_since(t) >= ANNOUNCE_RETRY_GAP)
                {
                    self.last_announce_retry = Some(now);
                    self.announce_soon(now);
                }
            }
            QueryResult::StartProviding(Ok(_)) => {
                tracing::trace!(
                    requests = stats.num_requests(),
                    successes = stats.num_successes(),
                    "provider announcement done"
                );
            }
            _ => {}
        }
    }

    // ----- discoveries -----

    /// Starts a discovery: a provider lookup in the DHT for each wanted capability, and a
    /// discover request to each of the rendezvous `points`. Answers on `reply` once every
    /// lookup and request has ended, or at the deadline; more than [`MAX_DISCOVERIES`] in
    /// flight are refused as busy.
    pub(crate) fn start_discovery(
        &mut self,
        ctx: &mut AdpContext<'_>,
        query: AgentQuery,
        reply: oneshot::Sender<Result<Vec<AgentInfo>, DiscoverError>>,
        points: &[PeerId],
        now: Instant,
    ) {
        let (caps, min, limit) = match query.validate() {
            Ok(v) => v,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        if self.discoveries.len() >= MAX_DISCOVERIES {
            ctx.metrics.discovery(false);
            let _ = reply.send(Err(DiscoverError::Busy {
                what: "discovery queries",
                limit: MAX_DISCOVERIES,
            }));
            return;
        }
        let id = self.next_discovery;
        self.next_discovery += 1;
        let deadline = now + self.settings.discovery_timeout;
        let mut discovery = Discovery::new(caps.clone(), min, limit, now, deadline, reply);
        for cap in caps.iter().filter(|_| self.settings.sources.dht) {
            let qid = ctx
                .kad
                .get_providers(kad::RecordKey::new(&cap.provider_key()));
            (ctx.queries)(QueryNote::Started(qid, AdpQuery::Providers(id)));
            discovery.provider_queries.insert(qid);
        }
        self.start_rendezvous_discovery(ctx, id, &mut discovery, points);
        self.discoveries.insert(id, discovery);
        self.maybe_finish(ctx, id);
    }

    /// Asks every rendezvous point for the agents of the first wanted capability (every result
    /// is checked against all of them once its record arrives).
    fn start_rendezvous_discovery(
        &mut self,
        ctx: &mut AdpContext<'_>,
        id: u64,
        discovery: &mut Discovery,
        points: &[PeerId],
    ) {
        if !self.settings.sources.rendezvous {
            return;
        }
        let Some(ns) = discovery.caps.first().and_then(namespace_of) else {
            return;
        };
        let limit = Some(self.settings.discover_limit);
        for &point in points {
            let queue = self.waiting.entry(point).or_default();
            if queue.len() >= MAX_WAITING_PER_POINT {
                continue;
            }
            queue.push_back(id);
            ctx.rendezvous
                .discover(Some(ns.clone()), None, limit, point);
            discovery.rendezvous_pending += 1;
        }
    }

    /// A result of the Kademlia query `qid`, started for `query`.
    pub(crate) fn on_query_result(
        &mut self,
        ctx: &mut AdpContext<'_>,
        qid: QueryId,
        query: AdpQuery,
        result: QueryResult,
        stats: &kad::QueryStats,
        now_ms: u64,
    ) {
        match (query, result) {
            (
                AdpQuery::Providers(id),
                QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders { providers, .. })),
            ) => self.on_providers_found(ctx, id, providers, stats, now_ms),
            (
                AdpQuery::Providers(_),
                QueryResult::GetProviders(Ok(GetProvidersOk::FinishedWithNoAdditionalRecord {
                    closest_peers,
                })),
            ) => {
                tracing::trace!(local = %self.local, ?closest_peers, requests = stats.num_requests(), "provider lookup ended");
            }
            (
                AdpQuery::Record(id, peer),
                QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(found))),
            ) => self.on_record_found(ctx, qid, id, peer, found, now_ms),
            (AdpQuery::Record(id, peer), QueryResult::GetRecord(Err(e))) => {
                tracing::debug!(%peer, error = %e, "agent record not in the DHT; asking the agent");
                ctx.metrics.record_fallbacks.inc();
                // Not asked again if it was asked directly already (a provider asked at once,
                // or a member whose answer failed and brought this lookup).
                let asked = self.discoveries.get(&id).is_some_and(|d| {
                    d.members_asked.contains(&peer) || d.via_members.contains(&peer)
                });
                if !asked {
                    self.request_record(ctx, id, peer, Vec::new());
                }
            }
            _ => {}
        }
    }

    fn on_providers_found(
        &mut self,
        ctx: &mut AdpContext<'_>,
        id: u64,
        providers: HashSet<PeerId>,
        stats: &kad::QueryStats,
        now_ms: u64,
    ) {
        let Some(d) = self.discoveries.get_mut(&id) else {
            return;
        };
        if !d.provider_seen && providers.iter().any(|p| *p != self.local) {
            d.provider_seen = true;
            ctx.metrics
                .discovery_first_provider_requests
                .0
                .observe(f64::from(stats.num_requests()));
        }
        let mut asks = Vec::new();
        for peer in providers {
            if peer == self.local
                || d.requested.len() >= MAX_RECORD_FETCHES
                || !d.requested.insert(peer)
            {
                continue;
            }
            ctx.metrics.discovery_providers_seen.inc();
            if let Some(cached) = self.records.get(&peer, now_ms) {
                asks.push((peer, cached.addresses.clone()));
                d.hold(peer, cached.clone(), ctx.metrics);
                continue;
            }
            start_record_lookup(ctx, d, id, peer);
            // Asked at once as well, while the provider lookup still holds the addresses
            // its answers gave for the provider: whichever answer comes first is kept.
            asks.push((peer, Vec::new()));
        }
        for (peer, addrs) in asks {
            self.ask_members(ctx, id, peer, addrs);
        }
    }

    fn on_record_found(
        &mut self,
        ctx: &mut AdpContext<'_>,
        qid: QueryId,
        id: u64,
        peer: PeerId,
        found: kad::PeerRecord,
        now_ms: u64,
    ) {
        match SignedAgentRecord::verify(&found.record.value, Some(peer), now_ms) {
            Ok(record) => {
                if let Some(served_by) = found.peer {
                    ctx.peers.observe(served_by, Observation::Valid);
                }
                self.remember(ctx, &record);
                let addrs = record.addresses.clone();
                if let Some(d) = self.discoveries.get_mut(&id) {
                    d.hold(peer, record, ctx.metrics);
                    d.record_queries.remove(&qid);
                }
                end_record_lookup(ctx, qid);
                self.ask_members(ctx, id, peer, addrs);
                self.maybe_finish(ctx, id);
            }
            Err(e) => {
                ctx.metrics.reject_record(record_reason(&e));
                if let Some(served_by) = found.peer {
                    let score = ctx.peers.observe(served_by, Observation::Invalid);
                    tracing::warn!(peer = %served_by, error = %e, score, "invalid agent record served");
                }
            }
        }
    }

    /// The Kademlia query `qid` is over: the discoveries that waited on it and on nothing else
    /// answer.
    pub(crate) fn query_ended(&mut self, ctx: &mut AdpContext<'_>, qid: QueryId) {
        for d in self.discoveries.values_mut() {
            d.provider_queries.remove(&qid);
            d.record_queries.remove(&qid);
        }
        let done: Vec<u64> = self
            .discoveries
            .iter()
            .filter(|(_, d)| d.is_done())
            .map(|(k, _)| *k)
            .collect();
        for id in done {
            self.finish(ctx, id);
        }
    }

    /// The rendezvous point `point` answered the oldest discover request waiting on it with
    /// `registrations`: the record of each agent named is taken from the cache or asked of the
    /// agent. Returns the addresses of those agents worth dialling (`local_link`: whether the
    /// point is on the local link), for the router to hand the swarm; none if no discovery
    /// waited on the point.
    pub(crate) fn on_rendezvous_discovered(
        &mut self,
        ctx: &mut AdpContext<'_>,
        point: PeerId,
        registrations: Vec<rendezvous::Registration>,
        local_link: bool,
        now_ms: u64,
    ) -> Vec<(PeerId, Multiaddr)> {
        let mut addresses = Vec::new();
        let Some(id) = self.next_waiting(point) else {
            return addresses;
        };
        for r in registrations {
            let peer = r.record.peer_id();
            if peer == self.local {
                continue;
            }
            addresses.extend(
                r.record
                    .addresses()
                    .iter()
                    .filter(|a| crate::addr_scope::usable(a, local_link))
                    .take(MAX_ADDRS_PER_PEER)
                    .map(|a| (peer, a.clone())),
            );
            self.fetch_record(ctx, id, peer, now_ms);
        }
        if let Some(d) = self.discoveries.get_mut(&id) {
            d.rendezvous_pending = d.rendezvous_pending.saturating_sub(1);
        }
        self.maybe_finish(ctx, id);
        addresses
    }

    /// The oldest discover request waiting on `point` failed.
    pub(crate) fn on_rendezvous_failed(&mut self, ctx: &mut AdpContext<'_>, point: PeerId) {
        if let Some(id) = self.next_waiting(point) {
            if let Some(d) = self.discoveries.get_mut(&id) {
                d.rendezvous_pending = d.rendezvous_pending.saturating_sub(1);
            }
            self.maybe_finish(ctx, id);
        }
    }

    fn next_waiting(&mut self, point: PeerId) -> Option<u64> {
        let queue = self.waiting.get_mut(&point)?;
        let id = queue.pop_front();
        if queue.is_empty() {
            self.waiting.remove(&point);
        }
        id
    }

    /// Gets the record of `peer`, named by a rendezvous point, for discovery `id`: from the
    /// cache, else from the agent itself.
    fn fetch_record(&mut self, ctx: &mut AdpContext<'_>, id: u64, peer: PeerId, now_ms: u64) {
        let cached = self.records.get(&peer, now_ms).cloned();
        let Some(d) = self.discoveries.get_mut(&id) else {
            return;
        };
        d.via_rendezvous.insert(peer);
        if d.requested.len() >= MAX_RECORD_FETCHES || !d.requested.insert(peer) {
            return;
        }
        if let Some(record) = cached {
            d.hold(peer, record, ctx.metrics);
            return;
        }
        self.request_record(ctx, id, peer, Vec::new());
    }

    /// Asks `peer` itself for its agent record, and the members of the discovery's
    /// capability topic it is connected to, for discovery `id`: a peer found through
    /// rendezvous, a provider whose record the DHT did not hold (its puts may have been
    /// refused or expired; the agent always has its own), or an agent another one named.
    /// `addrs` are tried besides those the node knows.
    fn request_record(
        &mut self,
        ctx: &mut AdpContext<'_>,
        id: u64,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) {
        let Some(d) = self.discoveries.get_mut(&id) else {
            return;
        };
        d.record_fetches += 1;
        if !ctx.peers.is_connected(&peer) {
            ctx.gate.prioritise(peer, Instant::now());
        }
        let request = AgentRecordRequest {
            capability: d.caps.first().map(ToString::to_string).unwrap_or_default(),
        };
        let req = ctx
            .record_fetch
            .send_request_with_addresses(&peer, request, addrs);
        self.record_fetches.insert(req, (id, peer));
    }

    /// Asks `peer`, a provider the DHT named, directly for its record and the members of the
    /// capability's topic it knows: the first [`MEMBER_ASKS`] providers of a discovery, once
    /// each, at `addrs` (from its record) besides those the node knows, while it holds fewer
    /// agents than it was asked for. The discovery answers once these answers are in too (or
    /// at its deadline).
    fn ask_members(
        &mut self,
        ctx: &mut AdpContext<'_>,
        id: u64,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) {
        let Some(d) = self.discoveries.get_mut(&id) else {
            return;
        };
        if d.members_asked.len() >= MEMBER_ASKS
            || d.found.len() >= d.limit
            || !d.members_asked.insert(peer)
        {
            return;
        }
        self.request_record(ctx, id, peer, addrs);
    }

    /// A member named to discovery `id` that could not be asked for its record (no address
    /// worked, or it did not answer): its record is looked up in the DHT instead, where it put
    /// it, as for a provider the DHT named. A member named first may be a provider the DHT
    /// names later, which the discovery then does not look up again.
    fn look_up_member(&mut self, ctx: &mut AdpContext<'_>, id: u64, peer: PeerId) {
        let Some(d) = self.discoveries.get_mut(&id) else {
            return;
        };
        if !d.via_members.contains(&peer)
            || d.found.contains_key(&peer)
            || d.record_queries.values().any(|p| *p == peer)
        {
            return;
        }
        start_record_lookup(ctx, d, id, peer);
    }

    /// The topic members an agent named in its answer to discovery `id`: each one not asked
    /// yet is asked for its own record (and its members in turn), [`MEMBER_FOLLOWS`] at most,
    /// and none once the discovery holds as many agents as it was asked for. Members are
    /// hints from one peer: only a record the member itself signed is held.
    fn follow_members(
        &mut self,
        ctx: &mut AdpContext<'_>,
        id: u64,
        members: Vec<TopicMember>,
        now_ms: u64,
    ) {
        let local_link = ctx.peers.any_local_link();
        for member in members.into_iter().take(MAX_MEMBERS) {
            let Ok(peer) = PeerId::from_bytes(&member.peer_id) else {
                continue;
            };
            if peer == self.local {
                continue;
            }
            let cached = self.records.get(&peer, now_ms).cloned();
            let Some(d) = self.discoveries.get_mut(&id) else {
                return;
            };
            if d.found.len() >= d.limit
                || d.via_members.len() >= MEMBER_FOLLOWS
                || d.requested.len() >= MAX_RECORD_FETCHES
            {
                return;
            }
            if !d.requested.insert(peer) {
                continue;
            }
            d.via_members.insert(peer);
            ctx.metrics.discovery_members_named.inc();
            if let Some(record) = cached {
                let addrs = record.addresses.clone();
                d.hold(peer, record, ctx.metrics);
                self.ask_members(ctx, id, peer, addrs);
                continue;
            }
            let addrs = member
                .addrs
                .into_iter()
                .take(MAX_MEMBER_ADDRS)
                .filter_map(|bytes| Multiaddr::try_from(bytes).ok())
                .filter(|a| crate::addr_scope::usable(a, local_link))
                .collect();
            self.request_record(ctx, id, peer, addrs);
        }
    }

    fn record_fetch_done(&mut self, ctx: &mut AdpContext<'_>, id: u64) {
        if let Some(d) = self.discoveries.get_mut(&id) {
            d.record_fetches = d.record_fetches.saturating_sub(1);
        }
        self.maybe_finish(ctx, id);
    }

    /// Answers the discoveries past their deadline with what they found.
    pub(crate) fn expire(&mut self, ctx: &mut AdpContext<'_>, now: Instant) {
        let expired: Vec<u64> = self
            .discoveries
            .iter()
            .filter(|(_, d)| d.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for id in expired {
            self.finish(ctx, id);
        }
    }

    fn maybe_finish(&mut self, ctx: &mut AdpContext<'_>, id: u64) {
        if self.discoveries.get(&id).is_some_and(Discovery::is_done) {
            self.finish(ctx, id);
        }
    }

    /// Answers discovery `id` with the agents it found, ranked.
    fn finish(&mut self, ctx: &mut AdpContext<'_>, id: u64) {
        let Some(d) = self.discoveries.remove(&id) else {
            return;
        };
        for peer in d.found.keys() {
            let source = if d.via_rendezvous.contains(peer) {
                "rendezvous"
            } else if d.via_members.contains(peer) {
                "members"
            } else {
                "dht"
            };
            ctx.sources.found_through(source);
        }
        let peers = &*ctx.peers;
        let agents = rank(
            d.found.values(),
            &d.caps,
            d.min_reputation,
            d.limit,
            |p| peers.reputation(p),
            |p| peers.rtt_of(p),
        );
        ctx.metrics.discovery(true);
        ctx.metrics.agents_discovered.inc_by(agents.len() as u64);
        let _ = d.reply.send(Ok(agents));
    }
}

/// The addresses put in this node's agent record: its listen addresses, then its external
/// ones, [`mesh_core::agent_record::MAX_ADDRESSES`] at most.
pub(crate) fn record_addresses<'a>(
    listen: &'a [Multiaddr],
    external: impl Iterator<Item = &'a Multiaddr>,
) -> Vec<Multiaddr> {
    listen
        .iter()
        .chain(external)
        .take(mesh_core::agent_record::MAX_ADDRESSES)
        .cloned()
        .collect()
}

/// Looks up `peer`'s agent record in the DHT for discovery `d` (numbered `id`).
fn start_record_lookup(ctx: &mut AdpContext<'_>, d: &mut Discovery, id: u64, peer: PeerId) {
    let qid = ctx
        .kad
        .get_record(kad::RecordKey::new(&agent_record_key(&peer)));
    d.record_queries.insert(qid, peer);
    (ctx.queries)(QueryNote::Started(qid, AdpQuery::Record(id, peer)));
}

/// Ends the record lookup `qid`, whose answer is no longer needed; the router forgets it.
fn end_record_lookup(ctx: &mut AdpContext<'_>, qid: QueryId) {
    (ctx.queries)(QueryNote::Dropped(qid));
    if let Some(mut q) = ctx.kad.query_mut(&qid) {
        q.finish();
    }
}

/// The peers subscribed to `capability`'s intent topic that this node is connected to, other
/// than `asker`, with the addresses they listen on: [`MAX_MEMBERS`] at most. None when
/// `capability` is empty or not a capability name.
fn topic_members(ctx: &AdpContext<'_>, capability: &str, asker: &PeerId) -> Vec<TopicMember> {
    if capability.is_empty() {
        return Vec::new();
    }
    let Ok(cap) = Capability::new(capability) else {
        return Vec::new();
    };
    let topic = IdentTopic::new(cap.topic()).hash();
    ctx.gossipsub
        .all_peers()
        .filter(|(peer, topics)| *peer != asker && topics.contains(&&topic))
        .take(MAX_MEMBERS)
        .map(|(peer, _)| TopicMember {
            peer_id: peer.to_bytes(),
            addrs: ctx
                .peers
                .listen_addrs(peer)
                .iter()
                .map(Multiaddr::to_vec)
                .filter(|bytes| bytes.len() <= MAX_MEMBER_ADDR_BYTES)
                .take(MAX_MEMBER_ADDRS)
                .collect(),
        })
        .collect()
}

/// Makes this node a provider of `key` in the DHT.
pub(crate) fn provide(kad: &mut kad::Behaviour<MemoryStore>, key: Vec<u8>) {
    if let Err(e) = kad.start_providing(kad::RecordKey::new(&key)) {
        tracing::warn!(error = %e, "cannot store provider record");
    }
}

/// Peers in the DHT routing table.
fn routing_table_size(kad: &mut kad::Behaviour<MemoryStore>) -> usize {
    kad.kbuckets().map(|b| b.num_entries()).sum()
}

/// The label under which a refused agent record is counted.
fn record_reason(e: &mesh_core::AgentRecordError) -> &'static str {
    use mesh_core::AgentRecordError as E;
    use mesh_core::envelope::EnvelopeError as V;
    match e {
        E::Envelope(V::BadSignature) => "bad_signature",
        E::Envelope(V::TooLarge { .. }) => "too_large",
        E::Envelope(_) | E::Malformed(_) => "malformed",
        E::PeerMismatch { .. } => "peer_mismatch",
        E::Expired { .. } => "expired",
        E::Invalid { .. } | E::Capability(_) => "invalid_field",
    }
}

#[cfg(test)]
mod tests;
