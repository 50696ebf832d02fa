//! A node restarted in the same home keeps what it knew: its peers (it rejoins with no
//! bootstrap peer configured), its intents and their status, and its negotiations, which go on
//! where they stopped and whose transcripts still verify.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{STEP, agent, eventually};
use futures::StreamExt;
use mesh_sdk::{
    AgentQuery, Delivery, Eta, Intent, IntentId, NegotiationEventKind, NegotiationId, Price,
    Proposal, Receipt, StateKind,
};

const CAPABILITY: &str = "data-analysis";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_keeps_peers_intents_and_negotiations() {
    let dir = tempfile::tempdir().unwrap();
    let hub = agent(dir.path(), "hub", &[], &[]);
    hub.connect().await.unwrap();
    let hub_addr = vec![hub.info().await.unwrap().listen_addrs[0].clone()];
    let agent = common::agent(dir.path(), "agent", &[CAPABILITY], &hub_addr);
    agent.connect().await.unwrap();
    let publisher = common::agent(dir.path(), "publisher", &[], &hub_addr);
    publisher.connect().await.unwrap();
    let publisher_id = publisher.info().await.unwrap().peer_id;

    eventually("the agent", || async {
        let found = publisher
            .discover_agents(AgentQuery::new().capabilities([CAPABILITY]))
            .await
            .unwrap();
        (!found.is_empty()).then_some(())
    })
    .await;
    let mut intents = agent.subscribe_to_intents();
    let id: IntentId = publisher
        .publish_intent(
            Intent::new("Forecast demand")
                .capabilities([CAPABILITY])
                .ttl(Duration::from_secs(600)),
        )
        .await
        .unwrap()
        .id
        .parse()
        .unwrap();
    let seen = tokio::time::timeout(STEP, intents.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.id, id);
    let bid = agent
        .bid(
            id,
            Proposal::new(
                Price::new("2", "USD").unwrap(),
                Eta::Within(Duration::from_secs(600)),
            ),
        )
        .await
        .unwrap();
    let nid: NegotiationId = bid.negotiation_id.parse().unwrap();
    publisher.accept(nid).await.unwrap();
    let before = publisher.transcript(nid).await.unwrap().unwrap();
    assert_eq!(before.len(), 2);

    // Restart with no bootstrap peer at all: only what the store remembers.
    publisher.shutdown().await;
    let publisher = common::agent(dir.path(), "publisher", &[], &[]);
    publisher.connect().await.unwrap();
    assert_eq!(publisher.info().await.unwrap().peer_id, publisher_id);

    let view = publisher
        .intent(id)
        .await
        .unwrap()
        .expect("the intent survives");
    assert!(view.own);
    assert_eq!(view.status, "agreed");
    let after = publisher
        .transcript(nid)
        .await
        .unwrap()
        .expect("the transcript survives");
    assert_eq!(after.envelopes(), before.envelopes());
    after.verify().unwrap();

    eventually("a reconnection without bootstrap", || async {
        (!publisher.peers().await.unwrap().is_empty()).then_some(())
    })
    .await;

    // The negotiation goes on where it stopped: delivery, then receipt.
    let mut events = Box::pin(publisher.negotiation_events());
    eventually("a delivery the restarted publisher takes", || async {
        agent
            .deliver(nid, Delivery::inline("text/plain", "demand grows 12%"))
            .await
            .ok()
    })
    .await;
    tokio::time::timeout(STEP, async {
        while let Some(e) = events.next().await {
            if e.kind == NegotiationEventKind::Deliver {
                return;
            }
        }
    })
    .await
    .expect("the publisher sees the delivery");
    let done = publisher.receipt(nid, Receipt::new(1.0)).await.unwrap();
    assert_eq!(done.state, StateKind::Completed);
    assert_eq!(
        publisher.intent(id).await.unwrap().unwrap().status,
        "completed"
    );

    // And once more: a completed job is still there after another restart.
    publisher.shutdown().await;
    let publisher = common::agent(dir.path(), "publisher", &[], &[]);
    publisher.connect().await.unwrap();
    let transcript = publisher.transcript(nid).await.unwrap().unwrap();
    assert_eq!(transcript.len(), 4);
    assert_eq!(
        transcript.verify().unwrap().state,
        mesh_sdk::NegotiationState::Completed
    );

    for n in [&publisher, &agent, &hub] {
        n.shutdown().await;
    }
}
