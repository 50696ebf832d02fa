//! Measures the store on this machine's disk.
//!
//! ```sh
//! cargo run --release -p mesh-store --example store_bench [DIR]
//! ```
//!
//! Runs in a temporary directory (under `DIR` if given, so another disk can be measured) and
//! prints durable single writes per second, batched intents per second, transcript appends per
//! second, and the open and load times of a store of 100,000 intents of about 600 bytes (the
//! open against reading the whole file once, as every open checks every page).

use std::error::Error;
use std::path::Path;
use std::time::{Duration, Instant};

use mesh_store::{IntentStatus, NegotiationMeta, Role, Store, StoredIntent};

const ENVELOPE_BYTES: usize = 600;
const SINGLE_WRITES: u64 = 2_000;
const SINGLE_WRITES_FOR_AT_MOST: Duration = Duration::from_secs(5);
const BATCH: u64 = 100;
const BATCHES: u64 = 200;
const TRANSCRIPT_APPENDS: u64 = 1_000;
const EVENT_APPENDS: u64 = 1_000;
const LARGE_STORE_INTENTS: u64 = 100_000;
const FILL_BATCH: u64 = 1_000;
const NOW_MS: u64 = 1_000_000;

/// The baseline: appending 600 bytes to a plain file and `fsync`ing it, the least a durable
/// write can cost on this disk.
fn raw_fsync_baseline(path: &Path) -> Result<(), Box<dyn Error>> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    let data = vec![0u8; ENVELOPE_BYTES];
    let started = Instant::now();
    let mut written = 0u64;
    while written < SINGLE_WRITES && started.elapsed() < SINGLE_WRITES_FOR_AT_MOST {
        file.write_all(&data)?;
        file.sync_data()?;
        written += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "baseline: raw append + fdatasync: {:>9.0} /s  ({written} writes, {:.2} ms each)",
        written as f64 / secs,
        secs * 1e3 / written as f64
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = match std::env::args_os().nth(1) {
        Some(parent) => tempfile::tempdir_in(parent)?,
        None => tempfile::tempdir()?,
    };
    println!("mesh-store benchmark in {}", dir.path().display());
    raw_fsync_baseline(&dir.path().join("raw.log"))?;
    single_writes(&dir.path().join("single.redb"))?;
    batched_writes(&dir.path().join("batched.redb"))?;
    transcript_and_event_appends(&dir.path().join("appends.redb"))?;
    large_store(&dir.path().join("large.redb"))?;
    Ok(())
}

fn intent(n: u64) -> StoredIntent {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&n.to_be_bytes());
    id[8..16].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    StoredIntent {
        id,
        envelope: vec![(n % 251) as u8; ENVELOPE_BYTES],
        // Spread over the next day, so the expiry index is not written in order.
        expires_at_unix_ms: NOW_MS + 1 + (n.wrapping_mul(7_919) % 86_400_000),
        status: IntentStatus::Open,
        own: n.is_multiple_of(10),
        received_at_unix_ms: NOW_MS,
    }
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn single_writes(path: &Path) -> Result<(), Box<dyn Error>> {
    let store = Store::open(path)?;
    let start = Instant::now();
    let mut written = 0;
    while written < SINGLE_WRITES && start.elapsed() < SINGLE_WRITES_FOR_AT_MOST {
        store.put_intent(&intent(written))?;
        written += 1;
    }
    let elapsed = start.elapsed();
    println!(
        "single-intent durable writes:  {:>9.0} /s  ({written} writes, {:.2} ms each)",
        per_second(written, elapsed),
        elapsed.as_secs_f64() * 1_000.0 / written as f64
    );
    Ok(())
}

fn batched_writes(path: &Path) -> Result<(), Box<dyn Error>> {
    let store = Store::open(path)?;
    let start = Instant::now();
    for batch in 0..BATCHES {
        let intents: Vec<StoredIntent> = (0..BATCH).map(|i| intent(batch * BATCH + i)).collect();
        store.put_intents(&intents)?;
    }
    let elapsed = start.elapsed();
    println!(
        "batched intents ({BATCH}/commit):   {:>9.0} /s  ({} intents in {:.2} s)",
        per_second(BATCHES * BATCH, elapsed),
        BATCHES * BATCH,
        elapsed.as_secs_f64()
    );
    Ok(())
}

