//! Benchmarks of the reputation model, on one core.
//!
//! Run with `cargo bench -p mesh-core --bench trust`.
//!
//! Groups:
//! - `trust_recompute`: `TrustGraph::recompute` (prune, EigenTrust iteration, rater weights,
//!   evidence) over 1,000 peers and 10,000 pairs, and 10,000 peers and 100,000 pairs: this node
//!   and 8 pre-trusted seeds rate 50 agents each, every peer rates 10 others (ratings mostly
//!   good, a tenth at or below neutral), and a tenth of the peers form a Sybil region rating
//!   only each other. The graph holds up to twice as many pairs, so no cap is reached.
//! - `trust_insert`: `TrustGraph::insert` of one new rating into the larger graph.
//! - `attestation_verify`: `ReceiptAttestation::verify` of a receipt alone and of a receipt
//!   with its delivery (two signature checks).
//! - `attestation_verify_256`: a catch-up page of 256 attestations of distinct negotiations,
//!   verified one by one (`ReceiptAttestation::verify`) and at once
//!   (`ReceiptAttestation::verify_batch`), as minimal disclosure publishes them (the delivery
//!   for the quarter rated below neutral) and all with their deliveries; and at once with one
//!   forged receipt signature in the page.

#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mesh_core::negotiation::{
    Body, Config as NegotiationConfig, Delivery, Eta, Negotiation, NegotiationId, Price, Proposal,
    Receipt,
};
use mesh_core::trust::{Config, Disclosure, Rating, ReceiptAttestation, TrustGraph};
use mesh_core::{IntentId, Keypair, PeerId};

const NOW: u64 = 1_700_000_000_000;

/// A xorshift generator: the same graph on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn rating(rater: PeerId, ratee: PeerId, k: u64, value: f64, at: u64) -> Rating {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&k.to_be_bytes());
    Rating {
        rater,
        ratee,
        negotiation_id: NegotiationId(id),
        value,
        rated_at_ms: at,
        receipt_hash: id,
    }
}

/// `peers` peers with about `10 * peers` pairs, as described in the module documentation.
fn graph(peers: usize) -> (TrustGraph, Vec<PeerId>) {
    let pool: Vec<PeerId> = (0..peers).map(|_| PeerId::random()).collect();
    let me = pool[0];
    let seeds = &pool[1..9];
    let config = Config::new(me)
        .with_pre_trusted(seeds.iter().copied())
        .with_max_edges(2 * 10 * peers);
    let mut graph = TrustGraph::new(config);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let honest = peers - peers / 10;
    let mut k = 0u64;
    let mut add = |graph: &mut TrustGraph, rater: PeerId, ratee: PeerId, rng: &mut Rng| {
        if rater == ratee {
            return;
        }
        k += 1;
        let value = if rng.below(10) == 0 {
            rng.below(51) as f64 / 100.0
        } else {
            0.6 + rng.below(41) as f64 / 100.0
        };
        let age = rng.next() % (60 * 24 * 3600 * 1000);
        let _ = graph.insert(rating(rater, ratee, k, value, NOW - age), NOW);
    };
    for &rater in std::iter::once(&me).chain(seeds) {
        for _ in 0..50 {
            let ratee = pool[9 + rng.below(honest - 9)];
            add(&mut graph, rater, ratee, &mut rng);
        }
    }
    for i in 9..peers {
        let (lo, hi) = if i < honest {
            (9, honest)
        } else {
            (honest, peers)
        };
        for _ in 0..10 {
            let ratee = pool[lo + rng.below(hi - lo)];
            add(&mut graph, pool[i], ratee, &mut rng);
        }
    }
    (graph, pool)
}

