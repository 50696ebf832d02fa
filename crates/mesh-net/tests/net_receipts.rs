//! Reputation from receipts across real nodes.
//!
//! (a) A negotiation run to its receipt between two nodes is attested on `mesh/receipts/1`:
//!     a node that trusts the publisher sees the agent rise above a new agent (and finds it
//!     with a `min_reputation` no new agent meets); a node that trusts nobody takes the same
//!     receipt and keeps the agent at a new agent's level.
//! (b) Sybils on the network: a hundred fresh identities that completed signed negotiations
//!     with each other gossip their receipts to an honest node, which verifies and takes every
//!     one, and none of them rises above a new agent. The control: a node that trusts one of
//!     them sees the identities it rated rise, so the receipts did arrive and would count.
//! (c) A forged receipt is rejected and its forwarder penalised.
//! (d) Receipts catch-up (`/mesh/receipts/1.0.0`): a node that joins after a receipt was
//!     gossiped learns it from its first peers and shows the same lifted reputation; an answer
//!     with too many attestations, a forged one or one over the size limit lowers the
//!     answering peer's local score and stores nothing (a valid answer, the control, is
//!     stored and counts).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::attacker::{AttackerNode, wait_until};
use common::{TestNode, discover_until, start, start_configured};
use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{StreamProtocol, SwarmBuilder, noise, tcp, yamux};
use mesh_core::negotiation::{
    Body, Config as NegotiationConfig, Delivery, Eta, Negotiation, Price, Proposal, Receipt,
};
use mesh_core::trust::{Disclosure, NEUTRAL_RATING, ReceiptAttestation};
use mesh_core::{Intent, IntentId, Keypair, PeerId};
use mesh_net::codec::ProtoCodec;
use mesh_net::receipt_catchup::{MAX_PAGE_ATTESTATIONS, MAX_RESPONSE_BYTES, PROTOCOL};
use mesh_net::receipts::RECEIPTS_TOPIC;
use mesh_net::{AgentQuery, MeshHandle, NegotiationEvent, NegotiationEventKind};
use mesh_proto::v1::{ReceiptsRequest, ReceiptsResponse};
use tokio::sync::broadcast;

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

async fn next_event(
    rx: &mut broadcast::Receiver<Arc<NegotiationEvent>>,
    kind: NegotiationEventKind,
) -> Arc<NegotiationEvent> {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {kind} within 20 s"))
            .unwrap();
        if e.kind == kind {
            return e;
        }
    }
}

async fn reputation(node: &MeshHandle, peer: PeerId) -> mesh_net::ReputationView {
    node.reputation(peer).await.unwrap()
}

/// Recomputations this often, so the tests need not wait the default 30 s.
const RECOMPUTE: Duration = Duration::from_millis(300);

async fn trusting(trusted: Vec<PeerId>, bootstrap: Option<&TestNode>) -> TestNode {
    start_configured(
        Keypair::generate_ed25519(),
        &[],
        bootstrap.map(|b| &b.addr),
        |mut c| {
            c.reputation.trusted_peers = trusted;
            c.reputation.recompute_interval = RECOMPUTE;
            c
        },
    )
    .await
}

