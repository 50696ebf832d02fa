//! The MESH Rust SDK: add an embedded MESH node to an agent program.
//!
//! ```no_run
//! use futures::StreamExt;
//! use mesh_sdk::{AgentQuery, Intent, MeshNetwork};
//!
//! # async fn run() -> Result<(), mesh_sdk::Error> {
//! let network = MeshNetwork::builder()
//!     .bootstrap_peers(["/ip4/127.0.0.1/tcp/7700/p2p/12D3KooWGzBq6cWnJcTnZy4aKmVTH1rCx8qQG1V8ZyAaRU6oX6aE"])
//!     .capabilities(["text-generation", "data-analysis"])
//!     .build()?;
//! network.connect().await?;
//!
//! let mut intents = network.subscribe_to_intents();
//! tokio::spawn(async move {
//!     while let Some(intent) = intents.next().await {
//!         println!("Received intent: {}", intent.title());
//!     }
//! });
//!
//! let my_intent = Intent::new("Summarise this PDF").capabilities(["text-generation"]);
//! network.publish_intent(my_intent).await?;
//!
//! let agents = network
//!     .discover_agents(AgentQuery::new().capabilities(["image-generation"]).min_reputation(0.8))
//!     .await?;
//! println!("{} agents found", agents.len());
//! network.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use libp2p::Multiaddr;
use mesh_core::Capability;
use mesh_node::{Home, Node, NodeConfig};
use tokio::sync::Mutex;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

pub mod agent;

/// Choosing among offers: the publisher's strategy and award policy.
pub mod strategy {
    pub use mesh_net::award::{
        AwardOutcome, AwardPolicy, LowestPrice, OfferCandidate, OfferStrategy,
    };
}

pub use agent::{AgentHandler, Answer, Bid, ServeHandle};
pub use libp2p::PeerId;
pub use mesh_core::IntentStatus;
pub use mesh_core::negotiation::{
    Delivery, Eta, FaultKind, NegotiationId, Price, Proposal, Receipt, ResultContent, Role,
    State as NegotiationState, StateKind, Transcript,
};
pub use mesh_core::{Budget, Intent, IntentId, SignedIntent, Skill};
pub use mesh_net::{
    AgentInfo, AgentQuery, NegotiationEvent, NegotiationEventKind, NegotiationSummary, PeerInfo,
    PublishOutcome, ReceivedIntent,
};
pub use mesh_net::{CancelOutcome, IntentUpdate, IntentView, ReputationView};
pub use strategy::{AwardOutcome, AwardPolicy, LowestPrice, OfferCandidate, OfferStrategy};

