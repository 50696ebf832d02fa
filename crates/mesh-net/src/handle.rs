//! The cloneable handle through which everything outside the event loop talks to the swarm.

use std::sync::Arc;

use libp2p::{Multiaddr, PeerId};
use mesh_core::{Capability, Intent, Keypair, SignedIntent, intent::IntentId};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::adp::{AgentInfo, AgentQuery};
use crate::error::{CancelError, DiscoverError, NegotiateError, NetError, PublishError};
use crate::inp::{Action, NegotiationEvent, NegotiationSummary};
use crate::intent_book::{CancelOutcome, IntentUpdate, IntentView};
use crate::metrics::MeshMetrics;
use crate::peers::PeerInfo;
use mesh_core::negotiation::{Body, Delivery, NegotiationId, Proposal, Receipt, Transcript};

/// Capacity of the command queue from handles to the event loop.
pub(crate) const COMMAND_QUEUE: usize = 256;

/// A verified intent received from the network.
#[derive(Debug, Clone)]
pub struct ReceivedIntent {
    /// The intent.
    pub intent: SignedIntent,
    /// The peer that forwarded it to us.
    pub from: PeerId,
    /// The capability topic it arrived on first.
    pub topic: Capability,
    /// When it arrived, Unix ms.
    pub received_at_ms: u64,
}

/// How a publish went, per capability topic.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PublishOutcome {
    /// The intent id (hex).
    pub id: String,
    /// One entry per capability of the intent.
    pub topics: Vec<TopicOutcome>,
}

/// The result of publishing on one topic.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TopicOutcome {
    /// The capability.
    pub capability: String,
    /// Peers known to subscribe to the topic when it was published; 0 means nobody was
    /// reachable within the publish wait.
    pub peers: usize,
}

/// What the node says about itself.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct NodeInfo {
    /// Its peer id.
    pub peer_id: String,
    /// Full addresses to dial it at, ending in `/p2p/<peer id>`.
    pub listen_addrs: Vec<String>,
    /// Capabilities it offers.
    pub capabilities: Vec<String>,
    /// Capability topics it subscribes to.
    pub subscriptions: Vec<String>,
    /// Peers connected.
    pub connected_peers: usize,
    /// Software version.
    pub agent_version: String,
}

/// What a node stores for the DHT, as [`MeshHandle::held_by_dht`] reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeldByDht {
    /// Providers of the capability this node holds a provider record of.
    pub providers: Vec<PeerId>,
    /// The agents asked about whose agent record this node holds.
    pub agent_records: Vec<PeerId>,
    /// Every peer in this node's DHT routing table, connected or not: the peers its lookups
    /// start from and the peers it names when asked for those closest to a key.
    pub routing_table: Vec<PeerId>,
}

/// The gossip peers of one capability topic, as [`MeshHandle::topic_peers`] reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicPeers {
    /// Peers in this node's gossip mesh for the topic: every message is forwarded to them.
    pub mesh: Vec<PeerId>,
    /// Connected peers subscribed to the topic (the mesh included): this node's own
    /// messages are published to all of them.
    pub subscribed: Vec<PeerId>,
}

