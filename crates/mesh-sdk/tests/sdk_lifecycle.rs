//! The intent lifecycle through the SDK, between real nodes on loopback: agents driven by
//! [`AgentHandler`]s bid, the publisher awards with a policy that counters, exactly one offer
//! is agreed, the work is delivered and receipted, and the intent's status follows each step.
//! A cancelled intent travels to the agents, withdraws its offers, takes no more and is not
//! handed to late joiners.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{STEP, agent, eventually};
use futures::StreamExt;
use mesh_sdk::{
    AgentHandler, Answer, AwardPolicy, Bid, Delivery, Eta, Intent, IntentId, LowestPrice,
    MeshNetwork, NegotiationEvent, NegotiationEventKind, NegotiationSummary, Price, Proposal,
    Receipt, SignedIntent, StateKind,
};
use tokio::sync::mpsc;

const CAPABILITY: &str = "data-analysis";

fn usd(amount: &str) -> Price {
    Price::new(amount, "USD").unwrap()
}

/// A worker that bids a fixed price, may take counters, delivers a fixed result and reports
/// how each negotiation ended.
struct Worker {
    price: &'static str,
    takes_counters: bool,
    finished: mpsc::Sender<NegotiationEvent>,
}

impl AgentHandler for Worker {
    async fn on_intent(&self, _intent: &SignedIntent) -> Bid {
        Bid::Offer(Proposal::new(
            usd(self.price),
            Eta::Within(Duration::from_secs(600)),
        ))
    }

    async fn on_counter(
        &self,
        negotiation: &NegotiationSummary,
        _intent: Option<&SignedIntent>,
    ) -> Answer {
        let offered = negotiation.proposal.as_ref().map(|p| p.amount.as_str());
        match (self.takes_counters, offered) {
            (true, Some("1.50")) => Answer::Accept,
            _ => Answer::Reject("too low".into()),
        }
    }

    async fn on_agreed(
        &self,
        _negotiation: &NegotiationSummary,
        intent: Option<&SignedIntent>,
    ) -> Result<Delivery, String> {
        let title = intent
            .map(|i| i.title().to_owned())
            .ok_or("intent unknown")?;
        Ok(Delivery::inline("text/plain", format!("analysed: {title}")))
    }

    async fn on_finished(&self, event: &NegotiationEvent) {
        let _ = self.finished.send(event.clone()).await;
    }
}

/// A handler that never bids.
struct Declines;

impl AgentHandler for Declines {
    async fn on_intent(&self, _intent: &SignedIntent) -> Bid {
        Bid::Decline
    }
    async fn on_agreed(
        &self,
        _negotiation: &NegotiationSummary,
        _intent: Option<&SignedIntent>,
    ) -> Result<Delivery, String> {
        Err("never bids".into())
    }
}

async fn status(network: &MeshNetwork, id: IntentId) -> String {
    network
        .intent(id)
        .await
        .unwrap()
        .expect("intent known")
        .status
}

async fn wait_status(network: &MeshNetwork, id: IntentId, wanted: &str) {
    eventually(&format!("status {wanted}"), || async {
        (status(network, id).await == wanted).then_some(())
    })
    .await;
}

async fn wait_agents(publisher: &MeshNetwork, n: usize) {
    eventually(&format!("{n} agents"), || async {
        let found = publisher
            .discover_agents(mesh_sdk::AgentQuery::new().capabilities([CAPABILITY]))
            .await
            .unwrap();
        (found.len() >= n).then_some(())
    })
    .await;
}

