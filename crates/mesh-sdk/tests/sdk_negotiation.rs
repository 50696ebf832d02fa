//! A negotiation through the SDK, between real nodes on loopback: two workers bid on an
//! intent, the publisher awards it to the lowest price, the winner delivers and gets a receipt,
//! the loser is rejected, and both sides hold the same transcript. A second intent checks that
//! a strategy which finds no eligible offer accepts nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::pin::Pin;
use std::time::{Duration, Instant};

use common::agent;
use futures::{Stream, StreamExt};
use mesh_core::negotiation::{ResultContent, Role};
use mesh_sdk::{
    AgentQuery, Delivery, Eta, Intent, IntentId, IntentStream, LowestPrice, MeshNetwork,
    NegotiationEvent, NegotiationEventKind as Kind, NegotiationId, NegotiationState, OfferStrategy,
    Price, Proposal, Receipt, StateKind, Transcript,
};

type Events = Pin<Box<dyn Stream<Item = NegotiationEvent> + Send>>;

/// Upper bound for one step; each takes well under a second on a healthy machine.
const STEP: Duration = Duration::from_secs(30);
const CAPABILITY: &str = "text-generation";
const MAIN: &str = "Summarise this PDF";
const SIDE: &str = "Translate this poem";
const RESULT: &[u8] = b"A short summary of the PDF.";

