//! Unit tests of the ADP driver: standalone behaviours (no swarm), a controlled clock.

use super::*;
use crate::metrics::ReasonLabel;
use crate::rendezvous::SourceLabel;
use libp2p::core::PeerRecord;
use tokio::sync::oneshot::error::TryRecvError;

const NOW_MS: u64 = 1_700_000_000_000;

type Answer = oneshot::Receiver<Result<Vec<AgentInfo>, DiscoverError>>;

/// A driver with standalone behaviours (no swarm: queries and requests just wait), and
/// what it did outside itself.
struct Harness {
    adp: AdpDriver,
    kad: kad::Behaviour<MemoryStore>,
    rendezvous: rendezvous::client::Behaviour,
    record_fetch: request_response::Behaviour<AgentRecordCodec>,
    gossipsub: gossipsub::Behaviour,
    keypair: Keypair,
    peers: PeerBook,
    metrics: MeshMetrics,
    sources: DiscoveryMetrics,
    gate: crate::connections::gate::Behaviour,
    writes: Vec<Write>,
    queries: HashMap<QueryId, AdpQuery>,
    start: Instant,
}

impl Harness {
    /// A node offering `capabilities`, discovering through the DHT, rendezvous or both.
    fn new(dht: bool, rendezvous: bool, capabilities: &[&str]) -> Self {
        let keypair = Keypair::generate_ed25519();
        let local = keypair.public().to_peer_id();
        let mut config = NetConfig::new(Vec::new())
            .with_capabilities(capabilities.iter().map(|c| cap(c)).collect());
        config.discovery = DiscoverySources { dht, rendezvous };
        let start = Instant::now();
        Self {
            adp: AdpDriver::new(&config, local, start),
            kad: kad::Behaviour::new(local, MemoryStore::new(local)),
            rendezvous: rendezvous::client::Behaviour::new(keypair.clone()),
            record_fetch: crate::record_fetch::behaviour(Duration::from_secs(10)),
            gossipsub: gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(keypair.clone()),
                gossipsub::Config::default(),
            )
            .expect("a gossipsub behaviour"),
            gate: crate::connections::gate::Behaviour::new(48, 8, Vec::new()),
            keypair,
            peers: PeerBook::default(),
            metrics: MeshMetrics::default(),
            sources: DiscoveryMetrics::default(),
            writes: Vec::new(),
            queries: HashMap::new(),
            start,
        }
    }

    /// Runs `f` with the driver and a context over the harness.
    fn with<R>(&mut self, f: impl FnOnce(&mut AdpDriver, &mut AdpContext<'_>) -> R) -> R {
        let writes = &mut self.writes;
        let mut store = |w: Write| writes.push(w);
        let queries = &mut self.queries;
        let mut note = |n: QueryNote| match n {
            QueryNote::Started(id, q) => {
                queries.insert(id, q);
            }
            QueryNote::Dropped(id) => {
                queries.remove(&id);
            }
        };
        let mut ctx = AdpContext {
            kad: &mut self.kad,
            rendezvous: &mut self.rendezvous,
            record_fetch: &mut self.record_fetch,
            gossipsub: &self.gossipsub,
            gate: &mut self.gate,
            keypair: &self.keypair,
            peers: &mut self.peers,
            metrics: &self.metrics,
            sources: &self.sources,
            store: &mut store,
            queries: &mut note,
        };
        f(&mut self.adp, &mut ctx)
    }

    /// Starts a discovery of `caps` at `now`, asking the rendezvous `points`.
    fn discover(&mut self, caps: &[&str], points: &[PeerId], now: Instant) -> Answer {
        let (tx, rx) = oneshot::channel();
        let query = AgentQuery::new().capabilities(caps.iter().copied());
        self.with(|adp, ctx| adp.start_discovery(ctx, query, tx, points, now));
        rx
    }

    /// The query started for `query`.
    fn query(&self, query: &AdpQuery) -> Option<QueryId> {
        self.queries
            .iter()
            .find(|(_, q)| *q == query)
            .map(|(id, _)| *id)
    }

    fn providers_found(&mut self, discovery: u64, providers: &[PeerId]) {
        let query = AdpQuery::Providers(discovery);
        let qid = self.query(&query).expect("a provider lookup");
        let result = QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders {
            key: kad::RecordKey::new(&b"caps".to_vec()),
            providers: providers.iter().copied().collect(),
        }));
        let stats = kad::QueryStats::empty();
        self.with(|adp, ctx| adp.on_query_result(ctx, qid, query, result, &stats, NOW_MS));
    }

    /// `server` answers the record lookup of `peer` with `envelope`.
    fn record_found(&mut self, discovery: u64, peer: PeerId, envelope: &[u8], server: PeerId) {
        let query = AdpQuery::Record(discovery, peer);
        let qid = self.query(&query).expect("a record lookup");
        let key = kad::RecordKey::new(&agent_record_key(&peer));
        let result = QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(kad::PeerRecord {
            peer: Some(server),
            record: Record::new(key, envelope.to_vec()),
        })));
        let stats = kad::QueryStats::empty();
        self.with(|adp, ctx| adp.on_query_result(ctx, qid, query, result, &stats, NOW_MS));
    }

    /// The record fetch asking `peer`, if one is in flight.
    fn fetch_to(&self, peer: PeerId) -> Option<OutboundRequestId> {
        self.adp
            .record_fetches
            .iter()
            .find(|(_, (_, p))| *p == peer)
            .map(|(id, _)| *id)
    }

    /// `peer` answers the record fetch asking it with `response`.
    fn answer_fetch(&mut self, peer: PeerId, response: AgentRecordResponse) {
        let request_id = self.fetch_to(peer).expect("a record fetch to the peer");
        let event = request_response::Event::Message {
            peer,
            connection_id: libp2p::swarm::ConnectionId::new_unchecked(0),
            message: request_response::Message::Response {
                request_id,
                response,
            },
        };
        self.with(|adp, ctx| adp.on_record_fetch(ctx, event, NOW_MS));
    }

    /// Every record fetch in flight is answered with no record and no members.
    fn answer_fetches_empty(&mut self) {
        let asked: Vec<PeerId> = self.adp.record_fetches.values().map(|(_, p)| *p).collect();
        for peer in asked {
            self.answer_fetch(peer, AgentRecordResponse::default());
        }
    }

    fn end_query(&mut self, query: &AdpQuery) {
        let qid = self.query(query).expect("a query");
        self.queries.remove(&qid);
        self.with(|adp, ctx| adp.query_ended(ctx, qid));
    }

    fn provide_failed(&mut self, now: Instant) {
        let result = QueryResult::StartProviding(Err(kad::AddProviderError::Timeout {
            key: kad::RecordKey::new(&b"topic".to_vec()),
        }));
        self.adp
            .on_provide_result(&result, &kad::QueryStats::empty(), now);
    }

    fn announce(&mut self, now: Instant) {
        self.with(|adp, ctx| adp.announce(ctx, &[], Vec::new(), now, NOW_MS));
    }

    fn rejected(&self, reason: &str) -> u64 {
        self.metrics
            .records_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.into(),
            })
            .get()
    }
}

