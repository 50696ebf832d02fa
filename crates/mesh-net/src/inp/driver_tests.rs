//! The INP driver on its own: two drivers, each over a real request-response behaviour on a
//! memory transport (Noise, Yamux), with real stores, without the rest of the node.

use std::time::Duration;

use futures::StreamExt;
use libp2p::core::transport::{MemoryTransport, Transport};
use libp2p::core::upgrade::Version;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, Swarm, noise, yamux};
use mesh_core::intent::IntentId;
use mesh_core::negotiation::{Eta, Price, Proposal, StateKind};
use mesh_core::{Intent, SignedIntent};

use super::*;
use crate::inp::InpError;
use crate::rate_limit::Rate;

const NOW: u64 = 1_700_000_000_000;
const WAIT: Duration = Duration::from_secs(20);

/// One side: a driver, its swarm and what its context lends it.
struct Side {
    keypair: Keypair,
    swarm: Swarm<request_response::Behaviour<InpCodec>>,
    driver: InpDriver,
    peers: PeerBook,
    metrics: MeshMetrics,
    store: StoreLink,
    intents: Vec<Arc<SignedIntent>>,
    events: broadcast::Sender<Arc<NegotiationEvent>>,
    heard: broadcast::Receiver<Arc<NegotiationEvent>>,
    actions: Vec<InpAction>,
    _dir: Option<tempfile::TempDir>,
}

impl Side {
    fn new(rate: Rate, with_store: bool) -> Self {
        let keypair = Keypair::generate_ed25519();
        let transport = MemoryTransport::default()
            .upgrade(Version::V1)
            .authenticate(noise::Config::new(&keypair).expect("noise"))
            .multiplex(yamux::Config::default())
            .boxed();
        let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair.clone())
            .with_tokio()
            .with_other_transport(|_| transport)
            .expect("transport")
            .with_behaviour(|_| super::super::behaviour(Duration::from_secs(10)))
            .expect("behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        let (dir, store) = if with_store {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = mesh_store::Store::open(&dir.path().join("mesh.redb")).expect("store");
            let link =
                StoreLink::start(store, Default::default(), Default::default()).expect("writer");
            (Some(dir), link)
        } else {
            (None, StoreLink::default())
        };
        let (events, heard) = broadcast::channel(64);
        Self {
            keypair,
            swarm,
            driver: InpDriver::new(rate),
            peers: PeerBook::default(),
            metrics: MeshMetrics::default(),
            store,
            intents: Vec::new(),
            events,
            heard,
            actions: Vec::new(),
            _dir: dir,
        }
    }

    fn peer(&self) -> PeerId {
        self.keypair.public().to_peer_id()
    }

    /// Runs `f` with the driver and a context over this side.
    fn with<R>(&mut self, f: impl FnOnce(&mut InpDriver, &mut InpContext<'_>) -> R) -> R {
        let intents = &self.intents;
        let lookup = |id: &IntentId| {
            intents
                .iter()
                .find(|i| i.id == *id)
                .cloned()
                .ok_or_else(|| InpError::UnknownIntent(id.to_string()))
        };
        let mut ctx = InpContext {
            local: self.keypair.public().to_peer_id(),
            keypair: &self.keypair,
            wire: self.swarm.behaviour_mut(),
            peers: &mut self.peers,
            metrics: &self.metrics,
            store: &mut self.store,
            lookup: &lookup,
            events: &self.events,
            actions: &mut self.actions,
        };
        f(&mut self.driver, &mut ctx)
    }

    /// Publishes an intent this side takes offers on.
    fn publish(&mut self) -> Arc<SignedIntent> {
        self.publish_at(Vec::new())
    }

    /// Publishes an intent that names `addrs` as where this side takes offers.
    fn publish_at(&mut self, addrs: Vec<Multiaddr>) -> Arc<SignedIntent> {
        let intent = Arc::new(
            Intent::new("summarise")
                .capabilities(["text"])
                .ttl(Duration::from_secs(600))
                .publisher_addrs(addrs)
                .sign(&self.keypair, NOW)
                .expect("intent"),
        );
        self.intents.push(Arc::clone(&intent));
        intent
    }

    /// An offer of `amount` USD on `intent`; its outcome comes on the returned receiver.
    fn offer(
        &mut self,
        intent: &Arc<SignedIntent>,
        amount: &str,
    ) -> oneshot::Receiver<Result<NegotiationEvent, NegotiateError>> {
        self.intents.push(Arc::clone(intent));
        let (tx, rx) = oneshot::channel();
        let action = Action::Offer {
            intent: intent.id,
            proposal: Proposal::new(
                Price::new(amount, "USD").expect("price"),
                Eta::Within(Duration::from_secs(60)),
            ),
        };
        self.with(|d, ctx| d.negotiate(ctx, action, tx, NOW));
        rx
    }

    /// Handles this side's next swarm event or store completion.
    async fn step(&mut self) {
        tokio::select! {
            event = self.swarm.select_next_some() => {
                if let SwarmEvent::Behaviour(event) = event {
                    self.with(|d, ctx| d.on_event(ctx, event, NOW, Instant::now()));
                }
            }
            Some(done) = self.store.next() => {
                self.with(|d, ctx| d.on_stored(ctx, done));
            }
        }
    }
}