async fn publish(publisher: &MeshNetwork, title: &str) -> IntentId {
    let outcome = publisher
        .publish_intent(
            Intent::new(title)
                .capabilities([CAPABILITY])
                .ttl(Duration::from_secs(600)),
        )
        .await
        .unwrap();
    outcome.id.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_bid_policy_counters_and_the_status_follows_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let publisher = agent(dir.path(), "publisher", &[], &[]);
    publisher.connect().await.unwrap();
    let hub = vec![publisher.info().await.unwrap().listen_addrs[0].clone()];

    let (finished_tx, mut finished) = mpsc::channel(16);
    let steady = agent(dir.path(), "steady", &[CAPABILITY], &hub);
    let haggler = agent(dir.path(), "haggler", &[CAPABILITY], &hub);
    let picky = agent(dir.path(), "picky", &[CAPABILITY], &hub);
    for n in [&steady, &haggler, &picky] {
        n.connect().await.unwrap();
    }
    let _serving = [
        steady
            .serve(Worker {
                price: "2.00",
                takes_counters: true,
                finished: finished_tx.clone(),
            })
            .unwrap(),
        haggler
            .serve(Worker {
                price: "3.00",
                takes_counters: false,
                finished: finished_tx.clone(),
            })
            .unwrap(),
        picky.serve(Declines).unwrap(),
    ];
    let steady_id = steady.info().await.unwrap().peer_id;
    wait_agents(&publisher, 3).await;

    let id = publish(&publisher, "Cluster these logs").await;
    let view = publisher.intent(id).await.unwrap().unwrap();
    assert!(view.own);
    assert!(
        view.status == "open" || view.status == "negotiating",
        "{view:?}"
    );

    // Two offers (the picky agent declines), then the policy: counter the lowest at 1.50.
    eventually("two offers", || async {
        (publisher.offers(id).await.unwrap().len() == 2).then_some(())
    })
    .await;
    assert_eq!(status(&publisher, id).await, "negotiating");
    let policy = AwardPolicy {
        window: Duration::from_millis(200),
        counter_at: Some(usd("1.50")),
        answer_wait: STEP,
        ..AwardPolicy::default()
    };
    let outcome = publisher
        .award_with(id, &policy, &LowestPrice::new(0.0))
        .await
        .unwrap();
    assert_eq!(outcome.offers, 2);
    assert_eq!(outcome.agent.as_deref(), Some(steady_id.as_str()));
    assert_eq!(outcome.price.as_deref(), Some("1.50 USD"));
    assert_eq!(
        outcome.countered, outcome.accepted,
        "the countered agent took it"
    );
    assert_eq!(outcome.declined.len(), 1, "the other offer is rejected");
    let winner = outcome.accepted.clone().unwrap();

    // Exactly one agreement: the intent cannot be cancelled any more.
    assert!(matches!(
        status(&publisher, id).await.as_str(),
        "agreed" | "delivered"
    ));
    let err = publisher
        .cancel_intent(id, "changed my mind")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("only open or negotiating"),
        "{err}"
    );

    // The winner's handler delivers on its own; the publisher receipts.
    wait_status(&publisher, id, "delivered").await;
    let done = publisher
        .receipt(
            winner.parse().unwrap(),
            Receipt::new(1.0).with_comment("spot on"),
        )
        .await
        .unwrap();
    assert_eq!(done.state, StateKind::Completed);
    assert_eq!(status(&publisher, id).await, "completed");

    // Each worker heard how its negotiation ended: the winner a receipt, the other a reject.
    let mut ends = Vec::new();
    for _ in 0..2 {
        let e = tokio::time::timeout(STEP, finished.recv())
            .await
            .expect("both workers hear the end")
            .unwrap();
        ends.push((e.peer.clone(), e.kind, e.negotiation_id == winner));
    }
    ends.sort();
    assert!(
        ends.contains(&(
            publisher.info().await.unwrap().peer_id,
            NegotiationEventKind::Receipt,
            true
        )),
        "{ends:?}"
    );
    assert!(
        ends.iter()
            .any(|(_, kind, won)| *kind == NegotiationEventKind::Reject && !won),
        "{ends:?}"
    );
    wait_status(&steady, id, "completed").await;

    // The whole chain verifies at the winner: offer, counter, accept, deliver, receipt.
    let transcript = steady
        .transcript(winner.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let summary = transcript.verify().unwrap();
    assert_eq!(transcript.len(), 5);
    assert_eq!(
        summary.agreed.map(|p| p.price.to_string()).as_deref(),
        Some("1.50 USD")
    );
    assert!(
        picky.negotiations().await.unwrap().is_empty(),
        "picky never bid"
    );

    for n in [&steady, &haggler, &picky, &publisher] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_intent_travels_withdraws_offers_and_takes_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let publisher = agent(dir.path(), "publisher", &[], &[]);
    publisher.connect().await.unwrap();
    let hub = vec![publisher.info().await.unwrap().listen_addrs[0].clone()];
    let bidder = agent(dir.path(), "bidder", &[CAPABILITY], &hub);
    let watcher = agent(dir.path(), "watcher", &[CAPABILITY], &hub);
    bidder.connect().await.unwrap();
    watcher.connect().await.unwrap();
    let (finished_tx, mut finished) = mpsc::channel(16);
    let _serving = bidder
        .serve(Worker {
            price: "2.00",
            takes_counters: false,
            finished: finished_tx,
        })
        .unwrap();
    let mut updates = Box::pin(watcher.intent_updates());
    let mut watched = watcher.subscribe_to_intents();
    wait_agents(&publisher, 2).await;

    let id = publish(&publisher, "Forecast demand").await;
    let seen = tokio::time::timeout(STEP, watched.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.id, id);
    eventually("the bidder's offer", || async {
        (publisher.offers(id).await.unwrap().len() == 1).then_some(())
    })
    .await;

    // A stranger cannot cancel it; the publisher can.
    let err = watcher.cancel_intent(id, "not mine").await.unwrap_err();
    assert!(err.to_string().contains("only its publisher"), "{err}");
    let outcome = publisher
        .cancel_intent(id, "no longer needed")
        .await
        .unwrap();
    assert_eq!(outcome.withdrawn, 1);
    assert_eq!(outcome.topics, [CAPABILITY]);
    assert_eq!(status(&publisher, id).await, "cancelled");

    // It travels: the watcher hears of it, and the bidder's negotiation is withdrawn.
    let update = tokio::time::timeout(STEP, updates.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (update.id.as_str(), update.status.as_str()),
        (id.to_string().as_str(), "cancelled")
    );
    assert_eq!(update.reason.as_deref(), Some("no longer needed"));
    let end = tokio::time::timeout(STEP, finished.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (end.kind, end.state),
        (NegotiationEventKind::Withdraw, StateKind::Withdrawn)
    );
    assert_eq!(status(&watcher, id).await, "cancelled");
    let view = watcher.intent(id).await.unwrap().unwrap();
    assert_eq!(view.cancel_reason.as_deref(), Some("no longer needed"));

    // No more offers, and no second cancellation.
    let err = watcher
        .bid(
            id,
            Proposal::new(usd("1"), Eta::Within(Duration::from_secs(60))),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
    let err = publisher.cancel_intent(id, "again").await.unwrap_err();
    assert!(err.to_string().contains("is cancelled"), "{err}");

    // Exactly one agreement per intent, even when accepting by hand.
    let second = publish(&publisher, "Label images").await;
    tokio::time::timeout(STEP, async {
        while let Some(i) = watched.next().await {
            if i.id == second {
                return;
            }
        }
    })
    .await
    .expect("the watcher receives the second intent");
    watcher
        .bid(
            second,
            Proposal::new(usd("4"), Eta::Within(Duration::from_secs(60))),
        )
        .await
        .unwrap();
    let offers = eventually("two offers", || async {
        let o = publisher.offers(second).await.unwrap();
        (o.len() == 2).then_some(o)
    })
    .await;
    publisher.accept(offers[0].negotiation_id).await.unwrap();
    let err = publisher
        .accept(offers[1].negotiation_id)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is agreed"), "{err}");

    // A late joiner catches up on the open intent... and never on the cancelled one.
    let third = publish(&publisher, "Summarise reviews").await;
    let late = agent(dir.path(), "late", &[CAPABILITY], &hub);
    late.connect().await.unwrap();
    let mut late_intents = late.subscribe_to_intents();
    let got = tokio::time::timeout(STEP, late_intents.next())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(got.id, id, "a cancelled intent is not handed out");
    assert!(got.id == third || got.id == second, "{:?}", got.id);
    assert!(late.intent(id).await.unwrap().is_none());

    for n in [&bidder, &watcher, &late, &publisher] {
        n.shutdown().await;
    }
}
