//! Keeping what the event loop learns in the node's store, without an fsync ever blocking the
//! loop.
//!
//! The loop hands [`Write`]s to a dedicated writer thread over a bounded queue
//! ([`WRITE_QUEUE`]) and never waits: a write that does not fit is counted and dropped, except
//! that negotiation messages are tracked by the loop and written with the next change of their
//! negotiation. A write that carries a [`Write::Transcript::token`], or is wrapped in
//! [`Write::Reported`], is reported back once it is durable (or failed), so the loop can
//! acknowledge a received negotiation message only after it is on disk, and answer a local
//! caller only after its own message, its own intent or its own cancellation is.
//!
//! Every write the node acknowledges, to a peer or to a local caller, goes the reported way and
//! is never dropped: a full queue refuses it (`busy`) instead. The lossy writes
//! ([`Writer::write_lossy`]) are the ones nobody is told about: received intents and
//! cancellations, peers, agent records, receipt attestations, the own agent record,
//! reputation, a negotiation's meta after a timeout, pruning.
//!
//! The writer takes every queued write at once and writes all its intents in one transaction
//! and all its negotiation messages in another (group commit), so a burst costs two commits.

use std::thread::JoinHandle;

use mesh_store::{
    NegotiationMeta, Store, StoredAgentRecord, StoredIntent, StoredPeer, StoredReputation,
    TranscriptAppend,
};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

/// Writes queued for the writer thread at most.
pub(crate) const WRITE_QUEUE: usize = 4096;
/// Writes the writer takes in one round at most.
const BATCH: usize = 256;

/// One thing to keep.
#[derive(Debug)]
pub(crate) enum Write {
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
    /// A verified receipt attestation (own or received).
    Attestation(mesh_store::StoredAttestation),
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
    /// Drop finished negotiations (in one of `finished` states) last updated before
    /// `before_ms` (their retention passed), and all but the `keep` most recent others.
    PruneNegotiations {
        /// The final state names (`StateKind::as_str`).
        finished: &'static [&'static str],
        /// Unix ms.
        before_ms: u64,
        /// Finished negotiations kept at most.
        keep: usize,
    },
}

/// The writer's queue is full (or the writer stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueFull;

/// The outcome of a write that asked to be reported.
#[derive(Debug)]
pub(crate) struct Persisted {
    /// The write's token.
    pub token: u64,
    /// `Err` with a reason when it is not on disk.
    pub result: Result<(), String>,
}

/// The loop's end of the writer.
#[derive(Debug)]
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<Write>>,
    thread: Option<JoinHandle<()>>,
    dropped: Counter,
}