async fn listening(side: &mut Side) -> Multiaddr {
    side.swarm
        .listen_on("/memory/0".parse().expect("memory address"))
        .expect("listen");
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = side.swarm.select_next_some().await {
            return address;
        }
    }
}

/// A publisher listening and an agent that knows its address.
async fn pair(rate: Rate, publisher_store: bool) -> (Side, Side) {
    let mut publisher = Side::new(rate, publisher_store);
    let mut agent = Side::new(rate, false);
    let addr = listening(&mut publisher).await;
    agent.swarm.add_peer_address(publisher.peer(), addr);
    (publisher, agent)
}

/// Drives both sides until `rx` has the outcome.
async fn outcome(
    a: &mut Side,
    b: &mut Side,
    mut rx: oneshot::Receiver<Result<NegotiationEvent, NegotiateError>>,
) -> Result<NegotiationEvent, NegotiateError> {
    tokio::time::timeout(WAIT, async {
        loop {
            tokio::select! {
                result = &mut rx => return result.expect("the driver answers"),
                () = a.step() => {}
                () = b.step() => {}
            }
        }
    })
    .await
    .expect("an outcome in time")
}

fn rate() -> Rate {
    Rate::per(100, Duration::from_secs(60))
}

#[tokio::test]
async fn an_offer_is_taken_by_the_publisher_and_committed_by_the_agent() {
    let (mut publisher, mut agent) = pair(rate(), false).await;
    let intent = publisher.publish();
    let rx = agent.offer(&intent, "2");
    let sent = outcome(&mut agent, &mut publisher, rx)
        .await
        .expect("taken");
    assert_eq!(
        (sent.kind, sent.state),
        (NegotiationEventKind::Offer, StateKind::Offered)
    );
    assert!(!sent.received);
    let heard = publisher
        .heard
        .try_recv()
        .expect("the publisher heard of it");
    assert_eq!(
        (heard.kind, heard.received),
        (NegotiationEventKind::Offer, true)
    );
    assert_eq!(heard.negotiation_id, sent.negotiation_id);
    let id: NegotiationId = sent.negotiation_id.parse().expect("id");
    for side in [&publisher, &agent] {
        let n = side.driver.registry().get(&id).expect("both hold it");
        assert_eq!(n.transcript().len(), 1);
    }
    assert_eq!(agent.driver.in_flight(&publisher.peer()), 0);
    assert!(
        agent
            .actions
            .contains(&InpAction::Negotiated(publisher.peer()))
    );
    assert!(
        publisher
            .actions
            .contains(&InpAction::Negotiated(agent.peer()))
    );
}

#[tokio::test]
async fn with_a_store_the_acknowledgement_waits_until_the_message_is_durable() {
    let (mut publisher, mut agent) = pair(rate(), true).await;
    let intent = publisher.publish();
    let mut rx = agent.offer(&intent, "2");
    // Drive both swarms but not the publisher's store: the offer is taken, not acknowledged.
    let waited = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            tokio::select! {
                event = publisher.swarm.select_next_some() => {
                    if let SwarmEvent::Behaviour(event) = event {
                        publisher.with(|d, ctx| d.on_event(ctx, event, NOW, Instant::now()));
                    }
                }
                () = agent.step() => {}
            }
        }
    })
    .await;
    assert!(waited.is_err());
    assert!(
        rx.try_recv().is_err(),
        "no answer before the write is durable"
    );
    assert_eq!(publisher.driver.awaiting.len(), 1);
    assert!(
        publisher.heard.try_recv().is_err(),
        "nobody hears of it before"
    );
    // Now the write completes: the acknowledgement goes out.
    let sent = outcome(&mut agent, &mut publisher, rx)
        .await
        .expect("taken");
    assert_eq!(sent.state, StateKind::Offered);
    assert!(publisher.driver.awaiting.is_empty());
    assert_eq!(
        publisher.heard.try_recv().expect("heard").kind,
        NegotiationEventKind::Offer
    );
}

