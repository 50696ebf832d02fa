//! Micro-benchmarks of MESH's signing and verification paths, on one core.
//!
//! Run with `cargo bench -p mesh-core --bench envelope` (see docs/BENCHMARKS.md). Every
//! benchmark counts one element per operation, so criterion prints operations per second.
//!
//! Groups:
//! - `ed25519_raw`: the baseline, `Keypair::sign` / `PublicKey::verify` of exactly the bytes a
//!   `SignedEnvelope` signs for the intent (RFC 0002 domain-separated buffer).
//! - `envelope`: `envelope::seal` / `envelope::open` of the same intent payload.
//! - `proto`: prost encode / decode of `mesh.v1.Intent`.
//! - `intent`: the whole pipeline, `Intent::sign` and `SignedIntent::verify` (signature, schema,
//!   size and expiry checks).
//! - `agent_record`: `AgentRecord::sign` and `SignedAgentRecord::verify`.
//! - `batch`: many small intents from as many publishers, as in an IDP catch-up answer:
//!   `SignedIntent::verify` of each against one `SignedIntent::verify_batch` (64 and 256),
//!   `envelope::open` of each against one `envelope::open_batch` (64), and a batch of 64 with
//!   one forged signature (the fallback). These count one element per intent.
//!
//! Sizes: `small` is a typical intent (a ~300-byte envelope), `large` carries the largest inline
//! payload allowed, 48 KiB.

#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use libp2p::identity::Keypair;
use mesh_core::agent_record::RECORD_TTL;
use mesh_core::envelope::{self, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE};
use mesh_core::intent::{MAX_INTENT_ENVELOPE_BYTES, MAX_PAYLOAD_BYTES};
use mesh_core::{AgentRecord, Budget, Capability, Intent, SignedAgentRecord, SignedIntent, Skill};
use mesh_proto::v1;
use prost::Message;

/// A fixed signing time; verification happens one second later, well inside the TTL.
const NOW: u64 = 1_700_000_000_000;
const LATER: u64 = NOW + 1_000;

/// A typical intent: one capability, a title, a short description, a budget, a small payload.
fn small_intent() -> Intent {
    Intent::new("Summarise this PDF")
        .capabilities(["text-generation"])
        .description("Ten pages of a quarterly report; plain English, at most 200 words.")
        .payload("text/plain", b"https://example.org/reports/q3.pdf".to_vec())
        .budget(Budget::new("2.50", "USD"))
        .ttl(Duration::from_secs(600))
}

/// The same intent with the largest inline payload allowed (48 KiB).
fn large_intent() -> Intent {
    let data: Vec<u8> = (0..MAX_PAYLOAD_BYTES).map(|i| (i % 251) as u8).collect();
    small_intent().payload("application/pdf", data)
}

fn record() -> AgentRecord {
    AgentRecord {
        name: "scribe".into(),
        capabilities: vec![
            Capability::new("text-generation").expect("valid capability"),
            Capability::new("data-analysis").expect("valid capability"),
        ],
        skills: vec![Skill {
            id: "summarise".into(),
            name: "Summarise".into(),
            description: "Summaries of long documents".into(),
            tags: vec!["pdf".into(), "english".into()],
        }],
        addresses: vec![
            "/ip4/127.0.0.1/tcp/7701".parse().expect("valid multiaddr"),
            "/ip4/127.0.0.1/udp/7701/quic-v1"
                .parse()
                .expect("valid multiaddr"),
        ],
        load: 0.25,
    }
}