fn cap(name: &str) -> Capability {
    Capability::new(name).expect("a valid capability")
}

/// A signed agent record of `key` offering `caps`.
fn record(key: &Keypair, caps: &[&str], seq: u64) -> SignedAgentRecord {
    AgentRecord {
        name: "agent".into(),
        capabilities: caps.iter().map(|c| cap(c)).collect(),
        ..AgentRecord::default()
    }
    .sign(key, seq, NOW_MS, RECORD_TTL)
    .expect("a valid record")
}

fn peer_of(key: &Keypair) -> PeerId {
    key.public().to_peer_id()
}

/// Whether the discovery has not answered yet.
fn waiting(answer: &mut Answer) -> bool {
    matches!(answer.try_recv(), Err(TryRecvError::Empty))
}

fn ids(answer: &mut Answer) -> Vec<String> {
    let agents = answer.try_recv().expect("an answer").expect("agents");
    let mut ids: Vec<String> = agents.into_iter().map(|a| a.peer_id).collect();
    ids.sort();
    ids
}

fn sorted(peers: &[PeerId]) -> Vec<String> {
    let mut ids: Vec<String> = peers.iter().map(ToString::to_string).collect();
    ids.sort();
    ids
}

#[test]
fn a_discovery_answers_once_every_provider_record_is_verified() {
    let mut h = Harness::new(true, false, &[]);
    let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let server = PeerId::random();
    let local = h.adp.local;
    let mut answer = h.discover(&["text"], &[], h.start);
    h.providers_found(0, &[peer_of(&a), peer_of(&b), local]);
    assert!(
        h.query(&AdpQuery::Record(0, local)).is_none(),
        "never itself"
    );

    h.record_found(0, peer_of(&a), &record(&a, &["text"], 1).envelope, server);
    assert!(h.query(&AdpQuery::Record(0, peer_of(&a))).is_none());
    assert!(waiting(&mut answer));
    h.record_found(0, peer_of(&b), &record(&b, &["text"], 1).envelope, server);
    // The provider lookup is still running.
    assert!(waiting(&mut answer));
    h.end_query(&AdpQuery::Providers(0));
    // Both agents were asked for the other members of the topic; the answer waits on them.
    assert!(h.fetch_to(peer_of(&a)).is_some() && h.fetch_to(peer_of(&b)).is_some());
    assert!(waiting(&mut answer));
    h.answer_fetches_empty();

    assert_eq!(ids(&mut answer), sorted(&[peer_of(&a), peer_of(&b)]));
    let stored = h
        .writes
        .iter()
        .filter(|w| matches!(w, Write::AgentRecord(_)))
        .count();
    assert_eq!(stored, 2);
    assert!(h.peers.local_score(&server) > h.peers.local_score(&PeerId::random()));
    assert_eq!(h.metrics.agents_discovered.get(), 2);
}

