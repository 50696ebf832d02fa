//! Deals cannot be held hostage, between real nodes:
//!
//! - an agent that agreed and does not deliver by the agreed due time: the publisher cancels
//!   the agreement (a signed `Withdraw` in the transcript, refused before the due time), the
//!   agent's reputation drops, and the intent is awarded again to an agent who completes;
//! - fresh identities flooding one intent with offers are capped (`too_many_offers`), while the
//!   honest bidder already negotiating is never evicted and still closes its deal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::attacker::{AttackerNode, wait_until};
use common::{discover_until, start};
use mesh_core::negotiation::{
    Body, Config, Delivery, Eta, FaultKind, Negotiation, NegotiationId, Price, Proposal, Receipt,
    Role, State, StateKind,
};
use mesh_core::{Intent, IntentId};
use mesh_net::NegotiateError;

fn offer(amount: &str, eta: Duration) -> Proposal {
    Proposal::new(Price::new(amount, "USD").unwrap(), Eta::Within(eta))
}

fn now_ms() -> u64 {
    mesh_core::unix_ms(std::time::SystemTime::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_agreement_is_cancelled_and_the_intent_awarded_again() {
    common::init_tracing();
    let hub = start(&[], None).await;
    let mut slacker = start(&["text-generation"], Some(&hub.addr)).await;
    let mut worker = start(&["text-generation"], Some(&hub.addr)).await;
    let publisher = start(&[], Some(&hub.addr)).await;
    discover_until(&publisher.handle, &["text-generation"], 2).await;
    let published = publisher
        .handle
        .publish_intent(
            &Intent::new("Summarise this PDF")
                .capabilities(["text-generation"])
                .ttl(Duration::from_secs(600)),
        )
        .await
        .unwrap();
    let intent: IntentId = published.id.parse().unwrap();
    for a in [&mut slacker, &mut worker] {
        tokio::time::timeout(Duration::from_secs(20), a.intents.recv())
            .await
            .expect("the agents see the intent")
            .unwrap();
    }

    // The slacker wins with a 2 s ETA and never delivers.
    let bid = slacker
        .handle
        .offer(intent, offer("1", Duration::from_secs(2)))
        .await
        .unwrap();
    let id: NegotiationId = bid.negotiation_id.parse().unwrap();
    wait_until("the offer at the publisher", async || {
        publisher.handle.transcript(id).await.unwrap().is_some()
    })
    .await;
    publisher.handle.accept(id).await.unwrap();
    let slacker_peer = slacker.handle.info().await.unwrap().peer_id;
    let cancel = || Body::Withdraw {
        reason: "not delivered by the agreed time".into(),
    };
    // Too early: refused by the publisher's own node, nothing sent.
    match publisher.handle.reply(id, cancel()).await {
        Err(NegotiateError::Inp(e)) => assert_eq!(e.code(), "not_overdue", "{e}"),
        other => panic!("a cancellation before the due time must be refused: {other:?}"),
    }
    // A second agreement on the intent is still refused while this one stands.
    let rival = worker
        .handle
        .offer(intent, offer("2", Duration::from_secs(60)))
        .await;
    assert!(
        matches!(&rival, Err(NegotiateError::Refused { code, .. }) if code == "intent_closed"),
        "{rival:?}"
    );

    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let cancelled = publisher.handle.reply(id, cancel()).await.unwrap();
    assert_eq!(cancelled.state, StateKind::Withdrawn);
    let fault = cancelled
        .fault
        .clone()
        .expect("the cancellation records a fault");
    assert_eq!(
        (fault.kind, fault.by, fault.peer.as_str()),
        (FaultKind::NonDelivery, Role::Agent, slacker_peer.as_str())
    );
    // Both transcripts end with the signed cancellation and verify.
    for node in [&publisher, &slacker] {
        let transcript = node.handle.transcript(id).await.unwrap().unwrap();
        let summary = transcript.verify().unwrap();
        assert!(matches!(summary.state, State::Withdrawn { .. }));
    }
    let listed = publisher.handle.negotiations().await.unwrap();
    let view = listed
        .iter()
        .find(|n| n.negotiation_id == bid.negotiation_id);
    assert_eq!(
        view.unwrap().fault.as_ref(),
        Some(&fault),
        "kept as evidence"
    );
    let reputation = publisher
        .handle
        .reputation(slacker_peer.parse().unwrap())
        .await
        .unwrap();
    assert!(
        reputation.local_score < mesh_core::reputation::NEUTRAL,
        "non-delivery lowers the agent's reputation: {reputation:?}"
    );
    let status = publisher.handle.intent(intent).await.unwrap().unwrap();
    assert_eq!(status.status, "open", "the intent is open again");

    // Awarded again: the worker offers, wins and completes.
    let bid = worker
        .handle
        .offer(intent, offer("2", Duration::from_secs(60)))
        .await
        .unwrap();
    let id: NegotiationId = bid.negotiation_id.parse().unwrap();
    wait_until("the second offer at the publisher", async || {
        publisher.handle.transcript(id).await.unwrap().is_some()
    })
    .await;
    publisher.handle.accept(id).await.unwrap();
    worker
        .handle
        .deliver(id, Delivery::inline("text/plain", "the summary"))
        .await
        .unwrap();
    publisher
        .handle
        .reply(id, Body::Receipt(Receipt::new(1.0)))
        .await
        .unwrap();
    let status = publisher.handle.intent(intent).await.unwrap().unwrap();
    assert_eq!(status.status, "completed");
}

/// Fresh identities beyond the cap of live offers per intent.
const FLOOD: usize = 80;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_identities_flooding_an_intent_are_capped_and_the_honest_bidder_closes() {
    common::init_tracing();
    let mut honest = start(&["text-generation"], None).await;
    let publisher = start(&[], Some(&honest.addr)).await;
    discover_until(&publisher.handle, &["text-generation"], 1).await;
    let published = publisher
        .handle
        .publish_intent(
            &Intent::new("Translate this page")
                .capabilities(["text-generation"])
                .ttl(Duration::from_secs(600)),
        )
        .await
        .unwrap();
    let intent: IntentId = published.id.parse().unwrap();
    tokio::time::timeout(Duration::from_secs(20), honest.intents.recv())
        .await
        .expect("the honest agent sees the intent")
        .unwrap();
    let bid = honest
        .handle
        .offer(intent, offer("3", Duration::from_secs(60)))
        .await
        .unwrap();
    let honest_id: NegotiationId = bid.negotiation_id.parse().unwrap();

    // Each attacker is a fresh identity with its own connection, sending one valid offer.
    let publisher_peer: libp2p::PeerId = publisher
        .handle
        .info()
        .await
        .unwrap()
        .peer_id
        .parse()
        .unwrap();
    let mut attackers = Vec::new();
    for _ in 0..FLOOD {
        let attacker = AttackerNode::spawn_dialing_only();
        let mut n = Negotiation::new(
            intent,
            publisher_peer,
            attacker.peer_id(),
            Config::default(),
            now_ms(),
        )
        .unwrap();
        let envelope = n
            .send(
                Body::Offer(offer("0.00000001", Duration::from_secs(60))),
                &attacker.key,
                now_ms(),
            )
            .unwrap();
        let addr = publisher.addr.clone();
        attacker
            .with(move |s| s.add_peer_address(publisher_peer, addr))
            .await;
        attacker.send_inp(publisher_peer, envelope).await;
        attackers.push(attacker);
    }
    wait_until("every flooding offer to be answered", async || {
        attackers
            .iter()
            .all(|a| a.log(|l| !l.inp_acks.is_empty() || !l.inp_failures.is_empty()))
    })
    .await;
    let (mut taken, mut capped) = (0, 0);
    for a in &attackers {
        a.log(|l| match l.inp_acks.first() {
            Some((true, _)) => taken += 1,
            Some((false, code)) if code == "too_many_offers" => capped += 1,
            other => panic!("unexpected answer {other:?} {:?}", l.inp_failures),
        });
    }
    assert_eq!(
        taken,
        mesh_net::inp::MAX_LIVE_OFFERS_PER_INTENT - 1,
        "the honest offer holds one of the intent's places"
    );
    assert_eq!(capped, FLOOD - taken);

    // The honest bidder was not evicted and closes its deal.
    publisher.handle.accept(honest_id).await.unwrap();
    honest
        .handle
        .deliver(honest_id, Delivery::inline("text/plain", "la page"))
        .await
        .unwrap();
    publisher
        .handle
        .reply(honest_id, Body::Receipt(Receipt::new(0.9)))
        .await
        .unwrap();
    let status = publisher.handle.intent(intent).await.unwrap().unwrap();
    assert_eq!(status.status, "completed");
}