impl Writer {
    /// Starts the writer thread on `store`. Reported writes come back on the returned receiver.
    pub(crate) fn start(
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
    pub(crate) fn write(&self, write: Write) -> Result<(), QueueFull> {
        let Some(tx) = &self.tx else {
            return Err(QueueFull);
        };
        tx.try_send(write).map_err(|_| {
            self.dropped.inc();
            QueueFull
        })
    }

    /// Queues `write` if there is room; a dropped write is only counted.
    pub(crate) fn write_lossy(&self, write: Write) {
        let _ = self.write(write);
    }

    /// Writes what is queued, then stops the thread and waits for it.
    pub(crate) fn close(&mut self) {
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
        let mut transcripts = Vec::new();
        for write in batch.drain(..) {
            match write {
                Write::Intent(i) => intents.push(i),
                Write::Transcript {
                    id,
                    meta,
                    first_seq,
                    messages,
                    token,
                } => transcripts.push(TranscriptWrite {
                    id,
                    meta,
                    first_seq,
                    messages,
                    token,
                }),
                other => {
                    flush_intents(&store, &mut intents, &errors);
                    flush_transcripts(&store, &mut transcripts, &done, &errors);
                    let (token, result) = apply(&store, other);
                    if let Err(e) = &result {
                        errors.inc();
                        tracing::error!(error = %e, "store write failed");
                    }
                    if let Some(token) = token {
                        report(&done, token, result);
                    }
                }
            }
        }
        flush_intents(&store, &mut intents, &errors);
        flush_transcripts(&store, &mut transcripts, &done, &errors);
    }
}

fn report(done: &mpsc::Sender<Persisted>, token: u64, result: Result<(), String>) {
    // An error means the event loop is gone and nothing waits for the answer.
    let _ = done.blocking_send(Persisted { token, result });
}

/// New messages of one negotiation, waiting in the writer.
struct TranscriptWrite {
    id: [u8; 32],
    meta: NegotiationMeta,
    first_seq: u64,
    messages: Vec<Vec<u8>>,
    token: Option<u64>,
}

/// Writes every queued negotiation message in one transaction, then reports each write.
fn flush_transcripts(
    store: &Store,
    writes: &mut Vec<TranscriptWrite>,
    done: &mpsc::Sender<Persisted>,
    errors: &Counter,
) {
    if writes.is_empty() {
        return;
    }
    let results = append_all(store, writes);
    for (w, result) in writes.drain(..).zip(results) {
        if let Err(e) = &result {
            errors.inc();
            tracing::error!(error = %e, "negotiation message not stored");
        }
        if let Some(token) = w.token {
            report(done, token, result);
        }
    }
}

/// Appends the messages of `writes` in one transaction; the result of each write, `Err` with
/// the first refusal among its messages or the commit's error.
fn append_all(store: &Store, writes: &[TranscriptWrite]) -> Vec<Result<(), String>> {
    let appends: Vec<TranscriptAppend<'_>> = writes
        .iter()
        .flat_map(|w| {
            (w.first_seq..)
                .zip(&w.messages)
                .map(|(seq, message)| TranscriptAppend {
                    negotiation_id: &w.id,
                    meta: &w.meta,
                    seq,
                    message,
                })
        })
        .collect();
    let outcome = match store.append_transcript_messages(&appends) {
        Ok(results) => results,
        Err(e) => return writes.iter().map(|_| Err(e.to_string())).collect(),
    };
    let mut each = outcome.into_iter();
    writes
        .iter()
        .map(|w| {
            let mut result = Ok(());
            for r in each.by_ref().take(w.messages.len()) {
                if let (Err(e), Ok(())) = (r, &result) {
                    result = Err(e.to_string());
                }
            }
            result
        })
        .collect()
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

fn apply(store: &Store, write: Write) -> (Option<u64>, Result<(), String>) {
    let text = |r: Result<(), mesh_store::StoreError>| r.map_err(|e| e.to_string());
    match write {
        Write::Intent(i) => (None, text(store.put_intent(&i))),
        Write::Cancellation { id, envelope } => {
            (None, text(store.put_cancellation(&id, &envelope)))
        }
        Write::Peer(p) => (None, text(store.upsert_peer(&p))),
        Write::AgentRecord(r) => (None, text(store.put_agent_record(&r))),
        Write::Attestation(a) => (None, text(store.put_attestation(&a))),
        Write::OwnRecord(r) => (None, text(store.set_own_record(&r))),
        Write::Transcript {
            id,
            meta,
            first_seq,
            messages,
            token,
        } => {
            let write = TranscriptWrite {
                id,
                meta,
                first_seq,
                messages,
                token,
            };
            let result = append_all(store, std::slice::from_ref(&write))
                .pop()
                .unwrap_or(Ok(()));
            (token, result)
        }
        Write::Meta { id, meta } => (None, text(store.set_negotiation_meta(&id, &meta))),
        Write::Reputations(list) => {
            let result = list.iter().try_for_each(|r| store.put_reputation(r));
            (None, text(result))
        }
        Write::Prune { now_ms } => (None, text(store.prune_expired(now_ms).map(|_| ()))),
        Write::PruneNegotiations {
            finished,
            before_ms,
            keep,
        } => (
            None,
            text(
                store
                    .prune_finished_negotiations(finished, before_ms, keep)
                    .map(|_| ()),
            ),
        ),
        Write::Reported { write, token } => (Some(token), apply(store, *write).1),
    }
}
