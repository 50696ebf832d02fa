//! Several real nodes on loopback: intents reach each subscriber exactly once and nobody else;
//! discovery finds the right agents and no others.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{discover_until, drain, start};
use mesh_core::Intent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intents_reach_each_subscriber_once_and_discovery_is_exact() {
    common::init_tracing();
    let hub = start(&[], None).await;
    let mut writer = start(&["text-generation"], Some(&hub.addr)).await;
    let mut analyst = start(&["text-generation", "data-analysis"], Some(&hub.addr)).await;
    let mut painter = start(&["image-generation"], Some(&hub.addr)).await;
    let mut publisher = start(&[], Some(&hub.addr)).await;

    // Discovery: exactly the agents with the capability, never the asker or the hub.
    let text = discover_until(&publisher.handle, &["text-generation"], 2).await;
    let ids: HashSet<String> = text.iter().map(|a| a.peer_id.clone()).collect();
    let expected: HashSet<String> = [writer.handle.peer_id(), analyst.handle.peer_id()]
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(ids, expected, "text-generation agents");
    for a in &text {
        assert!((0.0..=1.0).contains(&a.reputation));
        assert!(a.capabilities.contains(&"text-generation".to_string()));
    }
    let images = discover_until(&publisher.handle, &["image-generation"], 1).await;
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].peer_id, painter.handle.peer_id().to_string());
    let both = discover_until(&publisher.handle, &["text-generation", "data-analysis"], 1).await;
    assert_eq!(both.len(), 1, "only the analyst offers both: {both:?}");
    assert_eq!(both[0].peer_id, analyst.handle.peer_id().to_string());
    // A minimum above every local score finds nobody.
    let none = publisher
        .handle
        .discover_agents(
            mesh_net::AgentQuery::new()
                .capabilities(["text-generation"])
                .min_reputation(0.99),
        )
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");

    // One intent for text-generation.
    let outcome = publisher
        .handle
        .publish_intent(&Intent::new("Summarise this PDF").capabilities(["text-generation"]))
        .await
        .unwrap();
    assert!(outcome.topics[0].peers > 0, "{outcome:?}");
    // One intent needing both capabilities: the analyst subscribes to both topics and must
    // still see it once.
    let second = publisher
        .handle
        .publish_intent(
            &Intent::new("Chart these sales").capabilities(["text-generation", "data-analysis"]),
        )
        .await
        .unwrap();

    let window = Duration::from_secs(5);
    let got_writer = drain(&mut writer.intents, window).await;
    let got_analyst = drain(&mut analyst.intents, Duration::from_secs(1)).await;
    let got_painter = drain(&mut painter.intents, Duration::from_secs(1)).await;
    let got_publisher = drain(&mut publisher.intents, Duration::from_millis(100)).await;

    let ids = |v: &[std::sync::Arc<mesh_net::ReceivedIntent>]| {
        let mut ids: Vec<String> = v.iter().map(|r| r.intent.id.to_string()).collect();
        ids.sort();
        ids
    };
    let mut both_ids = vec![outcome.id.clone(), second.id.clone()];
    both_ids.sort();
    assert_eq!(ids(&got_writer), both_ids, "writer gets each intent once");
    assert_eq!(ids(&got_analyst), both_ids, "analyst gets each intent once");
    assert!(got_painter.is_empty(), "painter is not subscribed");
    assert!(got_publisher.is_empty(), "publisher is not subscribed");
    // The publisher signed where it takes offers into each intent: its listen address,
    // without its peer id.
    let mut listen = publisher.addr.clone();
    listen.pop();
    for r in &got_writer {
        assert_eq!(r.intent.publisher, publisher.handle.peer_id());
        assert!(
            r.intent.publisher_addrs().contains(&listen),
            "{listen} in {:?}",
            r.intent.publisher_addrs()
        );
    }
    assert_eq!(writer.handle.metrics().intents_received.get(), 2);
    assert!(analyst.handle.metrics().intents_duplicate.get() <= 2);
}

/// A node that joins after an intent was published still receives it, through IDP catch-up;
/// an intent that expired meanwhile is never handed out; and it can bid on what it caught up on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiner_catches_up_on_open_intents_but_not_expired_ones() {
    common::init_tracing();
    let hub = start(&[], None).await;
    let mut early = start(&["text-generation"], Some(&hub.addr)).await;
    let publisher = start(&[], Some(&hub.addr)).await;
    discover_until(&publisher.handle, &["text-generation"], 1).await;

    let open = publisher
        .handle
        .publish_intent(
            &Intent::new("Still open")
                .capabilities(["text-generation"])
                .ttl(Duration::from_secs(600)),
        )
        .await
        .unwrap();
    let short = publisher
        .handle
        .publish_intent(
            &Intent::new("Gone soon")
                .capabilities(["text-generation"])
                .ttl(Duration::from_secs(2)),
        )
        .await
        .unwrap();
    let got = drain(&mut early.intents, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 2, "the early agent saw both live");
    // Let the short one expire before the late agent starts.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut late = start(&["text-generation"], Some(&hub.addr)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    let first = tokio::time::timeout_at(deadline, late.intents.recv())
        .await
        .expect("catch-up within 45 s")
        .unwrap();
    assert_eq!(first.intent.id.to_string(), open.id);
    assert_eq!(first.intent.title(), "Still open");
    assert_eq!(first.intent.publisher, publisher.handle.peer_id());
    let more = drain(&mut late.intents, Duration::from_secs(3)).await;
    assert!(
        more.iter().all(|r| r.intent.id.to_string() != short.id),
        "expired intent handed out"
    );
    assert!(more.is_empty(), "each intent once: {more:?}");
    assert!(late.handle.metrics().intents_caught_up.get() >= 1);

    // The late agent can bid on what it caught up on, and the publisher hears the offer.
    let mut publisher_events = publisher.handle.subscribe_negotiations();
    let proposal = mesh_core::negotiation::Proposal::new(
        mesh_core::negotiation::Price::new("4", "USD").unwrap(),
        mesh_core::negotiation::Eta::Within(Duration::from_secs(600)),
    );
    let bid = late.handle.offer(first.intent.id, proposal).await.unwrap();
    assert_eq!(bid.state, mesh_core::negotiation::StateKind::Offered);
    let heard = tokio::time::timeout(Duration::from_secs(20), publisher_events.recv())
        .await
        .expect("publisher hears the late offer")
        .unwrap();
    assert_eq!(heard.negotiation_id, bid.negotiation_id);
    assert_eq!(heard.peer, late.handle.peer_id().to_string());
}
