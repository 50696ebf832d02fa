//! The node's event log, behind the API's resumable Server-Sent Event streams.
//!
//! One recorder per node takes the events of the network's three broadcasts (verified intents,
//! intent lifecycle updates, negotiation events) and queues them, bounded in number and bytes,
//! for a writer on a blocking thread. The writer appends each to the store's event log
//! (`mesh_store::Store::append_event`, durable when it returns) and only then publishes it,
//! with its sequence number, on a bounded broadcast of its own. When the writer falls behind,
//! the queue fills, the recorder stops taking events, and the network's broadcasts drop the
//! oldest ones it has not taken: those are counted (`mesh_events_missed`, by kind) and logged.
//! An [`EventLog`] reads both the live broadcast and the store.
//!
//! A stream (`replay`) subscribes to the live broadcast first, then reads the store after the
//! client's last event id, then continues live, skipping every live event at or below the last
//! sequence number it handled. Sequence numbers are contiguous in the store (only trimming at
//! the old end removes any), so a live event beyond the next expected number means the stream
//! fell behind the broadcast: it reads the gap back from the store. Clients therefore see every
//! event the log still holds, in order, once.
//!
//! | kind | data | streams |
//! |---|---|---|
//! | `intent` | [`IntentView`] JSON with `received_at_ms` and `received_from` | `/v1/intents/stream` |
//! | `intent_update` | [`IntentUpdate`] JSON plus the intent's `capabilities` when known | `/v1/intents/stream` |
//! | `negotiation` | [`NegotiationEvent`] JSON | `/v1/negotiations/stream` |

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use mesh_core::{IntentId, SignedIntent};
use mesh_net::{IntentUpdate, MeshHandle, NegotiationEvent, ReceivedIntent};
use mesh_store::{Store, StoreError, StoredEvent};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::views::IntentView;

mod replay;

pub(crate) use replay::{Replay, Resume};

/// Capacity of the recorder's live broadcast; a stream further behind reads the store instead.
pub const LIVE_QUEUE: usize = 1024;
/// Most events taken from the network, or appended by the writer, in one go.
pub const MAX_BATCH: usize = 256;
/// Events queued for the writer at most.
pub const WRITE_QUEUE: usize = 16_384;
/// Bytes of event bodies queued for the writer at most.
pub const WRITE_BUDGET: usize = 64 * 1024 * 1024;
/// Events read from the store at once when a stream replays, and held by the stream until
/// sent: with intents of up to 48 KiB of payload, about 2 MiB a stream at most, so that the
/// streams the API allows at once cannot hold much memory between them.
pub const REPLAY_PAGE: usize = 32;
/// The `retry:` sent at the start of every stream: how long a client waits before reconnecting.
pub const RETRY: Duration = Duration::from_millis(2000);
/// Intents whose capabilities the recorder remembers, to label their updates.
const REMEMBERED_INTENTS: usize = 4096;
/// How long a shutdown waits for the recorder to write what it holds.
const STOP_WAIT: Duration = Duration::from_secs(5);
/// Batches written at most once asked to stop: enough for full source queues.
const STOP_BATCHES: usize = 16;

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A verified intent received from the network.
    Intent,
    /// A change in an intent's lifecycle (a cancellation).
    IntentUpdate,
    /// A message taken into one of this node's negotiations.
    Negotiation,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 3] = [
        EventKind::Intent,
        EventKind::IntentUpdate,
        EventKind::Negotiation,
    ];

    /// The name stored in the log and sent as the SSE `event:` field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Intent => "intent",
            EventKind::IntentUpdate => "intent_update",
            EventKind::Negotiation => "negotiation",
        }
    }

    /// The kind named `name`, if it is one.
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One event of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    /// Sequence number in the log, the SSE `id:`.
    pub seq: u64,
    /// Kind.
    pub kind: EventKind,
    /// JSON body, the SSE `data:`.
    pub data: String,
    /// Capabilities of the intent an `intent` or `intent_update` is about; empty when unknown.
    pub capabilities: Vec<String>,
}

impl LoggedEvent {
    /// The event as stored; `None` for a kind this version does not know or a body that is not
    /// UTF-8.
    fn from_stored(stored: StoredEvent) -> Option<Self> {
        let kind = EventKind::parse(&stored.kind)?;
        let data = String::from_utf8(stored.body).ok()?;
        let capabilities = match kind {
            EventKind::Intent | EventKind::IntentUpdate => capabilities_in(&data),
            EventKind::Negotiation => Vec::new(),
        };
        Some(Self {
            seq: stored.seq,
            kind,
            data,
            capabilities,
        })
    }

