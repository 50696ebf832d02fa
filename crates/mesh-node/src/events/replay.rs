//! Server-Sent Event streams of the log: replay after the client's last event id, then live
//! events, with no gap and no duplicate.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::Event;
use futures::Stream;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::{EventKind, EventLog, LoggedEvent, REPLAY_PAGE, RETRY};

/// How often a named cursor's position is saved while events flow, at most.
const CURSOR_SAVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Where a stream resumes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Live events only, from now on.
    Live,
    /// Every retained event after this sequence number, then live events.
    After(u64),
    /// The `Last-Event-ID` header was not a sequence number (say, one from an older node): live
    /// events only, and a comment says so.
    Ignored,
}

/// The SSE events of the log for one stream: `kinds` (with `filter`, capability names, for
/// intents and their updates), starting as `resume` says. Subscribe before anything else
/// happens (joining topics, say) so that no event falls in between.
pub(crate) struct Replay {
    log: EventLog,
    live: broadcast::Receiver<Arc<LoggedEvent>>,
    kinds: &'static [EventKind],
    filter: Vec<String>,
    /// The highest sequence number handled, sent or filtered out.
    last: Option<u64>,
    /// Whether the next events come from the store rather than the live broadcast.
    catching_up: bool,
    /// Stored events read and not yet handled.
    pending: VecDeque<Arc<LoggedEvent>>,
    /// A live event seen ahead of a gap, handled once the gap is read back.
    held: Option<Arc<LoggedEvent>>,
    /// Fields to send before any event.
    preface: VecDeque<Event>,
    /// The named cursor this stream advances, with the last position saved and when.
    cursor: Option<Cursor>,
}

struct Cursor {
    name: String,
    saved: Option<u64>,
    saved_at: std::time::Instant,
}

impl Drop for Replay {
    fn drop(&mut self) {
        if let (Some(c), Some(last)) = (&self.cursor, self.last)
            && c.saved != Some(last)
        {
            self.log.save_cursor(&c.name, last);
        }
    }
}

impl Replay {
    /// Subscribes to the live events of `log` (first, so that nothing is missed).
    pub(crate) fn subscribe(log: &EventLog, kinds: &'static [EventKind]) -> Self {
        Self {
            live: log.subscribe(),
            log: log.clone(),
            kinds,
            filter: Vec::new(),
            last: None,
            catching_up: false,
            pending: VecDeque::new(),
            held: None,
            preface: VecDeque::from([Event::default().retry(RETRY)]),
            cursor: None,
        }
    }

    /// Advances the named cursor `name` as events are sent; with no event id from the client,
    /// resumes from its saved position. Call before [`Self::start`].
    pub(crate) async fn with_cursor(mut self, name: Option<String>, resume: &mut Resume) -> Self {
        let Some(name) = name else {
            return self;
        };
        if *resume == Resume::Live {
            match self.log.cursor(&name).await {
                Ok(Some(seq)) => *resume = Resume::After(seq),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read a stream cursor; starting live"),
            }
        }
        self.cursor = Some(Cursor {
            name,
            saved: None,
            saved_at: std::time::Instant::now(),
        });
        self
    }

    /// Saves the named cursor if it moved and the last save is old enough.
    fn advance_cursor(&mut self) {
        let (Some(c), Some(last)) = (self.cursor.as_mut(), self.last) else {
            return;
        };
        if c.saved != Some(last) && c.saved_at.elapsed() >= CURSOR_SAVE_INTERVAL {
            self.log.save_cursor(&c.name, last);
            c.saved = Some(last);
            c.saved_at = std::time::Instant::now();
        }
    }

    /// Only intents (and updates of intents) with one of these capabilities; empty for all.
    pub(crate) fn filter(mut self, capabilities: Vec<String>) -> Self {
        self.filter = capabilities;
        self
    }

    /// Reads where the log stands and decides where to start; call after [`Self::subscribe`].
    pub(crate) async fn start(mut self, resume: Resume) -> Self {
        let end = match self.log.last_seq().await {
            Ok(end) => Some(end),
            Err(e) => {
                tracing::warn!(error = %e, "event log unreadable; the stream starts live");
                self.preface
                    .push_back(Event::default().comment("event log unreadable: live events only"));
                None
            }
        };
        match (resume, end) {
            (Resume::After(id), Some(end)) if id > end => {
                self.preface.push_back(Event::default().comment(format!(
                    "last event id {id} is ahead of the log, which ends at {end}: live events only"
                )));
                self.last = Some(end);
            }
            (Resume::After(id), Some(_)) => {
                self.last = Some(id);
                self.catching_up = true;
            }
            (Resume::Ignored, end) => {
                self.preface.push_back(
                    Event::default().comment("Last-Event-ID is not an event id: live events only"),
                );
                self.last = end;
            }
            (_, end) => self.last = end,
        }
        self
    }

    fn wants(&self, event: &LoggedEvent) -> bool {
        self.kinds.contains(&event.kind) && event.matches(&self.filter)
    }