pub(crate) enum Command {
    Publish {
        intent: Box<SignedIntent>,
        reply: oneshot::Sender<Result<PublishOutcome, PublishError>>,
    },
    Subscribe {
        capabilities: Vec<Capability>,
        reply: oneshot::Sender<()>,
    },
    Discover {
        query: AgentQuery,
        reply: oneshot::Sender<Result<Vec<AgentInfo>, DiscoverError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    TopicPeers {
        capability: Capability,
        reply: oneshot::Sender<TopicPeers>,
    },
    Info {
        reply: oneshot::Sender<NodeInfo>,
    },
    OfferAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Reputation {
        peer: PeerId,
        reply: oneshot::Sender<crate::receipts::ReputationView>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    HeldByDht {
        capability: Capability,
        agents: Vec<PeerId>,
        reply: oneshot::Sender<HeldByDht>,
    },
    ClosestPeers {
        key: Vec<u8>,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    SetLoad {
        load: f64,
    },
    Negotiate {
        action: crate::inp::Action,
        reply: oneshot::Sender<Result<NegotiationEvent, NegotiateError>>,
    },
    Negotiations {
        reply: oneshot::Sender<Vec<NegotiationSummary>>,
    },
    Transcript {
        id: NegotiationId,
        reply: oneshot::Sender<Option<Transcript>>,
    },
    Intents {
        limit: usize,
        reply: oneshot::Sender<Vec<IntentView>>,
    },
    Intent {
        id: IntentId,
        reply: oneshot::Sender<Option<IntentView>>,
    },
    OpenIntents {
        reply: oneshot::Sender<Vec<Arc<SignedIntent>>>,
    },
    Cancel {
        id: IntentId,
        reason: String,
        reply: oneshot::Sender<Result<CancelOutcome, CancelError>>,
    },
    Reachability {
        reply: oneshot::Sender<crate::reachability::ReachabilityReport>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A cheap, cloneable handle to a running MESH network task.
#[derive(Clone)]
pub struct MeshHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    /// Weak, so receivers end when the event loop (the only strong sender) stops.
    pub(crate) intents: broadcast::WeakSender<Arc<ReceivedIntent>>,
    /// Weak, like `intents`.
    pub(crate) negotiation_events: broadcast::WeakSender<Arc<NegotiationEvent>>,
    /// Weak, like `intents`.
    pub(crate) intent_updates: broadcast::WeakSender<Arc<IntentUpdate>>,
    pub(crate) keypair: Keypair,
    pub(crate) metrics: MeshMetrics,
    /// The network's proof-of-work difficulty, which this node's intents are stamped to.
    pub(crate) proof_of_work_bits: u8,
}

impl std::fmt::Debug for MeshHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshHandle")
            .field("peer_id", &self.peer_id())
            .finish()
    }
}

impl MeshHandle {
    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.keypair.public().to_peer_id()
    }

    /// MESH's own metrics.
    pub fn metrics(&self) -> &MeshMetrics {
        &self.metrics
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Sends the command of an operation with an error of its own and waits for its answer;
    /// a stopped node is answered `stopped()`.
    async fn request<T, E>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, E>>) -> Command,
        stopped: fn() -> E,
    ) -> Result<T, E> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(make(tx)).await.is_err() {
            return Err(stopped());
        }
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Where this node stands: AutoNAT's verdict and why, NAT and UPnP, addresses, relay
    /// reservations, direct and relayed peers, and what to do (the report of `mesh doctor`).
    pub async fn reachability(&self) -> Result<crate::reachability::ReachabilityReport, NetError> {
        self.call(|reply| Command::Reachability { reply }).await
    }

    /// Signs `intent` with this node's key and publishes it on the topic of each of its
    /// capabilities. Waits up to the configured publish wait for a subscriber to be reachable.
    /// An intent without publisher addresses gets this node's own (its confirmed external
    /// addresses, then its listen and relay circuit addresses, at most
    /// [`mesh_core::intent::MAX_PUBLISHER_ADDRS`]), so bidders can dial it directly.
    ///
    /// With a store, the signed intent is on disk before it is published, so a published intent
    /// survives a crash. On a network that asks for a proof-of-work stamp, the stamp is
    /// computed first, on a blocking thread.
    pub async fn publish_intent(&self, intent: &Intent) -> Result<PublishOutcome, PublishError> {
        let mut with_addrs;
        let intent = if intent.publisher_addrs.is_empty() {
            // Bidders not connected to this node dial these before any DHT lookup.
            with_addrs = intent.clone();
            with_addrs.publisher_addrs = self
                .call(|reply| Command::OfferAddrs { reply })
                .await
                .map_err(|_| PublishError::Stopped)?;
            &with_addrs
        } else {
            intent
        };
        let now = crate::unix_clock::now_ms();
        let signed = if self.proof_of_work_bits == 0 {
            intent.sign(&self.keypair, now)?
        } else {
            let (intent, keypair, bits) = (
                intent.clone(),
                self.keypair.clone(),
                self.proof_of_work_bits,
            );
            tokio::task::spawn_blocking(move || intent.sign_with_work(&keypair, now, bits))
                .await
                .map_err(|_| PublishError::Stopped)??
        };
        let intent = Box::new(signed);
        self.request(
            |reply| Command::Publish { intent, reply },
            || PublishError::Stopped,
        )
        .await
    }