#[tokio::test]
async fn a_failed_write_refuses_the_message_and_rolls_the_negotiation_back() {
    let (mut publisher, mut agent) = pair(rate(), true).await;
    let intent = publisher.publish();
    let rx = agent.offer(&intent, "2");
    // Take the offer without letting the store report.
    tokio::time::timeout(WAIT, async {
        while publisher.driver.awaiting.is_empty() {
            tokio::select! {
                event = publisher.swarm.select_next_some() => {
                    if let SwarmEvent::Behaviour(event) = event {
                        publisher.with(|d, ctx| d.on_event(ctx, event, NOW, Instant::now()));
                    }
                }
                () = agent.step() => {}
            }
        }
    })
    .await
    .expect("the offer arrives");
    let token = *publisher.driver.awaiting.keys().next().expect("one waits");
    let failed = Completion {
        owner: Owner::Negotiation,
        token,
        result: Err("disk full".into()),
    };
    publisher.with(|d, ctx| d.on_stored(ctx, failed));
    let err = outcome(&mut agent, &mut publisher, rx)
        .await
        .expect_err("refused");
    match err {
        NegotiateError::Refused { code, .. } => assert_eq!(code, "busy"),
        other => panic!("refused as busy, not {other}"),
    }
    assert!(publisher.driver.registry().is_empty(), "rolled back");
    assert!(agent.driver.registry().is_empty(), "never committed");
    assert!(publisher.heard.try_recv().is_err());
}

#[tokio::test]
async fn a_peer_over_its_message_rate_is_refused_as_rate_limited() {
    let (mut publisher, mut agent) = pair(Rate::per(1, Duration::from_secs(60)), false).await;
    let first = publisher.publish();
    let second = publisher.publish();
    let rx = agent.offer(&first, "2");
    outcome(&mut agent, &mut publisher, rx)
        .await
        .expect("the first is taken");
    let rx = agent.offer(&second, "2");
    match outcome(&mut agent, &mut publisher, rx).await {
        Err(NegotiateError::Refused { code, .. }) => assert_eq!(code, "rate_limited"),
        other => panic!("refused as rate limited, not {other:?}"),
    }
    assert_eq!(publisher.driver.registry().len(), 1);
}

#[tokio::test]
async fn an_unreachable_peer_is_looked_up_once_then_the_caller_hears_why() {
    let mut agent = Side::new(rate(), false);
    let publisher = Side::new(rate(), false);
    let stranger = publisher.peer();
    let intent = {
        let mut p = publisher;
        p.publish()
    };
    let mut rx = agent.offer(&intent, "2");
    // The dial fails (no address): a slot is made and the peer looked up.
    tokio::time::timeout(WAIT, async {
        while !agent.actions.contains(&InpAction::FindPeer(stranger)) {
            agent.step().await;
        }
    })
    .await
    .expect("a lookup is asked for");
    assert!(agent.actions.contains(&InpAction::MakeRoom));
    assert!(
        agent.actions.contains(&InpAction::Reach(stranger)),
        "a message to a peer not connected asks for the connection reserve"
    );
    assert!(rx.try_recv().is_err(), "parked, not failed");
    // The lookup found nothing: the retry fails for good.
    agent.with(|d, ctx| d.on_peer_found(ctx, &stranger));
    let result = tokio::time::timeout(WAIT, async {
        loop {
            tokio::select! {
                result = &mut rx => return result.expect("answered"),
                () = agent.step() => {}
            }
        }
    })
    .await
    .expect("answered in time");
    match result {
        Err(NegotiateError::Unreachable { peer, reason }) => {
            assert_eq!(peer, stranger.to_string());
            assert!(reason.contains("nor any the DHT knows"), "{reason}");
        }
        other => panic!("unreachable, not {other:?}"),
    }
    let lookups = agent
        .actions
        .iter()
        .filter(|a| **a == InpAction::FindPeer(stranger))
        .count();
    assert_eq!(lookups, 1, "looked up once");
}

#[tokio::test]
async fn an_offer_reaches_a_publisher_it_knows_only_from_the_intent() {
    let mut publisher = Side::new(rate(), false);
    let mut agent = Side::new(rate(), false);
    let addr = listening(&mut publisher).await;
    // The agent was told no address of the publisher: only the signed intent names one.
    let intent = publisher.publish_at(vec![addr]);
    let rx = agent.offer(&intent, "2");
    let sent = outcome(&mut agent, &mut publisher, rx)
        .await
        .expect("taken");
    assert_eq!(sent.kind, NegotiationEventKind::Offer);
    assert!(
        !agent
            .actions
            .iter()
            .any(|a| matches!(a, InpAction::FindPeer(_))),
        "no DHT lookup was needed: {:?}",
        agent.actions
    );
}

#[tokio::test]
async fn stopping_answers_every_waiting_caller() {
    let mut agent = Side::new(rate(), false);
    let intent = Side::new(rate(), false).publish();
    let mut rx = agent.offer(&intent, "2");
    assert!(rx.try_recv().is_err());
    agent.driver.stop();
    match rx.await.expect("answered") {
        Err(NegotiateError::Stopped) => {}
        other => panic!("stopped, not {other:?}"),
    }
}