    /// Whether a stream filtered on `filter` (capability names; empty for all) shows it. An
    /// update of an intent whose capabilities are unknown goes to every stream.
    pub fn matches(&self, filter: &[String]) -> bool {
        filter.is_empty()
            || (self.kind == EventKind::IntentUpdate && self.capabilities.is_empty())
            || self.capabilities.iter().any(|c| filter.contains(c))
    }
}

fn capabilities_in(json: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Capabilities {
        #[serde(default)]
        capabilities: Vec<String>,
    }
    serde_json::from_str::<Capabilities>(json)
        .map(|c| c.capabilities)
        .unwrap_or_default()
}

/// The body of an `intent_update` event: the update, with the intent's capabilities so that
/// capability-filtered streams can select it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentUpdateEvent {
    /// The update.
    #[serde(flatten)]
    pub update: IntentUpdate,
    /// Capabilities of the intent; absent when the node no longer holds it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
}

/// Failure to read the event log.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking task reading it did not finish.
    #[error("the event log read did not finish: {0}")]
    Task(String),
}

/// Reads the event log: live events from the recorder, past ones from the store. Cheap to
/// clone.
#[derive(Clone)]
pub struct EventLog {
    store: Store,
    /// Weak, so live receivers end when the recorder (the only strong sender) stops.
    live: broadcast::WeakSender<Arc<LoggedEvent>>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("store", &self.store)
            .finish()
    }
}

/// Store key of a stream cursor.
fn cursor_key(name: &str) -> String {
    format!("sse/{name}")
}

impl EventLog {
    /// A receiver of every event from now on, each after it is durable. A receiver more than
    /// [`LIVE_QUEUE`] events behind loses the oldest (`RecvError::Lagged`); they are still in
    /// the store. Closed once the recorder has stopped.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LoggedEvent>> {
        match self.live.upgrade() {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// At most `limit` stored events after `seq`, oldest first; events of kinds this version
    /// does not know are left out.
    pub async fn after(&self, seq: u64, limit: usize) -> Result<Vec<LoggedEvent>, EventLogError> {
        let store = self.store.clone();
        let stored = tokio::task::spawn_blocking(move || store.events_after(seq, limit))
            .await
            .map_err(|e| EventLogError::Task(e.to_string()))??;
        Ok(stored
            .into_iter()
            .filter_map(LoggedEvent::from_stored)
            .collect())
    }

    /// The position saved under a named cursor, if any.
    pub async fn cursor(&self, name: &str) -> Result<Option<u64>, EventLogError> {
        let (store, key) = (self.store.clone(), cursor_key(name));
        Ok(tokio::task::spawn_blocking(move || store.cursor(&key))
            .await
            .map_err(|e| EventLogError::Task(e.to_string()))??)
    }

    /// Saves a named cursor's position, in the background; a failure is only logged.
    pub fn save_cursor(&self, name: &str, seq: u64) {
        let (store, key) = (self.store.clone(), cursor_key(name));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn_blocking(move || {
            if let Err(e) = store.set_cursor(&key, seq) {
                tracing::warn!(error = %e, cursor = %key, "cannot save a stream cursor");
            }
        });
    }

    /// The sequence number of the last event appended, 0 if none ever was.
    pub async fn last_seq(&self) -> Result<u64, EventLogError> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || store.last_event_seq())
            .await
            .map_err(|e| EventLogError::Task(e.to_string()))??)
    }
}

// ----- the recorder -----

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

/// The recorder's metrics, registered under the `mesh` prefix.
#[derive(Debug, Clone, Default)]
struct RecorderMetrics {
    recorded: Family<KindLabel, Counter>,
    missed: Family<KindLabel, Counter>,
    failed: Counter,
    /// The network's own count of events a slow local subscriber missed.
    subscriber_lagged: Counter,
}

impl RecorderMetrics {
    fn register(registry: &mut Registry, subscriber_lagged: Counter) -> Self {
        let m = Self {
            subscriber_lagged,
            ..Self::default()
        };
        let r = registry.sub_registry_with_prefix("mesh");
        r.register(
            "events_recorded",
            "Events appended to the node's event log, by kind",
            m.recorded.clone(),
        );
        r.register(
            "events_missed",
            "Events the event log recorder missed because it fell behind, by kind",
            m.missed.clone(),
        );
        r.register(
            "event_log_errors",
            "Events that could not be appended to the event log (see the node's log)",
            m.failed.clone(),
        );
        m
    }

