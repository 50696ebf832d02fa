//! Crash safety: a writer killed with SIGKILL in the middle of its writes loses nothing it had
//! acknowledged, and leaves a consistent store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use mesh_store::Store;

const RUNS: usize = 5;
const RUN_FOR: Duration = Duration::from_millis(300);

/// What one run of the writer acknowledged.
#[derive(Default)]
struct Acknowledged {
    intents: Vec<[u8; 32]>,
    events: Vec<u64>,
    /// Negotiation id → highest seq acknowledged.
    messages: HashMap<[u8; 32], u64>,
}

fn parse_id(hex_id: &str) -> [u8; 32] {
    hex::decode(hex_id).unwrap().try_into().unwrap()
}

/// Runs the writer on `path` for about [`RUN_FOR`], kills it, and returns what it acknowledged.
fn run_and_kill(path: &Path) -> Acknowledged {
    let mut writer = Command::new(env!("CARGO_BIN_EXE_store_crash_writer"))
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(writer.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    if ready != "ready\n" {
        let mut stderr = String::new();
        writer
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        panic!("the writer did not start: {ready:?} {stderr}");
    }
    // Drain stdout while the writer runs, so that it never blocks on a full pipe.
    let reader = thread::spawn(move || {
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            if stdout.read_until(b'\n', &mut line).unwrap() == 0 {
                break;
            }
            // A line cut by the kill was never fully acknowledged; only complete lines count.
            if line.last() == Some(&b'\n') {
                lines.push(String::from_utf8(line).unwrap());
            }
        }
        lines
    });
    thread::sleep(RUN_FOR);
    writer.kill().unwrap(); // SIGKILL
    let status = writer.wait().unwrap();
    assert!(!status.success(), "the writer ended on its own: {status}");
    let lines = reader.join().unwrap();

    let mut acked = Acknowledged::default();
    for line in &lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["intent", id] => acked.intents.push(parse_id(id)),
            ["event", seq] => acked.events.push(seq.parse().unwrap()),
            ["message", id, seq] => {
                let seq: u64 = seq.parse().unwrap();
                let highest = acked.messages.entry(parse_id(id)).or_insert(0);
                *highest = (*highest).max(seq);
            }
            other => panic!("unexpected line from the writer: {other:?}"),
        }
    }
    acked
}

#[test]
fn sigkill_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut all_events: Vec<u64> = Vec::new();
    let mut total_intents = 0usize;

    for run in 0..RUNS {
        let acked = run_and_kill(&path);
        assert!(
            !acked.intents.is_empty() && !acked.events.is_empty() && !acked.messages.is_empty(),
            "run {run}: the writer acknowledged too little to test anything"
        );

        let store = Store::open(&path).unwrap();
        let report = store.check().unwrap();
        assert!(report.is_clean(), "run {run}: {report}");

        for id in &acked.intents {
            let intent = store.intent(id).unwrap();
            assert!(
                intent.is_some(),
                "run {run}: intent {} lost",
                hex::encode(id)
            );
            assert_eq!(intent.unwrap().envelope.len(), 600);
        }
        total_intents += acked.intents.len();
        assert!(store.intent_count().unwrap() >= total_intents as u64);

        // Event numbers keep growing across runs: never reused after a crash.
        if let (Some(&last_before), Some(&first_now)) = (all_events.last(), acked.events.first()) {
            assert!(
                first_now > last_before,
                "run {run}: seq {first_now} after {last_before}"
            );
        }
        let stored: Vec<u64> = store
            .events_after(0, usize::MAX)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        for seq in &acked.events {
            assert!(
                stored.binary_search(seq).is_ok(),
                "run {run}: event {seq} lost"
            );
        }
        assert!(store.last_event_seq().unwrap() >= *acked.events.last().unwrap());
        all_events.extend(&acked.events);

        for (negotiation, highest) in &acked.messages {
            let transcript = store.transcript(negotiation).unwrap();
            assert!(
                transcript.len() as u64 > *highest,
                "run {run}: transcript has {} messages, {highest} was acknowledged",
                transcript.len()
            );
            for (seq, message) in transcript.iter().enumerate() {
                assert_eq!(message, format!("message {seq}").as_bytes());
            }
        }
        println!(
            "run {run}: {} intents, {} events, {} messages acknowledged and found",
            acked.intents.len(),
            acked.events.len(),
            acked.messages.values().map(|h| h + 1).sum::<u64>()
        );
    }
}