fn transcript_and_event_appends(path: &Path) -> Result<(), Box<dyn Error>> {
    let store = Store::open(path)?;
    let negotiations = 10u64;
    let message = vec![0x5a; 400];
    let start = Instant::now();
    for n in 0..TRANSCRIPT_APPENDS {
        let negotiation = [(n % negotiations) as u8; 32];
        let meta = NegotiationMeta {
            intent_id: [0xee; 32],
            role: Role::Agent,
            counterparty: vec![1; 38],
            state: "offered".to_owned(),
            updated_at_unix_ms: n,
        };
        store.append_transcript_message(&negotiation, &meta, n / negotiations, &message)?;
    }
    let elapsed = start.elapsed();
    println!(
        "transcript message appends:    {:>9.0} /s  ({TRANSCRIPT_APPENDS} appends of 400 B)",
        per_second(TRANSCRIPT_APPENDS, elapsed)
    );

    let body = vec![b'x'; 300];
    let start = Instant::now();
    for _ in 0..EVENT_APPENDS {
        store.append_event("intent", &body)?;
    }
    let elapsed = start.elapsed();
    println!(
        "event appends:                 {:>9.0} /s  ({EVENT_APPENDS} appends of 300 B)",
        per_second(EVENT_APPENDS, elapsed)
    );
    Ok(())
}

fn large_store(path: &Path) -> Result<(), Box<dyn Error>> {
    {
        let store = Store::open(path)?;
        let start = Instant::now();
        let mut n = 0;
        while n < LARGE_STORE_INTENTS {
            let intents: Vec<StoredIntent> = (n..n + FILL_BATCH).map(intent).collect();
            store.put_intents(&intents)?;
            n += FILL_BATCH;
        }
        println!(
            "fill {LARGE_STORE_INTENTS} intents of {ENVELOPE_BYTES} B ({FILL_BATCH}/commit): {:.2} s, file {:.1} MiB",
            start.elapsed().as_secs_f64(),
            std::fs::metadata(path)?.len() as f64 / (1024.0 * 1024.0)
        );
    }

    // The baseline of opening: reading every byte of the file once, which the integrity check
    // at open (every page's checksum) cannot beat.
    let start = Instant::now();
    let bytes = std::fs::read(path)?.len();
    println!(
        "read the whole file ({:.1} MiB, the baseline): {:>9.2} ms",
        bytes as f64 / (1024.0 * 1024.0),
        start.elapsed().as_secs_f64() * 1_000.0
    );
    let start = Instant::now();
    let store = Store::open(path)?;
    let opened = start.elapsed();
    println!(
        "open with {LARGE_STORE_INTENTS} intents (integrity check included): {:>9.2} ms",
        opened.as_secs_f64() * 1_000.0
    );

    for (label, limit) in [("all", usize::MAX), ("newest 4096", 4_096)] {
        let start = Instant::now();
        let open = store.open_intents(NOW_MS, limit)?;
        println!(
            "open_intents ({label}, first call):  {:>8.2} ms for {} intents",
            start.elapsed().as_secs_f64() * 1_000.0,
            open.len()
        );
        let start = Instant::now();
        let again = store.open_intents(NOW_MS, limit)?;
        println!(
            "open_intents ({label}, second call): {:>8.2} ms for {} intents",
            start.elapsed().as_secs_f64() * 1_000.0,
            again.len()
        );
    }

    let start = Instant::now();
    let count = store.intent_count()?;
    println!(
        "intent_count:                  {:>9.3} ms ({count})",
        start.elapsed().as_secs_f64() * 1_000.0
    );

    let start = Instant::now();
    let report = store.check()?;
    println!(
        "check of the whole store:      {:>9.2} ms ({report})",
        start.elapsed().as_secs_f64() * 1_000.0
    );
    Ok(())
}