    fn missed(&self, kind: EventKind, n: u64) {
        tracing::warn!(
            kind = kind.as_str(),
            missed = n,
            "event log recorder fell behind; events were not recorded"
        );
        self.missed
            .get_or_create(&KindLabel {
                kind: kind.as_str().to_owned(),
            })
            .inc_by(n);
        self.subscriber_lagged.inc_by(n);
    }

    fn recorded(&self, kind: EventKind) {
        self.recorded
            .get_or_create(&KindLabel {
                kind: kind.as_str().to_owned(),
            })
            .inc();
    }
}

/// The running recorder of a node: an async task that takes events from the network's
/// broadcasts and queues them, and a blocking writer that appends them to the store and then
/// publishes them live.
pub(crate) struct Recorder {
    log: EventLog,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Recorder {
    /// Subscribes to the network's broadcasts of `handle` and starts recording them in `store`.
    /// Call it right after the network starts, so that nothing falls in between.
    pub(crate) fn spawn(handle: &MeshHandle, store: Store, registry: &mut Registry) -> Self {
        let sources = Sources {
            intents: Some(handle.subscribe_intents()),
            updates: Some(handle.subscribe_intent_updates()),
            negotiations: Some(handle.subscribe_negotiations()),
        };
        let metrics =
            RecorderMetrics::register(registry, handle.metrics().subscriber_lagged.clone());
        let (live, _) = broadcast::channel(LIVE_QUEUE);
        let log = EventLog {
            store: store.clone(),
            live: live.downgrade(),
        };
        let (queue, queued) = mpsc::channel(WRITE_QUEUE);
        let writer = {
            let metrics = metrics.clone();
            tokio::task::spawn_blocking(move || write(&store, queued, &live, &metrics))
        };
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(
            RecorderTask {
                sources,
                queue,
                budget: Arc::new(Semaphore::new(WRITE_BUDGET)),
                metrics,
                capabilities: RememberedCapabilities::default(),
            }
            .run(stop_rx),
        );
        Self {
            log,
            stop,
            task,
            writer,
        }
    }

    /// The log it writes, for the API.
    pub(crate) fn log(&self) -> EventLog {
        self.log.clone()
    }

    /// Writes what it holds, stops, and releases its handle on the store.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let stopped = tokio::time::timeout(STOP_WAIT, async {
            let _ = self.task.await;
            let _ = self.writer.await;
        })
        .await;
        if stopped.is_err() {
            tracing::warn!("event log recorder did not stop in time");
        }
    }
}

struct Sources {
    intents: Option<broadcast::Receiver<Arc<ReceivedIntent>>>,
    updates: Option<broadcast::Receiver<Arc<IntentUpdate>>>,
    negotiations: Option<broadcast::Receiver<Arc<NegotiationEvent>>>,
}

impl Sources {
    fn all_closed(&self) -> bool {
        self.intents.is_none() && self.updates.is_none() && self.negotiations.is_none()
    }
}

/// An event taken from a source, not yet recorded.
enum Taken {
    Intent(Arc<ReceivedIntent>),
    Update(Arc<IntentUpdate>),
    Negotiation(Arc<NegotiationEvent>),
}

/// An event type of one of the network's broadcasts.
trait Source: Clone {
    const KIND: EventKind;
    fn taken(self) -> Taken;
}

impl Source for Arc<ReceivedIntent> {
    const KIND: EventKind = EventKind::Intent;
    fn taken(self) -> Taken {
        Taken::Intent(self)
    }
}

impl Source for Arc<IntentUpdate> {
    const KIND: EventKind = EventKind::IntentUpdate;
    fn taken(self) -> Taken {
        Taken::Update(self)
    }
}

impl Source for Arc<NegotiationEvent> {
    const KIND: EventKind = EventKind::Negotiation;
    fn taken(self) -> Taken {
        Taken::Negotiation(self)
    }
}

async fn recv<T: Clone>(rx: &mut Option<broadcast::Receiver<T>>) -> Result<T, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Handles one awaited receive: the event into `batch`, a lag counted, a closed source
/// dropped.
fn take<T: Source>(
    result: Result<T, RecvError>,
    rx: &mut Option<broadcast::Receiver<T>>,
    metrics: &RecorderMetrics,
    batch: &mut Vec<Taken>,
) {
    match result {
        Ok(v) => batch.push(v.taken()),
        Err(RecvError::Lagged(n)) => metrics.missed(T::KIND, n),
        Err(RecvError::Closed) => *rx = None,
    }
}

