//! Forged data from an attacker is refused by real MESH nodes over loopback TCP.
//!
//! The attacker is not a MESH node: it is a plain libp2p swarm that speaks MESH's protocols
//! (identify `/mesh/1.0.0`, Kademlia `/mesh/kad/1.0.0` in server mode, signed gossipsub) and
//! uses them to push forged agent records into the DHT, to advertise itself as a
//! `text-generation` provider, and to publish tampered and garbage intents. The honest nodes
//! must refuse all of it, count it in their metrics, and lower their local reputation of the
//! attacker, while still accepting a valid intent from the same attacker.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::attacker::{AttackerNode, PATIENCE, wait_until};
use common::{drain, start};
use libp2p::gossipsub::IdentTopic;
use libp2p::kad;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use mesh_core::agent_record::{RECORD_TTL, agent_record_key};
use mesh_core::envelope::{self, AGENT_RECORD_DOMAIN, AGENT_RECORD_PAYLOAD_TYPE, EnvelopeError};
use mesh_core::{
    AgentRecord, AgentRecordError, Capability, Intent, IntentError, Keypair, SignedAgentRecord,
    SignedIntent, unix_ms,
};
use mesh_net::metrics::ReasonLabel;
use mesh_net::{AgentQuery, MeshHandle, ReceivedIntent};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prost::Message as _;
use tokio::sync::broadcast;

const CAPABILITY: &str = "text-generation";

// ----- forgeries -----

fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

/// An agent record that claims to be `claimed`'s (peer id field and DHT key) but is signed by
/// `signer`.
fn record_claiming(signer: &Keypair, claimed: PeerId, name: &str, addrs: &[Multiaddr]) -> Vec<u8> {
    let now = now_ms();
    let wire = mesh_proto::v1::AgentRecord {
        peer_id: claimed.to_bytes(),
        capabilities: vec![CAPABILITY.to_owned()],
        addresses: addrs.iter().map(|a| a.to_vec()).collect(),
        load: 0.0,
        // As high as possible, to win any "newest record" comparison.
        seq: u64::MAX,
        expires_at_ms: now + 3_600_000,
        name: name.to_owned(),
        issued_at_ms: now,
        ..Default::default()
    };
    let bytes = envelope::seal(
        signer,
        AGENT_RECORD_DOMAIN,
        AGENT_RECORD_PAYLOAD_TYPE,
        wire.encode_to_vec(),
    )
    .expect("seal");
    assert!(
        matches!(
            SignedAgentRecord::verify(&bytes, Some(claimed), now),
            Err(AgentRecordError::PeerMismatch { .. })
        ),
        "the forgery must be a peer mismatch"
    );
    bytes
}

/// The attacker's own, correctly keyed record, with one byte of its name flipped after signing.
fn tampered_own_record(key: &Keypair, addrs: &[Multiaddr]) -> Vec<u8> {
    let name = "forged-agent";
    let signed = AgentRecord {
        name: name.to_owned(),
        capabilities: vec![Capability::new(CAPABILITY).expect("capability")],
        addresses: addrs.to_vec(),
        ..AgentRecord::default()
    }
    .sign(key, 1, now_ms(), RECORD_TTL)
    .expect("sign");
    let mut bytes = signed.envelope;
    flip_inside(&mut bytes, name.as_bytes());
    assert_eq!(
        SignedAgentRecord::verify(&bytes, Some(key.public().to_peer_id()), now_ms()),
        Err(AgentRecordError::Envelope(EnvelopeError::BadSignature)),
        "the tampered record must fail its signature"
    );
    bytes
}

/// A validly signed intent whose title was changed after signing.
fn tampered_intent(key: &Keypair, attempt: u32) -> Vec<u8> {
    let title = format!("pay the attacker, attempt {attempt}");
    let signed = Intent::new(title.clone())
        .capabilities([CAPABILITY])
        .sign(key, now_ms())
        .expect("sign");
    let mut bytes = signed.envelope;
    flip_inside(&mut bytes, title.as_bytes());
    assert_eq!(
        SignedIntent::verify(&bytes, now_ms()),
        Err(IntentError::Envelope(EnvelopeError::BadSignature)),
        "the tampered intent must fail its signature"
    );
    bytes
}