    /// Joins the topics of `capabilities`, so their intents reach [`Self::subscribe_intents`].
    pub async fn subscribe(&self, capabilities: Vec<Capability>) -> Result<(), NetError> {
        self.call(|reply| Command::Subscribe {
            capabilities,
            reply,
        })
        .await
    }

    /// A receiver of every verified intent on the topics this node subscribes to, each once.
    /// A receiver that falls more than the queue capacity behind loses the oldest intents and
    /// is told so by `RecvError::Lagged`.
    /// Once the node has stopped, the receiver is closed.
    pub fn subscribe_intents(&self) -> broadcast::Receiver<Arc<ReceivedIntent>> {
        match self.intents.upgrade() {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Finds agents by capability and minimum reputation, best first.
    pub async fn discover_agents(
        &self,
        query: AgentQuery,
    ) -> Result<Vec<AgentInfo>, DiscoverError> {
        query.validate()?;
        self.request(
            |reply| Command::Discover { query, reply },
            || DiscoverError::Stopped,
        )
        .await
    }

    /// The peers connected now.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        self.call(|reply| Command::Peers { reply }).await
    }

    /// The gossip peers of a capability's topic: those in this node's mesh for it and all
    /// connected peers subscribed to it.
    pub async fn topic_peers(&self, capability: Capability) -> Result<TopicPeers, NetError> {
        self.call(|reply| Command::TopicPeers { capability, reply })
            .await
    }

    /// What this node stores for the DHT, as one of the peers closest to a key (no lookup):
    /// who it holds provider records of `capability` for, and which of `agents` it holds the
    /// agent record of. A network's health shows in where such records lie: at the peers
    /// truly closest to each key, a lookup finds them.
    pub async fn held_by_dht(
        &self,
        capability: Capability,
        agents: Vec<PeerId>,
    ) -> Result<HeldByDht, NetError> {
        self.call(|reply| Command::HeldByDht {
            capability,
            agents,
            reply,
        })
        .await
    }

    /// The peers a DHT lookup of `key` (a record key's bytes) ends on: those it found closest
    /// to the key that answered, as a put of a record under `key` would store it at.
    pub async fn closest_peers(&self, key: Vec<u8>) -> Result<Vec<PeerId>, NetError> {
        self.call(|reply| Command::ClosestPeers { key, reply })
            .await
    }

    /// What the node says about itself.
    pub async fn info(&self) -> Result<NodeInfo, NetError> {
        self.call(|reply| Command::Info { reply }).await
    }

    /// This node's view of `peer`'s reputation: the figure discovery and the offer strategy
    /// use, and what it rests on (receipts, this node's own observations).
    pub async fn reputation(
        &self,
        peer: PeerId,
    ) -> Result<crate::receipts::ReputationView, NetError> {
        self.call(|reply| Command::Reputation { peer, reply }).await
    }

    /// Dials `addr`.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.call(|reply| Command::Dial { addr, reply }).await?
    }

