//! INP between real nodes: one publisher and three agents; two offers, one counter, one accept,
//! the loser rejected; delivery and receipt complete; the transcript verifies on both sides.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{discover_until, start};
use mesh_core::Intent;
use mesh_core::negotiation::{
    Delivery, Eta, NegotiationId, Price, Proposal, Receipt, Role, State, StateKind, Transcript,
};
use mesh_net::{NegotiateError, NegotiationEvent, NegotiationEventKind};
use tokio::sync::broadcast;

async fn next_event(
    rx: &mut broadcast::Receiver<Arc<NegotiationEvent>>,
    what: &str,
) -> Arc<NegotiationEvent> {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no {what} within 20 s"))
        .unwrap()
}

fn offer(amount: &str) -> Proposal {
    Proposal::new(
        Price::new(amount, "USD").unwrap(),
        Eta::Within(Duration::from_secs(600)),
    )
    .with_terms("plain English, 200 words")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_and_three_agents_negotiate_to_a_receipt() {
    common::init_tracing();
    let hub = start(&[], None).await;
    let mut agents = Vec::new();
    for _ in 0..3 {
        agents.push(start(&["text-generation"], Some(&hub.addr)).await);
    }
    let publisher = start(&[], Some(&hub.addr)).await;
    let mut publisher_events = publisher.handle.subscribe_negotiations();
    discover_until(&publisher.handle, &["text-generation"], 3).await;

    let published = publisher
        .handle
        .publish_intent(
            &Intent::new("Summarise this PDF")
                .capabilities(["text-generation"])
                .ttl(Duration::from_secs(600)),
        )
        .await
        .unwrap();
    let mut intent_id = None;
    for a in agents.iter_mut() {
        let got = tokio::time::timeout(Duration::from_secs(20), a.intents.recv())
            .await
            .expect("every agent sees the intent")
            .unwrap();
        assert_eq!(got.intent.id.to_string(), published.id);
        intent_id = Some(got.intent.id);
    }
    let intent_id = intent_id.unwrap();

    // Two agents bid; the third does not.
    let (cheap, dear, idle) = (&agents[0], &agents[1], &agents[2]);
    let bid_dear = dear.handle.offer(intent_id, offer("3.00")).await.unwrap();
    let bid_cheap = cheap.handle.offer(intent_id, offer("2.50")).await.unwrap();
    assert_eq!(bid_cheap.kind, NegotiationEventKind::Offer);
    assert_eq!(bid_cheap.state, StateKind::Offered);
    let mut seen_offers = Vec::new();
    for _ in 0..2 {
        let e = next_event(&mut publisher_events, "offer").await;
        assert!(e.received && e.kind == NegotiationEventKind::Offer, "{e:?}");
        seen_offers.push(e.price.clone().unwrap());
    }
    seen_offers.sort();
    assert_eq!(seen_offers, vec!["2.50 USD", "3.00 USD"]);
    let cheap_id: NegotiationId = bid_cheap.negotiation_id.parse().unwrap();
    let dear_id: NegotiationId = bid_dear.negotiation_id.parse().unwrap();
    assert_ne!(cheap_id, dear_id);

    // The publisher counters the cheaper offer; the agent accepts the counter.
    let mut cheap_events = cheap.handle.subscribe_negotiations();
    publisher
        .handle
        .counter(cheap_id, offer("2.00"))
        .await
        .unwrap();
    let counter = next_event(&mut cheap_events, "counter").await;
    assert_eq!(counter.kind, NegotiationEventKind::Counter);
    assert_eq!(counter.price.as_deref(), Some("2.00 USD"));
    let agreed = cheap.handle.accept(cheap_id).await.unwrap();
    assert_eq!(agreed.state, StateKind::Agreed);
    // The loser is rejected.
    let rejected = publisher
        .handle
        .reject(dear_id, "another offer was chosen")
        .await
        .unwrap();
    assert_eq!(rejected.state, StateKind::Rejected);
    // A message after the end is refused locally with a typed error.
    assert!(matches!(
        publisher.handle.accept(dear_id).await,
        Err(NegotiateError::Inp(_))
    ));
    // An agent cannot bid on an intent it never saw.
    assert!(matches!(
        idle.handle
            .offer(mesh_core::IntentId([9; 32]), offer("1"))
            .await,
        Err(NegotiateError::Inp(mesh_net::InpError::UnknownIntent(_)))
    ));

    // Delivery and receipt.
    let delivered = cheap
        .handle
        .deliver(
            cheap_id,
            Delivery::inline("text/plain", b"A short summary.".to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(delivered.state, StateKind::Delivered);
    let done = publisher
        .handle
        .receipt(cheap_id, Receipt::new(0.9).with_comment("good work"))
        .await
        .unwrap();
    assert_eq!(done.state, StateKind::Completed);

    // Both sides hold the same transcript, and it verifies offline.
    let at_publisher = publisher
        .handle
        .transcript(cheap_id)
        .await
        .unwrap()
        .unwrap();
    let at_agent = cheap.handle.transcript(cheap_id).await.unwrap().unwrap();
    assert_eq!(at_publisher.envelopes(), at_agent.envelopes());
    assert_eq!(
        at_publisher.len(),
        5,
        "offer, counter, accept, deliver, receipt"
    );
    let summary = Transcript::decode(&at_agent.encode())
        .unwrap()
        .verify()
        .unwrap();
    assert_eq!(summary.state, State::Completed);
    let lost = dear.handle.transcript(dear_id).await.unwrap().unwrap();
    assert!(matches!(
        lost.verify().unwrap().state,
        State::Rejected { .. }
    ));

    let listed = publisher.handle.negotiations().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|n| n.state == StateKind::Completed));
    assert!(listed.iter().all(|n| n.role == Role::Publisher));
}