#[test]
fn a_cached_record_starts_no_record_query() {
    let mut h = Harness::new(true, false, &[]);
    let a = Keypair::generate_ed25519();
    h.adp.cache_record(record(&a, &["text"], 1));
    let mut answer = h.discover(&["text"], &[], h.start);
    h.providers_found(0, &[peer_of(&a)]);
    assert!(h.query(&AdpQuery::Record(0, peer_of(&a))).is_none());
    h.end_query(&AdpQuery::Providers(0));
    h.answer_fetches_empty();
    assert_eq!(ids(&mut answer), sorted(&[peer_of(&a)]));
}

#[test]
fn an_invalid_record_is_refused_and_lowers_its_servers_reputation() {
    let mut h = Harness::new(true, false, &[]);
    let (a, forger) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let server = PeerId::random();
    let before = h.peers.local_score(&server);
    let mut answer = h.discover(&["text"], &[], h.start);
    h.providers_found(0, &[peer_of(&a)]);
    // The forger's own record, served under the agent's key.
    let forged = record(&forger, &["text"], 1);
    h.record_found(0, peer_of(&a), &forged.envelope, server);

    assert!(h.peers.local_score(&server) < before);
    assert_eq!(h.rejected("peer_mismatch"), 1);
    assert!(h.query(&AdpQuery::Record(0, peer_of(&a))).is_some());
    h.end_query(&AdpQuery::Record(0, peer_of(&a)));
    h.end_query(&AdpQuery::Providers(0));
    // The agent itself, asked at once, does not answer with a record either.
    h.answer_fetches_empty();
    assert!(ids(&mut answer).is_empty());
    assert!(h.writes.is_empty());
}

#[test]
fn beyond_the_discoveries_in_flight_a_discovery_is_refused_as_busy() {
    let mut h = Harness::new(true, false, &[]);
    let mut answers: Vec<Answer> = (0..MAX_DISCOVERIES)
        .map(|_| h.discover(&["text"], &[], h.start))
        .collect();
    let mut refused = h.discover(&["text"], &[], h.start);
    assert!(matches!(
        refused.try_recv(),
        Ok(Err(DiscoverError::Busy {
            limit: MAX_DISCOVERIES,
            ..
        }))
    ));
    assert!(answers.iter_mut().all(waiting));
    // One answered makes room for another.
    h.end_query(&AdpQuery::Providers(0));
    let mut again = h.discover(&["text"], &[], h.start);
    assert!(waiting(&mut again));
}

#[test]
fn a_discovery_past_its_deadline_answers_with_what_it_found() {
    let mut h = Harness::new(true, false, &[]);
    let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    h.adp.cache_record(record(&a, &["text"], 1));
    let mut answer = h.discover(&["text"], &[], h.start);
    h.providers_found(0, &[peer_of(&a), peer_of(&b)]);
    let timeout = h.adp.settings.discovery_timeout;

    let just_before = h.start + timeout - Duration::from_millis(1);
    h.with(|adp, ctx| adp.expire(ctx, just_before));
    assert!(waiting(&mut answer));
    let deadline = h.start + timeout;
    h.with(|adp, ctx| adp.expire(ctx, deadline));
    assert_eq!(ids(&mut answer), sorted(&[peer_of(&a)]));
}

