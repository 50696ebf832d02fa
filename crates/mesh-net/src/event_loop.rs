//! The task that owns the Swarm.

mod lend;
mod own_intents;
mod queries;
mod reach;
mod receipt_catchup;
mod receipts;
mod start;

use own_intents::AwaitingStore;
pub use start::{spawn, spawn_on};
use tokio::sync::oneshot;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use futures::StreamExt;
use libp2p::gossipsub::{self};
use libp2p::kad::{self, GetProvidersOk, QueryId, QueryResult};
use libp2p::metrics::{Metrics as Libp2pMetrics, Recorder};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify, mdns, ping, request_response};
use mesh_core::{Capability, Keypair, SignedIntent};
use mesh_proto::v1::{OpenIntentsRequest, OpenIntentsResponse};
use tokio::sync::{broadcast, mpsc};

use crate::adp::driver::{self as adp_driver, AdpDriver, AdpQuery};
use crate::behaviour::{MeshBehaviour, MeshBehaviourEvent};
use crate::config::NetConfig;
use crate::connections::Connections;
use crate::error::{CancelError, NetError, PublishError};
use crate::handle::{Command, ReceivedIntent};
use crate::idp::driver::IdpDriver;
use crate::inp::driver::{self as inp_driver, InpDriver};
use crate::inp::{self, NegotiationEvent};
use crate::intent_book::IntentUpdate;
use crate::metrics::MeshMetrics;
use crate::peers::PeerBook;
use crate::persist::Write;
use crate::store_link::StoreLink;
use mesh_proto::v1::{NegotiationAck, NegotiationSend};

/// Peers subscribed to a topic below which the node looks for more in the DHT.
const TOPIC_PEERS_LOW: usize = 4;
/// Interval between saving reputation changes and pruning the store.
const HOUSEKEEPING: Duration = Duration::from_secs(10);
/// Interval of the housekeeping tick.
const TICK: Duration = Duration::from_millis(250);
/// Interval between topic connectivity checks.
const TOPIC_CHECK: Duration = Duration::from_secs(10);
/// Connected peers asked for catch-up when the node joins a new topic.
const CATCHUP_FANOUT: usize = 16;

/// What a Kademlia query was started for.
#[derive(Debug, Clone)]
enum QueryPurpose {
    Discovery(AdpQuery),
    TopicPeers(Capability),
    FindPeer(PeerId),
    RandomWalk,
}

impl QueryPurpose {
    /// The purpose as a metric label.
    fn label(&self) -> &'static str {
        match self {
            QueryPurpose::Discovery(_) => "discovery",
            QueryPurpose::TopicPeers(_) => "topic_peers",
            QueryPurpose::FindPeer(_) => "find_peer",
            QueryPurpose::RandomWalk => "random_walk",
        }
    }
}

struct EventLoop {
    local: PeerId,
    keypair: Keypair,
    config: NetConfig,
    swarm: Swarm<MeshBehaviour>,
    commands: mpsc::Receiver<Command>,
    intents: broadcast::Sender<Arc<ReceivedIntent>>,
    negotiation_events: broadcast::Sender<Arc<NegotiationEvent>>,
    intent_updates: broadcast::Sender<Arc<IntentUpdate>>,
    /// The Intent Negotiation Protocol: negotiations, messages in flight, durable lengths.
    inp: InpDriver,
    /// The store's writer, its tokens and their owners.
    store: StoreLink,
    /// Steps of the node's own intents that wait for their write to be durable, by token.
    awaiting_store: HashMap<u64, AwaitingStore>,
    next_housekeeping: Instant,
    metrics: MeshMetrics,
    libp2p_metrics: Libp2pMetrics,
    peers: PeerBook,
    /// The Intent Discovery Protocol: seen and forwarded ids, intent quotas, open intents,
    /// pending publishes, catch-up.
    idp: IdpDriver,
    /// The Agent Discovery Protocol: agent records, discoveries in flight, announcements.
    adp: AdpDriver,
    /// Connections: bootstrap dialling, trimming and making room, scoring inputs.
    conns: Connections,
    /// When expired ids are next forgotten.
    next_housekeeping_ids: Instant,
    listen_addrs: Vec<Multiaddr>,
    queries: HashMap<QueryId, QueryPurpose>,
    /// Closest-peers lookups asked for through the handle, by query.
    closest_replies: HashMap<QueryId, oneshot::Sender<Vec<PeerId>>>,
    next_topic_check: Instant,
    /// Reachability, rendezvous and peer exchange.
    nat: reach::Reach,
    /// Reputation from receipts: the graph, its scores and the receipts topic.
    receipts: receipts::Receipts,
}

