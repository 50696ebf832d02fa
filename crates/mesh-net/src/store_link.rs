//! The network task's link to the store's writer thread.
//!
//! It queues writes, hands out a token for each write whose outcome someone waits on, and
//! returns each outcome with the owner that asked ([`Owner`]). It never calls a protocol: the
//! event loop routes a [`Completion`] to its owner. Without a store every write is a no-op and
//! nothing is ever reported.

use std::collections::HashMap;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

use crate::persist::{Persisted, QueueFull, Write, Writer};

/// Who waits on a reported write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The INP driver: a negotiation's messages, acknowledged or answered once durable.
    Negotiation,
    /// An intent of this node, published once durable.
    Publish,
    /// A cancellation of an intent of this node, published once durable.
    Cancel,
}

/// The outcome of a reported write, for its owner.
#[derive(Debug)]
pub(crate) struct Completion {
    /// Who asked.
    pub(crate) owner: Owner,
    /// The token the write was queued under.
    pub(crate) token: u64,
    /// `Err` with a reason when it is not on disk.
    pub(crate) result: Result<(), String>,
}

/// The writer, its reports and the owners of the tokens in flight.
#[derive(Debug, Default)]
pub(crate) struct StoreLink {
    writer: Option<Writer>,
    reports: Option<mpsc::Receiver<Persisted>>,
    /// Reported writes queued and not yet reported, by token: at most the writer's queue
    /// ([`crate::persist::WRITE_QUEUE`]) plus its report queue.
    owners: HashMap<u64, Owner>,
    next_token: u64,
}

impl StoreLink {
    /// Starts the writer thread on `store`.
    pub(crate) fn start(
        store: mesh_store::Store,
        errors: Counter,
        dropped: Counter,
    ) -> std::io::Result<Self> {
        let (writer, reports) = Writer::start(store, errors, dropped)?;
        Ok(Self {
            writer: Some(writer),
            reports: Some(reports),
            owners: HashMap::new(),
            next_token: 0,
        })
    }

    /// Whether the node has a store.
    pub(crate) fn is_open(&self) -> bool {
        self.writer.is_some()
    }

    /// Queues a write nobody waits on; a full queue drops it (counted).
    pub(crate) fn save(&self, write: Write) {
        if let Some(w) = &self.writer {
            w.write_lossy(write);
        }
    }

    /// Queues the write `make` builds around its token, reported back to `owner` through
    /// [`StoreLink::next`]. `Ok(None)` without a store (nothing to wait for).
    pub(crate) fn write_reported(
        &mut self,
        owner: Owner,
        make: impl FnOnce(u64) -> Write,
    ) -> Result<Option<u64>, QueueFull> {
        let Some(writer) = &self.writer else {
            return Ok(None);
        };
        let token = self.next_token;
        self.next_token += 1;
        writer.write(make(token))?;
        self.owners.insert(token, owner);
        Ok(Some(token))
    }

    /// The next reported write's outcome; never ready without a store.
    pub(crate) async fn next(&mut self) -> Option<Completion> {
        let Some(reports) = &mut self.reports else {
            return std::future::pending().await;
        };
        loop {
            let done = reports.recv().await?;
            if let Some(owner) = self.owners.remove(&done.token) {
                return Some(Completion {
                    owner,
                    token: done.token,
                    result: done.result,
                });
            }
        }
    }

    /// Writes what is queued, then stops the writer thread and waits for it. Outcomes not yet
    /// reported are forgotten (their owners answer their callers as stopped).
    pub(crate) fn close(&mut self) {
        if let Some(mut writer) = self.writer.take() {
            writer.close();
        }
        self.reports = None;
        self.owners.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, StoreLink) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = mesh_store::Store::open(&dir.path().join("mesh.redb")).expect("store");
        let link = StoreLink::start(store, Counter::default(), Counter::default()).expect("writer");
        (dir, link)
    }

    #[tokio::test]
    async fn reported_writes_come_back_to_their_owner() {
        let (_dir, mut link) = open();
        let publish = link
            .write_reported(Owner::Publish, |token| Write::Reported {
                write: Box::new(Write::Prune { now_ms: 1 }),
                token,
            })
            .expect("queued")
            .expect("a store");
        let cancel = link
            .write_reported(Owner::Cancel, |token| Write::Reported {
                write: Box::new(Write::Prune { now_ms: 2 }),
                token,
            })
            .expect("queued")
            .expect("a store");
        assert_ne!(publish, cancel);
        let first = link.next().await.expect("a completion");
        let second = link.next().await.expect("a completion");
        assert_eq!((first.owner, first.token), (Owner::Publish, publish));
        assert_eq!((second.owner, second.token), (Owner::Cancel, cancel));
        assert!(first.result.is_ok() && second.result.is_ok());
        link.close();
        assert!(!link.is_open());
    }

    #[tokio::test]
    async fn without_a_store_nothing_waits() {
        let mut link = StoreLink::default();
        assert!(!link.is_open());
        let token = link
            .write_reported(Owner::Negotiation, |_| Write::Prune { now_ms: 1 })
            .expect("no queue to fill");
        assert_eq!(token, None);
        link.save(Write::Prune { now_ms: 1 });
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), link.next()).await;
        assert!(waited.is_err(), "no store reports nothing");
    }
}