#[test]
fn a_record_missing_from_the_dht_is_asked_of_the_agent() {
    let mut h = Harness::new(true, false, &[]);
    let a = Keypair::generate_ed25519();
    let mut answer = h.discover(&["text"], &[], h.start);
    h.providers_found(0, &[peer_of(&a)]);
    let query = AdpQuery::Record(0, peer_of(&a));
    let qid = h.query(&query).expect("a record lookup");
    let result = QueryResult::GetRecord(Err(kad::GetRecordError::NotFound {
        key: kad::RecordKey::new(&agent_record_key(&peer_of(&a))),
        closest_peers: Vec::new(),
    }));
    let stats = kad::QueryStats::empty();
    h.with(|adp, ctx| adp.on_query_result(ctx, qid, query.clone(), result, &stats, NOW_MS));
    h.end_query(&query);
    h.end_query(&AdpQuery::Providers(0));
    assert_eq!(h.metrics.record_fallbacks.get(), 1);
    // Waits on the agent's answer.
    assert!(waiting(&mut answer));
    let (&request_id, _) = h.adp.record_fetches.iter().next().expect("a fetch");
    assert!(
        h.gate.is_prioritised(&peer_of(&a), Instant::now()),
        "the agent asked for its record may be dialled through the reserve"
    );
    let envelope = record(&a, &["text"], 1).envelope;
    let event = request_response::Event::Message {
        peer: peer_of(&a),
        connection_id: libp2p::swarm::ConnectionId::new_unchecked(0),
        message: request_response::Message::Response {
            request_id,
            response: AgentRecordResponse {
                envelope,
                members: Vec::new(),
            },
        },
    };
    h.with(|adp, ctx| adp.on_record_fetch(ctx, event, NOW_MS));
    assert_eq!(ids(&mut answer), sorted(&[peer_of(&a)]));
}

#[test]
fn a_rendezvous_point_names_agents_whose_records_are_fetched_from_them() {
    let mut h = Harness::new(false, true, &[]);
    let (point, other_point) = (PeerId::random(), PeerId::random());
    let a = Keypair::generate_ed25519();
    let mut answer = h.discover(&["text"], &[point, other_point], h.start);
    assert!(h.queries.is_empty(), "no DHT lookup with the DHT off");

    let addr: Multiaddr = "/ip4/203.0.113.7/tcp/4001".parse().expect("an address");
    let registration = rendezvous::Registration {
        namespace: namespace_of(&cap("text")).expect("a namespace"),
        record: PeerRecord::new(&a, vec![addr.clone()]).expect("a peer record"),
        ttl: 7200,
    };
    let addresses = h.with(|adp, ctx| {
        adp.on_rendezvous_discovered(ctx, point, vec![registration], false, NOW_MS)
    });
    assert_eq!(addresses, vec![(peer_of(&a), addr)]);
    // A point no discovery waits on is ignored.
    let none =
        h.with(|adp, ctx| adp.on_rendezvous_discovered(ctx, point, Vec::new(), false, NOW_MS));
    assert!(none.is_empty());
    h.with(|adp, ctx| adp.on_rendezvous_failed(ctx, other_point));
    assert!(waiting(&mut answer));

    let (&request_id, _) = h.adp.record_fetches.iter().next().expect("a fetch");
    assert!(
        h.gate.is_prioritised(&peer_of(&a), Instant::now()),
        "the agent asked for its record may be dialled through the reserve"
    );
    let event = request_response::Event::Message {
        peer: peer_of(&a),
        connection_id: libp2p::swarm::ConnectionId::new_unchecked(0),
        message: request_response::Message::Response {
            request_id,
            response: AgentRecordResponse {
                envelope: record(&a, &["text"], 1).envelope,
                members: Vec::new(),
            },
        },
    };
    h.with(|adp, ctx| adp.on_record_fetch(ctx, event, NOW_MS));
    assert_eq!(ids(&mut answer), sorted(&[peer_of(&a)]));
    let via_rendezvous = h
        .sources
        .found
        .get_or_create(&SourceLabel {
            source: "rendezvous".into(),
        })
        .get();
    assert_eq!(via_rendezvous, 1);
}

/// A peer's request to store `record` here.
fn put_request(source: PeerId, record: Record) -> kad::InboundRequest {
    kad::InboundRequest::PutRecord {
        source,
        connection: libp2p::swarm::ConnectionId::new_unchecked(0),
        record: Some(record),
    }
}