fn now_ms() -> u64 {
    crate::unix_clock::now_ms()
}

impl EventLoop {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        self.shutdown();
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.on_command(command),
                    None => {
                        self.shutdown();
                        return;
                    }
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = tick.tick() => self.on_tick(),
                Some(done) = self.store.next() => self.on_persisted(done),
            }
        }
    }

    fn shutdown(&mut self) {
        let listeners: Vec<_> = self.swarm.listeners().cloned().collect();
        tracing::info!(listeners = listeners.len(), "network shutting down");
        self.adp.stop();
        self.idp.stop();
        for (_, waiting) in self.awaiting_store.drain() {
            match waiting {
                AwaitingStore::Publish { reply, .. } => {
                    let _ = reply.send(Err(PublishError::Stopped));
                }
                AwaitingStore::Cancel { reply, .. } => {
                    let _ = reply.send(Err(CancelError::Stopped));
                }
            }
        }
        self.inp.stop();
        self.store.close();
    }

    // ----- commands -----

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { intent, reply } => self.publish(intent, reply),
            Command::Subscribe {
                capabilities,
                reply,
            } => {
                self.subscribe(capabilities);
                let _ = reply.send(());
            }
            Command::Discover { query, reply } => {
                let points = self.nat.rendezvous_points();
                self.with_adp(|adp, ctx| {
                    adp.start_discovery(ctx, query, reply, &points, Instant::now())
                });
            }
            Command::Dial { addr, reply } => {
                let result = self.swarm.dial(addr.clone()).map_err(|e| NetError::Dial {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                });
                let _ = reply.send(result);
            }
            Command::HeldByDht {
                capability,
                agents,
                reply,
            } => {
                let _ = reply.send(self.held_by_dht(&capability, agents));
            }
            Command::ClosestPeers { key, reply } => {
                let qid = self.swarm.behaviour_mut().kad.get_closest_peers(key);
                self.closest_replies.insert(qid, reply);
            }
            Command::SetLoad { load } => self.adp.set_load(load, Instant::now()),
            Command::Negotiate { action, reply } => self.negotiate(action, reply),
            Command::Cancel { id, reason, reply } => self.cancel(id, &reason, reply),
            query @ (Command::Peers { .. }
            | Command::TopicPeers { .. }
            | Command::Info { .. }
            | Command::OfferAddrs { .. }
            | Command::Reputation { .. }
            | Command::Negotiations { .. }
            | Command::Transcript { .. }
            | Command::Intents { .. }
            | Command::Intent { .. }
            | Command::OpenIntents { .. }
            | Command::Reachability { .. }) => self.answer(query),
            Command::Shutdown { .. } => {}
        }
    }

    // ----- INP -----

    fn negotiate(&mut self, action: inp::Action, reply: inp_driver::Reply) {
        self.with_inp(|inp, ctx| inp.negotiate(ctx, action, reply, now_ms()));
    }

    fn on_inp_event(&mut self, event: request_response::Event<NegotiationSend, NegotiationAck>) {
        self.with_inp(|inp, ctx| inp.on_event(ctx, event, now_ms(), Instant::now()));
    }

    /// The DHT lookup of `peer` ended with `addrs`: retry its parked messages once, with these
    /// and the addresses known before (a slot under the connection limit may have opened).
    fn on_peer_found(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let local_link = self.peers.any_local_link();
        for addr in addrs {
            if crate::addr_scope::usable(&addr, local_link) {
                self.swarm.add_peer_address(peer, addr);
            }
        }
        self.with_inp(|inp, ctx| inp.on_peer_found(ctx, &peer));
    }

    // ----- persistence -----

    /// Queues a write, if the node has a store; a full queue drops it (counted).
    fn save(&self, write: Write) {
        self.store.save(write);
    }

    fn subscribe(&mut self, capabilities: Vec<Capability>) {
        let added = self
            .idp
            .subscribe(&mut self.swarm.behaviour_mut().gossipsub, capabilities);
        for cap in &added {
            self.provide(cap.topic_provider_key());
            self.lookup_topic_peers(cap.clone());
        }
        if let Some(request) = IdpDriver::catchup_request(&added) {
            for peer in self.peers.connected_peers(CATCHUP_FANOUT) {
                let catchup = &mut self.swarm.behaviour_mut().catchup;
                catchup.send_request(&peer, request.clone());
            }
        }
    }

    fn provide(&mut self, key: Vec<u8>) {
        adp_driver::provide(&mut self.swarm.behaviour_mut().kad, key);
    }

    // ----- IDP -----

    fn on_gossip_message(
        &mut self,
        source: PeerId,
        message_id: gossipsub::MessageId,
        message: gossipsub::Message,
    ) {
        if message.topic.as_str() == crate::receipts::RECEIPTS_TOPIC {
            self.on_receipt_gossip(source, &message_id, &message.data);
            return;
        }
        let (now_ms, now) = (now_ms(), Instant::now());
        let accepted = self.with_idp(|idp, ctx, behaviour, _| {
            let gossipsub = &mut behaviour.gossipsub;
            idp.on_gossip(ctx, gossipsub, source, message_id, &message, now_ms, now)
        });
        if let Some(publisher) = accepted {
            self.conns.intent_seen(&message.topic, publisher, now);
        }
    }

    // ----- IDP catch-up -----

    fn on_catchup_event(
        &mut self,
        event: request_response::Event<OpenIntentsRequest, OpenIntentsResponse>,
    ) {
        let local = self.local;
        self.with_idp(|idp, ctx, behaviour, negotiations| {
            // Our own intents leave once agreed: they take no more offers.
            let offered = |i: &SignedIntent| {
                i.publisher != local || negotiations.agreement_on(&i.id).is_none()
            };
            let wire = &mut behaviour.catchup;
            idp.on_catchup_event(ctx, wire, event, offered, now_ms(), Instant::now());
        });
    }

    // ----- ADP -----

    /// Announces this node in the DHT: its topics, and its agent record with its current
    /// addresses.
    fn announce(&mut self, now: Instant) {
        let topics = self.idp.subscriptions().to_vec();
        let addresses =
            adp_driver::record_addresses(&self.listen_addrs, self.swarm.external_addresses());
        self.with_adp(|adp, ctx| adp.announce(ctx, &topics, addresses, now, now_ms()));
    }

    fn lookup_topic_peers(&mut self, cap: Capability) {
        if !self.idp.start_topic_lookup(&cap) {
            return;
        }
        let qid = self
            .swarm
            .behaviour_mut()
            .kad
            .get_providers(kad::RecordKey::new(&cap.topic_provider_key()));
        self.queries.insert(qid, QueryPurpose::TopicPeers(cap));
    }

    fn on_kad_query(
        &mut self,
        id: QueryId,
        result: QueryResult,
        stats: &kad::QueryStats,
        last: bool,
    ) {
        self.adp.on_provide_result(&result, stats, Instant::now());
        if let QueryResult::GetClosestPeers(r) = &result
            && let Some(reply) = self.closest_replies.remove(&id)
        {
            let peers = match r {
                Ok(ok) => ok.peers.iter().map(|p| p.peer_id).collect(),
                Err(kad::GetClosestPeersError::Timeout { peers, .. }) => {
                    peers.iter().map(|p| p.peer_id).collect()
                }
            };
            let _ = reply.send(peers);
        }
        let purpose = if last {
            self.queries.remove(&id)
        } else {
            self.queries.get(&id).cloned()
        };
        if last {
            let label = purpose.as_ref().map_or("node", QueryPurpose::label);
            let kind = crate::metrics::dht_query_kind(&result);
            self.metrics
                .dht_query_finished(kind, label, stats.num_requests());
        }
        let Some(purpose) = purpose else {
            return;
        };
        match (purpose, result) {
            (QueryPurpose::Discovery(query), result) => {
                self.with_adp(|adp, ctx| {
                    adp.on_query_result(ctx, id, query, result, stats, now_ms())
                });
            }
            (
                QueryPurpose::TopicPeers(_),
                QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders { providers, .. })),
            ) => self.with_conns(|c, ctx, _| c.dial_topic_peers(ctx, providers)),
            (QueryPurpose::FindPeer(peer), QueryResult::GetClosestPeers(result)) => {
                let peers = match result {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                let addrs = peers
                    .into_iter()
                    .filter(|p| p.peer_id == peer)
                    .flat_map(|p| p.addrs)
                    .collect();
                self.on_peer_found(peer, addrs);
            }
            (QueryPurpose::FindPeer(peer), _) => self.on_peer_found(peer, Vec::new()),
            (QueryPurpose::RandomWalk, QueryResult::GetClosestPeers(result)) => {
                self.on_walk_result(result)
            }
            _ => {}
        }
        if !last {
            return;
        }
        // The query is over: settle whatever waited on it.
        self.with_adp(|adp, ctx| adp.query_ended(ctx, id));
        let still_looking: HashSet<Capability> = self
            .queries
            .values()
            .filter_map(|p| match p {
                QueryPurpose::TopicPeers(c) => Some(c.clone()),
                _ => None,
            })
            .collect();
        self.idp.topic_lookups_running(&still_looking);
    }

    // ----- swarm events -----

    fn on_swarm_event(&mut self, event: SwarmEvent<MeshBehaviourEvent>) {
        self.libp2p_metrics.record(&event);
        match event {
            SwarmEvent::Behaviour(MeshBehaviourEvent::Gossipsub(e)) => {
                self.libp2p_metrics.record(&e);
                match e {
                    gossipsub::Event::Message {
                        propagation_source,
                        message_id,
                        message,
                    } => self.on_gossip_message(propagation_source, message_id, message),
                    gossipsub::Event::Subscribed { .. } if self.idp.has_pending_publishes() => {
                        self.retry_pending_publishes(false);
                    }
                    _ => {}
                }
            }
            SwarmEvent::Behaviour(MeshBehaviourEvent::Kad(e)) => {
                self.libp2p_metrics.record(&e);
                match e {
                    kad::Event::InboundRequest { request } => self.with_adp(|adp, ctx| {
                        adp.on_inbound(ctx, request, Instant::now(), now_ms());
                    }),
                    kad::Event::OutboundQueryProgressed {
                        id,
                        result,
                        step,
                        stats,
                    } => self.on_kad_query(id, result, &stats, step.last),
                    kad::Event::RoutingUpdated { is_new_peer, .. } => {
                        self.with_adp(|adp, ctx| {
                            adp.on_routing_updated(ctx, is_new_peer, Instant::now())
                        });
                    }
                    _ => {}
                }
            }
            SwarmEvent::Behaviour(MeshBehaviourEvent::Identify(e)) => {
                self.libp2p_metrics.record(&e);
                if let identify::Event::Received { peer_id, info, .. } = e {
                    self.on_identify_reach(peer_id, &info);
                    let listen = self.with_conns(|c, ctx, _| c.on_identified(ctx, peer_id, &info));
                    self.save(Write::Peer(mesh_store::StoredPeer {
                        peer_id: peer_id.to_bytes(),
                        addresses: listen.iter().map(ToString::to_string).collect(),
                        last_seen_unix_ms: now_ms(),
                    }));
                }
            }
            SwarmEvent::Behaviour(MeshBehaviourEvent::Ping(e)) => {
                self.libp2p_metrics.record(&e);
                let ping::Event { peer, result, .. } = e;
                if let Ok(rtt) = result {
                    self.peers.rtt(peer, rtt);
                }
            }
            SwarmEvent::Behaviour(MeshBehaviourEvent::Catchup(e)) => self.on_catchup_event(e),
            SwarmEvent::Behaviour(MeshBehaviourEvent::ReceiptCatchup(e)) => {
                self.on_receipt_catchup_event(e);
            }
            SwarmEvent::Behaviour(MeshBehaviourEvent::Inp(e)) => self.on_inp_event(e),
            SwarmEvent::Behaviour(MeshBehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                self.with_conns(|c, ctx, _| c.on_mdns_discovered(ctx, found));
            }
            SwarmEvent::Behaviour(
                e @ (MeshBehaviourEvent::Autonat(_)
                | MeshBehaviourEvent::Upnp(_)
                | MeshBehaviourEvent::Dcutr(_)
                | MeshBehaviourEvent::RelayServer(_)
                | MeshBehaviourEvent::RelayClient(_)
                | MeshBehaviourEvent::Rendezvous(_)),
            ) => self.on_reach_event(e),
            SwarmEvent::Behaviour(MeshBehaviourEvent::AgentRecord(e)) => {
                self.with_adp(|adp, ctx| adp.on_record_fetch(ctx, e, now_ms()));
            }
            SwarmEvent::Behaviour(_) => {}
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => self.on_listener_closed_reach(listener_id, format!("{reason:?}")),
            SwarmEvent::ExternalAddrConfirmed { address } => self.on_external_confirmed(&address),
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.on_new_listen_addr_reach(&address);
                if !self.listen_addrs.contains(&address) {
                    self.listen_addrs.push(address);
                }
                self.adp.announce_soon(Instant::now());
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                self.on_connection_reach(connection_id, peer_id, &endpoint);
                let first = num_established.get() == 1;
                self.with_conns(|c, ctx, kept| {
                    c.on_established(ctx, connection_id, peer_id, &endpoint, first, kept);
                });
                if first {
                    let now = Instant::now();
                    if let Some(request) = self.idp.catchup_on_connect(now) {
                        let catchup = &mut self.swarm.behaviour_mut().catchup;
                        catchup.send_request(&peer_id, request);
                    }
                    self.ask_receipts_on_connect(peer_id, now);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.on_connection_closed_reach(connection_id, peer_id, num_established);
                self.with_conns(|conns, ctx, _| conns.on_closed(ctx, peer_id, num_established));
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => self.with_conns(|conns, ctx, _| {
                conns.on_dial_error(ctx, connection_id, peer_id, &error);
            }),
            SwarmEvent::IncomingConnectionError {
                error: libp2p::swarm::ListenError::Denied { cause },
                send_back_addr,
                ..
            } => self.with_conns(|conns, ctx, _| {
                conns.on_inbound_refused(ctx, &cause, &send_back_addr);
            }),
            _ => {}
        }
    }

    // ----- housekeeping -----

    fn on_tick(&mut self) {
        let now = Instant::now();
        if self.adp.announce_due(now) {
            self.announce(now);
        }
        if self.adp.first_refresh_due(now) {
            // libp2p refreshes again an interval after this, in this node's own phase. With no
            // peer known yet it only restarts that interval.
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
        self.reach_tick(now);
        self.receipts_tick(now);
        if self.idp.has_pending_publishes() {
            self.retry_pending_publishes(true);
        }
        self.with_adp(|adp, ctx| adp.expire(ctx, now));
        self.with_inp(|inp, ctx| inp.tick(ctx, now_ms()));
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING;
            let retention = self.config.negotiation_retention;
            self.with_inp(|inp, ctx| inp.prune(ctx, now_ms(), retention));
            if self.store.is_open() {
                if let Some(changed) = self.peers.reputations_changed(now_ms()) {
                    self.save(changed);
                }
                self.save(Write::Prune { now_ms: now_ms() });
            }
        }
        self.idp.prune_book(now_ms());
        if now >= self.next_housekeeping_ids {
            self.next_housekeeping_ids = now + HOUSEKEEPING;
            self.idp.prune(now_ms());
        }
        let subscriptions = self.idp.subscriptions().to_vec();
        self.with_conns(|c, ctx, kept| c.tick(ctx, now, kept, &subscriptions));
        if now >= self.next_topic_check {
            self.next_topic_check = now + TOPIC_CHECK;
            self.update_inbound_work();
            let gossipsub = &self.swarm.behaviour().gossipsub;
            for cap in self.idp.topics_short_of_peers(gossipsub, TOPIC_PEERS_LOW) {
                self.lookup_topic_peers(cap);
            }
        }
    }
}

impl EventLoop {
    /// At the connection limit, closes the connection worth least so that a needed dial gets
    /// a slot.
    fn make_room(&mut self) {
        self.with_conns(|c, ctx, kept| c.make_room(ctx, kept));
    }
}