/// Bytes that are no signed envelope at all.
fn garbage(attempt: u32) -> Vec<u8> {
    let mut bytes = vec![0xff; 48];
    bytes.extend_from_slice(b"not an envelope");
    bytes.extend_from_slice(&attempt.to_be_bytes());
    assert!(matches!(
        mesh_net::idp::validate(&topic(), &bytes, now_ms()),
        mesh_net::idp::Verdict::Reject("malformed")
    ));
    bytes
}

/// Flips the case of the first letter of `needle` inside `bytes`, keeping it valid UTF-8.
fn flip_inside(bytes: &mut [u8], needle: &[u8]) {
    let pos = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle inside the envelope");
    bytes[pos] ^= 0x20;
}

// ----- observing the honest nodes -----

fn topic() -> String {
    Capability::new(CAPABILITY).expect("capability").topic()
}

fn count(family: &Family<ReasonLabel, Counter>, reason: &str) -> u64 {
    family
        .get_or_create(&ReasonLabel {
            reason: reason.to_owned(),
        })
        .get()
}

fn records_rejected(node: &MeshHandle, reason: &str) -> u64 {
    count(&node.metrics().records_rejected, reason)
}

fn messages_rejected(node: &MeshHandle, reason: &str) -> u64 {
    count(&node.metrics().messages_rejected, reason)
}

/// `node`'s local reputation of the connected peer `peer`.
async fn reputation(node: &MeshHandle, peer: PeerId) -> f64 {
    node.peers()
        .await
        .expect("peers")
        .into_iter()
        .find(|p| p.peer_id == peer.to_string())
        .unwrap_or_else(|| panic!("{peer} is not connected to {}", node.peer_id()))
        .reputation
}

