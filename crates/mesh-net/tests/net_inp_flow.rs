//! INP flow control and routing between real nodes: many concurrent messages to one peer are
//! queued rather than refused, and a publisher that moved to a new address is found again
//! through the DHT.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{discover_until, start, start_as};
use mesh_core::negotiation::{Eta, Price, Proposal, StateKind};
use mesh_core::{Intent, Keypair};
use mesh_net::NegotiateError;

const STEP: Duration = Duration::from_secs(30);

fn offer(amount: &str) -> Proposal {
    Proposal::new(
        Price::new(amount, "USD").unwrap(),
        Eta::Within(Duration::from_secs(600)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_offers_to_one_publisher_all_land() {
    common::init_tracing();
    let publisher = start(&[], None).await;
    let mut agent = start(&["data-analysis"], Some(&publisher.addr)).await;
    discover_until(&publisher.handle, &["data-analysis"], 1).await;

    const N: usize = 100;
    for i in 0..N {
        publisher
            .handle
            .publish_intent(
                &Intent::new(format!("job {i}"))
                    .capabilities(["data-analysis"])
                    .ttl(Duration::from_secs(600)),
            )
            .await
            .unwrap();
    }
    let mut ids = Vec::new();
    while ids.len() < N {
        let got = tokio::time::timeout(STEP, agent.intents.recv())
            .await
            .expect("every intent arrives")
            .unwrap();
        ids.push(got.intent.id);
    }

    // All at once: more than the peer's 64 concurrent streams.
    let offers = ids.iter().map(|id| agent.handle.offer(*id, offer("1")));
    let results = tokio::time::timeout(STEP, futures::future::join_all(offers))
        .await
        .expect("every offer answered");
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        failed.first()
    );
    let at_publisher = publisher.handle.negotiations().await.unwrap();
    assert_eq!(at_publisher.len(), N);
    assert!(at_publisher.iter().all(|n| n.state == StateKind::Offered));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_moved_is_found_again_through_the_dht() {
    common::init_tracing();
    let hub = start(&[], None).await;
    let key = Keypair::generate_ed25519();
    let publisher = start_as(key.clone(), &[], Some(&hub.addr)).await;
    let mut agent = start(&["data-analysis"], Some(&hub.addr)).await;
    discover_until(&publisher.handle, &["data-analysis"], 1).await;
    publisher
        .handle
        .publish_intent(
            &Intent::new("Forecast demand")
                .capabilities(["data-analysis"])
                .ttl(Duration::from_secs(600)),
        )
        .await
        .unwrap();
    let intent = tokio::time::timeout(STEP, agent.intents.recv())
        .await
        .expect("the intent arrives")
        .unwrap()
        .intent
        .id;

    // The publisher restarts on another port; the agent only knows the old address.
    let old_addr = publisher.addr.clone();
    publisher.handle.shutdown().await.unwrap();
    let moved = start_as(key, &[], Some(&hub.addr)).await;
    assert_ne!(moved.addr, old_addr);
    assert_eq!(
        discover_until(&moved.handle, &["data-analysis"], 1)
            .await
            .len(),
        1,
        "the restarted publisher rejoins and finds the agent"
    );

    // The message reaches the restarted publisher (which no longer holds the intent, so it
    // answers that, rather than the agent failing to reach it at all).
    let result = tokio::time::timeout(STEP, agent.handle.offer(intent, offer("2")))
        .await
        .expect("an answer");
    match result {
        Err(NegotiateError::Refused { code, .. }) => assert_eq!(code, "unknown_intent"),
        other => panic!("expected the moved publisher's refusal, got {other:?}"),
    }
}
