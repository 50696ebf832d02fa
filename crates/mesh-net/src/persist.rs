//! Keeping what the event loop learns in the node's store, without an fsync ever blocking the
//! loop.
//!
//! The loop hands [`Write`]s to a dedicated writer thread over a bounded queue
//! ([`WRITE_QUEUE`]) and never waits: a write that does not fit is counted and dropped, except
//! that negotiation messages are tracked by the loop and written with the next change of their
//! negotiation. A write that carries a [`Write::Transcript::token`] is reported back once it is
//! durable (or failed), so the loop can acknowledge a received negotiation message only after
//! it is on disk, and answer a local caller only after its own message is.
//!
//! The writer takes every queued write at once and groups consecutive intents into one
//! transaction, so a burst of intents costs one commit.

use std::thread::JoinHandle;

use mesh_store::{
    NegotiationMeta, Store, StoredAgentRecord, StoredIntent, StoredPeer, StoredReputation,
};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

/// Writes queued for the writer thread at most.
pub const WRITE_QUEUE: usize = 4096;
/// Writes the writer takes in one round at most.
const BATCH: usize = 256;

/// One thing to keep.
#[derive(Debug)]
pub enum Write {
    /// An intent, own or received.
    Intent(StoredIntent),
    /// The publisher's cancellation of a stored intent.
    Cancellation {
        /// The intent.
        id: [u8; 32],
        /// The signed cancellation.
        envelope: Vec<u8>,
    },
    /// A peer and its addresses.
    Peer(StoredPeer),
    /// A verified agent record of another peer.
    AgentRecord(StoredAgentRecord),
    /// This node's own signed agent record.
    OwnRecord(Vec<u8>),
    /// New messages of a negotiation (in order, from `first_seq`), with its meta.
    Transcript {
        /// The negotiation.
        id: [u8; 32],
        /// Its meta after the messages.
        meta: NegotiationMeta,
        /// Sequence number of the first message.
        first_seq: u64,
        /// The signed envelopes.
        messages: Vec<Vec<u8>>,
        /// Reported back through [`Persisted`] when set.
        token: Option<u64>,
    },
    /// A negotiation's meta alone (e.g. after a timeout).
    Meta {
        /// The negotiation.
        id: [u8; 32],
        /// Its meta.
        meta: NegotiationMeta,
    },
    /// Local reputation scores.
    Reputations(Vec<StoredReputation>),
    /// Another write, reported back through [`Persisted`] under `token`.
    Reported {
        /// The write.
        write: Box<Write>,
        /// Its token.
        token: u64,
    },
    /// Drop expired records and intents.
    Prune {
        /// Now, Unix ms.
        now_ms: u64,
    },
}

/// The writer's queue is full (or the writer stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// The outcome of a write that asked to be reported.
#[derive(Debug)]
pub struct Persisted {
    /// The write's token.
    pub token: u64,
    /// `Err` with a reason when it is not on disk.
    pub result: Result<(), String>,
}

/// The loop's end of the writer.
#[derive(Debug)]
pub struct Writer {
    tx: Option<mpsc::Sender<Write>>,
    thread: Option<JoinHandle<()>>,
    dropped: Counter,
}

impl Writer {
    /// Starts the writer thread on `store`. Reported writes come back on the returned receiver.
    pub fn start(
        store: Store,
        errors: Counter,
        dropped: Counter,
    ) -> std::io::Result<(Self, mpsc::Receiver<Persisted>)> {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let (done_tx, done_rx) = mpsc::channel(WRITE_QUEUE);
        let thread = std::thread::Builder::new()
            .name("mesh-store-writer".into())
            .spawn(move || run(store, rx, done_tx, errors))?;
        Ok((
            Self {
                tx: Some(tx),
                thread: Some(thread),
                dropped,
            },
            done_rx,
        ))
    }

    /// Queues `write`. Fails when the queue is full (counted as dropped).
    pub fn write(&self, write: Write) -> Result<(), QueueFull> {
        let Some(tx) = &self.tx else {
            return Err(QueueFull);
        };
        tx.try_send(write).map_err(|_| {
            self.dropped.inc();
            QueueFull
        })
    }

    /// Queues `write` if there is room; a dropped write is only counted.
    pub fn write_lossy(&self, write: Write) {
        let _ = self.write(write);
    }

    /// Writes what is queued, then stops the thread and waits for it.
    pub fn close(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("store writer thread panicked");
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(
    store: Store,
    mut rx: mpsc::Receiver<Write>,
    done: mpsc::Sender<Persisted>,
    errors: Counter,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let mut intents = Vec::new();
        for write in batch.drain(..) {
            if let Write::Intent(i) = write {
                intents.push(i);
                continue;
            }
            flush_intents(&store, &mut intents, &errors);
            let (token, result) = apply(&store, write);
            if let Err(e) = &result {
                errors.inc();
                tracing::error!(error = %e, "store write failed");
            }
            if let Some(token) = token {
                let result = result.map_err(|e| e.to_string());
                if done.blocking_send(Persisted { token, result }).is_err() {
                    // The event loop is gone; nothing waits for the answer.
                }
            }
        }
        flush_intents(&store, &mut intents, &errors);
    }
}

fn flush_intents(store: &Store, intents: &mut Vec<StoredIntent>, errors: &Counter) {
    if intents.is_empty() {
        return;
    }
    if let Err(e) = store.put_intents(intents) {
        errors.inc();
        tracing::error!(error = %e, count = intents.len(), "cannot store intents");
    }
    intents.clear();
}

fn apply(store: &Store, write: Write) -> (Option<u64>, Result<(), mesh_store::StoreError>) {
    match write {
        Write::Intent(i) => (None, store.put_intent(&i)),
        Write::Cancellation { id, envelope } => (None, store.put_cancellation(&id, &envelope)),
        Write::Peer(p) => (None, store.upsert_peer(&p)),
        Write::AgentRecord(r) => (None, store.put_agent_record(&r)),
        Write::OwnRecord(r) => (None, store.set_own_record(&r)),
        Write::Transcript {
            id,
            meta,
            first_seq,
            messages,
            token,
        } => {
            let mut result = Ok(());
            for (seq, bytes) in (first_seq..).zip(&messages) {
                result = store
                    .append_transcript_message(&id, &meta, seq, bytes)
                    .map(|_| ());
                if result.is_err() {
                    break;
                }
            }
            (token, result)
        }
        Write::Meta { id, meta } => (None, store.set_negotiation_meta(&id, &meta)),
        Write::Reputations(list) => {
            let result = list.iter().try_for_each(|r| store.put_reputation(r));
            (None, result)
        }
        Write::Prune { now_ms } => (None, store.prune_expired(now_ms).map(|_| ())),
        Write::Reported { write, token } => (Some(token), apply(store, *write).1),
    }
}