/// Takes what `rx` holds without waiting, while `batch` has room.
fn drain<T: Source>(
    rx: &mut Option<broadcast::Receiver<T>>,
    metrics: &RecorderMetrics,
    batch: &mut Vec<Taken>,
) {
    while batch.len() < MAX_BATCH {
        let Some(r) = rx.as_mut() else { return };
        match r.try_recv() {
            Ok(v) => batch.push(v.taken()),
            Err(TryRecvError::Lagged(n)) => metrics.missed(T::KIND, n),
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Closed) => *rx = None,
        }
    }
}

/// Capabilities of recently recorded intents, to label their updates; bounded, oldest
/// forgotten first.
#[derive(Default)]
struct RememberedCapabilities {
    by_id: HashMap<String, Vec<String>>,
    order: VecDeque<String>,
}

impl RememberedCapabilities {
    fn remember(&mut self, id: &str, capabilities: &[String]) {
        if self.by_id.contains_key(id) {
            return;
        }
        if self.order.len() >= REMEMBERED_INTENTS
            && let Some(oldest) = self.order.pop_front()
        {
            self.by_id.remove(&oldest);
        }
        self.order.push_back(id.to_owned());
        self.by_id.insert(id.to_owned(), capabilities.to_vec());
    }

    fn get(&self, id: &str) -> Option<&Vec<String>> {
        self.by_id.get(id)
    }
}

/// One event ready to append.
struct Entry {
    kind: EventKind,
    data: String,
    capabilities: Vec<String>,
    /// For an update of an intent not remembered: its id, to look its capabilities up in the
    /// store, and the body to label with them.
    look_up: Option<(IntentId, IntentUpdateEvent)>,
}

/// An entry in the writer's queue, holding its share of the byte budget until written.
struct Queued {
    entry: Entry,
    _budget: OwnedSemaphorePermit,
}

struct RecorderTask {
    sources: Sources,
    queue: mpsc::Sender<Queued>,
    budget: Arc<Semaphore>,
    metrics: RecorderMetrics,
    capabilities: RememberedCapabilities,
}

impl RecorderTask {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            let mut batch = Vec::new();
            let s = &mut self.sources;
            let m = &self.metrics;
            let stopping = tokio::select! {
                biased;
                // A dropped sender (the node was dropped) stops the recorder too.
                changed = stop.changed() => changed.is_err() || *stop.borrow(),
                r = recv(&mut s.intents) => { take(r, &mut s.intents, m, &mut batch); false }
                r = recv(&mut s.updates) => { take(r, &mut s.updates, m, &mut batch); false }
                r = recv(&mut s.negotiations) => { take(r, &mut s.negotiations, m, &mut batch); false }
            };
            if stopping {
                // What is queued already is written; anything later is not waited for.
                for _ in 0..STOP_BATCHES {
                    let mut batch = Vec::new();
                    self.drain_into(&mut batch);
                    if batch.is_empty() {
                        break;
                    }
                    self.enqueue(batch).await;
                }
                break;
            }
            self.drain_into(&mut batch);
            if !batch.is_empty() {
                self.enqueue(batch).await;
            } else if self.sources.all_closed() {
                break;
            }
        }
        // Dropping the queue lets the writer finish what it holds and end.
        tracing::debug!("event log recorder stopped taking events");
    }

    /// Everything already queued joins the batch, intents before their updates.
    fn drain_into(&mut self, batch: &mut Vec<Taken>) {
        let (s, m) = (&mut self.sources, &self.metrics);
        drain(&mut s.intents, m, batch);
        drain(&mut s.updates, m, batch);
        drain(&mut s.negotiations, m, batch);
    }

    /// Hands the batch to the writer, waiting while its queue is full: meanwhile the network's
    /// broadcasts hold the next events, and lag (counted) if the wait is long.
    async fn enqueue(&mut self, batch: Vec<Taken>) {
        for taken in batch {
            let Some(entry) = self.entry(taken) else {
                continue;
            };
            let share = u32::try_from(entry.data.len().clamp(1, WRITE_BUDGET)).unwrap_or(u32::MAX);
            let Ok(budget) = Arc::clone(&self.budget).acquire_many_owned(share).await else {
                return;
            };
            let queued = Queued {
                entry,
                _budget: budget,
            };
            if self.queue.send(queued).await.is_err() {
                tracing::error!("event log writer stopped; events are no longer recorded");
                self.metrics.failed.inc();
                return;
            }
        }
    }

    fn entry(&mut self, taken: Taken) -> Option<Entry> {
        let (kind, data, capabilities, look_up) = match taken {
            Taken::Intent(received) => {
                let view = IntentView::received(&received);
                self.capabilities.remember(&view.id, &view.capabilities);
                let data = serde_json::to_string(&view);
                (EventKind::Intent, data, view.capabilities, None)
            }
            Taken::Update(update) => {
                let known = self.capabilities.get(&update.id).cloned();
                let body = IntentUpdateEvent {
                    update: (*update).clone(),
                    capabilities: known.clone().unwrap_or_default(),
                };
                let look_up = match known {
                    Some(_) => None,
                    None => update
                        .id
                        .parse::<IntentId>()
                        .ok()
                        .map(|id| (id, body.clone())),
                };
                let data = serde_json::to_string(&body);
                (EventKind::IntentUpdate, data, body.capabilities, look_up)
            }
            Taken::Negotiation(event) => {
                let data = serde_json::to_string(&*event);
                (EventKind::Negotiation, data, Vec::new(), None)
            }
        };
        match data {
            Ok(data) => Some(Entry {
                kind,
                data,
                capabilities,
                look_up,
            }),
            Err(e) => {
                tracing::error!(kind = kind.as_str(), error = %e, "event not encodable; not recorded");
                self.metrics.failed.inc();
                None
            }
        }
    }
}