/// Unsigned LEB128, as `unsigned_varint` writes it.
fn varint(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The exact bytes `SignedEnvelope::new` signs: domain, payload type and payload, each prefixed
/// by its varint length (libp2p RFC 0002).
fn signature_buffer(domain: &str, payload_type: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(domain.len() + payload_type.len() + payload.len() + 16);
    varint(domain.len(), &mut buf);
    buf.extend_from_slice(domain.as_bytes());
    varint(payload_type.len(), &mut buf);
    buf.extend_from_slice(payload_type);
    varint(payload.len(), &mut buf);
    buf.extend_from_slice(payload);
    buf
}

struct Fixture {
    name: &'static str,
    intent: Intent,
    /// The protobuf-encoded `mesh.v1.Intent` as signed.
    wire: v1::Intent,
    payload: Vec<u8>,
    envelope: Vec<u8>,
}

fn fixtures(key: &Keypair) -> Vec<Fixture> {
    [("small", small_intent()), ("large", large_intent())]
        .into_iter()
        .map(|(name, intent)| {
            let signed = intent.sign(key, NOW).expect("fixture intent signs");
            let payload = signed.content.encode_to_vec();
            Fixture {
                name,
                intent,
                wire: signed.content,
                payload,
                envelope: signed.envelope,
            }
        })
        .collect()
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        // Text output only: the HTML plots cost more time than they are worth here.
        .without_plots()
}

fn report_sizes(fixtures: &[Fixture]) {
    for f in fixtures {
        eprintln!(
            "fixture {}: intent payload {} B, envelope {} B",
            f.name,
            f.payload.len(),
            f.envelope.len()
        );
    }
}

fn bench_ed25519_raw(c: &mut Criterion) {
    let key = Keypair::generate_ed25519();
    let public = key.public();
    let fixtures = fixtures(&key);
    report_sizes(&fixtures);
    let mut group = c.benchmark_group("ed25519_raw");
    group.throughput(Throughput::Elements(1));
    for f in &fixtures {
        let buffer = signature_buffer(INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, &f.payload);
        let signature = key.sign(&buffer).expect("ed25519 signs");
        assert!(public.verify(&buffer, &signature));
        group.bench_with_input(BenchmarkId::new("sign", f.name), &buffer, |b, buf| {
            b.iter(|| key.sign(black_box(buf)).expect("ed25519 signs"))
        });
        group.bench_with_input(BenchmarkId::new("verify", f.name), &buffer, |b, buf| {
            b.iter(|| assert!(public.verify(black_box(buf), black_box(&signature))))
        });
    }
    group.finish();
}

fn bench_envelope(c: &mut Criterion) {
    let key = Keypair::generate_ed25519();
    let fixtures = fixtures(&key);
    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Elements(1));
    for f in &fixtures {
        // `seal` takes the payload by value, as `Intent::sign` hands over its encoding; the clone
        // is part of what a caller pays.
        group.bench_with_input(BenchmarkId::new("seal", f.name), &f.payload, |b, p| {
            b.iter(|| {
                envelope::seal(
                    &key,
                    INTENT_DOMAIN,
                    INTENT_PAYLOAD_TYPE,
                    black_box(p).clone(),
                )
                .expect("seal")
            })
        });
        group.bench_with_input(BenchmarkId::new("open", f.name), &f.envelope, |b, e| {
            b.iter(|| {
                envelope::open(
                    black_box(e),
                    MAX_INTENT_ENVELOPE_BYTES,
                    INTENT_DOMAIN,
                    INTENT_PAYLOAD_TYPE,
                )
                .expect("open")
            })
        });
    }
    group.finish();
}

fn bench_proto(c: &mut Criterion) {
    let key = Keypair::generate_ed25519();
    let fixtures = fixtures(&key);
    let mut group = c.benchmark_group("proto");
    group.throughput(Throughput::Elements(1));
    for f in &fixtures {
        group.bench_with_input(BenchmarkId::new("encode", f.name), &f.wire, |b, w| {
            b.iter(|| black_box(w).encode_to_vec())
        });
        group.bench_with_input(BenchmarkId::new("decode", f.name), &f.payload, |b, p| {
            b.iter(|| v1::Intent::decode(black_box(p.as_slice())).expect("decode"))
        });
    }
    group.finish();
}

