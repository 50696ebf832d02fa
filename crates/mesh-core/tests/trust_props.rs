//! Property and scenario tests of the reputation model (`mesh_core::trust`).
//!
//! (a) Attestations: what verifies, what is refused, and that every single-byte change of a
//!     valid attestation is refused.
//! (b) Scores: always in `[0, 1]`, deterministic whatever the insertion order, unchanged for
//!     everyone by any rating whose rater no pre-trusted peer reaches (the Sybil region).
//! (c) The attack: a hundred fresh identities issuing signed receipts to each other, in
//!     every pattern, lift none of them above a new agent; an agent rated by pre-trusted peers
//!     rises above it.
//! (d) Memory stays bounded under 10^5 random ratings, and a flood of ratings from identities
//!     without trust displaces no rating that counts.
//! (e) `ReceiptAttestation::verify_batch` returns, item for item, what `verify` returns alone,
//!     for batches mixing valid attestations (with and without the delivery), forged receipt
//!     and delivery signatures, damaged, truncated, oversize, non-canonical and wrong-kind items.

use std::time::Duration;

use mesh_core::negotiation::{
    Body, Config as NegotiationConfig, Delivery, Eta, Negotiation, NegotiationError, NegotiationId,
    Price, Proposal, Receipt, message_hash,
};
use mesh_core::trust::{
    AttestationError, Config, Disclosure, NEUTRAL_RATING, Outcome, Rating, ReceiptAttestation,
    Refused, TrustGraph, TrustScores,
};
use mesh_core::{IntentId, Keypair, LocalReputation, Observation, PeerId};
use mesh_proto::v1;
use proptest::prelude::*;
use prost::Message as _;

const NOW: u64 = 1_700_000_000_000;
const DAY_MS: u64 = 24 * 3600 * 1000;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A negotiation between `publisher` and `agent` on intent `intent`, run to its receipt.
fn completed_with(
    publisher: &Keypair,
    agent: &Keypair,
    intent: u64,
    rating: f64,
    delivery: Delivery,
    at: u64,
) -> Negotiation {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&intent.to_be_bytes());
    let mut n = Negotiation::new(
        IntentId(id),
        publisher.public().to_peer_id(),
        agent.public().to_peer_id(),
        NegotiationConfig::default(),
        at,
    )
    .expect("a valid negotiation");
    let price = Price::new("2.00", "USD").expect("a valid price");
    let offer = Proposal::new(price, Eta::Within(Duration::from_secs(600)));
    n.send(Body::Offer(offer), agent, at)
        .expect("a valid negotiation step");
    n.send(Body::Accept, publisher, at + 1)
        .expect("a valid negotiation step");
    n.send(Body::Deliver(delivery), agent, at + 2)
        .expect("a valid negotiation step");
    n.send(
        Body::Receipt(Receipt::new(rating).with_comment("noted")),
        publisher,
        at + 3,
    )
    .expect("a valid negotiation step");
    n
}

fn completed(publisher: &Keypair, agent: &Keypair, intent: u64, rating: f64) -> Negotiation {
    let delivery = Delivery::at_location("https://example.org/result", [9; 32]);
    completed_with(publisher, agent, intent, rating, delivery, NOW)
}

/// The encoded attestation of a completed negotiation.
fn attest(n: &Negotiation, disclosure: Disclosure) -> Vec<u8> {
    ReceiptAttestation::from_transcript(n.transcript(), disclosure)
        .expect("a completed transcript")
        .encode()
}

fn keys(count: usize) -> Vec<Keypair> {
    (0..count).map(|_| Keypair::generate_ed25519()).collect()
}

fn peer(key: &Keypair) -> PeerId {
    key.public().to_peer_id()
}

/// A rating without signatures, for the graph-level properties.
fn rating(rater: PeerId, ratee: PeerId, negotiation: u64, value: f64, at: u64) -> Rating {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&negotiation.to_be_bytes());
    let mut hash = [0xa5u8; 32];
    hash[..8].copy_from_slice(
        &negotiation
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .to_be_bytes(),
    );
    Rating {
        rater,
        ratee,
        negotiation_id: NegotiationId(id),
        value,
        rated_at_ms: at,
        receipt_hash: hash,
    }
}

/// The score and reputation of an agent nobody has rated or seen.
fn new_agent(scores: &TrustScores, local: &LocalReputation) -> (f64, f64) {
    let stranger = PeerId::random();
    (scores.score(&stranger), scores.reputation(&stranger, local))
}

// ---------------------------------------------------------------------------------------------
// (a) Attestations

#[test]
fn minimal_disclosure_carries_the_delivery_only_for_low_ratings() {
    let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let good = completed(&publisher, &agent, 1, 0.9);
    let verified = ReceiptAttestation::verify(&attest(&good, Disclosure::Minimal), NOW).unwrap();
    assert!(!verified.proves_delivery());
    assert_eq!(verified.publisher(), peer(&publisher));
    assert_eq!(verified.agent(), peer(&agent));
    assert_eq!(verified.negotiation_id(), good.id());
    assert_eq!(verified.intent_id(), good.intent_id());
    assert_eq!(verified.comment(), "noted");
    let r = verified.rating();
    assert_eq!(
        (r.rater, r.ratee, r.value),
        (peer(&publisher), peer(&agent), 0.9)
    );
    assert_eq!(r.rated_at_ms, NOW + 3);
    assert_eq!(
        r.receipt_hash,
        message_hash(good.transcript().envelopes().last().unwrap())
    );
    assert_eq!(
        ReceiptAttestation::decode(verified.encoded())
            .unwrap()
            .encode(),
        verified.encoded()
    );

    let proved = ReceiptAttestation::verify(&attest(&good, Disclosure::WithDelivery), NOW).unwrap();
    assert!(proved.proves_delivery());
    assert_eq!(proved.rating(), verified.rating());

    let bad = completed(&publisher, &agent, 2, 0.1);
    let verified = ReceiptAttestation::verify(&attest(&bad, Disclosure::Minimal), NOW).unwrap();
    assert!(
        verified.proves_delivery(),
        "a low rating must show the delivery"
    );
    assert_eq!(verified.rating().value, 0.1);
}