#[test]
fn a_peer_beyond_its_put_limit_stores_nothing_more() {
    let mut h = Harness::new(true, false, &[]);
    let limit = crate::config::Limits::default().dht_puts_per_peer.burst as u64;
    let source = PeerId::random();
    let now = h.start;
    let mut keys = Vec::new();
    for seq in 0..=limit {
        let a = Keypair::generate_ed25519();
        let key = kad::RecordKey::new(&agent_record_key(&peer_of(&a)));
        let record = Record::new(key.clone(), record(&a, &["text"], seq + 1).envelope);
        h.with(|adp, ctx| adp.on_inbound(ctx, put_request(source, record), now, NOW_MS));
        keys.push(key);
    }
    let (last, kept) = keys.split_last().expect("keys");
    assert!(kept.iter().all(|k| h.kad.store_mut().get(k).is_some()));
    assert!(h.kad.store_mut().get(last).is_none(), "over the limit");
    assert_eq!(h.rejected("rate_limited"), 1);
    // Another peer still stores.
    let a = Keypair::generate_ed25519();
    let key = kad::RecordKey::new(&agent_record_key(&peer_of(&a)));
    let record = Record::new(key.clone(), record(&a, &["text"], 1).envelope);
    h.with(|adp, ctx| adp.on_inbound(ctx, put_request(PeerId::random(), record), now, NOW_MS));
    assert!(h.kad.store_mut().get(&key).is_some());
}

#[test]
fn an_inbound_record_is_kept_only_if_valid_and_not_older() {
    let mut h = Harness::new(true, false, &[]);
    let (a, forger) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let source = PeerId::random();
    let key = kad::RecordKey::new(&agent_record_key(&peer_of(&a)));
    let put = |h: &mut Harness, envelope: Vec<u8>| {
        let record = Record::new(key.clone(), envelope);
        let now = h.start;
        h.with(|adp, ctx| adp.on_inbound(ctx, put_request(source, record), now, NOW_MS));
    };
    let newer = record(&a, &["text"], 5);
    put(&mut h, newer.envelope.clone());
    put(&mut h, record(&a, &["text"], 3).envelope);
    let held = h.kad.store_mut().get(&key).expect("the record is held");
    assert_eq!(held.value, newer.envelope);
    assert!(held.expires.is_some_and(|e| e <= h.start + RECORD_TTL));
    assert_eq!(
        h.adp.records.get(&peer_of(&a), NOW_MS).map(|r| r.seq),
        Some(5)
    );

    let before = h.peers.local_score(&source);
    put(&mut h, record(&forger, &["text"], 9).envelope);
    assert!(h.peers.local_score(&source) < before);
    assert_eq!(h.rejected("peer_mismatch"), 1);
    assert_eq!(
        h.adp.records.get(&peer_of(&a), NOW_MS).map(|r| r.seq),
        Some(5)
    );
}

#[test]
fn announcements_brought_forward_keep_the_gap_to_the_last() {
    let mut h = Harness::new(true, false, &["text"]);
    h.adp.skip_settling();
    let t0 = h.start;
    assert!(!h.adp.announce_due(t0));
    assert!(h.adp.announce_due(t0 + FIRST_ANNOUNCE));

    h.announce(t0);
    assert!(!h.adp.announce_due(t0 + Duration::from_secs(60)));
    // A new address a second later: announced again, but not before the gap.
    h.adp.announce_soon(t0 + Duration::from_secs(1));
    assert!(
        !h.adp
            .announce_due(t0 + REANNOUNCE_GAP - Duration::from_millis(1))
    );
    assert!(h.adp.announce_due(t0 + REANNOUNCE_GAP));
    // Long after the last, a second from the ask.
    h.announce(t0 + REANNOUNCE_GAP);
    let later = t0 + Duration::from_secs(120);
    h.adp.set_load(0.5, later);
    assert!(
        !h.adp
            .announce_due(later + ANNOUNCE_SOON - Duration::from_millis(1))
    );
    assert!(h.adp.announce_due(later + ANNOUNCE_SOON));

    let own = h
        .writes
        .iter()
        .filter(|w| matches!(w, Write::OwnRecord(_)))
        .count();
    assert_eq!(own, 2);
    let local = h.adp.local;
    assert_eq!(
        h.adp.records.get(&local, NOW_MS).map(|r| r.seq),
        Some(NOW_MS + 1)
    );
    assert_eq!(h.metrics.announcements.get(), 2);
}