/// Publishes a fresh message made by `make` until `landed` holds. A single message is not
/// enough: right after an invalid message the honest node's gossipsub graylists the attacker
/// for a moment and drops whatever it sends without looking at it.
async fn publish_until(
    attacker: &AttackerNode,
    what: &str,
    mut make: impl FnMut(u32) -> Vec<u8>,
    mut landed: impl AsyncFnMut() -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    let mut attempt = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "{what}: nothing landed after {attempt} attempts in {PATIENCE:?}"
        );
        if let Err(e) = attacker.publish(&topic(), make(attempt)).await {
            tracing::info!(what, attempt, error = %e, "attacker publish failed");
        }
        attempt += 1;
        let settle = Instant::now() + Duration::from_secs(2);
        while Instant::now() < settle {
            if landed().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn take_all(
    rx: &mut broadcast::Receiver<Arc<ReceivedIntent>>,
    into: &mut Vec<Arc<ReceivedIntent>>,
) {
    while let Ok(r) = rx.try_recv() {
        into.push(r);
    }
}

fn strip_p2p(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_records_and_intents_are_refused() {
    common::init_tracing();
    // `hub` is the honest node that is attacked in the DHT and runs discovery; `agent` is a
    // genuine text-generation agent, the target of the gossip forgeries.
    let hub = start(&[], None).await;
    let mut agent = start(&[CAPABILITY], Some(&hub.addr)).await;
    let hub_id = hub.handle.peer_id();
    let agent_id = agent.handle.peer_id();

    let attacker = AttackerNode::spawn();
    let attacker_id = attacker.peer_id();
    let attacker_addr = attacker.listen_addr().await;
    {
        let (dial, kad_addr) = (hub.addr.clone(), strip_p2p(&hub.addr));
        attacker
            .with(move |s| {
                s.behaviour_mut().kad.add_address(&hub_id, kad_addr);
                s.dial(dial).expect("dial the hub");
            })
            .await;
    }
    // Identify has run both ways once the hub knows the attacker's agent version; from then on
    // the attacker is in the hub's routing table.
    wait_until("the hub to identify the attacker", async || {
        hub.handle.peers().await.expect("peers").iter().any(|p| {
            p.peer_id == attacker_id.to_string()
                && p.agent_version.as_deref() == Some("attacker/0.0.0")
        })
    })
    .await;
    // The genuine agent is discoverable before the attack starts.
    let genuine = common::discover_until(&hub.handle, &[CAPABILITY], 1).await;
    assert_eq!(genuine.len(), 1, "{genuine:?}");
    assert_eq!(genuine[0].peer_id, agent_id.to_string());

    // ----- 1. forged agent records and a provider record in the DHT -----

    let victim = Keypair::generate_ed25519().public().to_peer_id();
    let addrs = [attacker_addr.clone()];
    // (a) a record for a peer that does not run, signed by the attacker;
    attacker
        .put_record(
            agent_record_key(&victim),
            record_claiming(&attacker.key, victim, "victim", &addrs),
        )
        .await;
    // (b) a takeover of the genuine agent's record, pointing at the attacker;
    attacker
        .put_record(
            agent_record_key(&agent_id),
            record_claiming(&attacker.key, agent_id, "hijacked", &addrs),
        )
        .await;
    // (c) the attacker's own record, correctly keyed, with a flipped byte.
    attacker
        .put_record(
            agent_record_key(&attacker_id),
            tampered_own_record(&attacker.key, &addrs),
        )
        .await;
    // And the attacker announces itself as a text-generation provider.
    let provider_key = Capability::new(CAPABILITY)
        .expect("capability")
        .provider_key();
    attacker
        .with(move |s| {
            s.behaviour_mut()
                .kad
                .start_providing(kad::RecordKey::new(&provider_key))
                .expect("start providing");
        })
        .await;

    wait_until("the hub to refuse every forged record", async || {
        records_rejected(&hub.handle, "peer_mismatch") >= 2
            && records_rejected(&hub.handle, "bad_signature") >= 1
    })
    .await;
    wait_until("the attacker's provider announcement", async || {
        attacker.log(|l| l.provides_ok > 0)
    })
    .await;
    attacker.log(|l| tracing::info!(?l, "attacker DHT operations"));
    let after_puts = reputation(&hub.handle, attacker_id).await;
    assert!(
        after_puts < 0.5,
        "the hub still trusts the attacker after forged records: {after_puts}"
    );

    // Discovery now also sees the attacker as a provider, fetches its record from the attacker
    // itself, and must throw it away.
    let served_before = records_rejected(&hub.handle, "bad_signature");
    let mut found = Vec::new();
    wait_until(
        "a discovery that sees the attacker's provider record",
        async || {
            found = hub
                .handle
                .discover_agents(AgentQuery::new().capabilities([CAPABILITY]))
                .await
                .expect("discover");
            found.iter().any(|a| a.peer_id == agent_id.to_string())
                && records_rejected(&hub.handle, "bad_signature") > served_before
        },
    )
    .await;
    let ids: HashSet<String> = found.iter().map(|a| a.peer_id.clone()).collect();
    assert_eq!(
        ids,
        HashSet::from([agent_id.to_string()]),
        "only the genuine agent may be discovered: {found:?}"
    );
    let genuine = &found[0];
    assert_eq!(
        genuine.name, CAPABILITY,
        "the genuine record, not the hijack"
    );
    assert!(
        !genuine.addresses.contains(&attacker_addr.to_string()),
        "the genuine agent's addresses must not point at the attacker: {genuine:?}"
    );
    assert!(
        found
            .iter()
            .all(|a| a.name != "victim" && a.name != "hijacked" && !a.name.contains("orged")),
        "{found:?}"
    );
    let after_discovery = reputation(&hub.handle, attacker_id).await;
    assert!(
        after_discovery < after_puts,
        "serving a forged record must cost reputation: {after_discovery} >= {after_puts}"
    );
    let honest = reputation(&hub.handle, agent_id).await;
    assert!(
        honest >= 0.5,
        "the genuine agent must keep its reputation: {honest}"
    );

    // ----- 2. forged intents over gossipsub -----

    let gossip_topic = topic();
    attacker
        .with({
            let t = IdentTopic::new(gossip_topic.clone());
            move |s| {
                s.behaviour_mut()
                    .gossipsub
                    .subscribe(&t)
                    .expect("subscribe");
            }
        })
        .await;
    {
        let addr = agent.addr.clone();
        attacker
            .with(move |s| {
                if !s.is_connected(&agent_id) {
                    s.dial(addr).expect("dial the agent");
                }
            })
            .await;
    }
    wait_until(
        "the agent to show up among the attacker's topic peers",
        async || {
            let hash = IdentTopic::new(gossip_topic.clone()).hash();
            attacker
                .with(move |s| {
                    s.behaviour()
                        .gossipsub
                        .all_peers()
                        .any(|(p, topics)| *p == agent_id && topics.iter().any(|t| **t == hash))
                })
                .await
        },
    )
    .await;
    // Control, first: the same attacker's valid intent does get through, so what follows is
    // refused for being forged, not for coming from the attacker. (After the forgeries the
    // attacker is graylisted and nothing it sends gets through for a while.)

    let mut published = HashSet::new();
    let mut received = Vec::new();
    {
        let key = attacker.key.clone();
        let published = &mut published;
        let received = &mut received;
        let rx = &mut agent.intents;
        publish_until(
            &attacker,
            "valid intent",
            |i| {
                let signed = Intent::new(format!("a fair request {i}"))
                    .capabilities([CAPABILITY])
                    .sign(&key, now_ms())
                    .expect("sign");
                published.insert(signed.id);
                signed.envelope
            },
            async || {
                take_all(rx, received);
                !received.is_empty()
            },
        )
        .await;
    }
    for r in &received {
        assert_eq!(r.intent.publisher, attacker_id);
        assert_eq!(r.from, attacker_id);
        assert_eq!(r.topic.as_str(), CAPABILITY);
        assert!(
            published.contains(&r.intent.id),
            "only the valid intents may arrive: {r:?}"
        );
        assert!(r.intent.title().starts_with("a fair request"));
    }
    let before_gossip = reputation(&agent.handle, attacker_id).await;

    // (a) a tampered intent: signed by the attacker, one byte of the title flipped after.
    let bad_sig = messages_rejected(&agent.handle, "bad_signature");
    let key = attacker.key.clone();
    publish_until(
        &attacker,
        "tampered intent",
        |i| tampered_intent(&key, i),
        async || messages_rejected(&agent.handle, "bad_signature") > bad_sig,
    )
    .await;
    // (b) garbage.
    let malformed = messages_rejected(&agent.handle, "malformed");
    publish_until(&attacker, "garbage", garbage, async || {
        messages_rejected(&agent.handle, "malformed") > malformed
    })
    .await;

    let leaked: Vec<_> = drain(&mut agent.intents, Duration::from_secs(3))
        .await
        .into_iter()
        .filter(|r| !r.intent.title().starts_with("a fair request"))
        .collect();
    assert!(
        leaked.is_empty(),
        "a forged intent reached the subscriber: {leaked:?}"
    );
    let valid_ones = agent.handle.metrics().intents_received.get();
    let after_gossip = reputation(&agent.handle, attacker_id).await;
    assert!(
        after_gossip < before_gossip && after_gossip < 0.5,
        "forged intents must cost reputation: {before_gossip} -> {after_gossip}"
    );

    assert_eq!(
        agent.handle.metrics().intents_received.get(),
        valid_ones,
        "no intent was delivered after the forgeries"
    );
    assert!(valid_ones >= 1);
    assert!(messages_rejected(&agent.handle, "bad_signature") > bad_sig);
    assert!(messages_rejected(&agent.handle, "malformed") > malformed);

    drop(attacker);
    agent.handle.shutdown().await.expect("shutdown");
    hub.handle.shutdown().await.expect("shutdown");
}
