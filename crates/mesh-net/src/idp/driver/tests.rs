//! The IDP driver on its own, with a controlled clock.

use super::*;
use crate::error::CancelError;
use crate::rate_limit::Rate;
use mesh_core::{Intent, IntentStatus, Keypair};

const NOW: u64 = 1_700_000_000_000;
const TOPIC: &str = "mesh/intents/1/text-generation";

/// A driver with the given quotas per minute, and what it did outside itself.
struct Harness {
    idp: IdpDriver,
    peers: PeerBook,
    metrics: MeshMetrics,
    intents: broadcast::Sender<Arc<ReceivedIntent>>,
    updates: broadcast::Sender<Arc<IntentUpdate>>,
    received: broadcast::Receiver<Arc<ReceivedIntent>>,
    writes: Vec<Write>,
}

impl Harness {
    fn new(per_publisher: u32, per_forwarder: u32) -> Self {
        let limits = Limits {
            intents_per_publisher: Rate::per(per_publisher, Duration::from_secs(60)),
            intents_per_forwarder: Rate::per(per_forwarder, Duration::from_secs(60)),
            ..Limits::default()
        };
        let (intents, received) = broadcast::channel(64);
        Self {
            idp: IdpDriver::new(&limits, 0),
            peers: PeerBook::default(),
            metrics: MeshMetrics::default(),
            updates: broadcast::channel(64).0,
            intents,
            received,
            writes: Vec::new(),
        }
    }