async fn wait_for(
    events: &mut Events,
    what: &str,
    wanted: impl Fn(&NegotiationEvent) -> bool,
) -> NegotiationEvent {
    tokio::time::timeout(STEP, async {
        while let Some(e) = events.next().await {
            if wanted(&e) {
                return e;
            }
        }
        panic!("event stream ended while waiting for {what}");
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} within {} s", STEP.as_secs()))
}

/// What one worker saw of the main intent.
struct Report {
    peer_id: String,
    main: NegotiationId,
    side: NegotiationId,
    /// `Accept` or `Reject`.
    answer: Kind,
    /// This worker's transcript once the main negotiation ended.
    transcript: Transcript,
}

fn offer(amount: &str) -> Proposal {
    Proposal::new(
        Price::new(amount, "USD").unwrap(),
        Eta::Within(Duration::from_secs(600)),
    )
    .with_terms("plain English")
}

/// A worker bids `price` on both intents, then follows the main negotiation to its end:
/// delivering if accepted, stopping if rejected.
async fn work(
    network: MeshNetwork,
    price: &'static str,
    mut intents: IntentStream,
    mut events: Events,
) -> Report {
    let (mut main, mut side) = (None, None);
    while main.is_none() || side.is_none() {
        let intent = tokio::time::timeout(STEP, intents.next())
            .await
            .expect("both intents within the step")
            .expect("intent stream open");
        let bid = network.bid(intent.id, offer(price)).await.unwrap();
        assert_eq!((bid.kind, bid.state), (Kind::Offer, StateKind::Offered));
        assert_eq!(bid.role, Role::Agent);
        let id: NegotiationId = bid.negotiation_id.parse().unwrap();
        match intent.title() {
            MAIN => main = Some(id),
            SIDE => side = Some(id),
            other => panic!("unexpected intent {other:?}"),
        }
    }
    let (main, side) = (main.unwrap(), side.unwrap());
    let main_hex = main.to_string();

    let answer = wait_for(&mut events, "an answer to the bid", |e| {
        e.negotiation_id == main_hex
            && e.received
            && (e.kind == Kind::Accept || e.kind == Kind::Reject)
    })
    .await;
    if answer.kind == Kind::Accept {
        assert_eq!(answer.state, StateKind::Agreed);
        let delivered = network
            .deliver(main, Delivery::inline("text/plain", RESULT))
            .await
            .unwrap();
        assert_eq!(delivered.state, StateKind::Delivered);
        let receipt = wait_for(&mut events, "the receipt", |e| {
            e.negotiation_id == main_hex && e.received && e.kind == Kind::Receipt
        })
        .await;
        assert_eq!(receipt.state, StateKind::Completed);
    } else {
        assert_eq!(answer.state, StateKind::Rejected);
    }
    Report {
        peer_id: network.info().await.unwrap().peer_id,
        main,
        side,
        answer: answer.kind,
        transcript: network.transcript(main).await.unwrap().expect("transcript"),
    }
}

async fn offers_until(
    publisher: &MeshNetwork,
    intent: IntentId,
    n: usize,
) -> Vec<mesh_sdk::OfferCandidate> {
    let deadline = Instant::now() + STEP;
    loop {
        let offers = publisher.offers(intent).await.unwrap();
        if offers.len() >= n {
            return offers;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} offers within {} s",
            offers.len(),
            STEP.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowest_bid_wins_delivers_and_both_sides_hold_the_same_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let publisher = agent(dir.path(), "publisher", &[], &[]);
    publisher.connect().await.unwrap();
    let hub = vec![publisher.info().await.unwrap().listen_addrs[0].clone()];

    let dear = agent(dir.path(), "dear", &[CAPABILITY], &hub);
    let cheap = agent(dir.path(), "cheap", &[CAPABILITY], &hub);
    let mut tasks = Vec::new();
    for (network, price) in [(&dear, "3.00"), (&cheap, "2.50")] {
        network.connect().await.unwrap();
        let intents = network.subscribe_to_intents();
        let events: Events = Box::pin(network.negotiation_events());
        tasks.push(tokio::spawn(work(network.clone(), price, intents, events)));
    }
    let cheap_id = cheap.info().await.unwrap().peer_id;

    // Wait until the publisher sees both workers before publishing.
    let deadline = Instant::now() + STEP;
    loop {
        let found = publisher
            .discover_agents(AgentQuery::new().capabilities([CAPABILITY]))
            .await
            .unwrap();
        if found.len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "found {found:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let mut publisher_events: Events = Box::pin(publisher.negotiation_events());
    let publish = async |title: &str| -> IntentId {
        let outcome = publisher
            .publish_intent(
                Intent::new(title)
                    .capabilities([CAPABILITY])
                    .ttl(Duration::from_secs(600)),
            )
            .await
            .unwrap();
        outcome.id.parse().unwrap()
    };
    let main = publish(MAIN).await;
    let side = publish(SIDE).await;
    let main_offers = offers_until(&publisher, main, 2).await;
    let side_offers = offers_until(&publisher, side, 2).await;
    let mut prices: Vec<String> = main_offers.iter().map(|o| o.price.to_string()).collect();
    prices.sort();
    assert_eq!(prices, ["2.50 USD", "3.00 USD"]);

    // Nobody has a reputation of 0.99 yet: a strategy asking for it accepts nothing.
    assert!(
        side_offers.iter().all(|o| o.reputation < 0.99),
        "{side_offers:?}"
    );
    assert_eq!(LowestPrice::new(0.99).choose(&side_offers), None);
    assert_eq!(
        publisher
            .award(side, &LowestPrice::new(0.99))
            .await
            .unwrap(),
        None
    );
    let side_hex = side.to_string();
    let side_states: Vec<StateKind> = publisher
        .negotiations()
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.intent_id == side_hex)
        .map(|n| n.state)
        .collect();
    assert_eq!(side_states.len(), 2);
    assert!(
        side_states.iter().all(|s| *s == StateKind::Offered),
        "an award that chooses none leaves every offer open: {side_states:?}"
    );
    // Awarding one intent leaves the offers on another alone.
    assert_eq!(publisher.offers(main).await.unwrap().len(), 2);

    // The real award: the lowest price wins.
    let winner = publisher
        .award(main, &LowestPrice::new(0.0))
        .await
        .unwrap()
        .expect("an offer is accepted");
    let chosen = main_offers
        .iter()
        .find(|o| o.negotiation_id == winner)
        .unwrap();
    assert_eq!(chosen.agent, cheap_id);
    assert_eq!(chosen.price.to_string(), "2.50 USD");
    assert!(publisher.offers(main).await.unwrap().is_empty());

    // The winner delivers on its own; the publisher sees it and answers with a receipt.
    let delivered = wait_for(&mut publisher_events, "the delivery", |e| {
        e.negotiation_id == winner.to_string() && e.received && e.kind == Kind::Deliver
    })
    .await;
    assert_eq!(delivered.state, StateKind::Delivered);
    assert_eq!(delivered.peer, cheap_id);
    let done = publisher
        .receipt(winner, Receipt::new(0.9).with_comment("good work"))
        .await
        .unwrap();
    assert_eq!(done.state, StateKind::Completed);

    let mut reports = Vec::new();
    for task in tasks {
        reports.push(
            tokio::time::timeout(STEP, task)
                .await
                .expect("worker finishes")
                .expect("worker does not panic"),
        );
    }
    let (lost, won) = (&reports[0], &reports[1]);
    assert_eq!(won.peer_id, cheap_id);
    assert_eq!(won.main, winner);
    assert_eq!(won.answer, Kind::Accept);
    assert_eq!(lost.answer, Kind::Reject);
    assert_ne!(won.side, lost.side);

    // The loser's negotiation ends rejected, at both ends.
    let at_loser = dear.negotiations().await.unwrap();
    let lost_main = at_loser
        .iter()
        .find(|n| n.negotiation_id == lost.main.to_string())
        .unwrap();
    assert_eq!(
        (lost_main.role, lost_main.state),
        (Role::Agent, StateKind::Rejected)
    );
    assert_eq!(
        lost.transcript.verify().unwrap().state,
        NegotiationState::Rejected {
            by: Role::Publisher
        }
    );
    let listed = publisher.negotiations().await.unwrap();
    let state_of = |id: NegotiationId| {
        listed
            .iter()
            .find(|n| n.negotiation_id == id.to_string())
            .map(|n| n.state)
            .unwrap()
    };
    assert_eq!(state_of(winner), StateKind::Completed);
    assert_eq!(state_of(lost.main), StateKind::Rejected);

    // Byte-identical transcripts that verify offline to Completed.
    let at_publisher = publisher.transcript(winner).await.unwrap().unwrap();
    assert_eq!(at_publisher.encode(), won.transcript.encode());
    assert_eq!(at_publisher.len(), 4, "offer, accept, deliver, receipt");
    let summary = Transcript::decode(&won.transcript.encode())
        .unwrap()
        .verify()
        .unwrap();
    assert_eq!(summary, at_publisher.verify().unwrap());
    assert_eq!(summary.state, NegotiationState::Completed);
    assert_eq!(summary.negotiation_id, winner);
    assert_eq!(summary.intent_id, main);
    assert_eq!(summary.agent.to_string(), cheap_id);
    assert_eq!(
        summary.publisher.to_string(),
        publisher.info().await.unwrap().peer_id
    );
    assert_eq!(
        summary.agreed.as_ref().map(|p| p.price.to_string()),
        Some("2.50 USD".to_owned())
    );
    let delivery = summary.delivery.expect("delivery in the transcript");
    assert!(matches!(
        delivery.content,
        ResultContent::Inline { ref content_type, ref data }
            if content_type == "text/plain" && data == RESULT
    ));
    let receipt = summary.receipt.expect("receipt in the transcript");
    assert_eq!(
        (receipt.rating, receipt.comment.as_str()),
        (0.9, "good work")
    );

    for network in [&dear, &cheap, &publisher] {
        network.shutdown().await;
    }
}