#[test]
fn a_failed_provider_announcement_asks_again_at_most_once_a_minute() {
    let mut h = Harness::new(true, false, &["text"]);
    h.adp.skip_settling();
    let t0 = h.start;
    h.announce(t0);
    h.provide_failed(t0 + Duration::from_secs(10));
    assert!(h.adp.announce_due(t0 + Duration::from_secs(11)));
    h.announce(t0 + Duration::from_secs(11));
    h.provide_failed(t0 + Duration::from_secs(20));
    assert!(!h.adp.announce_due(t0 + Duration::from_secs(60)));
    h.provide_failed(t0 + Duration::from_secs(10) + ANNOUNCE_RETRY_GAP);
    assert!(
        h.adp
            .announce_due(t0 + Duration::from_secs(11) + ANNOUNCE_RETRY_GAP)
    );
}

#[test]
fn a_new_node_announces_again_as_it_settles_then_periodically() {
    let mut h = Harness::new(true, false, &["text"]);
    let t0 = h.start;
    let second = Duration::from_secs(1);
    h.announce(t0 + FIRST_ANNOUNCE);
    let mut last = t0 + FIRST_ANNOUNCE;
    for (n, after) in SETTLING_ANNOUNCES.into_iter().enumerate() {
        let at = h.adp.settling_at(n);
        // Its time after the start, later by at most the spread.
        assert!(at >= t0 + after && at <= t0 + after.mul_f64(1.0 + SETTLING_SPREAD));
        assert!(!h.adp.announce_due(at - second), "not before {after:?}");
        assert!(h.adp.announce_due(at), "due {after:?} after the start");
        h.announce(at);
        last = at;
    }
    let interval = h.adp.settings.announce_interval;
    let next = h.adp.periodic_after(last);
    assert!(next <= last + interval && next >= last + interval.mul_f64(1.0 - PERIODIC_SPREAD));
    assert!(!h.adp.announce_due(next - second));
    assert!(h.adp.announce_due(next), "then periodically");
    assert_eq!(
        h.metrics.announcements.get(),
        1 + SETTLING_ANNOUNCES.len() as u64
    );
}

#[test]
fn nodes_started_together_announce_and_refresh_apart() {
    // Forty nodes started at the same instant: their announcements and first DHT refreshes
    // spread over the allowed windows instead of falling together.
    let nodes: Vec<Harness> = (0..40)
        .map(|_| Harness::new(true, false, &["text"]))
        .collect();
    // Offsets from each node's start, so that only the spread can tell them apart.
    let distinct = |offsets: Vec<Duration>| {
        let mut o = offsets;
        o.sort();
        o.dedup();
        o.len()
    };
    let settling = nodes
        .iter()
        .map(|h| h.adp.settling_at(2) - h.start)
        .collect();
    assert!(distinct(settling) > 30);
    let periodic = nodes
        .iter()
        .map(|h| h.adp.periodic_after(h.start) - h.start)
        .collect();
    assert!(distinct(periodic) > 30);
    let mut refreshed = 0;
    let mut nodes = nodes;
    for h in &mut nodes {
        let start = h.start;
        // Due once, within the first refresh interval.
        let end = start + crate::behaviour::DHT_REFRESH_INTERVAL;
        let mut at = start;
        let mut due = 0;
        while at <= end {
            if h.adp.first_refresh_due(at) {
                due += 1;
                refreshed += usize::from(at < start + crate::behaviour::DHT_REFRESH_INTERVAL / 2);
            }
            at += Duration::from_secs(1);
        }
        assert_eq!(due, 1);
    }
    // About half refresh first in the first half of the interval.
    assert!((8..=32).contains(&refreshed), "{refreshed} of 40");
}

#[test]
fn settling_announcements_already_passed_are_not_made_up_for() {
    let mut h = Harness::new(true, false, &["text"]);
    let t0 = h.start;
    // First announced after the whole schedule (a node slow to find peers): periodic at once.
    let late = t0 + SETTLING_ANNOUNCES[2].mul_f64(1.0 + SETTLING_SPREAD) + Duration::from_secs(1);
    h.announce(late);
    let next = h.adp.periodic_after(late);
    assert!(!h.adp.announce_due(next - Duration::from_secs(1)));
    assert!(h.adp.announce_due(next));
}

/// A topic member naming `peer` at `addrs`.
fn member(peer: PeerId, addrs: &[&str]) -> TopicMember {
    TopicMember {
        peer_id: peer.to_bytes(),
        addrs: addrs
            .iter()
            .map(|a| a.parse::<Multiaddr>().expect("an address").to_vec())
            .collect(),
    }
}

/// How many agents of the discoveries were found through `source`.
fn found_through(h: &Harness, source: &str) -> u64 {
    h.sources
        .found
        .get_or_create(&SourceLabel {
            source: source.into(),
        })
        .get()
}

