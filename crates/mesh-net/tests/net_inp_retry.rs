//! INP across a connection that closes between a message and its acknowledgement: the sender
//! sends the same envelope once more, and the recipient acknowledges a message it already
//! holds without taking it twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::attacker::{AttackerNode, PATIENCE, wait_until};
use common::start;
use mesh_core::negotiation::{Body, Config, Eta, Negotiation, Price, Proposal, StateKind};
use mesh_core::{Capability, Intent, IntentId};
use mesh_net::NegotiationEventKind;

const CAPABILITY: &str = "text-generation";

fn now_ms() -> u64 {
    mesh_core::unix_ms(std::time::SystemTime::now())
}

fn proposal() -> Proposal {
    Proposal::new(
        Price::new("2.50", "USD").unwrap(),
        Eta::Within(Duration::from_secs(600)),
    )
}

/// The first message of a new negotiation on `intent`, from `agent` to `publisher`.
fn opening_offer(
    intent: IntentId,
    publisher: &common::TestNode,
    agent: &AttackerNode,
    proposal: Proposal,
    now: u64,
) -> Vec<u8> {
    let mut negotiation = Negotiation::new(
        intent,
        publisher.handle.peer_id(),
        agent.peer_id(),
        Config::default(),
        now,
    )
    .unwrap();
    negotiation
        .send(Body::Offer(proposal), &agent.key, now)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_whose_connection_closes_before_its_answer_is_sent_again() {
    common::init_tracing();
    let mut agent = start(&[CAPABILITY], None).await;
    // The publisher: a plain swarm that closes the connection of the first offer it gets,
    // unanswered, and accepts what comes after.
    let publisher = AttackerNode::spawn();
    let topic = Capability::new(CAPABILITY).unwrap().topic();
    publisher
        .join_topic_at(&topic, agent.handle.peer_id(), agent.addr.clone())
        .await;
    let intent = Intent::new("Summarise this PDF")
        .capabilities([CAPABILITY])
        .ttl(Duration::from_secs(600))
        .sign(&publisher.key, now_ms())
        .unwrap();
    let mut seen = None;
    wait_until("the agent to receive the intent", async || {
        publisher
            .publish(&topic, intent.envelope.clone())
            .await
            .ok();
        if let Ok(Ok(got)) =
            tokio::time::timeout(Duration::from_secs(1), agent.intents.recv()).await
        {
            seen = Some(got.intent.id);
        }
        seen.is_some()
    })
    .await;
    assert_eq!(seen, Some(intent.id));

    publisher.drop_inp_requests(1);
    let sent = tokio::time::timeout(PATIENCE, agent.handle.offer(intent.id, proposal()))
        .await
        .expect("the offer is answered in time")
        .expect("the offer goes through on its second try");
    assert_eq!(
        (sent.kind, sent.state),
        (NegotiationEventKind::Offer, StateKind::Offered)
    );
    assert_eq!(
        publisher.log(|l| l.inp_requests),
        2,
        "dropped once, then answered"
    );
    assert_eq!(agent.handle.metrics().inp_resent.get(), 1);

    // A message is sent again once only: with every answer lost, the caller hears why.
    publisher.drop_inp_requests(2);
    let negotiation = sent.negotiation_id.parse().unwrap();
    let lost = tokio::time::timeout(
        PATIENCE,
        agent.handle.reply(
            negotiation,
            Body::Withdraw {
                reason: "changed my mind".into(),
            },
        ),
    )
    .await
    .expect("the withdrawal fails in time");
    assert!(lost.is_err(), "no answer, yet {lost:?}");
    assert_eq!(publisher.log(|l| l.inp_requests), 4);
    assert_eq!(agent.handle.metrics().inp_resent.get(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_received_again_is_acknowledged_again_and_taken_once() {
    common::init_tracing();
    let publisher = start(&[], None).await;
    let published = publisher
        .handle
        .publish_intent(
            &Intent::new("Summarise this PDF")
                .capabilities([CAPABILITY])
                .ttl(Duration::from_secs(600)),
        )
        .await
        .unwrap();
    let intent: IntentId = published.id.parse().unwrap();

    // The agent: a plain swarm that sends its offer twice, as a sender whose first
    // acknowledgement was lost would.
    let agent = AttackerNode::spawn();
    let now = now_ms();
    let offer = opening_offer(intent, &publisher, &agent, proposal(), now);
    let addr = publisher.addr.clone();
    agent.with(move |s| s.dial(addr).unwrap()).await;
    let to = publisher.handle.peer_id();
    for sent in 1..=2 {
        agent.send_inp(to, offer.clone()).await;
        wait_until("the publisher's answer", async || {
            agent.log(|l| l.inp_acks.len() + l.inp_failures.len()) == sent
        })
        .await;
    }
    agent.log(|l| {
        assert!(l.inp_failures.is_empty(), "{:?}", l.inp_failures);
        assert_eq!(l.inp_acks, vec![(true, String::new()); 2]);
    });
    let negotiations = publisher.handle.negotiations().await.unwrap();
    assert_eq!(negotiations.len(), 1, "{negotiations:?}");
    assert_eq!(negotiations[0].messages, 1, "taken once");
    assert_eq!(publisher.handle.metrics().inp_repeats_acknowledged.get(), 1);

    // Only its sender's own message counts as a repeat: a message the publisher never took
    // is still refused.
    let different = opening_offer(
        intent,
        &publisher,
        &agent,
        proposal().with_terms("other terms"),
        now + 1,
    );
    agent.send_inp(to, different).await;
    wait_until("the publisher's answer", async || {
        agent.log(|l| l.inp_acks.len()) == 3
    })
    .await;
    let (accepted, code) = agent.log(|l| l.inp_acks[2].clone());
    assert!(
        !accepted,
        "a second offer on the same negotiation is refused"
    );
    assert!(!code.is_empty());
    assert_eq!(publisher.handle.metrics().inp_repeats_acknowledged.get(), 1);
}