    /// Sets the load advertised in the agent record, in `[0, 1]`, and re-announces it.
    pub async fn set_load(&self, load: f64) -> Result<(), NetError> {
        let load = if load.is_finite() {
            load.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.commands
            .send(Command::SetLoad { load })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Bids on an intent this node has seen: opens a negotiation with its publisher.
    pub async fn offer(
        &self,
        intent: IntentId,
        proposal: Proposal,
    ) -> Result<NegotiationEvent, NegotiateError> {
        let action = Action::Offer { intent, proposal };
        self.request(
            |reply| Command::Negotiate { action, reply },
            || NegotiateError::Stopped,
        )
        .await
    }

    /// Sends the next message of a negotiation: counter, accept, reject, withdraw, deliver or
    /// receipt. Returns once the other party has taken it into its transcript.
    pub async fn reply(
        &self,
        negotiation: NegotiationId,
        body: Body,
    ) -> Result<NegotiationEvent, NegotiateError> {
        let action = Action::Reply { negotiation, body };
        self.request(
            |reply| Command::Negotiate { action, reply },
            || NegotiateError::Stopped,
        )
        .await
    }

    /// Cancels an agreement whose delivery is overdue (publisher): a signed `Withdraw` after
    /// the agreed due time, which the node refuses as `not_overdue` before it. The agent's
    /// reputation here drops (non-delivery) and the intent may be awarded again.
    pub async fn cancel_agreement(
        &self,
        negotiation: NegotiationId,
        reason: impl Into<String>,
    ) -> Result<NegotiationEvent, NegotiateError> {
        let reason = reason.into();
        self.reply(negotiation, Body::Withdraw { reason }).await
    }

    /// Counters the agent's offer (publisher).
    pub async fn counter(
        &self,
        negotiation: NegotiationId,
        proposal: Proposal,
    ) -> Result<NegotiationEvent, NegotiateError> {
        self.reply(negotiation, Body::Counter(proposal)).await
    }

    /// Accepts the other party's outstanding proposal.
    pub async fn accept(
        &self,
        negotiation: NegotiationId,
    ) -> Result<NegotiationEvent, NegotiateError> {
        self.reply(negotiation, Body::Accept).await
    }

    /// Rejects the other party's outstanding proposal, ending the negotiation.
    pub async fn reject(
        &self,
        negotiation: NegotiationId,
        reason: impl Into<String>,
    ) -> Result<NegotiationEvent, NegotiateError> {
        self.reply(
            negotiation,
            Body::Reject {
                reason: reason.into(),
            },
        )
        .await
    }

    /// Delivers the agreed work (agent).
    pub async fn deliver(
        &self,
        negotiation: NegotiationId,
        delivery: Delivery,
    ) -> Result<NegotiationEvent, NegotiateError> {
        self.reply(negotiation, Body::Deliver(delivery)).await
    }

    /// Rates the delivery, completing the negotiation (publisher).
    pub async fn receipt(
        &self,
        negotiation: NegotiationId,
        receipt: Receipt,
    ) -> Result<NegotiationEvent, NegotiateError> {
        self.reply(negotiation, Body::Receipt(receipt)).await
    }

    /// Every negotiation of this node.
    pub async fn negotiations(&self) -> Result<Vec<NegotiationSummary>, NetError> {
        self.call(|reply| Command::Negotiations { reply }).await
    }

    /// The signed transcript of a negotiation, for export and offline verification.
    pub async fn transcript(&self, id: NegotiationId) -> Result<Option<Transcript>, NetError> {
        self.call(|reply| Command::Transcript { id, reply }).await
    }

    /// A receiver of every message taken into this node's negotiations, sent or received.
    pub fn subscribe_negotiations(&self) -> broadcast::Receiver<Arc<NegotiationEvent>> {
        match self.negotiation_events.upgrade() {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Intents this node knows, with their lifecycle status: its own (newest first), then
    /// open intents received from the network; at most `limit`.
    pub async fn intents(&self, limit: usize) -> Result<Vec<IntentView>, NetError> {
        self.call(|reply| Command::Intents { limit, reply }).await
    }

    /// The open intents this node holds on its subscribed capabilities, published by others,
    /// newest first: what a new subscriber has missed.
    pub async fn open_intents(&self) -> Result<Vec<Arc<SignedIntent>>, NetError> {
        self.call(|reply| Command::OpenIntents { reply }).await
    }

    /// One intent this node knows, with its lifecycle status.
    pub async fn intent(&self, id: IntentId) -> Result<Option<IntentView>, NetError> {
        self.call(|reply| Command::Intent { id, reply }).await
    }

    /// Cancels an intent this node published and that has no agreement yet: signs a
    /// cancellation, publishes it on the intent's topics and withdraws from its open
    /// negotiations. With a store, the cancellation is on disk before it is published and
    /// before this returns, so a cancellation answered `Ok` survives a crash or power loss.
    pub async fn cancel_intent(
        &self,
        id: IntentId,
        reason: impl Into<String>,
    ) -> Result<CancelOutcome, CancelError> {
        let reason = reason.into();
        self.request(
            |reply| Command::Cancel { id, reason, reply },
            || CancelError::Stopped,
        )
        .await
    }

    /// A receiver of lifecycle changes of intents this node knows (cancellations).
    pub fn subscribe_intent_updates(&self) -> broadcast::Receiver<Arc<IntentUpdate>> {
        match self.intent_updates.upgrade() {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Stops the network task and waits until it has closed its listeners.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        self.call(|reply| Command::Shutdown { reply }).await
    }
}

/// Hex id of an intent, for outcome reports.
pub(crate) fn id_hex(id: &IntentId) -> String {
    id.to_string()
}