fn bench_intent(c: &mut Criterion) {
    let key = Keypair::generate_ed25519();
    let fixtures = fixtures(&key);
    let mut group = c.benchmark_group("intent");
    group.throughput(Throughput::Elements(1));
    for f in &fixtures {
        group.bench_with_input(BenchmarkId::new("sign", f.name), &f.intent, |b, i| {
            b.iter(|| black_box(i).sign(&key, NOW).expect("sign"))
        });
        group.bench_with_input(BenchmarkId::new("verify", f.name), &f.envelope, |b, e| {
            b.iter(|| SignedIntent::verify(black_box(e), LATER).expect("verify"))
        });
    }
    group.finish();
}

fn bench_agent_record(c: &mut Criterion) {
    let key = Keypair::generate_ed25519();
    let peer = key.public().to_peer_id();
    let record = record();
    let signed = record
        .sign(&key, 1, NOW, RECORD_TTL)
        .expect("fixture record signs");
    eprintln!("fixture agent record: envelope {} B", signed.envelope.len());
    let mut group = c.benchmark_group("agent_record");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign", |b| {
        b.iter(|| {
            black_box(&record)
                .sign(&key, 1, NOW, RECORD_TTL)
                .expect("sign")
        })
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            SignedAgentRecord::verify(black_box(&signed.envelope), Some(peer), LATER)
                .expect("verify")
        })
    });
    group.finish();
}

fn bench_batch(c: &mut Criterion) {
    const MOST: usize = 256;
    let envelopes: Vec<Vec<u8>> = (0..MOST)
        .map(|_| {
            small_intent()
                .sign(&Keypair::generate_ed25519(), NOW)
                .expect("fixture intent signs")
                .envelope
        })
        .collect();
    let refs: Vec<&[u8]> = envelopes.iter().map(Vec::as_slice).collect();
    assert!(
        SignedIntent::verify_batch(&refs, LATER)
            .iter()
            .all(Result::is_ok)
    );
    // The same 64 with the amount of one changed after signing.
    let mut forged = envelopes[..64].to_vec();
    let at = forged[17]
        .windows(4)
        .position(|w| w == b"2.50")
        .expect("amount in the envelope");
    forged[17][at] = b'9';
    let forged_refs: Vec<&[u8]> = forged.iter().map(Vec::as_slice).collect();

    let mut group = c.benchmark_group("batch");
    group.measurement_time(Duration::from_secs(5));
    for n in [64usize, 256] {
        let items = &refs[..n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(
            BenchmarkId::new("intent_verify_each", n),
            items,
            |b, items| {
                b.iter(|| {
                    for e in items {
                        SignedIntent::verify(black_box(e), LATER).expect("verify");
                    }
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("intent_verify_batch", n),
            items,
            |b, items| b.iter(|| SignedIntent::verify_batch(black_box(items), LATER)),
        );
    }
    group.throughput(Throughput::Elements(64));
    group.bench_with_input(
        BenchmarkId::new("intent_verify_batch_one_forged", 64),
        &forged_refs,
        |b, items| b.iter(|| SignedIntent::verify_batch(black_box(items), LATER)),
    );
    let items = &refs[..64];
    group.bench_with_input(
        BenchmarkId::new("envelope_open_each", 64),
        items,
        |b, items| {
            b.iter(|| {
                for e in items {
                    envelope::open(
                        black_box(e),
                        MAX_INTENT_ENVELOPE_BYTES,
                        INTENT_DOMAIN,
                        INTENT_PAYLOAD_TYPE,
                    )
                    .expect("open");
                }
            })
        },
    );
    group.bench_with_input(
        BenchmarkId::new("envelope_open_batch", 64),
        items,
        |b, items| {
            b.iter(|| {
                envelope::open_batch(
                    black_box(items),
                    MAX_INTENT_ENVELOPE_BYTES,
                    INTENT_DOMAIN,
                    INTENT_PAYLOAD_TYPE,
                )
            })
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_ed25519_raw, bench_envelope, bench_proto, bench_intent, bench_agent_record,
        bench_batch
}
criterion_main!(benches);
