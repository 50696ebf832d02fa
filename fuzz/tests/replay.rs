//! Every fuzz target on stable Rust, without a fuzzer: the committed seeds, any inputs kept
//! under `regressions/<target>/`, and a few thousand deterministic mutations of the seeds.
//!
//! `MESH_FUZZ_REPLAY_INPUTS` sets the number of mutations per target (default 5,000) and
//! `MESH_FUZZ_REPLAY_SEED` the seed of the mutator, to try other inputs than CI does.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use mesh_fuzz::mutate::{Rng, mutate};
use mesh_fuzz::{Outcome, Target};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The files of `dir`, by name; empty if it does not exist.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|entry| {
            let entry = entry.expect("a readable directory");
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path()).expect("a readable file");
            (name, bytes)
        })
        .collect()
}

/// Runs `input`, naming it on stderr, in hex, if the target panics.
fn run_one(target: &Target, what: &str, input: &[u8]) -> Outcome {
    match panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input))) {
        Ok(outcome) => outcome,
        Err(cause) => {
            eprintln!(
                "target {} panicked on {what}; input (hex): {}",
                target.name,
                hex::encode(input)
            );
            panic::resume_unwind(cause)
        }
    }
}

#[test]
fn seeds_on_disk_are_the_generated_ones() {
    let generated = mesh_fuzz::seeds::all();
    for target in mesh_fuzz::TARGETS {
        let on_disk = files(&root().join("seeds").join(target.name));
        let expected: BTreeMap<String, Vec<u8>> = generated
            .iter()
            .filter(|s| s.target == target.name)
            .map(|s| (s.name.clone(), s.bytes.clone()))
            .collect();
        assert!(!expected.is_empty(), "target {} has no seeds", target.name);
        assert!(
            on_disk == expected,
            "seeds/{} is out of date: run `cargo run --no-default-features --example write_seeds` in fuzz/",
            target.name
        );
    }
}

#[test]
fn every_seed_has_its_outcome() {
    for seed in mesh_fuzz::seeds::all() {
        let target = mesh_fuzz::target(seed.target).expect("a known target");
        let outcome = run_one(target, &seed.name, &seed.bytes);
        assert_eq!(
            outcome, seed.expect,
            "seed {}/{} was {outcome:?}",
            seed.target, seed.name
        );
    }
}

fn survives(name: &str) {
    let target = mesh_fuzz::target(name).expect("a known target");
    let seeds: Vec<(String, Vec<u8>)> = mesh_fuzz::seeds::all()
        .into_iter()
        .filter(|s| s.target == name)
        .map(|s| (s.name, s.bytes))
        .collect();
    for (file, input) in files(&root().join("regressions").join(name)) {
        run_one(target, &format!("regressions/{name}/{file}"), &input);
    }
    let inputs = env_number("MESH_FUZZ_REPLAY_INPUTS", 5_000);
    let mut rng = Rng::new(env_number("MESH_FUZZ_REPLAY_SEED", 0x4d45_5348));
    let mut accepted = 0;
    for i in 0..inputs {
        let (seed_name, seed) = &seeds[i as usize % seeds.len()];
        let (_, other) = &seeds[rng.below(seeds.len())];
        let mut input = mutate(&mut rng, seed, other);
        input.truncate(target.max_len);
        let what = format!("mutation {i} of seed {seed_name}");
        if run_one(target, &what, &input) == Outcome::Accepted {
            accepted += 1;
        }
    }
    eprintln!("{name}: {inputs} mutations, {accepted} accepted");
}

#[test]
fn envelope_survives_mutations() {
    survives("envelope");
}

#[test]
fn intent_survives_mutations() {
    survives("intent");
}

#[test]
fn cancellation_survives_mutations() {
    survives("cancellation");
}

#[test]
fn agent_record_survives_mutations() {
    survives("agent_record");
}

#[test]
fn negotiation_survives_mutations() {
    survives("negotiation");
}

#[test]
fn transcript_survives_mutations() {
    survives("transcript");
}

#[test]
fn framing_survives_mutations() {
    survives("framing");
}

#[test]
fn api_body_survives_mutations() {
    survives("api_body");
}

#[test]
fn attestation_survives_mutations() {
    survives("attestation");
}

#[test]
fn receipts_answer_survives_mutations() {
    survives("receipts_answer");
}

#[test]
fn every_target_is_tested() {
    let names: Vec<&str> = mesh_fuzz::TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(
        names,
        [
            "envelope",
            "intent",
            "cancellation",
            "agent_record",
            "negotiation",
            "transcript",
            "framing",
            "api_body",
            "attestation",
            "receipts_answer"
        ],
        "a new target needs its `_survives_mutations` test here"
    );
    for name in names {
        assert!(
            root()
                .join("fuzz_targets")
                .join(format!("{name}.rs"))
                .exists(),
            "target {name} has no fuzz_targets/{name}.rs"
        );
    }
}
