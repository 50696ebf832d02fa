//! The intent validation pipeline of a node, per gossip message, on one core.
//!
//! Run with `cargo bench -p mesh-net --bench validation` (see docs/BENCHMARKS.md). Each
//! iteration is one message, so criterion prints messages per second.
//!
//! - `pipeline/anonymous`: what a MESH node does for each intent a peer forwards: the gossipsub
//!   message id (SHA-256 of topic and data), `idp::validate` (envelope decode, Ed25519
//!   signature, payload decode, publisher and schema rules, size, expiry, topic among the
//!   intent's capabilities) and the replay check against the ids already seen.
//! - `pipeline/with_gossipsub_signature`: the same plus a second Ed25519 verification of the
//!   same size, which is what gossipsub's own author signature (`ValidationMode::Strict`) adds
//!   per message: the baseline MESH measured itself against when it dropped it.
//! - `ed25519_verify`: one raw verification of the envelope's signed bytes, the floor.

#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use libp2p::identity::Keypair;
use mesh_core::{Budget, Intent};
use mesh_net::idp::{self, SeenIntents, Verdict};
use sha2::{Digest, Sha256};

const NOW: u64 = 1_700_000_000_000;
const LATER: u64 = NOW + 1_000;
const TOPIC: &str = "mesh/intents/1/text-generation";

fn intent() -> Intent {
    Intent::new("Summarise this PDF")
        .capabilities(["text-generation"])
        .description("Ten pages of a quarterly report; plain English, at most 200 words.")
        .payload("text/plain", b"https://example.org/reports/q3.pdf".to_vec())
        .budget(Budget::new("2.50", "USD"))
        .ttl(Duration::from_secs(600))
}

fn message_id(topic: &str, data: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(topic.as_bytes());
    h.update([0u8]);
    h.update(data);
    h.finalize().to_vec()
}

fn bench(c: &mut Criterion) {
    let key = Keypair::generate_ed25519();
    let envelope = intent().sign(&key, NOW).expect("intent signs").envelope;
    let gossip_signature = key.sign(&envelope).expect("sign");
    eprintln!("envelope: {} bytes", envelope.len());

    let public = key.public();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(1));
    // The replay check inserts a new id each time, as for a new intent, so the bounded cache
    // also evicts once full.
    let mut seen = SeenIntents::default();
    let mut n = 0u64;
    let mut admit = |intent: &mesh_core::SignedIntent| {
        n += 1;
        let mut fresh = intent.id.0;
        fresh[..8].copy_from_slice(&n.to_le_bytes());
        seen.insert(fresh, intent.content.expires_at_ms)
    };
    g.bench_function("anonymous", |b| {
        b.iter(|| {
            black_box(message_id(TOPIC, black_box(&envelope)));
            let Verdict::Accept(intent) = idp::validate(TOPIC, black_box(&envelope), LATER) else {
                panic!("the fixture intent is valid")
            };
            black_box(admit(&intent))
        })
    });
    g.bench_function("with_gossipsub_signature", |b| {
        b.iter(|| {
            assert!(public.verify(black_box(&envelope), &gossip_signature));
            black_box(message_id(TOPIC, black_box(&envelope)));
            let Verdict::Accept(intent) = idp::validate(TOPIC, black_box(&envelope), LATER) else {
                panic!("the fixture intent is valid")
            };
            black_box(admit(&intent))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("ed25519_verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("envelope_bytes", |b| {
        b.iter(|| assert!(public.verify(black_box(&envelope), &gossip_signature)))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