/// Runs a negotiation between `publisher` and `agent` (which offers `translation`) to a
/// receipt of `rating`.
async fn negotiate_to_receipt(publisher: &TestNode, agent: &mut TestNode, rating: f64) {
    let mut events = publisher.handle.subscribe_negotiations();
    publisher
        .handle
        .publish_intent(&Intent::new("Translate a page").capabilities(["translation"]))
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(20), agent.intents.recv())
        .await
        .expect("the agent sees the intent")
        .unwrap();
    let price = Price::new("1.00", "USD").unwrap();
    let offered = agent
        .handle
        .offer(
            seen.intent.id,
            Proposal::new(price, Eta::Within(Duration::from_secs(60))),
        )
        .await
        .unwrap();
    let nid = offered.negotiation_id.parse().unwrap();
    next_event(&mut events, NegotiationEventKind::Offer).await;
    publisher.handle.accept(nid).await.unwrap();
    agent
        .handle
        .deliver(nid, Delivery::inline("text/plain", b"la page".to_vec()))
        .await
        .unwrap();
    next_event(&mut events, NegotiationEventKind::Deliver).await;
    publisher
        .handle
        .receipt(nid, Receipt::new(rating).with_comment("fine work"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_publishers_receipt_lifts_its_agent_where_the_publisher_is_trusted() {
    common::init_tracing();
    let publisher = trusting(Vec::new(), None).await;
    let mut agent = start(&["translation"], Some(&publisher.addr)).await;
    let publisher_id = publisher.handle.peer_id();
    let agent_id = agent.handle.peer_id();
    let observer = trusting(vec![publisher_id], Some(&publisher)).await;
    let stranger = trusting(Vec::new(), Some(&publisher)).await;
    discover_until(&publisher.handle, &["translation"], 1).await;
    let before = reputation(&observer.handle, agent_id).await;
    assert_eq!(before.reputation, NEUTRAL_RATING, "a new agent: {before:?}");

    negotiate_to_receipt(&publisher, &mut agent, 0.95).await;

    // The publisher's own receipt counts for it at once (after its next recomputation).
    wait_until("the publisher's own receipt to count", async || {
        reputation(&publisher.handle, agent_id).await.reputation > NEUTRAL_RATING
    })
    .await;
    // The observer trusts the publisher: the gossiped receipt lifts the agent there.
    wait_until(
        "the receipt to lift the agent at the observer",
        async || reputation(&observer.handle, agent_id).await.reputation > NEUTRAL_RATING,
    )
    .await;
    let view = reputation(&observer.handle, agent_id).await;
    assert!(view.positive_evidence > 0.0, "{view:?}");
    let picky = AgentQuery::new()
        .capabilities(["translation"])
        .min_reputation(NEUTRAL_RATING + 0.01);
    wait_until("the observer to find the vouched agent", async || {
        observer
            .handle
            .discover_agents(picky.clone())
            .await
            .unwrap()
            .iter()
            .any(|a| a.peer_id == agent_id.to_string())
    })
    .await;

    // The stranger took the same receipt (it recomputed), but trusts nobody who vouches.
    wait_until("the stranger to take the receipt", async || {
        reputation(&stranger.handle, agent_id).await.computed_at_ms > 0
    })
    .await;
    let view = reputation(&stranger.handle, agent_id).await;
    assert_eq!(view.reputation, NEUTRAL_RATING, "{view:?}");
    assert!(
        stranger
            .handle
            .discover_agents(picky)
            .await
            .unwrap()
            .is_empty(),
        "no agent above neutral for a node that trusts nobody"
    );
}

/// A negotiation between two of the attacker's identities, run to a receipt of `rating`.
fn completed(publisher: &Keypair, agent: &Keypair, n: u64, rating: f64) -> Negotiation {
    let at = now_ms() - 60_000;
    let mut id = [7u8; 32];
    id[..8].copy_from_slice(&n.to_be_bytes());
    let mut neg = Negotiation::new(
        IntentId(id),
        publisher.public().to_peer_id(),
        agent.public().to_peer_id(),
        NegotiationConfig::default(),
        at,
    )
    .unwrap();
    let price = Price::new("1.00", "USD").unwrap();
    neg.send(
        Body::Offer(Proposal::new(price, Eta::Within(Duration::from_secs(60)))),
        agent,
        at,
    )
    .unwrap();
    neg.send(Body::Accept, publisher, at + 1).unwrap();
    neg.send(
        Body::Deliver(Delivery::inline("text/plain", b"done".to_vec())),
        agent,
        at + 2,
    )
    .unwrap();
    neg.send(Body::Receipt(Receipt::new(rating)), publisher, at + 3)
        .unwrap();
    neg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sybils_vouching_for_each_other_stay_at_a_new_agents_level() {
    common::init_tracing();
    const SYBILS: usize = 100;
    let sybils: Vec<Keypair> = (0..SYBILS).map(|_| Keypair::generate_ed25519()).collect();
    let ids: Vec<PeerId> = sybils.iter().map(|k| k.public().to_peer_id()).collect();
    // A ring: every identity rates the next one perfectly, after a completed negotiation.
    let attestations: Vec<Vec<u8>> = (0..SYBILS)
        .map(|i| {
            let n = completed(&sybils[i], &sybils[(i + 1) % SYBILS], i as u64, 1.0);
            ReceiptAttestation::from_transcript(n.transcript(), Disclosure::Minimal)
                .unwrap()
                .encode()
        })
        .collect();

    let honest = trusting(Vec::new(), None).await;
    // The control: a node that (unwisely) trusts the first identity.
    let gullible = trusting(vec![ids[0]], None).await;
    for target in [&honest, &gullible] {
        let attacker = AttackerNode::spawn();
        attacker
            .join_topic_at(RECEIPTS_TOPIC, target.handle.peer_id(), target.addr.clone())
            .await;
        for a in &attestations {
            attacker.publish(RECEIPTS_TOPIC, a.clone()).await.unwrap();
        }
        // Every identity is named by a receipt the node verified, took and recomputed with.
        wait_until("the node to take every sybil's receipt", async || {
            for id in &ids {
                if !reputation(&target.handle, *id).await.known {
                    return false;
                }
            }
            true
        })
        .await;
        drop(attacker);
    }

    // The gullible node's trust flows around the ring: the identity its trusted one rated
    // rises above a new agent. (This is why pre-trusted peers must be chosen with care.)
    wait_until(
        "the control: trust from a trusted sybil to flow",
        async || reputation(&gullible.handle, ids[1]).await.reputation > NEUTRAL_RATING,
    )
    .await;
    // The honest node holds the same receipts, and none of them lifts anyone.
    for (i, id) in ids.iter().enumerate() {
        let view = reputation(&honest.handle, *id).await;
        assert!(
            view.reputation <= NEUTRAL_RATING && view.global_trust == 0.0,
            "sybil {i} rose at the honest node: {view:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_receipt_is_rejected_and_its_forwarder_penalised() {
    common::init_tracing();
    let honest = trusting(Vec::new(), None).await;
    let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let mut forged = ReceiptAttestation::from_transcript(
        completed(&publisher, &agent, 1, 1.0).transcript(),
        Disclosure::Minimal,
    )
    .unwrap()
    .encode();
    // The signature is the envelope's last field: change its last byte.
    *forged.last_mut().unwrap() ^= 0x01;
    let attacker = AttackerNode::spawn();
    attacker
        .join_topic_at(RECEIPTS_TOPIC, honest.handle.peer_id(), honest.addr.clone())
        .await;
    let before = reputation(&honest.handle, attacker.peer_id())
        .await
        .local_score;
    attacker.publish(RECEIPTS_TOPIC, forged).await.unwrap();
    wait_until("the forwarder's local score to fall", async || {
        reputation(&honest.handle, attacker.peer_id())
            .await
            .local_score
            < before
    })
    .await;
    let view = reputation(&honest.handle, agent.public().to_peer_id()).await;
    assert!(!view.known, "nothing was taken: {view:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_taken_before_a_restart_still_count_after_it() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (rater, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let (rater_id, agent_id) = (rater.public().to_peer_id(), agent.public().to_peer_id());
    let node_key = Keypair::generate_ed25519();
    let path = dir.path().join("store.redb");
    let start_node = async |key: Keypair| {
        // The stopped node's loop lets go of the file shortly after `shutdown` returns.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let store = loop {
            match mesh_store::Store::open(&path) {
                Ok(s) => break s,
                Err(mesh_store::StoreError::Locked { .. })
                    if std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot open the store: {e}"),
            }
        };
        start_configured(key, &[], None, move |mut c| {
            c.store = Some(store);
            c.reputation.trusted_peers = vec![rater_id];
            c.reputation.recompute_interval = RECOMPUTE;
            c
        })
        .await
    };
    let node = start_node(node_key.clone()).await;
    let attacker = AttackerNode::spawn();
    attacker
        .join_topic_at(RECEIPTS_TOPIC, node.handle.peer_id(), node.addr.clone())
        .await;
    let attestation = ReceiptAttestation::from_transcript(
        completed(&rater, &agent, 1, 1.0).transcript(),
        Disclosure::Minimal,
    )
    .unwrap()
    .encode();
    attacker.publish(RECEIPTS_TOPIC, attestation).await.unwrap();
    wait_until("the trusted rater's receipt to count", async || {
        reputation(&node.handle, agent_id).await.reputation > NEUTRAL_RATING
    })
    .await;
    let before = reputation(&node.handle, agent_id).await;
    drop(attacker);
    node.handle.shutdown().await.unwrap();
    drop(node);

    // Restarted alone: no peer can hand the receipt back, the store does.
    let node = start_node(node_key).await;
    wait_until("the stored receipt to count again", async || {
        reputation(&node.handle, agent_id).await.known
    })
    .await;
    let after = reputation(&node.handle, agent_id).await;
    assert_eq!(
        after.receipts_score, before.receipts_score,
        "{before:?} then {after:?}"
    );
    node.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_late_catches_up_on_the_receipts_gossiped_before() {
    common::init_tracing();
    let publisher = trusting(Vec::new(), None).await;
    let mut agent = start(&["translation"], Some(&publisher.addr)).await;
    let (publisher_id, agent_id) = (publisher.handle.peer_id(), agent.handle.peer_id());
    let observer = trusting(vec![publisher_id], Some(&publisher)).await;
    discover_until(&publisher.handle, &["translation"], 1).await;
    negotiate_to_receipt(&publisher, &mut agent, 0.95).await;
    wait_until(
        "the gossiped receipt to lift the agent at the observer",
        async || reputation(&observer.handle, agent_id).await.reputation > NEUTRAL_RATING,
    )
    .await;
    let expected = reputation(&observer.handle, agent_id).await;
    // Past gossipsub's message cache (5 heartbeats of 0.7 s): nothing gossiped before can
    // reach a new peer through IHAVE/IWANT any more.
    tokio::time::sleep(Duration::from_secs(5)).await;

    // A new node, trusting the publisher, joins through the observer (a node that only
    // received the receipt). No receipt is gossiped from here on.
    let late = trusting(vec![publisher_id], Some(&observer)).await;
    wait_until("the late node to catch up on the receipt", async || {
        reputation(&late.handle, agent_id).await.reputation > NEUTRAL_RATING
    })
    .await;
    let view = reputation(&late.handle, agent_id).await;
    assert_eq!(
        (view.receipts_score, view.reputation),
        (expected.receipts_score, expected.reputation),
        "the late node's view {view:?}, the observer's {expected:?}"
    );
    assert!(view.known && view.positive_evidence > 0.0, "{view:?}");
}

/// What a misbehaving peer answers to a receipts catch-up request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// One valid attestation from the trusted rater (the control).
    Valid,
    /// One more valid attestation than a page may hold.
    TooMany,
    /// One attestation whose signature was altered.
    Forged,
    /// A valid attestation, then padding past the answer's size limit.
    Oversized,
}

/// A plain libp2p peer, not a MESH node, that dials `node` and answers every receipts
/// catch-up request with `answer`, over a codec that lets it send more than MESH's limit.
fn serve_receipts_to(node: &TestNode, answer: ReceiptsResponse) -> (PeerId, AbortOnDrop) {
    let codec = ProtoCodec::<ReceiptsRequest, ReceiptsResponse>::new(1024, 8 * MAX_RESPONSE_BYTES);
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                codec,
                [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
                request_response::Config::default(),
            )
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let peer = *swarm.local_peer_id();
    swarm.dial(node.addr.clone()).unwrap();
    let task = tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Request { channel, .. },
                ..
            }) = swarm.select_next_some().await
            {
                let _ = swarm.behaviour_mut().send_response(channel, answer.clone());
            }
        }
    });
    (peer, AbortOnDrop(task))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn encoded(rater: &Keypair, agent: &Keypair, n: u64) -> Vec<u8> {
    ReceiptAttestation::from_transcript(
        completed(rater, agent, n, 1.0).transcript(),
        Disclosure::Minimal,
    )
    .unwrap()
    .encode()
}

fn answer_of(kind: Answer, rater: &Keypair, agent: &Keypair) -> ReceiptsResponse {
    let attestations = match kind {
        Answer::Valid => vec![encoded(rater, agent, 1)],
        Answer::TooMany => (0..=MAX_PAGE_ATTESTATIONS as u64)
            .map(|n| encoded(rater, agent, n))
            .collect(),
        Answer::Forged => {
            let mut forged = encoded(rater, agent, 1);
            // The signature is the envelope's last field: change its last byte.
            *forged.last_mut().unwrap() ^= 0x01;
            vec![forged]
        }
        Answer::Oversized => vec![encoded(rater, agent, 1), vec![0; MAX_RESPONSE_BYTES]],
    };
    ReceiptsResponse {
        attestations,
        next: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_catch_up_answer_penalises_its_sender_and_stores_nothing() {
    common::init_tracing();
    let (rater, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let (rater_id, agent_id) = (rater.public().to_peer_id(), agent.public().to_peer_id());
    for kind in [
        Answer::Valid,
        Answer::TooMany,
        Answer::Forged,
        Answer::Oversized,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = mesh_store::Store::open(&dir.path().join("store.redb")).unwrap();
        let config_store = store.clone();
        // A fresh node: the misbehaving peer is its first connection, so it is asked.
        let node = start_configured(Keypair::generate_ed25519(), &[], None, move |mut c| {
            c.store = Some(config_store);
            c.reputation.trusted_peers = vec![rater_id];
            c.reputation.recompute_interval = RECOMPUTE;
            c
        })
        .await;
        let (server, _task) = serve_receipts_to(&node, answer_of(kind, &rater, &agent));
        if kind == Answer::Valid {
            wait_until("the valid answer to lift the agent", async || {
                reputation(&node.handle, agent_id).await.reputation > NEUTRAL_RATING
            })
            .await;
            wait_until("the attestation to be stored", async || {
                store.attestation_count().unwrap() == 1
            })
            .await;
            let local = reputation(&node.handle, server).await.local_score;
            assert!(local > NEUTRAL_RATING, "a valid answer raised it: {local}");
        } else {
            wait_until(
                &format!("{kind:?}: the sender's local score to fall"),
                async || reputation(&node.handle, server).await.local_score < NEUTRAL_RATING,
            )
            .await;
            // Several recomputation intervals: had anything been taken, it would show.
            tokio::time::sleep(RECOMPUTE * 4).await;
            let view = reputation(&node.handle, agent_id).await;
            assert!(
                !view.known && view.reputation == NEUTRAL_RATING,
                "{kind:?}: {view:?}"
            );
            assert_eq!(store.attestation_count().unwrap(), 0, "{kind:?}");
        }
        node.handle.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_own_receipt_whose_attestation_was_lost_is_attested_again_at_start() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let store = mesh_store::Store::open(&dir.path().join("store.redb")).unwrap();
    let (node_key, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let agent_id = agent.public().to_peer_id();
    // The node completed a negotiation as publisher; its transcript is stored, as the receipt
    // is acknowledged only once durable, but the attestation's write was lost.
    let negotiation = completed(&node_key, &agent, 1, 1.0);
    let meta = mesh_store::NegotiationMeta {
        intent_id: negotiation.intent_id().0,
        role: mesh_store::Role::Publisher,
        counterparty: agent_id.to_bytes(),
        state: "completed".to_owned(),
        updated_at_unix_ms: now_ms(),
    };
    for (seq, envelope) in negotiation.transcript().envelopes().iter().enumerate() {
        store
            .append_transcript_message(&negotiation.id().0, &meta, seq as u64, envelope)
            .unwrap();
    }
    assert_eq!(store.attestation_count().unwrap(), 0);

    let config_store = store.clone();
    let node = start_configured(node_key, &[], None, move |mut c| {
        c.store = Some(config_store);
        c.reputation.recompute_interval = RECOMPUTE;
        c
    })
    .await;
    wait_until("the lost attestation to be stored again", async || {
        store.attestation_count().unwrap() == 1
    })
    .await;
    wait_until("the node's own receipt to count", async || {
        reputation(&node.handle, agent_id).await.known
    })
    .await;
    node.handle.shutdown().await.unwrap();
}