fn recompute(c: &mut Criterion) {
    let mut group = c.benchmark_group("trust_recompute");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for peers in [1_000, 10_000] {
        let (mut graph, _) = graph(peers);
        graph.recompute(NOW);
        let scores = graph.scores();
        eprintln!(
            "{peers} peers: {} pairs, {} receipts, {} raters; {} iterations, converged: {}",
            graph.len(),
            graph.receipts(),
            graph.raters(),
            scores.iterations(),
            scores.converged()
        );
        if let Some(cpu) = cpu_ms_per_recompute(&mut graph, 10) {
            eprintln!("{peers} peers: {cpu:.1} ms of CPU per recompute (this thread)");
        }
        group.throughput(Throughput::Elements(graph.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(peers), &peers, |b, _| {
            b.iter(|| black_box(graph.recompute(NOW).len()))
        });
    }
    group.finish();
}

/// CPU time of this thread per recompute, from `/proc/thread-self/schedstat` (Linux): unlike
/// wall time, it does not grow when other processes share the cores.
fn cpu_ms_per_recompute(graph: &mut TrustGraph, runs: u32) -> Option<f64> {
    let cpu_ns = || -> Option<u64> {
        let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        text.split_whitespace().next()?.parse().ok()
    };
    let start = cpu_ns()?;
    for _ in 0..runs {
        black_box(graph.recompute(NOW).len());
    }
    Some((cpu_ns()? - start) as f64 / 1e6 / f64::from(runs))
}

fn insert(c: &mut Criterion) {
    let (mut graph, pool) = graph(10_000);
    graph.recompute(NOW);
    let mut rng = Rng(7);
    let mut k = 1u64 << 40;
    let mut group = c.benchmark_group("trust_insert");
    group.throughput(Throughput::Elements(1));
    group.bench_function("new_pair", |b| {
        b.iter(|| {
            k += 1;
            let (a, z) = (pool[rng.below(pool.len())], pool[rng.below(pool.len())]);
            black_box(graph.insert(rating(a, z, k, 0.9, NOW), NOW).ok())
        })
    });
    group.finish();
}

/// A negotiation between `publisher` and `agent` on intent `intent`, run to its receipt.
fn completed(publisher: &Keypair, agent: &Keypair, intent: u8, rating: f64) -> Negotiation {
    let mut n = Negotiation::new(
        IntentId([intent; 32]),
        publisher.public().to_peer_id(),
        agent.public().to_peer_id(),
        NegotiationConfig::default(),
        NOW,
    )
    .expect("negotiation");
    let offer = Proposal::new(
        Price::new("2", "USD").expect("price"),
        Eta::Within(Duration::from_secs(60)),
    );
    n.send(Body::Offer(offer), agent, NOW).expect("offer");
    n.send(Body::Accept, publisher, NOW).expect("accept");
    let delivery = Delivery::inline("text/plain", "The report finds that demand grew 12%.");
    n.send(Body::Deliver(delivery), agent, NOW)
        .expect("deliver");
    n.send(Body::Receipt(Receipt::new(rating)), publisher, NOW)
        .expect("receipt");
    n
}

fn verify(c: &mut Criterion) {
    let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let n = completed(&publisher, &agent, 7, 0.9);
    let mut group = c.benchmark_group("attestation_verify");
    group.throughput(Throughput::Elements(1));
    for (name, disclosure) in [
        ("receipt", Disclosure::Minimal),
        ("with_delivery", Disclosure::WithDelivery),
    ] {
        let bytes = ReceiptAttestation::from_transcript(n.transcript(), disclosure)
            .expect("attestation")
            .encode();
        group.bench_function(name, |b| {
            b.iter(|| black_box(ReceiptAttestation::verify(&bytes, NOW).is_ok()))
        });
    }
    group.finish();
}

/// Attestations in one page of a catch-up answer.
const PAGE: usize = 256;

/// `PAGE` attestations of distinct negotiations between distinct peers, as `disclosure`
/// publishes them (rated 0.9, or 0.3 for one in four).
fn page(disclosure: Disclosure) -> Vec<Vec<u8>> {
    (0..PAGE)
        .map(|i| {
            let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
            let rating = if i % 4 == 0 { 0.3 } else { 0.9 };
            let n = completed(&publisher, &agent, (i % 256) as u8, rating);
            ReceiptAttestation::from_transcript(n.transcript(), disclosure)
                .expect("attestation")
                .encode()
        })
        .collect()
}

fn verify_page(c: &mut Criterion) {
    let mut group = c.benchmark_group("attestation_verify_256");
    group.sample_size(20);
    group.throughput(Throughput::Elements(PAGE as u64));
    for (name, disclosure) in [
        ("minimal", Disclosure::Minimal),
        ("with_delivery", Disclosure::WithDelivery),
    ] {
        let encoded = page(disclosure);
        let items: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        let batch = ReceiptAttestation::verify_batch(&items, NOW);
        assert!(
            batch.iter().all(Result::is_ok),
            "every attestation verifies"
        );
        group.bench_function(BenchmarkId::new("one_by_one", name), |b| {
            b.iter(|| {
                items
                    .iter()
                    .filter(|bytes| ReceiptAttestation::verify(bytes, NOW).is_ok())
                    .count()
            })
        });
        group.bench_function(BenchmarkId::new("batch", name), |b| {
            b.iter(|| count_verified(&items))
        });
    }
    // One receipt signature of the page changed: the batch fails and every envelope of it is
    // checked again alone.
    let mut encoded = page(Disclosure::Minimal);
    let forged = ReceiptAttestation::decode(&encoded[1]).expect("an attestation");
    let mut receipt = forged.receipt().to_vec();
    if let Some(last) = receipt.last_mut() {
        *last ^= 0x01;
    }
    encoded[1] = ReceiptAttestation::new(receipt, forged.deliver().map(<[u8]>::to_vec)).encode();
    let items: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    assert_eq!(count_verified(&items), PAGE - 1, "one forged attestation");
    group.bench_function(BenchmarkId::new("batch", "minimal_one_forged"), |b| {
        b.iter(|| count_verified(&items))
    });
    group.finish();
}

/// How many of `items` [`ReceiptAttestation::verify_batch`] accepts.
fn count_verified(items: &[&[u8]]) -> usize {
    ReceiptAttestation::verify_batch(items, NOW)
        .iter()
        .filter(|verified| verified.is_ok())
        .count()
}

criterion_group!(benches, recompute, insert, verify, verify_page);
criterion_main!(benches);