/// Errors of the SDK.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bootstrap peer is not a valid multiaddr.
    #[error(
        "invalid bootstrap peer {addr:?}: {reason}; expected e.g. /ip4/203.0.113.7/tcp/7700/p2p/12D3Koo..."
    )]
    BadMultiaddr {
        /// What was given.
        addr: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A capability name is invalid.
    #[error(transparent)]
    Capability(#[from] mesh_core::CapabilityError),
    /// The node could not start.
    #[error(transparent)]
    Node(#[from] mesh_node::NodeError),
    /// A network call without an error of its own failed (the node stopped).
    #[error(transparent)]
    Net(#[from] mesh_net::NetError),
    /// Publishing an intent failed.
    #[error(transparent)]
    Publish(#[from] mesh_net::PublishError),
    /// Discovering agents failed.
    #[error(transparent)]
    Discover(#[from] mesh_net::DiscoverError),
    /// A negotiation step failed.
    #[error(transparent)]
    Negotiate(#[from] mesh_net::NegotiateError),
    /// Cancelling an intent failed.
    #[error(transparent)]
    Cancel(#[from] mesh_net::CancelError),
    /// Awarding an intent failed.
    #[error(transparent)]
    Award(#[from] mesh_net::AwardError),
    /// `connect` was not called, or the network was shut down.
    #[error("not connected: call `connect().await` first")]
    NotConnected,
    /// The embedded node stopped working: a task of it panicked or ended. Start a new
    /// `MeshNetwork` (or restart the program).
    #[error("the embedded node failed: {0}")]
    Failed(#[from] mesh_node::NodeFailure),
    /// No bootstrap peer answered in time.
    #[error(
        "none of the {count} bootstrap peers answered within {secs} s; check the addresses and that they run (the node keeps retrying in the background)"
    )]
    BootstrapUnreachable {
        /// Bootstrap peers configured.
        count: usize,
        /// Seconds waited.
        secs: u64,
    },
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Invalid(String),
}

/// Builds a [`MeshNetwork`].
#[derive(Debug, Clone, Default)]
pub struct MeshNetworkBuilder {
    bootstrap: Vec<String>,
    capabilities: Vec<String>,
    listen: Vec<String>,
    home: Option<PathBuf>,
    api: Option<SocketAddr>,
    mdns: Option<bool>,
    name: Option<String>,
    connect_timeout: Option<Duration>,
    intent_quota: Option<u32>,
    proof_of_work_bits: u8,
    trusted_peers: Vec<PeerId>,
    share_receipts: Option<bool>,
}

impl MeshNetworkBuilder {
    /// Peers dialled at start (multiaddrs, ideally ending in `/p2p/<peer id>`).
    pub fn bootstrap_peers<I, S>(mut self, peers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.bootstrap = peers.into_iter().map(Into::into).collect();
        self
    }

    /// Capabilities this agent offers: it subscribes to their intents and advertises them.
    pub fn capabilities<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.capabilities = names.into_iter().map(Into::into).collect();
        self
    }

    /// Addresses to listen on (default: a free TCP and a free QUIC port on all interfaces).
    pub fn listen_addresses<I, S>(mut self, addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.listen = addrs.into_iter().map(Into::into).collect();
        self
    }

    /// The node's home directory, holding its identity (default: `$MESH_HOME`, else the XDG
    /// data directory).
    pub fn home(mut self, dir: impl Into<PathBuf>) -> Self {
        self.home = Some(dir.into());
        self
    }

    /// Also serve the local HTTP API on this loopback address.
    pub fn api(mut self, addr: SocketAddr) -> Self {
        self.api = Some(addr);
        self
    }

    /// Turns mDNS discovery on the local network on (default) or off.
    pub fn mdns(mut self, on: bool) -> Self {
        self.mdns = Some(on);
        self
    }

    /// The agent's display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How long `connect` waits for a bootstrap peer (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Intents one publisher may send through this node per minute, in bursts as large,
    /// this agent's own included (default 120). A network parameter: every node of a network
    /// should use the same.
    pub fn intent_quota(mut self, per_minute: u32) -> Self {
        self.intent_quota = Some(per_minute);
        self
    }

    /// The proof-of-work stamp every intent of the network must carry, in leading zero bits
    /// (default 0, none; at most 32). This agent stamps its intents to it, about `2^bits`
    /// hashes each, and rejects intents below it. A network parameter: every node of a
    /// network must use the same.
    pub fn proof_of_work_bits(mut self, bits: u8) -> Self {
        self.proof_of_work_bits = bits;
        self
    }

    /// A peer whose receipts count from the start, as this agent's own do: an operator's seed
    /// identity you know. Call once per peer, for at most
    /// [`mesh_core::trust::MAX_PRE_TRUSTED`] (64) peers. Without any, only this agent's own
    /// receipts, and those of agents they vouch for, count.
    pub fn trust_peer(mut self, peer: PeerId) -> Self {
        self.trusted_peers.push(peer);
        self
    }

    /// Whether to publish the attestations of this agent's completed negotiations on the
    /// receipts topic for other nodes to count (default true). Off, they still count here.
    pub fn share_receipts(mut self, on: bool) -> Self {
        self.share_receipts = Some(on);
        self
    }

    /// Validates the settings. Nothing touches the network until [`MeshNetwork::connect`].
    pub fn build(self) -> Result<MeshNetwork, Error> {
        let parse = |s: &String| {
            s.parse::<Multiaddr>().map_err(|e| Error::BadMultiaddr {
                addr: s.clone(),
                reason: e.to_string(),
            })
        };
        let bootstrap = self.bootstrap.iter().map(parse).collect::<Result<_, _>>()?;
        let listen: Vec<Multiaddr> = self.listen.iter().map(parse).collect::<Result<_, _>>()?;
        let capabilities = mesh_core::capability::parse_capabilities(&self.capabilities)?;
        let home = Home::resolve(
            self.home
                .or_else(|| std::env::var_os("MESH_HOME").map(PathBuf::from)),
        )
        .map_err(mesh_node::NodeError::from)?;
        let mut config = NodeConfig::new(home);
        if !listen.is_empty() {
            config.net.listen = listen;
        }
        config.net.bootstrap = bootstrap;
        config.net.capabilities = capabilities;
        config.net.mdns = self.mdns.unwrap_or(true);
        config.net.agent_name = self.name.unwrap_or_default();
        if let Some(per_minute) = self.intent_quota {
            config.net.limits.intents_per_publisher =
                mesh_net::Rate::per(per_minute, Duration::from_secs(60));
        }
        if self.proof_of_work_bits > mesh_core::work::MAX_DIFFICULTY {
            return Err(Error::Invalid(format!(
                "proof_of_work_bits is {}, above the most a network may ask ({}); use 0 to 32",
                self.proof_of_work_bits,
                mesh_core::work::MAX_DIFFICULTY
            )));
        }
        config.net.proof_of_work_bits = self.proof_of_work_bits;
        let mut trusted = self.trusted_peers;
        trusted.sort_unstable();
        trusted.dedup();
        if trusted.len() > mesh_core::trust::MAX_PRE_TRUSTED {
            return Err(Error::Invalid(format!(
                "{} peers given with trust_peer: at most {} may be trusted from the start; keep the operators' seed identities you know",
                trusted.len(),
                mesh_core::trust::MAX_PRE_TRUSTED
            )));
        }
        config.net.reputation.trusted_peers = trusted;
        config.net.reputation.share_receipts = self.share_receipts.unwrap_or(true);
        config.api = self.api;
        Ok(MeshNetwork {
            config,
            connect_timeout: self.connect_timeout.unwrap_or(Duration::from_secs(10)),
            node: Arc::new(Mutex::new(None)),
            handle: Arc::new(std::sync::OnceLock::new()),
            failure: Arc::new(std::sync::OnceLock::new()),
        })
    }
}

/// An agent's connection to the MESH network, backed by an embedded node.
///
/// Cheap to clone: clones share the node.
#[derive(Clone)]
pub struct MeshNetwork {
    config: NodeConfig,
    connect_timeout: Duration,
    node: Arc<Mutex<Option<Node>>>,
    handle: Arc<std::sync::OnceLock<mesh_net::MeshHandle>>,
    failure: Arc<std::sync::OnceLock<FailureWatch>>,
}

/// The embedded node's failure, as it reports it.
type FailureWatch = tokio::sync::watch::Receiver<Option<mesh_node::NodeFailure>>;

impl std::fmt::Debug for MeshNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshNetwork")
            .field("home", &self.config.home)
            .field("connected", &self.handle.get().is_some())
            .finish()
    }
}

impl MeshNetwork {
    /// Starts building a network connection.
    pub fn builder() -> MeshNetworkBuilder {
        MeshNetworkBuilder::default()
    }

    fn handle(&self) -> Result<&mesh_net::MeshHandle, Error> {
        if let Some(f) = self.failure() {
            return Err(Error::Failed(f));
        }
        self.handle.get().ok_or(Error::NotConnected)
    }

    /// Why the embedded node stopped working, if a task of it panicked or ended; every call
    /// then fails with [`Error::Failed`].
    pub fn failure(&self) -> Option<mesh_node::NodeFailure> {
        self.failure.get().and_then(|rx| rx.borrow().clone())
    }

    /// Starts the embedded node, waits until it listens and, if bootstrap peers are configured,
    /// until one of them is connected. Calling it again does nothing.
    pub async fn connect(&self) -> Result<(), Error> {
        let mut guard = self.node.lock().await;
        if guard.is_some() {
            return Ok(());
        }
        let node = Node::start(self.config.clone()).await?;
        let handle = node.handle().clone();
        let wanted = self.config.net.bootstrap.len();
        let deadline = Instant::now() + self.connect_timeout;
        while handle.info().await?.listen_addrs.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if wanted > 0 {
            loop {
                let peers = handle.peers().await?;
                if !peers.is_empty() {
                    break;
                }
                if Instant::now() >= deadline {
                    node.shutdown().await;
                    return Err(Error::BootstrapUnreachable {
                        count: wanted,
                        secs: self.connect_timeout.as_secs(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let _ = self.handle.set(handle);
        let _ = self.failure.set(node.failure_watch());
        *guard = Some(node);
        Ok(())
    }

    /// A stream of verified intents on this agent's capability topics, each delivered once:
    /// first the open intents the node already holds (for instance from catch-up while
    /// connecting), then new ones as they arrive. Call after [`Self::connect`]; before it, the
    /// stream ends at once.
    pub fn subscribe_to_intents(&self) -> IntentStream {
        let Some(handle) = self.handle.get() else {
            return IntentStream::ended();
        };
        // Subscribe before taking the snapshot, so nothing falls between the two.
        let live = BroadcastStream::new(handle.subscribe_intents());
        let handle = handle.clone();
        let backlog = Box::pin(async move { handle.open_intents().await.unwrap_or_default() });
        IntentStream {
            live: Some(live),
            backlog: Some(backlog),
            ready: VecDeque::new(),
            replayed: HashSet::new(),
        }
    }

    /// Also receive intents of `capabilities` without offering them.
    pub async fn watch_capabilities<I, S>(&self, capabilities: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let caps: Vec<Capability> = mesh_core::capability::parse_capabilities(capabilities)?;
        Ok(self.handle()?.subscribe(caps).await?)
    }

    /// Signs `intent` with this agent's key and publishes it on the topic of each capability.
    pub async fn publish_intent(&self, intent: Intent) -> Result<PublishOutcome, Error> {
        Ok(self.handle()?.publish_intent(&intent).await?)
    }

    /// Finds agents by capability and minimum reputation, best first.
    pub async fn discover_agents(&self, query: AgentQuery) -> Result<Vec<AgentInfo>, Error> {
        Ok(self.handle()?.discover_agents(query).await?)
    }

    /// Peers connected now.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, Error> {
        Ok(self.handle()?.peers().await?)
    }

    /// This agent's peer id and full listen addresses.
    pub async fn info(&self) -> Result<mesh_net::NodeInfo, Error> {
        Ok(self.handle()?.info().await?)
    }

    /// This agent's view of `peer`'s reputation: the figure discovery and the offer strategy
    /// use, and what it rests on (receipts, this agent's own observations). A peer nothing is
    /// known of is neutral (0.5) with `known` false.
    pub async fn reputation(&self, peer: PeerId) -> Result<ReputationView, Error> {
        Ok(self.handle()?.reputation(peer).await?)
    }

    /// Sets the load advertised to other agents, in `[0, 1]`.
    pub async fn set_load(&self, load: f64) -> Result<(), Error> {
        Ok(self.handle()?.set_load(load).await?)
    }

    /// Bids on an intent this agent has received: opens a negotiation with its publisher.
    pub async fn bid(
        &self,
        intent: IntentId,
        proposal: Proposal,
    ) -> Result<NegotiationEvent, Error> {
        Ok(self.handle()?.offer(intent, proposal).await?)
    }

    /// Proposes other terms to the agent (publisher).
    pub async fn counter(
        &self,
        negotiation: NegotiationId,
        proposal: Proposal,
    ) -> Result<NegotiationEvent, Error> {
        Ok(self.handle()?.counter(negotiation, proposal).await?)
    }

    /// Accepts the other party's outstanding proposal.
    pub async fn accept(&self, negotiation: NegotiationId) -> Result<NegotiationEvent, Error> {
        Ok(self.handle()?.accept(negotiation).await?)
    }

    /// Rejects the other party's outstanding proposal, ending the negotiation.
    pub async fn reject(
        &self,
        negotiation: NegotiationId,
        reason: impl Into<String>,
    ) -> Result<NegotiationEvent, Error> {
        Ok(self.handle()?.reject(negotiation, reason).await?)
    }

    /// Withdraws from a negotiation before an agreement.
    pub async fn withdraw(
        &self,
        negotiation: NegotiationId,
        reason: impl Into<String>,
    ) -> Result<NegotiationEvent, Error> {
        let body = mesh_core::negotiation::Body::Withdraw {
            reason: reason.into(),
        };
        Ok(self.handle()?.reply(negotiation, body).await?)
    }

    /// Cancels an agreement whose delivery is overdue (publisher; see
    /// [`MeshHandle::cancel_agreement`](mesh_net::MeshHandle::cancel_agreement)): refused as
    /// `not_overdue` before the agreed due time; afterwards the intent may be awarded again.
    pub async fn cancel_agreement(
        &self,
        negotiation: NegotiationId,
        reason: impl Into<String>,
    ) -> Result<NegotiationEvent, Error> {
        Ok(self.handle()?.cancel_agreement(negotiation, reason).await?)
    }

    /// Delivers the agreed work (agent).
    pub async fn deliver(
        &self,
        negotiation: NegotiationId,
        delivery: Delivery,
    ) -> Result<NegotiationEvent, Error> {
        Ok(self.handle()?.deliver(negotiation, delivery).await?)
    }

    /// Rates a delivery, completing the negotiation (publisher).
    pub async fn receipt(
        &self,
        negotiation: NegotiationId,
        receipt: Receipt,
    ) -> Result<NegotiationEvent, Error> {
        Ok(self.handle()?.receipt(negotiation, receipt).await?)
    }

    /// Every negotiation of this agent.
    pub async fn negotiations(&self) -> Result<Vec<NegotiationSummary>, Error> {
        Ok(self.handle()?.negotiations().await?)
    }

    /// The signed transcript of a negotiation; [`Transcript::verify`] checks it offline.
    pub async fn transcript(
        &self,
        negotiation: NegotiationId,
    ) -> Result<Option<Transcript>, Error> {
        Ok(self.handle()?.transcript(negotiation).await?)
    }

    /// Every message taken into this agent's negotiations, sent or received, as a stream.
    pub fn negotiation_events(&self) -> impl Stream<Item = NegotiationEvent> + use<> {
        let rx = self.handle.get().map(|h| h.subscribe_negotiations());
        futures::stream::iter(rx).flat_map(|rx| {
            BroadcastStream::new(rx).filter_map(|e| async move { e.ok().map(|e| (*e).clone()) })
        })
    }

    /// The open offers on an intent this node published, with this node's reputation of each
    /// agent.
    pub async fn offers(&self, intent: IntentId) -> Result<Vec<OfferCandidate>, Error> {
        Ok(mesh_net::award::offers(self.handle()?, intent).await?)
    }

    /// Chooses among the open offers on `intent` now, with `strategy`, accepts the chosen one
    /// and rejects the others. Returns the accepted negotiation; when the strategy chooses none,
    /// returns `None` and leaves every offer open (to award later, perhaps more loosely).
    pub async fn award(
        &self,
        intent: IntentId,
        strategy: &dyn OfferStrategy,
    ) -> Result<Option<NegotiationId>, Error> {
        let policy = AwardPolicy {
            window: Duration::ZERO,
            min_reputation: Some(0.0),
            ..AwardPolicy::default()
        };
        let outcome = self.award_with(intent, &policy, strategy).await?;
        Ok(outcome.accepted.and_then(|id| id.parse().ok()))
    }

    /// Awards `intent` following `policy`: collects offers for its window, chooses with
    /// `strategy` among agents at or above the minimum reputation, counters where configured,
    /// accepts exactly one and rejects the rest.
    pub async fn award_with(
        &self,
        intent: IntentId,
        policy: &AwardPolicy,
        strategy: &dyn OfferStrategy,
    ) -> Result<AwardOutcome, Error> {
        Ok(mesh_net::award::award(self.handle()?, intent, policy, strategy).await?)
    }

    /// Cancels an intent this node published that has no agreement yet; the signed
    /// cancellation travels like the intent, and open offers on it are withdrawn.
    pub async fn cancel_intent(
        &self,
        intent: IntentId,
        reason: &str,
    ) -> Result<CancelOutcome, Error> {
        Ok(self.handle()?.cancel_intent(intent, reason).await?)
    }

    /// An intent this node knows, with its lifecycle status.
    pub async fn intent(&self, intent: IntentId) -> Result<Option<IntentView>, Error> {
        Ok(self.handle()?.intent(intent).await?)
    }

    /// Intents this node knows (its own first), with their lifecycle status.
    pub async fn intents(&self, limit: usize) -> Result<Vec<IntentView>, Error> {
        Ok(self.handle()?.intents(limit).await?)
    }

    /// Lifecycle changes (cancellations) of intents this node holds, as a stream.
    pub fn intent_updates(&self) -> impl Stream<Item = IntentUpdate> + use<> {
        let rx = self.handle.get().map(|h| h.subscribe_intent_updates());
        futures::stream::iter(rx).flat_map(|rx| {
            BroadcastStream::new(rx).filter_map(|e| async move { e.ok().map(|e| (*e).clone()) })
        })
    }

    /// Stops the embedded node. Streams from [`Self::subscribe_to_intents`] end.
    pub async fn shutdown(&self) {
        if let Some(node) = self.node.lock().await.take() {
            node.shutdown().await;
        }
    }
}

type Backlog = Pin<Box<dyn Future<Output = Vec<Arc<SignedIntent>>> + Send>>;

/// Verified intents, as a [`Stream`]: the open ones held when it was made, then live ones.
/// Intents missed because the consumer fell far behind are skipped (and counted in the node's
/// `mesh_subscriber_lagged` metric).
pub struct IntentStream {
    live: Option<BroadcastStream<Arc<ReceivedIntent>>>,
    backlog: Option<Backlog>,
    ready: VecDeque<SignedIntent>,
    /// Ids handed out from the backlog, so the live stream does not repeat them.
    replayed: HashSet<IntentId>,
}

impl IntentStream {
    fn ended() -> Self {
        Self {
            live: None,
            backlog: None,
            ready: VecDeque::new(),
            replayed: HashSet::new(),
        }
    }
}

impl Stream for IntentStream {
    type Item = SignedIntent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(backlog) = this.backlog.as_mut() {
            let Poll::Ready(held) = backlog.as_mut().poll(cx) else {
                return Poll::Pending;
            };
            this.backlog = None;
            // Oldest first, like live delivery.
            for intent in held.into_iter().rev() {
                this.replayed.insert(intent.id);
                this.ready.push_back((*intent).clone());
            }
        }
        if let Some(next) = this.ready.pop_front() {
            return Poll::Ready(Some(next));
        }
        let Some(inner) = this.live.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            match Pin::new(&mut *inner).poll_next(cx) {
                Poll::Ready(Some(Ok(received))) => {
                    if this.replayed.remove(&received.intent.id) {
                        continue;
                    }
                    return Poll::Ready(Some(received.intent.clone()));
                }
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(n)))) => {
                    tracing::warn!(missed = n, "intent stream fell behind");
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