    /// Runs `f` with the driver and a context over the harness.
    fn with<R>(&mut self, f: impl FnOnce(&mut IdpDriver, &mut IdpContext<'_>) -> R) -> R {
        let writes = &mut self.writes;
        let mut store = |w: Write| writes.push(w);
        let mut ctx = IdpContext {
            peers: &mut self.peers,
            metrics: &self.metrics,
            updates: &self.updates,
            intents: &self.intents,
            store: &mut store,
        };
        f(&mut self.idp, &mut ctx)
    }

    /// A gossip message from `source` through validation, admission and, when accepted,
    /// delivery; returns the verdict's label and whether it was delivered as new.
    fn gossip(
        &mut self,
        intent: &SignedIntent,
        message: u8,
        source: PeerId,
        now: Instant,
    ) -> (&'static str, bool) {
        let id = gossipsub::MessageId(vec![message; 32]);
        let verdict = self
            .idp
            .check_gossip(TOPIC, &intent.envelope, &id, source, NOW, now);
        match verdict {
            Verdict::Accept(intent) => {
                let cap = Capability::from_topic(TOPIC).expect("an intent topic");
                let new = self.with(|idp, ctx| idp.deliver(ctx, *intent, source, cap, NOW, now));
                ("accept", new)
            }
            Verdict::Cancel(_) => ("cancel", false),
            Verdict::Ignore(reason) | Verdict::Reject(reason) => (reason, false),
        }
    }

    fn stored(&self) -> usize {
        self.writes
            .iter()
            .filter(|w| matches!(w, Write::Intent(_)))
            .count()
    }
}

fn intent(key: &Keypair, title: &str) -> SignedIntent {
    Intent::new(title)
        .capabilities(["text-generation"])
        .sign(key, NOW)
        .expect("a valid intent")
}

fn peer_of(key: &Keypair) -> PeerId {
    key.public().to_peer_id()
}

#[test]
fn a_fresh_intent_is_admitted_delivered_and_stored() {
    let mut h = Harness::new(120, 240);
    let publisher = Keypair::generate_ed25519();
    let relay = PeerId::random();
    let i = intent(&publisher, "fresh");
    assert_eq!(h.gossip(&i, 1, relay, Instant::now()), ("accept", true));
    let got = h
        .received
        .try_recv()
        .expect("delivered to local subscribers");
    assert_eq!(got.intent.id, i.id);
    assert_eq!(got.from, relay);
    assert_eq!(h.stored(), 1);
    assert!(
        h.idp.open().get(&i.id).is_some(),
        "held among the open intents"
    );
}

#[test]
fn a_replayed_message_is_ignored_and_a_second_copy_not_delivered_again() {
    let mut h = Harness::new(120, 240);
    let publisher = Keypair::generate_ed25519();
    let i = intent(&publisher, "once");
    let now = Instant::now();
    assert_eq!(h.gossip(&i, 1, PeerId::random(), now), ("accept", true));
    assert_eq!(h.gossip(&i, 1, PeerId::random(), now), ("replayed", false));
    // The same intent under another message id (another topic) is accepted for
    // forwarding but delivered once.
    assert_eq!(h.gossip(&i, 2, PeerId::random(), now), ("accept", false));
    assert_eq!(h.stored(), 1);
    assert!(h.received.try_recv().is_ok());
    assert!(h.received.try_recv().is_err(), "delivered once");
}

#[test]
fn a_publisher_over_quota_is_rejected_as_source_and_ignored_when_relayed() {
    let mut h = Harness::new(1, 240);
    let publisher = Keypair::generate_ed25519();
    let now = Instant::now();
    let first = intent(&publisher, "first");
    assert_eq!(
        h.gossip(&first, 1, peer_of(&publisher), now),
        ("accept", true)
    );
    let second = intent(&publisher, "second");
    assert_eq!(
        h.gossip(&second, 2, peer_of(&publisher), now),
        ("over_quota", false),
        "the publisher itself sending beyond its quota is rejected"
    );
    assert_eq!(
        h.gossip(&second, 3, PeerId::random(), now),
        ("over_quota_relayed", false),
        "a relay of the excess is ignored"
    );
    // An intent already seen does not count against its publisher again.
    assert_eq!(
        h.gossip(&first, 4, peer_of(&publisher), now),
        ("accept", false)
    );
    // The quota refills with time.
    let later = now + Duration::from_secs(61);
    assert_eq!(
        h.gossip(&second, 5, PeerId::random(), later),
        ("accept", true)
    );
}

#[test]
fn beyond_the_forwarders_quota_an_intent_is_delivered_but_not_stored() {
    let mut h = Harness::new(120, 1);
    let relay = PeerId::random();
    let now = Instant::now();
    let a = intent(&Keypair::generate_ed25519(), "a");
    let b = intent(&Keypair::generate_ed25519(), "b");
    assert_eq!(h.gossip(&a, 1, relay, now), ("accept", true));
    assert_eq!(h.gossip(&b, 2, relay, now), ("accept", true));
    assert_eq!(h.received.try_recv().expect("a delivered").intent.id, a.id);
    assert_eq!(h.received.try_recv().expect("b delivered").intent.id, b.id);
    assert_eq!(h.stored(), 1, "only the intent within the quota is stored");
    assert!(h.idp.open().get(&b.id).is_some(), "still held open");
    // Another peer has a quota of its own.
    let c = intent(&Keypair::generate_ed25519(), "c");
    assert_eq!(h.gossip(&c, 3, PeerId::random(), now), ("accept", true));
    assert_eq!(h.stored(), 2);
}

#[test]
fn a_cancelled_intent_is_not_delivered() {
    let mut h = Harness::new(120, 240);
    let key = Keypair::generate_ed25519();
    let i = intent(&key, "cancelled");
    let c = mesh_core::SignedCancellation::sign(&key, &i, "no longer needed", NOW)
        .expect("a cancellation");
    h.idp
        .book
        .record_cancellation(Arc::new(c), Some(Arc::new(i.clone())), NOW);
    assert_eq!(
        h.gossip(&i, 1, PeerId::random(), Instant::now()),
        ("accept", false)
    );
    assert!(h.received.try_recv().is_err());
    assert_eq!(h.stored(), 0);
}

#[test]
fn catchup_answers_are_rate_limited_per_peer() {
    let mut h = Harness::new(120, 240);
    let key = Keypair::generate_ed25519();
    let i = Arc::new(intent(&key, "open"));
    h.idp.hold(Arc::clone(&i), NOW);
    let cap = Capability::from_topic(TOPIC).expect("an intent topic");
    let request = IdpDriver::catchup_request(&[cap]).expect("a request");
    let (a, b) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    let answer = |h: &mut Harness, peer: PeerId, now: Instant| {
        h.with(|idp, ctx| idp.answer_catchup(ctx, peer, &request, |_| true, NOW, now))
            .envelopes
            .len()
    };
    assert_eq!(answer(&mut h, a, now), 1);
    assert_eq!(
        answer(&mut h, a, now + Duration::from_millis(500)),
        0,
        "too soon"
    );
    assert_eq!(
        answer(&mut h, b, now + Duration::from_millis(500)),
        1,
        "per peer"
    );
    assert_eq!(answer(&mut h, a, now + Duration::from_millis(1600)), 1);
}

#[test]
fn a_malformed_catchup_request_gets_nothing() {
    let mut h = Harness::new(120, 240);
    h.idp
        .hold(Arc::new(intent(&Keypair::generate_ed25519(), "open")), NOW);
    let request = OpenIntentsRequest {
        capabilities: vec!["Not A Capability!".into()],
        limit: 64,
    };
    let answer = h.with(|idp, ctx| {
        idp.answer_catchup(
            ctx,
            PeerId::random(),
            &request,
            |_| true,
            NOW,
            Instant::now(),
        )
    });
    assert!(answer.envelopes.is_empty());
    assert!(IdpDriver::catchup_request(&[]).is_none());
}

#[test]
fn a_catchup_answer_delivers_asked_intents_once() {
    let mut h = Harness::new(120, 240);
    let peer = PeerId::random();
    let cap = Capability::from_topic(TOPIC).expect("an intent topic");
    let i = intent(&Keypair::generate_ed25519(), "caught up");
    let other = Intent::new("unasked")
        .capabilities(["image-generation"])
        .sign(&Keypair::generate_ed25519(), NOW)
        .expect("a valid intent");
    let response = OpenIntentsResponse {
        envelopes: vec![
            i.envelope.clone(),
            other.envelope.clone(),
            i.envelope.clone(),
        ],
    };
    h.idp.subscriptions = vec![cap];
    h.with(|idp, ctx| idp.take_catchup_answer(ctx, peer, response, NOW, Instant::now()));
    assert_eq!(h.received.try_recv().expect("delivered").intent.id, i.id);
    assert!(
        h.received.try_recv().is_err(),
        "once, and not the unasked one"
    );
    assert!(h.idp.open().get(&other.id).is_none());
    assert_eq!(h.stored(), 1);
    // Too many intents in one answer: refused whole.
    let flood = OpenIntentsResponse {
        envelopes: vec![i.envelope.clone(); MAX_CATCHUP_INTENTS + 1],
    };
    h.with(|idp, ctx| idp.take_catchup_answer(ctx, peer, flood, NOW, Instant::now()));
    assert!(h.received.try_recv().is_err());
}

/// A gossipsub behaviour on its own (no swarm): joining topics and publishing work on it.
fn gossipsub() -> gossipsub::Behaviour {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::None)
        .build()
        .expect("gossipsub config");
    gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, config).expect("gossipsub")
}

