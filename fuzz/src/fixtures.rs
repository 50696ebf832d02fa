//! Deterministic keys, clocks and signed messages shared by the targets and their seeds.
//!
//! Everything here is derived from fixed secrets and fixed times, so the seeds written by
//! `examples/write_seeds.rs` and the fixtures a target compares them against always agree.

use std::sync::LazyLock;
use std::time::Duration;

use libp2p::Multiaddr;
use mesh_core::envelope::{
    self, AGENT_RECORD_DOMAIN, AGENT_RECORD_PAYLOAD_TYPE, CANCELLATION_DOMAIN,
    CANCELLATION_PAYLOAD_TYPE, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, NEGOTIATION_DOMAIN,
    NEGOTIATION_PAYLOAD_TYPE,
};
use mesh_core::negotiation::{
    Body, Config, Delivery, Eta, Negotiation, Price, Proposal, Receipt, Role,
};
use mesh_core::{Keypair, PeerId, SignedIntent};
use mesh_proto::v1;
use prost::Message;

/// The fixtures' clock, Unix milliseconds (2023-11-14T22:13:20Z).
pub const NOW: u64 = 1_700_000_000_000;
/// Lifetime of the fixture intent and agent record.
pub const TTL_MS: u64 = 3_600_000;
/// One minute, in milliseconds.
const MINUTE_MS: u64 = 60_000;

/// The four signed payload types: domain, payload type and largest envelope.
pub const DOMAINS: [(&str, &[u8], usize); 4] = [
    (
        INTENT_DOMAIN,
        INTENT_PAYLOAD_TYPE,
        mesh_core::intent::MAX_INTENT_ENVELOPE_BYTES,
    ),
    (
        CANCELLATION_DOMAIN,
        CANCELLATION_PAYLOAD_TYPE,
        mesh_core::cancellation::MAX_CANCELLATION_ENVELOPE_BYTES,
    ),
    (
        AGENT_RECORD_DOMAIN,
        AGENT_RECORD_PAYLOAD_TYPE,
        mesh_core::agent_record::MAX_AGENT_RECORD_BYTES,
    ),
    (
        NEGOTIATION_DOMAIN,
        NEGOTIATION_PAYLOAD_TYPE,
        mesh_core::negotiation::MAX_ENVELOPE_BYTES,
    ),
];

/// The instant a target checks an input at, picked by `pick` (its low three bits) around
/// `base`: on time, at the edges of the clock-skew and lifetime windows, and at both ends of
/// the clock.
pub fn clock(base: u64, pick: u8) -> u64 {
    match pick & 7 {
        0 => base,
        1 => base.saturating_sub(5 * MINUTE_MS),
        2 => base.saturating_sub(5 * MINUTE_MS + 1),
        3 => base.saturating_add(TTL_MS - 1),
        4 => base.saturating_add(TTL_MS),
        5 => base.saturating_add(7 * 24 * 60 * MINUTE_MS + 1),
        6 => 0,
        _ => u64::MAX,
    }
}

/// The peers of the fixtures.
pub struct Keys {
    /// Publishes the fixture intent; the publisher of the fixture negotiation.
    pub publisher: Keypair,
    /// Bids in the fixture negotiation; signs the fixture agent record.
    pub agent: Keypair,
    /// Takes part in nothing.
    pub stranger: Keypair,
}

fn key(secret: u8) -> Keypair {
    Keypair::ed25519_from_bytes([secret; 32]).expect("32 bytes are an ed25519 secret key")
}

/// The fixture keys.
pub fn keys() -> &'static Keys {
    static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys {
        publisher: key(1),
        agent: key(2),
        stranger: key(3),
    });
    &KEYS
}

/// Peer id of `key`.
pub fn peer(key: &Keypair) -> PeerId {
    key.public().to_peer_id()
}

/// Signs `payload` as the payload type of `domain` (an entry of [`DOMAINS`]).
pub fn seal(key: &Keypair, domain: (&str, &[u8], usize), payload: Vec<u8>) -> Vec<u8> {
    envelope::seal(key, domain.0, domain.1, payload).expect("an ed25519 key signs any payload")
}

/// Content of the fixture intent, published by [`Keys::publisher`] at [`NOW`].
pub fn intent_content() -> v1::Intent {
    v1::Intent {
        id: Vec::new(),
        publisher: peer(&keys().publisher).to_bytes(),
        capabilities: vec!["text-generation".into(), "translation".into()],
        title: "Summarise this PDF".into(),
        description: "Ten pages, plain English".into(),
        payload: Some(v1::Payload {
            content_type: "text/plain".into(),
            data: b"hello".to_vec(),
        }),
        budget: Some(v1::Budget {
            amount: "2.50".into(),
            currency: "USD".into(),
        }),
        deadline_ms: NOW + 2 * TTL_MS,
        created_at_ms: NOW,
        expires_at_ms: NOW + TTL_MS,
        nonce: vec![7; 16],
        min_reputation: 0.25,
        publisher_addrs: Vec::new(),
    }
}

/// The fixture intent, signed.
pub fn intent() -> &'static SignedIntent {
    static INTENT: LazyLock<SignedIntent> = LazyLock::new(|| {
        let envelope = seal(
            &keys().publisher,
            DOMAINS[0],
            intent_content().encode_to_vec(),
        );
        SignedIntent::verify(&envelope, NOW).expect("the fixture intent is valid")
    });
    &INTENT
}

