//! Writes to a MESH store in a loop until it is killed, for the crash tests.
//!
//! Usage: `store_crash_writer STORE_FILE`. Prints `ready` once the store is open, then one line
//! per write *after* its commit returned, so every line printed names data that must survive a
//! SIGKILL:
//!
//! - `intent HEX` — an intent stored (alone or in a batch);
//! - `event SEQ` — an event appended;
//! - `message HEX SEQ` — transcript message `SEQ` of negotiation `HEX`, whose bytes are
//!   `message SEQ`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use mesh_store::{IntentStatus, NegotiationMeta, Role, Store, StoredIntent};

const BATCH: usize = 8;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: store_crash_writer STORE_FILE");
        return ExitCode::from(2);
    };
    match run(&path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("store_crash_writer: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(path)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;

    // Distinct per run, so that runs on the same file never collide.
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64;
    let run_tag = nanos ^ (u64::from(std::process::id()) << 32);
    let negotiation = id(run_tag, u64::MAX);
    let meta = NegotiationMeta {
        intent_id: id(run_tag, 0),
        role: Role::Agent,
        counterparty: b"crash-writer-counterparty".to_vec(),
        state: "offered".to_owned(),
        updated_at_unix_ms: 0,
    };
    let mut next_message = 0u64;
    let mut next_intent = 0u64;

    for round in 0u64.. {
        match round % 4 {
            0 => {
                let intent = intent(run_tag, next_intent);
                next_intent += 1;
                store.put_intent(&intent)?;
                writeln!(out, "intent {}", hex::encode(intent.id))?;
            }
            1 => {
                let seq = store.append_event("crash", &round.to_be_bytes())?;
                writeln!(out, "event {seq}")?;
            }
            2 => {
                let seq = next_message;
                next_message += 1;
                let meta = NegotiationMeta {
                    updated_at_unix_ms: seq,
                    ..meta.clone()
                };
                store.append_transcript_message(
                    &negotiation,
                    &meta,
                    seq,
                    format!("message {seq}").as_bytes(),
                )?;
                writeln!(out, "message {} {seq}", hex::encode(negotiation))?;
            }
            _ => {
                let batch: Vec<StoredIntent> = (0..BATCH as u64)
                    .map(|i| intent(run_tag, next_intent + i))
                    .collect();
                next_intent += BATCH as u64;
                store.put_intents(&batch)?;
                for intent in &batch {
                    writeln!(out, "intent {}", hex::encode(intent.id))?;
                }
            }
        }
        out.flush()?;
    }
    Ok(())
}

fn id(run_tag: u64, n: u64) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&run_tag.to_be_bytes());
    id[8..16].copy_from_slice(&n.to_be_bytes());
    id[16..].copy_from_slice(b"crash-writer-id!");
    id
}

fn intent(run_tag: u64, n: u64) -> StoredIntent {
    StoredIntent {
        id: id(run_tag, n),
        envelope: vec![0xa5; 600],
        expires_at_unix_ms: u64::MAX / 2,
        status: IntentStatus::Open,
        own: n.is_multiple_of(2),
        received_at_unix_ms: n,
    }
}