#[test]
fn an_agent_names_the_topics_members_whose_records_are_asked_of_them() {
    let mut h = Harness::new(true, false, &[]);
    let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let mut answer = h.discover(&["text"], &[], h.start);
    h.providers_found(0, &[peer_of(&a)]);
    h.record_found(
        0,
        peer_of(&a),
        &record(&a, &["text"], 1).envelope,
        PeerId::random(),
    );
    h.end_query(&AdpQuery::Providers(0));
    // The DHT named only `a`; `a` is asked which members of the topic it knows.
    assert!(h.fetch_to(peer_of(&a)).is_some());
    assert!(waiting(&mut answer));
    let local = h.adp.local;
    let garbage = TopicMember {
        peer_id: vec![0xff; 40],
        addrs: vec![vec![0xff; 10]],
    };
    h.answer_fetch(
        peer_of(&a),
        AgentRecordResponse {
            envelope: record(&a, &["text"], 1).envelope,
            members: vec![
                garbage,
                member(local, &[]),
                member(peer_of(&a), &[]),
                member(peer_of(&b), &["/ip4/203.0.113.9/tcp/4001"]),
            ],
        },
    );
    // Only `b` is new: itself, `a` again and a malformed id are left out.
    assert_eq!(h.adp.record_fetches.len(), 1);
    assert!(h.fetch_to(peer_of(&b)).is_some());
    assert_eq!(h.metrics.discovery_members_named.get(), 1);
    assert!(
        h.gate.is_prioritised(&peer_of(&b), Instant::now()),
        "a member asked for its record may be dialled through the reserve"
    );
    assert!(waiting(&mut answer));
    h.answer_fetch(
        peer_of(&b),
        AgentRecordResponse {
            envelope: record(&b, &["text"], 1).envelope,
            members: vec![member(peer_of(&a), &[])],
        },
    );
    assert_eq!(ids(&mut answer), sorted(&[peer_of(&a), peer_of(&b)]));
    assert_eq!(found_through(&h, "members"), 1);
    assert_eq!(found_through(&h, "dht"), 1);
}

#[test]
fn a_provider_is_asked_at_once_and_its_answer_ends_the_record_lookup() {
    let mut h = Harness::new(true, false, &[]);
    let a = Keypair::generate_ed25519();
    let mut answer = h.discover(&["text"], &[], h.start);
    h.providers_found(0, &[peer_of(&a)]);
    // The DHT lookup of the record and the direct ask both start.
    assert!(h.query(&AdpQuery::Record(0, peer_of(&a))).is_some());
    assert!(h.fetch_to(peer_of(&a)).is_some());
    h.answer_fetch(
        peer_of(&a),
        AgentRecordResponse {
            envelope: record(&a, &["text"], 1).envelope,
            members: Vec::new(),
        },
    );
    assert!(
        h.query(&AdpQuery::Record(0, peer_of(&a))).is_none(),
        "the agent answered first: its record lookup ends"
    );
    h.end_query(&AdpQuery::Providers(0));
    assert_eq!(ids(&mut answer), sorted(&[peer_of(&a)]));
}

#[test]
fn a_member_that_cannot_be_asked_is_looked_up_in_the_dht() {
    let mut h = Harness::new(true, false, &[]);
    let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let mut answer = h.discover(&["text"], &[], h.start);
    h.providers_found(0, &[peer_of(&a)]);
    h.answer_fetch(
        peer_of(&a),
        AgentRecordResponse {
            envelope: record(&a, &["text"], 1).envelope,
            members: vec![member(peer_of(&b), &["/ip4/203.0.113.9/tcp/4001"])],
        },
    );
    // No address of `b` works.
    let request_id = h.fetch_to(peer_of(&b)).expect("b is asked");
    let failure = request_response::Event::OutboundFailure {
        peer: peer_of(&b),
        connection_id: libp2p::swarm::ConnectionId::new_unchecked(0),
        request_id,
        error: request_response::OutboundFailure::DialFailure,
    };
    h.with(|adp, ctx| adp.on_record_fetch(ctx, failure, NOW_MS));
    assert_eq!(h.metrics.record_fetch_failures.get(), 1);
    assert!(
        h.query(&AdpQuery::Record(0, peer_of(&b))).is_some(),
        "b's record is looked up in the DHT instead"
    );
    assert!(waiting(&mut answer));
    // Not found there either: b is not asked again.
    let query = AdpQuery::Record(0, peer_of(&b));
    let qid = h.query(&query).expect("a record lookup");
    let result = QueryResult::GetRecord(Err(kad::GetRecordError::NotFound {
        key: kad::RecordKey::new(&agent_record_key(&peer_of(&b))),
        closest_peers: Vec::new(),
    }));
    let stats = kad::QueryStats::empty();
    h.with(|adp, ctx| adp.on_query_result(ctx, qid, query.clone(), result, &stats, NOW_MS));
    assert!(h.fetch_to(peer_of(&b)).is_none());
    h.end_query(&query);
    h.end_query(&AdpQuery::Providers(0));
    assert_eq!(ids(&mut answer), sorted(&[peer_of(&a)]));
}