/// Content of the publisher's cancellation of the fixture intent.
pub fn cancellation_content() -> v1::IntentCancellation {
    let intent = intent();
    v1::IntentCancellation {
        intent_id: intent.id.0.to_vec(),
        publisher: peer(&keys().publisher).to_bytes(),
        capabilities: intent.content.capabilities.clone(),
        cancelled_at_ms: NOW + 10_000,
        expires_at_ms: intent.content.expires_at_ms,
        reason: "found someone".into(),
    }
}

/// Content of the fixture agent record, signed by [`Keys::agent`] at [`NOW`].
pub fn agent_record_content() -> v1::AgentRecord {
    let agent = peer(&keys().agent);
    let addresses: [Multiaddr; 3] = [
        "/ip4/127.0.0.1/tcp/7701".parse().expect("a multiaddr"),
        "/ip6/::1/udp/7702/quic-v1".parse().expect("a multiaddr"),
        format!("/dns4/agent.example/tcp/443/p2p/{agent}")
            .parse()
            .expect("a multiaddr"),
    ];
    v1::AgentRecord {
        peer_id: agent.to_bytes(),
        capabilities: vec!["text-generation".into(), "translation".into()],
        skills: vec![v1::Skill {
            id: "summarise".into(),
            name: "Summarise".into(),
            description: "Summaries of long documents".into(),
            tags: vec!["pdf".into(), "english".into()],
        }],
        addresses: addresses.iter().map(Multiaddr::to_vec).collect(),
        load: 0.25,
        seq: NOW,
        expires_at_ms: NOW + TTL_MS,
        name: "scribe".into(),
        issued_at_ms: NOW,
    }
}

/// When the `index`-th message of a fixture negotiation is signed.
pub fn message_time(index: usize) -> u64 {
    NOW + 1_000 * (index as u64 + 1)
}

/// The publisher's copy of a new negotiation on the fixture intent, as its node opens it.
pub fn new_negotiation(now_ms: u64) -> Negotiation {
    let intent = intent();
    Negotiation::new(
        intent.id,
        peer(&keys().publisher),
        peer(&keys().agent),
        Config::default().with_agree_by_ms(intent.content.expires_at_ms),
        now_ms,
    )
    .expect("publisher and agent differ")
}

/// Signs `steps` in order on a new negotiation on the fixture intent, the `i`-th at
/// [`message_time`]`(i)`; returns the negotiation after each step, from the empty one on.
pub fn negotiate(steps: &[(Role, Body)]) -> Vec<Negotiation> {
    let mut negotiation = new_negotiation(NOW);
    let mut states = vec![negotiation.clone()];
    for (index, (role, body)) in steps.iter().enumerate() {
        let key = match role {
            Role::Publisher => &keys().publisher,
            Role::Agent => &keys().agent,
        };
        negotiation
            .send(body.clone(), key, message_time(index))
            .expect("every fixture step is allowed");
        states.push(negotiation.clone());
    }
    states
}

fn proposal(amount: &str, eta: Eta) -> Proposal {
    Proposal::new(Price::new(amount, "USD").expect("a valid price"), eta)
}

/// The steps of the fixture negotiation: offer, counter, accept, deliver, receipt.
pub fn completed_steps() -> Vec<(Role, Body)> {
    vec![
        (
            Role::Agent,
            Body::Offer(
                proposal("2.50", Eta::Within(Duration::from_secs(600))).with_terms("one revision"),
            ),
        ),
        (
            Role::Publisher,
            Body::Counter(proposal("2.00", Eta::At(NOW + 3_600_000))),
        ),
        (Role::Agent, Body::Accept),
        (
            Role::Agent,
            Body::Deliver(Delivery::inline("text/plain", b"a short summary".to_vec())),
        ),
        (
            Role::Publisher,
            Body::Receipt(Receipt::new(0.9).with_comment("thanks")),
        ),
    ]
}

/// The fixture negotiation after each of its messages: `states()[k]` holds `k` messages.
pub fn states() -> &'static [Negotiation] {
    static STATES: LazyLock<Vec<Negotiation>> = LazyLock::new(|| negotiate(&completed_steps()));
    &STATES
}

/// The envelopes of the fixture negotiation, in order.
pub fn messages() -> &'static [Vec<u8>] {
    states()
        .last()
        .expect("the fixture negotiation has messages")
        .transcript()
        .envelopes()
}

/// When the fixture negotiation's receipt (its last message) is signed.
pub fn receipt_time() -> u64 {
    message_time(completed_steps().len() - 1)
}

/// The fixture negotiation completed with a receipt below neutral instead: 0.2, signed at
/// [`receipt_time`].
pub fn low_rated() -> &'static Negotiation {
    static LOW_RATED: LazyLock<Negotiation> = LazyLock::new(|| {
        let steps = completed_steps();
        let mut negotiation = states()[steps.len() - 1].clone();
        negotiation
            .send(
                Body::Receipt(Receipt::new(0.2).with_comment("late and incomplete")),
                &keys().publisher,
                receipt_time(),
            )
            .expect("a receipt follows the delivery");
        negotiation
    });
    &LOW_RATED
}

/// Decodes the payload of a fixture negotiation envelope.
pub fn message_content(envelope: &[u8]) -> v1::NegotiationMessage {
    let (payload, _) = envelope::open(
        envelope,
        usize::MAX,
        NEGOTIATION_DOMAIN,
        NEGOTIATION_PAYLOAD_TYPE,
    )
    .expect("a fixture envelope opens");
    v1::NegotiationMessage::decode(payload.as_slice()).expect("a fixture message decodes")
}