#[test]
fn an_attestation_held_with_its_delivery_publishes_as_minimal_disclosure_would() {
    let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    for (intent, rating) in [(1, 0.9), (2, NEUTRAL_RATING), (3, 0.1)] {
        let n = completed(&publisher, &agent, intent, rating);
        let full = ReceiptAttestation::verify(&attest(&n, Disclosure::WithDelivery), NOW).unwrap();
        assert!(full.proves_delivery());
        assert_eq!(
            full.encoded_as(Disclosure::Minimal).unwrap(),
            attest(&n, Disclosure::Minimal),
            "rating {rating}"
        );
        assert_eq!(
            full.encoded_as(Disclosure::WithDelivery).unwrap(),
            full.encoded()
        );
    }
}

#[test]
fn a_low_rating_without_the_delivery_is_refused() {
    let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let bad = completed(&publisher, &agent, 1, 0.49);
    let receipt = bad.transcript().envelopes().last().unwrap().clone();
    let bytes = ReceiptAttestation::new(receipt, None).encode();
    assert!(matches!(
        ReceiptAttestation::verify(&bytes, NOW),
        Err(AttestationError::MissingDelivery { rating }) if rating == 0.49
    ));
    // Exactly neutral needs no proof: it cannot make anyone look worse than a new agent.
    let neutral = completed(&publisher, &agent, 2, NEUTRAL_RATING);
    assert!(ReceiptAttestation::verify(&attest(&neutral, Disclosure::Minimal), NOW).is_ok());
}

#[test]
fn only_a_completed_negotiation_can_be_attested() {
    let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let mut n = Negotiation::new(
        IntentId([3; 32]),
        peer(&publisher),
        peer(&agent),
        NegotiationConfig::default(),
        NOW,
    )
    .unwrap();
    let offer = Proposal::new(
        Price::new("1", "USD").unwrap(),
        Eta::Within(Duration::from_secs(60)),
    );
    n.send(Body::Offer(offer), &agent, NOW).unwrap();
    assert!(matches!(
        ReceiptAttestation::from_transcript(n.transcript(), Disclosure::Minimal),
        Err(AttestationError::NotCompleted { .. })
    ));
    let mut broken = completed(&publisher, &agent, 1, 0.9)
        .transcript()
        .clone()
        .into_envelopes();
    broken.remove(1);
    assert!(matches!(
        ReceiptAttestation::from_transcript(
            &mesh_core::Transcript::from_envelopes(broken),
            Disclosure::Minimal
        ),
        Err(AttestationError::Transcript(_))
    ));
}

/// A receipt message built by hand, signed by `signer`.
fn forged_receipt(
    signer: &Keypair,
    edit: impl FnOnce(&mut v1::NegotiationMessage),
    base: &Negotiation,
) -> Vec<u8> {
    let envelopes = base.transcript().envelopes();
    let mut message = v1::NegotiationMessage {
        negotiation_id: base.id().0.to_vec(),
        intent_id: base.intent_id().0.to_vec(),
        seq: 3,
        prev_hash: message_hash(&envelopes[2]).to_vec(),
        sent_at_ms: NOW + 3,
        sender: peer(signer).to_bytes(),
        recipient: base.agent().to_bytes(),
        body: Some(v1::negotiation_message::Body::Receipt(
            v1::negotiation_message::Receipt {
                rating: 0.0,
                comment: String::new(),
            },
        )),
    };
    edit(&mut message);
    mesh_core::envelope::seal(
        signer,
        mesh_core::envelope::NEGOTIATION_DOMAIN,
        mesh_core::envelope::NEGOTIATION_PAYLOAD_TYPE,
        message.encode_to_vec(),
    )
    .expect("a sealed envelope")
}

#[test]
fn forged_attestations_are_refused() {
    let (publisher, agent, outsider) = (
        Keypair::generate_ed25519(),
        Keypair::generate_ed25519(),
        Keypair::generate_ed25519(),
    );
    let real = completed(&publisher, &agent, 1, 0.9);
    let envelopes = real.transcript().envelopes().to_vec();
    let deliver = envelopes[2].clone();
    let verify = |receipt: Vec<u8>, deliver: Option<Vec<u8>>| {
        ReceiptAttestation::verify(&ReceiptAttestation::new(receipt, deliver).encode(), NOW)
    };

    // The agent signs a receipt about itself, or an outsider about the agent, in the real
    // negotiation: the negotiation id says they are not its publisher.
    let by_agent = forged_receipt(&agent, |m| m.recipient = peer(&publisher).to_bytes(), &real);
    assert!(matches!(
        verify(by_agent, Some(deliver.clone())),
        Err(AttestationError::NotThePublisher { .. })
    ));
    let by_outsider = forged_receipt(&outsider, |_| {}, &real);
    assert!(matches!(
        verify(by_outsider, Some(deliver.clone())),
        Err(AttestationError::NotThePublisher { .. })
    ));
    // An outsider with a negotiation id of its own, blaming the agent with the agent's real
    // delivery from another negotiation: the delivery does not belong to it.
    let own_id = NegotiationId::derive(&real.intent_id(), &peer(&outsider), &real.agent());
    let blame = forged_receipt(&outsider, |m| m.negotiation_id = own_id.0.to_vec(), &real);
    assert!(matches!(
        verify(blame.clone(), Some(deliver.clone())),
        Err(AttestationError::Unchained { .. })
    ));
    assert!(matches!(
        verify(blame, None),
        Err(AttestationError::MissingDelivery { .. })
    ));

    // The publisher pairs its receipt with a delivery from another negotiation, or with the
    // wrong message, or puts them the other way round.
    let other = completed(&publisher, &agent, 2, 0.9);
    let receipt = envelopes[3].clone();
    assert!(matches!(
        verify(
            receipt.clone(),
            Some(other.transcript().envelopes()[2].clone())
        ),
        Err(AttestationError::Unchained { .. })
    ));
    assert!(matches!(
        verify(receipt.clone(), Some(envelopes[1].clone())),
        Err(AttestationError::NotADelivery { .. })
    ));
    assert!(matches!(
        verify(deliver.clone(), Some(receipt.clone())),
        Err(AttestationError::NotAReceipt { .. })
    ));
    // A receipt that does not chain to the delivery shown, or comes too early in a negotiation.
    let unchained = forged_receipt(&publisher, |m| m.prev_hash = vec![0; 32], &real);
    assert!(matches!(
        verify(unchained, Some(deliver.clone())),
        Err(AttestationError::Unchained { .. })
    ));
    let early = forged_receipt(&publisher, |m| m.seq = 2, &real);
    assert!(matches!(
        verify(early, Some(deliver.clone())),
        Err(AttestationError::ImpossibleSeq { seq: 2 })
    ));
    let self_rated = forged_receipt(
        &publisher,
        |m| {
            m.recipient = peer(&publisher).to_bytes();
            m.negotiation_id =
                NegotiationId::derive(&real.intent_id(), &peer(&publisher), &peer(&publisher))
                    .0
                    .to_vec();
        },
        &real,
    );
    assert!(matches!(
        verify(self_rated, None),
        Err(AttestationError::Receipt(_) | AttestationError::SelfRating { .. })
    ));

    // From the future, too large, not canonical, not an attestation.
    let good = attest(&real, Disclosure::WithDelivery);
    assert!(matches!(
        ReceiptAttestation::verify(&good, NOW - 3_600_000),
        Err(AttestationError::FromTheFuture { .. })
    ));
    assert!(matches!(
        ReceiptAttestation::verify(&vec![0; mesh_core::trust::MAX_ATTESTATION_BYTES + 1], NOW),
        Err(AttestationError::TooLarge { .. })
    ));
    let mut extra = good.clone();
    extra.extend_from_slice(&[0x18, 0x01]); // field 3, varint 1
    assert_eq!(
        ReceiptAttestation::verify(&extra, NOW),
        Err(AttestationError::NonCanonical)
    );
    assert!(matches!(
        ReceiptAttestation::verify(&[0x0a, 0xff], NOW),
        Err(AttestationError::Malformed(_))
    ));
    assert!(matches!(
        ReceiptAttestation::verify(&[], NOW),
        Err(AttestationError::Receipt(_))
    ));
}