#[test]
fn topics_are_joined_once_and_at_most_the_limit() {
    let mut h = Harness::new(120, 240);
    let mut gs = gossipsub();
    let cap = |i: usize| Capability::new(format!("cap-{i}")).expect("a capability");
    let added = h.idp.subscribe(&mut gs, vec![cap(0), cap(1), cap(0)]);
    assert_eq!(added, vec![cap(0), cap(1)]);
    assert!(h.idp.subscribe(&mut gs, vec![cap(1)]).is_empty(), "once");
    let many: Vec<Capability> = (0..MAX_SUBSCRIPTIONS + 10).map(cap).collect();
    h.idp.subscribe(&mut gs, many);
    assert_eq!(h.idp.subscriptions().len(), MAX_SUBSCRIPTIONS);
    assert_eq!(gs.topics().count(), MAX_SUBSCRIPTIONS);
    // No subscriber is known on any of them yet.
    assert_eq!(h.idp.topics_short_of_peers(&gs, 1).len(), MAX_SUBSCRIPTIONS);
}

#[test]
fn new_connections_ask_for_catch_up_at_most_four_times_a_window() {
    let mut h = Harness::new(120, 240);
    let now = Instant::now();
    assert!(
        h.idp.catchup_on_connect(now).is_none(),
        "no topics, nothing to ask"
    );
    let cap = Capability::from_topic(TOPIC).expect("an intent topic");
    h.idp.subscribe(&mut gossipsub(), vec![cap.clone()]);
    let asked: Vec<_> = (0..6)
        .filter_map(|_| h.idp.catchup_on_connect(now))
        .collect();
    assert_eq!(asked.len(), CATCHUP_ON_CONNECT);
    assert_eq!(asked[0].capabilities, vec![cap.to_string()]);
    assert!(
        h.idp.catchup_on_connect(now + CATCHUP_WINDOW).is_some(),
        "a new window"
    );
}