#[test]
fn a_member_answering_with_another_agents_record_is_not_held() {
    let mut h = Harness::new(true, false, &[]);
    let (a, b, c) = (
        Keypair::generate_ed25519(),
        Keypair::generate_ed25519(),
        Keypair::generate_ed25519(),
    );
    let mut answer = h.discover(&["text"], &[], h.start);
    h.providers_found(0, &[peer_of(&a)]);
    h.record_found(
        0,
        peer_of(&a),
        &record(&a, &["text"], 1).envelope,
        PeerId::random(),
    );
    h.end_query(&AdpQuery::Providers(0));
    h.answer_fetch(
        peer_of(&a),
        AgentRecordResponse {
            envelope: Vec::new(),
            members: vec![member(peer_of(&b), &[])],
        },
    );
    // `b` answers with `c`'s record: it did not sign it, so nothing is held for `b`.
    h.answer_fetch(
        peer_of(&b),
        AgentRecordResponse {
            envelope: record(&c, &["text"], 1).envelope,
            members: Vec::new(),
        },
    );
    assert_eq!(ids(&mut answer), sorted(&[peer_of(&a)]));
    assert!(h.peers.local_score(&peer_of(&b)) < h.peers.local_score(&PeerId::random()));
}

#[test]
fn members_followed_are_bounded_per_answer_per_discovery_and_by_its_limit() {
    let mut h = Harness::new(true, false, &[]);
    let a = Keypair::generate_ed25519();
    let _answer = h.discover(&["text"], &[], h.start);
    h.providers_found(0, &[peer_of(&a)]);
    h.record_found(
        0,
        peer_of(&a),
        &record(&a, &["text"], 1).envelope,
        PeerId::random(),
    );
    // An answer naming 100 members: only the first MAX_MEMBERS are followed.
    let many: Vec<TopicMember> = (0..100)
        .map(|_| member(PeerId::random(), &["/ip4/203.0.113.9/tcp/4001"]))
        .collect();
    h.answer_fetch(
        peer_of(&a),
        AgentRecordResponse {
            envelope: Vec::new(),
            members: many,
        },
    );
    assert_eq!(h.adp.record_fetches.len(), MAX_MEMBERS);
    // Each of those names 16 more: the discovery follows MEMBER_FOLLOWS in all.
    let asked: Vec<PeerId> = h.adp.record_fetches.values().map(|(_, p)| *p).collect();
    for peer in asked {
        let more = (0..MAX_MEMBERS)
            .map(|_| member(PeerId::random(), &[]))
            .collect();
        h.answer_fetch(
            peer,
            AgentRecordResponse {
                envelope: Vec::new(),
                members: more,
            },
        );
    }
    assert_eq!(
        h.metrics.discovery_members_named.get(),
        MEMBER_FOLLOWS as u64
    );

    // A discovery asked for 2 agents follows no member once it holds 2.
    let (b, c) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let (tx, _rx) = oneshot::channel();
    let query = AgentQuery::new().capabilities(["text"]).limit(2);
    let start = h.start;
    h.with(|adp, ctx| adp.start_discovery(ctx, query, tx, &[], start));
    h.providers_found(1, &[peer_of(&b), peer_of(&c)]);
    h.record_found(
        1,
        peer_of(&b),
        &record(&b, &["text"], 1).envelope,
        PeerId::random(),
    );
    let asks_before = h.adp.record_fetches.len();
    h.record_found(
        1,
        peer_of(&c),
        &record(&c, &["text"], 1).envelope,
        PeerId::random(),
    );
    assert_eq!(
        h.adp.record_fetches.len(),
        asks_before,
        "no agent is asked for members once the discovery holds its limit"
    );
    h.answer_fetch(
        peer_of(&b),
        AgentRecordResponse {
            envelope: Vec::new(),
            members: vec![member(PeerId::random(), &[])],
        },
    );
    assert_eq!(
        h.metrics.discovery_members_named.get(),
        MEMBER_FOLLOWS as u64
    );
}
