//! The cost of a proof-of-work stamp on an honest publisher, and of checking one.
//!
//! `cargo bench -p mesh-core --bench work` (see docs/BENCHMARKS.md). `stamp/D` signs a typical
//! intent with a stamp of D leading zero bits (`Intent::sign_with_work`), D = 0 being the
//! plain signature, the baseline; the time grows as 2^D on average, with a geometric spread.
//! `check` is what every node adds to validation when the network asks for a stamp.

#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use libp2p::identity::Keypair;
use mesh_core::{Budget, Intent, SignedIntent};

const NOW: u64 = 1_700_000_000_000;

fn typical() -> Intent {
    Intent::new("Summarise this PDF")
        .capabilities(["text-generation"])
        .description("Ten pages, plain English, under 300 words")
        .payload("text/plain", vec![b'x'; 160])
        .budget(Budget::new("2.50", "USD"))
}

fn stamp(c: &mut Criterion) {
    let key = Keypair::generate_ed25519();
    let intent = typical();
    let mut group = c.benchmark_group("stamp");
    for difficulty in [0u8, 8, 12, 16, 20] {
        if difficulty >= 16 {
            group.sample_size(10);
            group.measurement_time(Duration::from_secs(20));
        }
        group.bench_with_input(
            BenchmarkId::from_parameter(difficulty),
            &difficulty,
            |b, &d| {
                b.iter(|| {
                    intent
                        .sign_with_work(&key, NOW, black_box(d))
                        .expect("signs")
                })
            },
        );
    }
    group.finish();
}

fn check(c: &mut Criterion) {
    let key = Keypair::generate_ed25519();
    let signed = typical().sign_with_work(&key, NOW, 12).expect("signs");
    let verified = SignedIntent::verify(&signed.envelope, NOW + 1).expect("verifies");
    c.bench_function("check", |b| b.iter(|| black_box(&verified).work_bits()));
}

criterion_group!(benches, stamp, check);
criterion_main!(benches);
