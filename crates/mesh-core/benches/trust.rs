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

fn verify(c: &mut Criterion) {
    let (publisher, agent) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let mut n = Negotiation::new(
        IntentId([7; 32]),
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
    n.send(Body::Offer(offer), &agent, NOW).expect("offer");
    n.send(Body::Accept, &publisher, NOW).expect("accept");
    let delivery = Delivery::inline("text/plain", "The report finds that demand grew 12%.");
    n.send(Body::Deliver(delivery), &agent, NOW)
        .expect("deliver");
    n.send(Body::Receipt(Receipt::new(0.9)), &publisher, NOW)
        .expect("receipt");
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

criterion_group!(benches, recompute, insert, verify);
criterion_main!(benches);