/// The writer, on a blocking thread: appends each queued event (the store commits each
/// durably), then publishes it live, until the queue closes.
fn write(
    store: &Store,
    mut queued: mpsc::Receiver<Queued>,
    live: &broadcast::Sender<Arc<LoggedEvent>>,
    metrics: &RecorderMetrics,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queued.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queued.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut failures = 0u64;
        let mut last_error = None;
        for Queued { entry, _budget } in batch.drain(..) {
            match append(store, entry) {
                Ok(event) => {
                    metrics.recorded(event.kind);
                    // No live subscriber is not an error: the event is in the store.
                    let _ = live.send(Arc::new(event));
                }
                Err(e) => {
                    failures += 1;
                    last_error = Some(e);
                }
            }
        }
        if let Some(e) = last_error {
            metrics.failed.inc_by(failures);
            tracing::error!(events = failures, error = %e, "events not recorded in the event log; streams will not show them");
        }
    }
    tracing::debug!("event log writer stopped");
}

/// Appends one entry, labelling an update of an intent the recorder did not see with the
/// capabilities of the store's copy of the intent.
fn append(store: &Store, mut entry: Entry) -> Result<LoggedEvent, StoreError> {
    if let Some((id, mut body)) = entry.look_up.take()
        && let Some(capabilities) = stored_capabilities(store, &id)
    {
        body.capabilities = capabilities;
        if let Ok(data) = serde_json::to_string(&body) {
            entry.data = data;
            entry.capabilities = body.capabilities;
        }
    }
    let seq = store.append_event(entry.kind.as_str(), entry.data.as_bytes())?;
    Ok(LoggedEvent {
        seq,
        kind: entry.kind,
        data: entry.data,
        capabilities: entry.capabilities,
    })
}

fn stored_capabilities(store: &Store, id: &IntentId) -> Option<Vec<String>> {
    let stored = store.intent(&id.0).ok()??;
    let now = mesh_core::unix_ms(std::time::SystemTime::now());
    let intent = SignedIntent::verify(&stored.envelope, now).ok()?;
    Some(intent.capabilities.iter().map(|c| c.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("other"), None);
    }

    #[test]
    fn updates_of_unknown_intents_reach_every_stream() {
        let update = LoggedEvent {
            seq: 1,
            kind: EventKind::IntentUpdate,
            data: "{}".into(),
            capabilities: Vec::new(),
        };
        assert!(update.matches(&["a".to_owned()]));
        let intent = LoggedEvent {
            kind: EventKind::Intent,
            capabilities: vec!["b".into()],
            ..update
        };
        assert!(!intent.matches(&["a".to_owned()]));
        assert!(intent.matches(&["a".to_owned(), "b".to_owned()]));
        assert!(intent.matches(&[]));
    }

    #[test]
    fn update_bodies_flatten_the_update() {
        let body = IntentUpdateEvent {
            update: IntentUpdate {
                id: "ab".into(),
                status: "cancelled".into(),
                reason: Some("done".into()),
            },
            capabilities: vec!["text-generation".into()],
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "ab", "status": "cancelled", "reason": "done", "capabilities": ["text-generation"]})
        );
        assert_eq!(capabilities_in(&json.to_string()), ["text-generation"]);
    }
}