#[test]
fn only_the_publisher_cancels_and_only_while_the_intent_is_open() {
    let mut h = Harness::new(120, 240);
    let ours = Keypair::generate_ed25519();
    let mine = Arc::new(intent(&ours, "mine"));
    h.idp.hold_own(Arc::clone(&mine), NOW);
    let theirs = intent(&Keypair::generate_ed25519(), "theirs");
    h.gossip(&theirs, 1, PeerId::random(), Instant::now());
    let open = |_: &SignedIntent| IntentStatus::Open;
    let err = h
        .idp
        .sign_cancellation(&ours, theirs.id, "", open, NOW)
        .expect_err("not ours");
    assert!(matches!(err, CancelError::NotPublisher { .. }), "{err}");
    let unknown = IntentId([7; 32]);
    let err = h
        .idp
        .sign_cancellation(&ours, unknown, "", open, NOW)
        .expect_err("unknown");
    assert!(matches!(err, CancelError::IntentNotFound { .. }), "{err}");
    let agreed = |_: &SignedIntent| IntentStatus::Agreed;
    let err = h
        .idp
        .sign_cancellation(&ours, mine.id, "", agreed, NOW)
        .expect_err("agreed");
    assert!(matches!(err, CancelError::CannotCancel { .. }), "{err}");
    let c = h
        .idp
        .sign_cancellation(&ours, mine.id, "changed my mind", open, NOW)
        .expect("signed");
    assert!(c.cancels(&mine));
}

#[test]
fn a_verified_cancellation_closes_the_intent_once_and_is_stored() {
    let mut h = Harness::new(120, 240);
    let mut updates = h.updates.subscribe();
    let key = Keypair::generate_ed25519();
    let i = intent(&key, "to cancel");
    h.gossip(&i, 1, PeerId::random(), Instant::now());
    assert!(h.idp.open().get(&i.id).is_some());
    let writes_before = h.writes.len();
    let c = Arc::new(
        mesh_core::SignedCancellation::sign(&key, &i, "done elsewhere", NOW).expect("signed"),
    );
    h.with(|idp, ctx| idp.apply_cancellation(ctx, Arc::clone(&c), NOW));
    assert!(h.idp.open().get(&i.id).is_none(), "no longer open");
    assert!(
        h.idp.known_intent(&i.id).is_some(),
        "still known, as cancelled"
    );
    let update = updates.try_recv().expect("subscribers hear of it");
    assert_eq!(
        (update.status.as_str(), update.reason.as_deref()),
        ("cancelled", Some("done elsewhere"))
    );
    assert!(matches!(
        h.writes[writes_before..],
        [Write::Cancellation { .. }]
    ));
    assert_eq!(h.metrics.intents_cancelled.get(), 1);
    // A repeat changes nothing.
    h.with(|idp, ctx| idp.apply_cancellation(ctx, c, NOW));
    assert!(updates.try_recv().is_err());
    assert_eq!(h.metrics.intents_cancelled.get(), 1);
}
