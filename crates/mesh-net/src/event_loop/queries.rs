//! Questions about the node's state, answered from the drivers without changing anything:
//! peers, topics, intents, negotiations, reputation, reachability.

use libp2p::gossipsub::IdentTopic;
use libp2p::multiaddr::Protocol;
use mesh_core::{IntentStatus, SignedIntent};

use super::{EventLoop, now_ms};
use crate::handle::{Command, NodeInfo, TopicPeers};
use crate::intent_book::IntentView;

impl EventLoop {
    /// Answers a command that only asks.
    pub(super) fn answer(&self, query: Command) {
        match query {
            Command::Peers { reply } => {
                let gossipsub = &self.swarm.behaviour().gossipsub;
                let _ = reply.send(self.peers.list(|p| gossipsub.peer_score(p)));
            }
            Command::TopicPeers { capability, reply } => {
                let topic = IdentTopic::new(capability.topic()).hash();
                let gossipsub = &self.swarm.behaviour().gossipsub;
                let _ = reply.send(TopicPeers {
                    mesh: gossipsub.mesh_peers(&topic).copied().collect(),
                    subscribed: gossipsub
                        .all_peers()
                        .filter(|(_, topics)| topics.contains(&&topic))
                        .map(|(peer, _)| *peer)
                        .collect(),
                });
            }
            Command::Info { reply } => {
                let _ = reply.send(self.info());
            }
            Command::OfferAddrs { reply } => {
                let _ = reply.send(self.offer_addrs());
            }
            Command::Reputation { peer, reply } => {
                let _ = reply.send(crate::receipts::ReputationView::of(
                    &peer,
                    self.peers.trust(),
                    self.peers.local_score(&peer),
                ));
            }
            Command::Negotiations { reply } => {
                let _ = reply.send(self.inp.registry().list(self.local, now_ms()));
            }
            Command::Transcript { id, reply } => {
                let _ = reply.send(self.inp.registry().transcript(&id));
            }
            Command::Intents { limit, reply } => {
                let _ = reply.send(self.intent_views(limit));
            }
            Command::Intent { id, reply } => {
                let now = now_ms();
                let view = self
                    .idp
                    .known_intent(&id)
                    .map(|i| self.intent_view(&i, now));
                let _ = reply.send(view);
            }
            Command::OpenIntents { reply } => {
                let now = now_ms();
                let open = self
                    .idp
                    .open()
                    .newest(usize::MAX)
                    .into_iter()
                    .filter(|i| i.publisher != self.local && !i.is_expired(now))
                    .filter(|i| {
                        i.capabilities
                            .iter()
                            .any(|c| self.idp.subscriptions().contains(c))
                    })
                    .collect();
                let _ = reply.send(open);
            }
            Command::Reachability { reply } => {
                let _ = reply.send(self.reachability_report());
            }
            // Commands that change state are the router's.
            _ => {}
        }
    }
    /// What this node stores for the DHT: provider records of `capability`, and the agent
    /// records of those of `agents` it holds. (The store is reached mutably: libp2p's record
    /// store trait reads through `&mut`.)
    pub(super) fn held_by_dht(
        &mut self,
        capability: &mesh_core::Capability,
        agents: Vec<libp2p::PeerId>,
    ) -> crate::handle::HeldByDht {
        use libp2p::kad::store::RecordStore;
        let kad = &mut self.swarm.behaviour_mut().kad;
        let routing_table = kad
            .kbuckets()
            .flat_map(|bucket| {
                bucket
                    .iter()
                    .map(|entry| *entry.node.key.preimage())
                    .collect::<Vec<_>>()
            })
            .collect();
        let store = kad.store_mut();
        let key = libp2p::kad::RecordKey::new(&capability.provider_key());
        let providers = store
            .providers(&key)
            .into_iter()
            .map(|r| r.provider)
            .collect();
        let agent_records = agents
            .into_iter()
            .filter(|peer| {
                let key =
                    libp2p::kad::RecordKey::new(&mesh_core::agent_record::agent_record_key(peer));
                store.get(&key).is_some()
            })
            .collect();
        crate::handle::HeldByDht {
            providers,
            agent_records,
            routing_table,
        }
    }

    /// Where this node takes offers, for the intents it publishes: its confirmed external
    /// addresses first, then its listen addresses (relay circuits among them), without
    /// unspecified ones or its own peer id, each once, at most
    /// [`mesh_core::intent::MAX_PUBLISHER_ADDRS`].
    fn offer_addrs(&self) -> Vec<libp2p::Multiaddr> {
        let mut out: Vec<libp2p::Multiaddr> = Vec::new();
        for addr in self.swarm.external_addresses().chain(&self.listen_addrs) {
            let mut addr = addr.clone();
            if matches!(addr.iter().last(), Some(Protocol::P2p(p)) if p == self.local) {
                addr.pop();
            }
            let fits = addr.to_vec().len() <= mesh_core::intent::MAX_PUBLISHER_ADDR_BYTES;
            if fits && !crate::addr_scope::is_unspecified(&addr) && !out.contains(&addr) {
                out.push(addr);
            }
        }
        out.truncate(mesh_core::intent::MAX_PUBLISHER_ADDRS);
        out
    }

    fn info(&self) -> NodeInfo {
        NodeInfo {
            peer_id: self.local.to_string(),
            listen_addrs: self
                .listen_addrs
                .iter()
                .map(|a| a.clone().with(Protocol::P2p(self.local)).to_string())
                .collect(),
            capabilities: self
                .config
                .capabilities
                .iter()
                .map(|c| c.to_string())
                .collect(),
            subscriptions: self
                .idp
                .subscriptions()
                .iter()
                .map(|c| c.to_string())
                .collect(),
            connected_peers: self.peers.connected_count(),
            agent_version: format!("mesh/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    pub(super) fn intent_status(&self, intent: &SignedIntent, now: u64) -> IntentStatus {
        let cancelled = self.idp.book().cancellation_of(intent).is_some();
        self.inp
            .registry()
            .status_of(&intent.id, intent.content.expires_at_ms, cancelled, now)
    }

    fn intent_view(&self, intent: &SignedIntent, now: u64) -> IntentView {
        let status = self.intent_status(intent, now);
        let negotiations = self.inp.registry().states_of(&intent.id).count();
        self.idp.book().view(intent, status, negotiations)
    }

    fn intent_views(&self, limit: usize) -> Vec<IntentView> {
        let now = now_ms();
        let own = self.idp.book().own_intents();
        let others = self
            .idp
            .open()
            .newest(limit)
            .into_iter()
            .filter(|i| i.publisher != self.local && !i.is_expired(now));
        own.into_iter()
            .chain(others)
            .take(limit)
            .map(|i| self.intent_view(&i, now))
            .collect()
    }
}