    /// The next SSE event, or `None` once the recorder has stopped.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(field) = self.preface.pop_front() {
                return Some(field);
            }
            if let Some(event) = self.pending.pop_front() {
                if self.last.is_some_and(|last| event.seq <= last) {
                    continue;
                }
                self.last = Some(event.seq);
                self.advance_cursor();
                if self.wants(&event) {
                    return Some(sse_event(&event));
                }
                continue;
            }
            if self.catching_up {
                self.read_page().await;
                continue;
            }
            match self.live.recv().await {
                Ok(event) => match self.last {
                    Some(last) if event.seq <= last => {}
                    Some(last) if event.seq > last + 1 => {
                        // Events between were recorded while this stream was not listening.
                        self.held = Some(event);
                        self.catching_up = true;
                    }
                    _ => self.pending.push_back(event),
                },
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(
                        missed = n,
                        "event stream fell behind; reading the gap from the store"
                    );
                    if self.last.is_some() {
                        self.catching_up = true;
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Reads the next page after `last` from the store; a short page ends the catch-up.
    async fn read_page(&mut self) {
        let after = self.last.unwrap_or(0);
        match self.log.after(after, REPLAY_PAGE).await {
            Ok(page) => {
                if let Some(first) = page.first()
                    && first.seq > after + 1
                {
                    self.preface.push_back(
                        Event::default().comment(format!("log starts at {}", first.seq)),
                    );
                }
                if page.len() < REPLAY_PAGE {
                    self.end_catch_up();
                }
                self.pending.extend(page.into_iter().map(Arc::new));
            }
            Err(e) => {
                tracing::warn!(error = %e, "event log unreadable; the stream goes on live");
                self.preface.push_back(
                    Event::default().comment("event log unreadable: some events are missing"),
                );
                self.end_catch_up();
            }
        }
    }

    fn end_catch_up(&mut self) {
        self.catching_up = false;
        if let Some(held) = self.held.take() {
            self.pending.push_back(held);
        }
    }

    /// The stream of SSE events.
    pub(crate) fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> {
        futures::stream::unfold(self, |mut replay| async move {
            let event = replay.next().await?;
            Some((Ok(event), replay))
        })
    }
}

fn sse_event(event: &LoggedEvent) -> Event {
    Event::default()
        .event(event.kind.as_str())
        .id(event.seq.to_string())
        .data(&event.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::LoggedEvent;
    use mesh_store::Store;

    #[tokio::test]
    async fn a_lagging_stream_reads_the_gap_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.redb")).unwrap();
        let (live, _) = broadcast::channel(2);
        let log = EventLog {
            store: store.clone(),
            live: live.downgrade(),
        };
        let replay = Replay::subscribe(&log, &[EventKind::Negotiation])
            .start(Resume::Live)
            .await;
        // Ten events, recorded and published, overflow the live queue of two.
        for i in 0..10u64 {
            let data = format!("{{\"n\":{i}}}");
            let seq = store.append_event("negotiation", data.as_bytes()).unwrap();
            let _ = live.send(Arc::new(LoggedEvent {
                seq,
                kind: EventKind::Negotiation,
                data,
                capabilities: Vec::new(),
            }));
        }
        drop(live);
        let mut replay = replay;
        // The retry field first, then the ten events in order, none twice.
        assert!(replay.next().await.is_some());
        let mut seqs = Vec::new();
        while replay.next().await.is_some() {
            seqs.push(replay.last.unwrap());
        }
        assert_eq!(seqs, (1..=10).collect::<Vec<u64>>());
    }

    #[tokio::test]
    async fn a_replay_longer_than_a_page_reads_page_after_page() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.redb")).unwrap();
        let total = 3 * REPLAY_PAGE as u64 + 5;
        for i in 0..total {
            store
                .append_event("negotiation", format!("{{\"n\":{i}}}").as_bytes())
                .unwrap();
        }
        let (live, _) = broadcast::channel(4);
        let log = EventLog {
            store,
            live: live.downgrade(),
        };
        let mut replay = Replay::subscribe(&log, &[EventKind::Negotiation])
            .start(Resume::After(0))
            .await;
        drop(live);
        assert!(replay.next().await.is_some(), "the retry field");
        let mut seqs = Vec::new();
        while replay.next().await.is_some() {
            assert!(replay.pending.len() <= REPLAY_PAGE, "one page held at most");
            seqs.push(replay.last.unwrap());
        }
        assert_eq!(seqs, (1..=total).collect::<Vec<u64>>());
    }

    #[tokio::test]
    async fn an_id_older_than_the_log_gets_what_is_kept_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let config = mesh_store::StoreConfig::new().with_event_retention(3);
        let store = Store::open_with(&dir.path().join("store.redb"), config).unwrap();
        for i in 0..10u64 {
            store
                .append_event("intent", format!("{{\"n\":{i}}}").as_bytes())
                .unwrap();
        }
        let (live, _) = broadcast::channel(4);
        let log = EventLog {
            store,
            live: live.downgrade(),
        };
        let mut replay = Replay::subscribe(&log, &[EventKind::Intent])
            .start(Resume::After(2))
            .await;
        drop(live);
        let retry = format!("{:?}", replay.next().await.unwrap());
        assert!(retry.contains("retry: 2000"), "{retry}");
        let comment = format!("{:?}", replay.next().await.unwrap());
        assert!(comment.contains("log starts at 8"), "{comment}");
        let mut seqs = Vec::new();
        while let Some(event) = replay.next().await {
            assert!(format!("{event:?}").contains("event: intent"));
            seqs.push(replay.last.unwrap());
        }
        assert_eq!(seqs, [8, 9, 10]);
    }
}