/// Every single-byte change of `bytes` is refused.
fn assert_every_flip_refused(bytes: &[u8], flips: &[u8]) {
    assert!(ReceiptAttestation::verify(bytes, NOW).is_ok());
    for i in 0..bytes.len() {
        for &flip in flips {
            let mut tampered = bytes.to_vec();
            tampered[i] ^= flip;
            assert!(
                ReceiptAttestation::verify(&tampered, NOW).is_err(),
                "byte {i} xor {flip:#04x} of {} was accepted",
                bytes.len()
            );
        }
    }
}

#[test]
fn every_single_byte_flip_is_refused() {
    let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let n = completed(&publisher, &agent, 1, 0.2);
    assert_every_flip_refused(&attest(&n, Disclosure::Minimal), &[0x01, 0x80, 0xff]);
    let n = completed(&publisher, &agent, 2, 0.9);
    assert_every_flip_refused(&attest(&n, Disclosure::Minimal), &[0x01, 0x80, 0xff]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The same with an inline result (a larger delivery), at random places and values.
    #[test]
    fn random_byte_changes_are_refused(
        data in proptest::collection::vec(any::<u8>(), 1..2048),
        rating in 0.0..=1.0f64,
        index in any::<proptest::sample::Index>(),
        xor in 1..=255u8,
    ) {
        let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let delivery = Delivery::inline("application/octet-stream", data);
        let n = completed_with(&publisher, &agent, 1, rating, delivery, NOW);
        let mut bytes = attest(&n, Disclosure::WithDelivery);
        prop_assert!(ReceiptAttestation::verify(&bytes, NOW).is_ok());
        let i = index.index(bytes.len());
        bytes[i] ^= xor;
        prop_assert!(ReceiptAttestation::verify(&bytes, NOW).is_err(), "byte {} accepted", i);
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Scores

/// A random graph over `pool` peers: index 0 is this node, 1 and 2 pre-trusted seeds.
#[derive(Debug, Clone)]
struct Edges(Vec<(usize, usize, f64, u64)>);

fn edges(pool: usize, max: usize) -> impl Strategy<Value = Edges> {
    proptest::collection::vec(
        (
            0..pool,
            0..pool,
            prop_oneof![Just(0.0), Just(0.5), Just(1.0), 0.0..=1.0f64],
            0..100 * DAY_MS,
        ),
        0..max,
    )
    .prop_map(|v| Edges(v.into_iter().filter(|(a, b, _, _)| a != b).collect()))
}

struct World {
    peers: Vec<PeerId>,
    config: Config,
}

impl World {
    fn new(pool: usize) -> Self {
        let peers: Vec<PeerId> = (0..pool).map(|_| PeerId::random()).collect();
        let config = Config::new(peers[0]).with_pre_trusted([peers[1], peers[2]]);
        Self { peers, config }
    }

    fn graph(&self, edges: &Edges) -> TrustGraph {
        let mut graph = TrustGraph::new(self.config.clone());
        for (k, &(a, b, value, age)) in edges.0.iter().enumerate() {
            let r = rating(self.peers[a], self.peers[b], k as u64, value, NOW - age);
            let _ = graph.insert(r, NOW);
        }
        graph
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn scores_stay_in_the_unit_interval(
        edges in edges(24, 200),
        locals in proptest::collection::vec((0..24usize, any::<bool>()), 0..64),
    ) {
        let world = World::new(24);
        let mut graph = world.graph(&edges);
        let scores = graph.recompute(NOW).clone();
        let mut local = LocalReputation::default();
        for (i, valid) in locals {
            let observation = if valid { Observation::Valid } else { Observation::Invalid };
            local.observe(world.peers[i], observation);
        }
        let mut total = 0.0;
        for (peer, s) in scores.iter() {
            prop_assert!((0.0..=1.0).contains(&s.score), "{:?}", s);
            prop_assert!(s.global_trust >= 0.0 && s.positive >= 0.0 && s.negative >= 0.0);
            prop_assert!((0.0..=1.0).contains(&s.rater_weight));
            prop_assert!((0.0..=1.0).contains(&scores.reputation(peer, &local)));
            total += s.global_trust;
        }
        prop_assert!((total - 1.0).abs() < 1e-9, "trust sums to {}", total);
        prop_assert!(scores.converged());
        prop_assert!(!graph.is_dirty());
    }

    #[test]
    fn insertion_order_does_not_matter(
        (edges, order) in edges(16, 120).prop_flat_map(|e| {
            let n = e.0.len();
            (Just(e), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
        }),
    ) {
        let world = World::new(16);
        let mut a = world.graph(&edges);
        // The same ratings (each with its own negotiation number), in another order.
        let mut b = TrustGraph::new(world.config.clone());
        for &k in &order {
            let (x, y, value, age) = edges.0[k];
            let r = rating(world.peers[x], world.peers[y], k as u64, value, NOW - age);
            let _ = b.insert(r, NOW);
        }
        prop_assert_eq!(a.len(), b.len());
        prop_assert_eq!(a.receipts(), b.receipts());
        let (sa, sb) = (a.recompute(NOW).clone(), b.recompute(NOW).clone());
        prop_assert_eq!(&sa, &sb);
        // And again: recomputing changes nothing.
        prop_assert_eq!(&sa, &a.recompute(NOW).clone());
    }

    /// Ratings among identities no pre-trusted peer reaches, and by them about anyone, change
    /// no standing of anyone, bit for bit; the identities stay at a new agent's score.
    #[test]
    fn the_sybil_region_changes_nobody(
        honest in edges(16, 120),
        sybil in proptest::collection::vec(
            (0..40usize, 0..56usize, 0.0..=1.0f64, 0..80 * DAY_MS), 0..300),
    ) {
        let world = World::new(16);
        let mut graph = world.graph(&honest);
        let before = graph.recompute(NOW).clone();
        let sybils: Vec<PeerId> = (0..40).map(|_| PeerId::random()).collect();
        for (k, &(from, to, value, age)) in sybil.iter().enumerate() {
            // Raters are Sybils; ratees are Sybils or anyone of the honest pool.
            let ratee = if to < 40 { sybils[to] } else { world.peers[to - 40] };
            if sybils[from] == ratee {
                continue;
            }
            let r = rating(sybils[from], ratee, 1_000_000 + k as u64, value, NOW - age);
            let _ = graph.insert(r, NOW);
        }
        let after = graph.recompute(NOW).clone();
        for (peer, standing) in before.iter() {
            prop_assert_eq!(Some(standing), after.standing(peer), "{}", peer);
        }
        prop_assert_eq!(before.iterations(), after.iterations());
        for s in &sybils {
            if before.standing(s).is_none() {
                prop_assert_eq!(after.score(s), NEUTRAL_RATING);
                prop_assert_eq!(after.global_trust(s), 0.0);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (c) The attack of the issue, with real signed receipts

/// Inserts the verified attestation of a completed negotiation (kept unless the pair already
/// holds as many newer receipts as it keeps).
fn receipt_into(graph: &mut TrustGraph, from: &Keypair, to: &Keypair, intent: u64, value: f64) {
    let n = completed(from, to, intent, value);
    // The transcript is sound by construction: take its last two envelopes as they are.
    let envelopes = n.transcript().envelopes();
    let (deliver, receipt) = (&envelopes[2], &envelopes[3]);
    let deliver = (value < NEUTRAL_RATING).then(|| deliver.clone());
    let bytes = ReceiptAttestation::new(receipt.clone(), deliver).encode();
    let verified = ReceiptAttestation::verify(&bytes, NOW).expect("a valid attestation");
    graph
        .insert_attestation(&verified, NOW)
        .expect("a valid attestation");
}

/// The attestation a pair of colluding identities makes up without running a negotiation:
/// only the two envelopes an attestation carries, each signed by its party.
fn made_up_receipt_into(
    graph: &mut TrustGraph,
    from: &Keypair,
    to: &Keypair,
    intent: u64,
    value: f64,
) {
    use v1::negotiation_message::{Body as Wire, Deliver, Receipt as WireReceipt};
    let (publisher, agent) = (peer(from), peer(to));
    let mut intent_id = [0u8; 32];
    intent_id[..8].copy_from_slice(&intent.to_be_bytes());
    let negotiation = NegotiationId::derive(&IntentId(intent_id), &publisher, &agent);
    let seal = |key: &Keypair, m: v1::NegotiationMessage| {
        mesh_core::envelope::seal(
            key,
            mesh_core::envelope::NEGOTIATION_DOMAIN,
            mesh_core::envelope::NEGOTIATION_PAYLOAD_TYPE,
            m.encode_to_vec(),
        )
        .expect("a sealed envelope")
    };
    let message =
        |seq, prev_hash, sender: PeerId, recipient: PeerId, body| v1::NegotiationMessage {
            negotiation_id: negotiation.0.to_vec(),
            intent_id: intent_id.to_vec(),
            seq,
            prev_hash,
            sent_at_ms: NOW,
            sender: sender.to_bytes(),
            recipient: recipient.to_bytes(),
            body: Some(body),
        };
    let deliver = seal(
        to,
        message(
            2,
            vec![7; 32],
            agent,
            publisher,
            Wire::Deliver(Deliver {
                result_sha256: vec![1; 32],
                content: Some(v1::negotiation_message::deliver::Content::Location(
                    "x".into(),
                )),
            }),
        ),
    );
    let receipt = seal(
        from,
        message(
            3,
            message_hash(&deliver).to_vec(),
            publisher,
            agent,
            Wire::Receipt(WireReceipt {
                rating: value,
                comment: String::new(),
            }),
        ),
    );
    let bytes = ReceiptAttestation::new(receipt, Some(deliver)).encode();
    let verified = ReceiptAttestation::verify(&bytes, NOW).expect("a valid attestation");
    assert!(verified.proves_delivery());
    graph
        .insert_attestation(&verified, NOW)
        .expect("a valid attestation");
}

/// An honest network: this node and two seeds rate a few agents, who rate others.
struct Honest {
    me: Keypair,
    seeds: Vec<Keypair>,
    agents: Vec<Keypair>,
}

impl Honest {
    fn new() -> Self {
        Self {
            me: Keypair::generate_ed25519(),
            seeds: keys(2),
            agents: keys(6),
        }
    }

    fn config(&self) -> Config {
        Config::new(peer(&self.me)).with_pre_trusted(self.seeds.iter().map(peer))
    }

    fn rate(&self, graph: &mut TrustGraph, intent: &mut u64) {
        let mut next = || {
            *intent += 1;
            *intent
        };
        receipt_into(graph, &self.me, &self.agents[0], next(), 0.9);
        receipt_into(graph, &self.seeds[0], &self.agents[1], next(), 1.0);
        receipt_into(graph, &self.seeds[1], &self.agents[2], next(), 0.8);
        receipt_into(graph, &self.agents[0], &self.agents[3], next(), 0.9);
        receipt_into(graph, &self.agents[1], &self.agents[4], next(), 0.7);
        receipt_into(graph, &self.agents[3], &self.agents[0], next(), 1.0);
        receipt_into(graph, &self.seeds[0], &self.agents[5], next(), 0.2);
    }
}

#[derive(Debug, Clone, Copy)]
enum Pattern {
    Clique,
    Ring,
    Star,
    Chain,
    Pairs,
    Random,
}

/// Who rates whom among `count` identities in `pattern`.
fn pattern_edges(pattern: Pattern, count: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    match pattern {
        Pattern::Clique => {
            for a in 0..count {
                for b in 0..count {
                    if a != b {
                        out.push((a, b));
                    }
                }
            }
        }
        Pattern::Ring => out.extend((0..count).map(|a| (a, (a + 1) % count))),
        Pattern::Star => {
            for a in 1..count {
                out.push((a, 0));
                out.push((0, a));
            }
        }
        Pattern::Chain => {
            for a in 1..count {
                out.push((a - 1, a));
                out.push((a, a - 1));
            }
        }
        Pattern::Pairs => {
            // Each identity rates its partner many times, over distinct negotiations.
            for a in (0..count).step_by(2) {
                for _ in 0..6 {
                    out.push((a, a + 1));
                    out.push((a + 1, a));
                }
            }
        }
        Pattern::Random => {
            let mut x: u64 = 0x2545_f491_4f6c_dd1d;
            for _ in 0..count * 10 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let (a, b) = (
                    (x % count as u64) as usize,
                    ((x >> 32) % count as u64) as usize,
                );
                if a != b {
                    out.push((a, b));
                }
            }
        }
    }
    out
}

#[test]
fn a_hundred_fresh_identities_issuing_receipts_to_each_other_stay_at_a_new_agents_level() {
    let honest = Honest::new();
    let mut intent = 0;
    for pattern in [
        Pattern::Clique,
        Pattern::Ring,
        Pattern::Star,
        Pattern::Chain,
        Pattern::Pairs,
        Pattern::Random,
    ] {
        let mut graph = TrustGraph::new(honest.config());
        honest.rate(&mut graph, &mut intent);
        let before = graph.recompute(NOW).clone();

        let sybils = keys(100);
        for (a, b) in pattern_edges(pattern, sybils.len()) {
            intent += 1;
            made_up_receipt_into(&mut graph, &sybils[a], &sybils[b], intent, 1.0);
        }
        // A few run real negotiations with each other too.
        for a in 0..10 {
            intent += 1;
            receipt_into(&mut graph, &sybils[a], &sybils[a + 1], intent, 1.0);
        }
        // They also hire honest agents and rate them, well or badly: their receipts weigh
        // nothing either way.
        for (k, s) in sybils.iter().enumerate().take(12) {
            intent += 1;
            let value = if k % 2 == 0 { 1.0 } else { 0.0 };
            receipt_into(&mut graph, s, &honest.agents[k % 6], intent, value);
        }
        // And they send this node nothing but valid messages.
        let mut local = LocalReputation::default();
        for s in &sybils {
            for _ in 0..200 {
                local.observe(peer(s), Observation::Valid);
            }
        }
        let scores = graph.recompute(NOW).clone();
        let (new_score, new_reputation) = new_agent(&scores, &local);
        assert_eq!(new_score, NEUTRAL_RATING);
        for s in &sybils {
            let p = peer(s);
            assert!(
                scores.score(&p) <= new_score,
                "{pattern:?}: a Sybil scores {} above a new agent ({new_score})",
                scores.score(&p)
            );
            assert!(
                scores.reputation(&p, &local) <= new_reputation,
                "{pattern:?}"
            );
            assert_eq!(scores.global_trust(&p), 0.0, "{pattern:?}");
        }
        for (p, standing) in before.iter() {
            assert_eq!(scores.standing(p), Some(standing), "{pattern:?}: {p} moved");
        }
    }
}

#[test]
fn an_agent_rated_by_pre_trusted_peers_rises_above_a_new_agent() {
    let honest = Honest::new();
    let mut graph = TrustGraph::new(honest.config());
    honest.rate(&mut graph, &mut 0);
    let scores = graph.recompute(NOW).clone();
    let local = LocalReputation::default();
    let (new_score, new_reputation) = new_agent(&scores, &local);
    let a = |i: usize| peer(&honest.agents[i]);
    // Rated directly by this node or a seed.
    for i in [0, 1, 2] {
        assert!(scores.score(&a(i)) > new_score, "agent {i}");
        assert!(
            scores.reputation(&a(i), &local) > new_reputation,
            "agent {i}"
        );
        assert!(scores.global_trust(&a(i)) > 0.0);
    }
    // Rated by an agent a pre-trusted peer rated well: trust passes on.
    assert!(scores.score(&a(3)) > new_score);
    assert!(scores.score(&a(4)) > new_score);
    // Rated badly by a seed, with the delivery to prove it: below a new agent, no trust.
    assert!(scores.score(&a(5)) < new_score);
    assert_eq!(scores.global_trust(&a(5)), 0.0);
    // This node's own experience weighs more than anyone else's single receipt.
    assert!(scores.standing(&a(0)).unwrap().positive >= 1.8);
    // A forgery seen here pulls even a well-rated agent down.
    let mut local = LocalReputation::default();
    local.observe(a(1), Observation::Invalid);
    assert!(scores.reputation(&a(1), &local) < scores.score(&a(1)));
}

#[test]
fn more_good_receipts_from_trusted_raters_mean_more_confidence() {
    let me = PeerId::random();
    let (steady, once) = (PeerId::random(), PeerId::random());
    let mut graph = TrustGraph::new(Config::new(me));
    for k in 0..4 {
        graph
            .insert(rating(me, steady, k, 0.9, NOW - k), NOW)
            .unwrap();
    }
    graph.insert(rating(me, once, 10, 0.9, NOW), NOW).unwrap();
    let scores = graph.recompute(NOW);
    assert!(scores.score(&steady) > scores.score(&once));
    assert!(scores.score(&steady) < 0.9, "never above the mean rating");
    // A mediocre agent tends to its mean rating, not to 1.
    let mediocre = PeerId::random();
    let mut graph = TrustGraph::new(Config::new(me).with_receipts_per_pair(1000));
    for k in 0..1000 {
        graph
            .insert(rating(me, mediocre, k, 0.6, NOW), NOW)
            .unwrap();
    }
    let s = graph.recompute(NOW).score(&mediocre);
    assert!((s - 0.6).abs() < 0.01, "{s}");
}

// ---------------------------------------------------------------------------------------------
// The pair window, expiry and the caps

#[test]
fn one_pair_keeps_its_newest_distinct_negotiations() {
    let (me, agent) = (PeerId::random(), PeerId::random());
    let mut graph = TrustGraph::new(Config::new(me).with_receipts_per_pair(2));
    let r1 = rating(me, agent, 1, 0.9, NOW - 30);
    assert_eq!(graph.insert(r1, NOW), Ok(Outcome::Added));
    assert_eq!(graph.insert(r1, NOW), Ok(Outcome::Unchanged), "a duplicate");
    assert_eq!(
        graph.insert(rating(me, agent, 2, 0.8, NOW - 20), NOW),
        Ok(Outcome::Added)
    );
    // A third, newer negotiation pushes out the oldest; an older one is not taken.
    assert_eq!(
        graph.insert(rating(me, agent, 3, 0.7, NOW - 10), NOW),
        Ok(Outcome::Added)
    );
    assert!(!graph.contains(&me, &agent, &r1.negotiation_id));
    assert_eq!(graph.insert(r1, NOW), Ok(Outcome::Unchanged));
    // A second receipt of one negotiation: the newer counts.
    let mut again = rating(me, agent, 3, 0.1, NOW - 5);
    again.receipt_hash = [1; 32];
    assert_eq!(graph.insert(again, NOW), Ok(Outcome::Replaced));
    let mut older = again;
    older.rated_at_ms = NOW - 15;
    assert_eq!(graph.insert(older, NOW), Ok(Outcome::Unchanged));
    assert_eq!((graph.len(), graph.receipts(), graph.raters()), (1, 2, 1));
    let s = graph.recompute(NOW).standing(&agent).copied().unwrap();
    assert!((s.positive - 2.0 * (0.8 + 0.1)).abs() < 1e-12, "{s:?}");
}

#[test]
fn ratings_are_checked_and_old_ones_forgotten() {
    let (me, agent) = (PeerId::random(), PeerId::random());
    let mut graph = TrustGraph::new(Config::new(me));
    let max_age = graph.config().max_age().as_millis() as u64;
    assert!(matches!(
        graph.insert(rating(me, agent, 1, 1.5, NOW), NOW),
        Err(Refused::InvalidValue { .. })
    ));
    assert!(matches!(
        graph.insert(rating(me, agent, 1, f64::NAN, NOW), NOW),
        Err(Refused::InvalidValue { .. })
    ));
    assert!(matches!(
        graph.insert(rating(me, me, 1, 1.0, NOW), NOW),
        Err(Refused::SelfRating { .. })
    ));
    assert!(matches!(
        graph.insert(rating(me, agent, 1, 1.0, NOW - max_age), NOW),
        Err(Refused::Expired { .. })
    ));
    assert!(matches!(
        graph.insert(rating(me, agent, 1, 1.0, NOW + 600_000), NOW),
        Err(Refused::FromTheFuture { .. })
    ));
    graph.insert(rating(me, agent, 1, 1.0, NOW), NOW).unwrap();
    assert!(graph.is_dirty());
    assert!(graph.recompute(NOW).score(&agent) > NEUTRAL_RATING);
    assert!(!graph.is_dirty());
    // Ninety days later the receipt is gone and the agent is new again.
    let later = NOW + max_age;
    assert_eq!(graph.recompute(later).score(&agent), NEUTRAL_RATING);
    assert!(graph.is_empty());
    assert_eq!(graph.receipts(), 0);
}

#[test]
fn memory_stays_bounded_under_a_hundred_thousand_random_ratings() {
    let pool: Vec<PeerId> = (0..5_000).map(|_| PeerId::random()).collect();
    let config = Config::new(pool[0])
        .with_max_edges(10_000)
        .with_max_edges_per_rater(64);
    let mut graph = TrustGraph::new(config);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for k in 0..100_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (a, b) = ((x % 5_000) as usize, ((x >> 20) % 5_000) as usize);
        let (value, age) = (
            (x >> 40) as f64 / (1u64 << 24) as f64,
            (x >> 8) % (80 * DAY_MS),
        );
        let _ = graph.insert(rating(pool[a], pool[b], k, value, NOW - age), NOW);
        if k % 25_000 == 0 {
            graph.recompute(NOW);
        }
    }
    assert!(graph.len() <= 10_000, "{}", graph.len());
    assert!(graph.receipts() <= 4 * graph.len());
    assert!(pool.iter().all(|p| graph.ratees_of(p) <= 64));
    let scores = graph.recompute(NOW);
    assert!(scores.len() <= 2 * 10_000 + 1);

    // With the defaults, the same flood fits.
    let mut graph = TrustGraph::new(Config::new(pool[0]));
    for k in 0..100_000u64 {
        let (a, b) = (
            (k * 7919 % 5_000) as usize,
            (k * 104_729 % 4_999 + 1) as usize,
        );
        let _ = graph.insert(rating(pool[a], pool[(a + b) % 5_000], k, 1.0, NOW), NOW);
    }
    assert!(graph.len() <= graph.config().max_edges());
    assert!(graph.recompute(NOW).converged());
}

#[test]
fn a_flood_from_identities_without_trust_displaces_nothing_that_counts() {
    let me = PeerId::random();
    let agents: Vec<PeerId> = (0..50).map(|_| PeerId::random()).collect();
    let mut graph = TrustGraph::new(Config::new(me).with_max_edges(1_000));
    for (k, a) in agents.iter().enumerate() {
        graph
            .insert(rating(me, *a, k as u64, 0.9, NOW - 1_000), NOW)
            .unwrap();
        let next = agents[(k + 1) % agents.len()];
        graph
            .insert(rating(*a, next, 100 + k as u64, 0.8, NOW - 1_000), NOW)
            .unwrap();
    }
    let before = graph.recompute(NOW).clone();
    let mut refused = 0;
    for k in 0..100_000u64 {
        let (s, t) = (PeerId::random(), PeerId::random());
        if graph
            .insert(rating(s, t, 10_000 + k, 1.0, NOW), NOW)
            .is_err()
        {
            refused += 1;
        }
    }
    assert_eq!(graph.len(), 1_000);
    assert!(refused > 0);
    for (k, a) in agents.iter().enumerate() {
        let n = NegotiationId({
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(k as u64).to_be_bytes());
            id
        });
        assert!(
            graph.contains(&me, a, &n),
            "this node's own receipt was evicted"
        );
    }
    let after = graph.recompute(NOW).clone();
    for (p, standing) in before.iter() {
        assert_eq!(after.standing(p), Some(standing));
    }
    // Trusted raters still get in when the graph is full; untrusted ones give way.
    let newcomer = PeerId::random();
    assert_eq!(
        graph.insert(rating(agents[0], newcomer, 999_999, 1.0, NOW), NOW),
        Ok(Outcome::Added)
    );
    assert!(graph.recompute(NOW).score(&newcomer) > NEUTRAL_RATING);
}

// ---------------------------------------------------------------------------------------------
// (e) Batch verification

/// Signed material to build batch items from: completed negotiations between two pairs of
/// peers, rated well (no delivery needed) and badly (delivery needed), and a receipt signed by
/// an outsider about one of them.
struct Pool {
    negotiations: Vec<Negotiation>,
    outsider_receipt: Vec<u8>,
}

static POOL: std::sync::LazyLock<Pool> = std::sync::LazyLock::new(|| {
    let keys = keys(3);
    let inline = |text: &str| Delivery::inline("text/plain", text.to_owned());
    let negotiations = vec![
        completed(&keys[0], &keys[1], 1, 0.9),
        completed(&keys[0], &keys[1], 2, 0.2),
        completed_with(&keys[1], &keys[0], 3, 0.0, inline("nothing"), NOW),
        completed_with(
            &keys[1],
            &keys[0],
            4,
            NEUTRAL_RATING,
            inline("done"),
            NOW - DAY_MS,
        ),
        completed_with(&keys[0], &keys[1], 5, 1.0, inline("late"), NOW + 600_000),
    ];
    let outsider_receipt = forged_receipt(&keys[2], |_| {}, &negotiations[0]);
    Pool {
        negotiations,
        outsider_receipt,
    }
});

/// One item of a batch, built from [`POOL`]; `n` picks a negotiation.
#[derive(Debug, Clone)]
enum Item {
    /// As minimal disclosure or full disclosure publishes it.
    Valid { n: usize, with_delivery: bool },
    /// The last byte (of the signature) of the receipt envelope flipped.
    ForgedReceipt { n: usize, with_delivery: bool },
    /// The last byte (of the signature) of the delivery envelope flipped.
    ForgedDelivery { n: usize },
    /// Any byte of a valid attestation changed.
    Flipped {
        n: usize,
        index: prop::sample::Index,
        xor: u8,
    },
    /// Cut short.
    Truncated {
        n: usize,
        index: prop::sample::Index,
    },
    /// Any bytes at all.
    Garbage(Vec<u8>),
    /// Larger than any attestation.
    Oversize,
    /// An unknown field appended to the attestation.
    NonCanonical { n: usize },
    /// An unknown field appended to the receipt or the delivery envelope; signatures valid.
    NonCanonicalEnvelope { n: usize, in_delivery: bool },
    /// Validly signed messages in the wrong places: the delivery as receipt, the accept as
    /// delivery, or the offer alone.
    WrongKind { n: usize, which: u8 },
    /// A receipt without its delivery, or with another negotiation's.
    Unproven { n: usize, other: usize },
    /// A receipt an outsider signed about a negotiation it is no party to.
    Outsider,
}

impl Item {
    fn bytes(&self) -> Vec<u8> {
        let pool = &*POOL;
        let envelopes = |n: usize| pool.negotiations[n % pool.negotiations.len()].transcript();
        let parts = |n: usize| {
            let e = envelopes(n).envelopes();
            (e[3].clone(), e[2].clone())
        };
        let with = |receipt: Vec<u8>, deliver: Option<Vec<u8>>| {
            ReceiptAttestation::new(receipt, deliver).encode()
        };
        let flip_last = |mut bytes: Vec<u8>| {
            if let Some(last) = bytes.last_mut() {
                *last ^= 0x01;
            }
            bytes
        };
        let unknown_field = |bytes: Vec<u8>| [bytes, vec![0x20, 0x01]].concat();
        let disclosure = |with_delivery: bool| {
            if with_delivery {
                Disclosure::WithDelivery
            } else {
                Disclosure::Minimal
            }
        };
        match self {
            Item::Valid { n, with_delivery } => attest(
                &pool.negotiations[n % pool.negotiations.len()],
                disclosure(*with_delivery),
            ),
            Item::ForgedReceipt { n, with_delivery } => {
                let (receipt, deliver) = parts(*n);
                with(flip_last(receipt), with_delivery.then_some(deliver))
            }
            Item::ForgedDelivery { n } => {
                let (receipt, deliver) = parts(*n);
                with(receipt, Some(flip_last(deliver)))
            }
            Item::Flipped { n, index, xor } => {
                let mut bytes = Item::Valid {
                    n: *n,
                    with_delivery: true,
                }
                .bytes();
                let i = index.index(bytes.len());
                bytes[i] ^= (*xor).max(1);
                bytes
            }
            Item::Truncated { n, index } => {
                let mut bytes = Item::Valid {
                    n: *n,
                    with_delivery: true,
                }
                .bytes();
                bytes.truncate(index.index(bytes.len()));
                bytes
            }
            Item::Garbage(bytes) => bytes.clone(),
            Item::Oversize => vec![0x0a; mesh_core::trust::MAX_ATTESTATION_BYTES + 1],
            Item::NonCanonical { n } => unknown_field(
                Item::Valid {
                    n: *n,
                    with_delivery: true,
                }
                .bytes(),
            ),
            Item::NonCanonicalEnvelope { n, in_delivery } => {
                let (receipt, deliver) = parts(*n);
                if *in_delivery {
                    with(receipt, Some(unknown_field(deliver)))
                } else {
                    with(unknown_field(receipt), Some(deliver))
                }
            }
            Item::WrongKind { n, which } => {
                let e = envelopes(*n).envelopes();
                match which % 3 {
                    0 => with(e[2].clone(), Some(e[3].clone())),
                    1 => with(e[3].clone(), Some(e[1].clone())),
                    _ => with(e[0].clone(), None),
                }
            }
            Item::Unproven { n, other } => {
                let (receipt, _) = parts(*n);
                let (_, deliver) = parts(*other);
                with(receipt, (n != other).then_some(deliver))
            }
            Item::Outsider => {
                let (_, deliver) = parts(0);
                with(pool.outsider_receipt.clone(), Some(deliver))
            }
        }
    }
}

/// Items whose signatures are all valid, or that never reach a signature check: a batch of
/// them holds.
fn signed_item() -> impl Strategy<Value = Item> {
    let n = 0..8usize;
    prop_oneof![
        6 => (n.clone(), any::<bool>())
            .prop_map(|(n, with_delivery)| Item::Valid { n, with_delivery }),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Item::Garbage),
        1 => Just(Item::Oversize),
        1 => n.clone().prop_map(|n| Item::NonCanonical { n }),
        1 => (n.clone(), any::<bool>())
            .prop_map(|(n, in_delivery)| Item::NonCanonicalEnvelope { n, in_delivery }),
        1 => (n.clone(), any::<u8>()).prop_map(|(n, which)| Item::WrongKind { n, which }),
        1 => (n.clone(), n).prop_map(|(n, other)| Item::Unproven { n, other }),
        1 => Just(Item::Outsider),
    ]
}

/// Any item, forged signatures and random damage included.
fn any_item() -> impl Strategy<Value = Item> {
    let n = 0..8usize;
    prop_oneof![
        4 => signed_item(),
        1 => (n.clone(), any::<bool>())
            .prop_map(|(n, with_delivery)| Item::ForgedReceipt { n, with_delivery }),
        1 => n.clone().prop_map(|n| Item::ForgedDelivery { n }),
        1 => (n.clone(), any::<prop::sample::Index>(), any::<u8>())
            .prop_map(|(n, index, xor)| Item::Flipped { n, index, xor }),
        1 => (n, any::<prop::sample::Index>()).prop_map(|(n, index)| Item::Truncated { n, index }),
    ]
}

/// `verify_batch` of `items` at `now`, against `verify` of each alone.
fn assert_batch_is_one_by_one(items: &[Vec<u8>], now: u64) -> Result<(), TestCaseError> {
    let slices: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    let batch = ReceiptAttestation::verify_batch(&slices, now);
    prop_assert_eq!(batch.len(), items.len());
    for (i, (bytes, batched)) in items.iter().zip(&batch).enumerate() {
        let alone = ReceiptAttestation::verify(bytes, now);
        prop_assert_eq!(batched, &alone, "item {} of {}", i, items.len());
        if let (Err(batched), Err(alone)) = (batched, &alone) {
            prop_assert_eq!(batched.to_string(), alone.to_string());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Item for item, the batch returns what verifying each alone returns, whether the batch
    /// holds (every signature valid) or not (forged and damaged items in it).
    #[test]
    fn batch_verification_is_verification_one_by_one(
        items in prop_oneof![
            proptest::collection::vec(signed_item(), 0..40),
            proptest::collection::vec(any_item(), 0..40),
        ],
        now in prop_oneof![
            8 => Just(NOW + 10),
            1 => Just(NOW - 3_600_000),
            1 => Just(NOW + 400 * DAY_MS),
        ],
    ) {
        let items: Vec<Vec<u8>> = items.iter().map(Item::bytes).collect();
        assert_batch_is_one_by_one(&items, now)?;
    }
}

/// Every kind of item in one batch: what each one becomes, and the same as one by one.
#[test]
fn a_batch_sorts_every_kind_of_item_as_one_by_one() {
    let items = [
        Item::Valid {
            n: 0,
            with_delivery: false,
        },
        Item::Valid {
            n: 1,
            with_delivery: false,
        },
        Item::Valid {
            n: 2,
            with_delivery: true,
        },
        Item::Valid {
            n: 3,
            with_delivery: true,
        },
        Item::ForgedReceipt {
            n: 0,
            with_delivery: true,
        },
        Item::ForgedDelivery { n: 1 },
        Item::NonCanonical { n: 2 },
        Item::NonCanonicalEnvelope {
            n: 3,
            in_delivery: false,
        },
        Item::NonCanonicalEnvelope {
            n: 3,
            in_delivery: true,
        },
        Item::WrongKind { n: 0, which: 0 },
        Item::WrongKind { n: 0, which: 1 },
        Item::Unproven { n: 1, other: 1 },
        Item::Unproven { n: 1, other: 2 },
        Item::Outsider,
        Item::Oversize,
        Item::Garbage(b"not an attestation".to_vec()),
        Item::Valid {
            n: 4,
            with_delivery: false,
        },
    ];
    let encoded: Vec<Vec<u8>> = items.iter().map(Item::bytes).collect();
    let slices: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    let batch = ReceiptAttestation::verify_batch(&slices, NOW + 10);
    let kinds: Vec<String> = batch
        .iter()
        .map(|r| match r {
            Ok(v) => format!("ok {}", v.proves_delivery()),
            Err(e) => format!("{e:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap_or("")
                .to_owned(),
        })
        .collect();
    assert_eq!(
        batch[4],
        Err(AttestationError::Receipt(NegotiationError::BadSignature))
    );
    assert_eq!(
        batch[5],
        Err(AttestationError::Deliver(NegotiationError::BadSignature))
    );
    assert_eq!(
        batch[7],
        Err(AttestationError::Receipt(NegotiationError::NonCanonical))
    );
    assert_eq!(
        batch[8],
        Err(AttestationError::Deliver(NegotiationError::NonCanonical))
    );
    assert_eq!(
        kinds,
        [
            "ok false",
            "ok true",
            "ok true",
            "ok true",
            "Receipt",
            "Deliver",
            "NonCanonical",
            "Receipt",
            "Deliver",
            "NotAReceipt",
            "NotADelivery",
            "MissingDelivery",
            "Unchained",
            "NotThePublisher",
            "TooLarge",
            "Malformed",
            "FromTheFuture",
        ]
    );
    assert_batch_is_one_by_one(&encoded, NOW + 10).expect("the batch is one by one");
}
