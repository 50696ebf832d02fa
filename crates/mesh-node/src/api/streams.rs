//! The Server-Sent Event streams of the local API: `/v1/intents/stream` (verified intents and
//! their updates, filtered by capability) and `/v1/negotiations/stream`. Both resume after the
//! client's last event id or a named cursor, and both open through one path here, which takes
//! a stream slot, replays the event log and goes on live until the node shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::{Stream, StreamExt};
use serde::Deserialize;

use super::error::ApiError;
use super::guard::StreamSlot;
use super::query::{CapabilityQuery, parse_capabilities};
use super::state::ApiState;
use crate::events::{EventKind, Replay, Resume};

/// How often an idle event stream sends a comment, which also finds a client that has gone.
pub const STREAM_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Longest cursor name.
const MAX_CURSOR_NAME: usize = 64;

/// The routes, to be merged behind the token check.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/intents/stream", get(intents))
        .route("/v1/negotiations/stream", get(negotiations))
}

/// Query parameter of the streams that lets a client which cannot set headers resume.
#[derive(Debug, Default, Deserialize)]
struct ResumeQuery {
    /// The last event id the client received.
    #[serde(default)]
    last_event_id: Option<String>,
    /// A name under which the node remembers how far this stream got, so that a client that
    /// reconnects with the same name (and no event id) resumes there.
    #[serde(default)]
    cursor: Option<String>,
}

impl ResumeQuery {
    /// The cursor name, checked: 1 to 64 of `a-z`, `0-9`, `.`, `_`, `-`.
    fn cursor(&self) -> Result<Option<String>, ApiError> {
        let Some(name) = self.cursor.as_deref() else {
            return Ok(None);
        };
        let valid = !name.is_empty()
            && name.len() <= MAX_CURSOR_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if valid {
            Ok(Some(name.to_owned()))
        } else {
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_cursor",
                format!(
                    "cursor {name:?} is not a cursor name: use 1 to 64 of a-z, 0-9, '.', '_' and '-'"
                ),
            ))
        }
    }

    /// Where the stream resumes: the `Last-Event-ID` header if present (a browser's
    /// `EventSource` sets it on reconnect, so it is newer than anything in the URL), else the
    /// `last_event_id` query parameter.
    fn resume(&self, headers: &HeaderMap) -> Result<Resume, ApiError> {
        if let Some(value) = headers.get("last-event-id") {
            let parsed = value.to_str().ok().and_then(|v| v.trim().parse().ok());
            return Ok(parsed.map_or(Resume::Ignored, Resume::After));
        }
        match self.last_event_id.as_deref().map(str::trim) {
            None | Some("") => Ok(Resume::Live),
            Some(v) => v.parse().map(Resume::After).map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_last_event_id",
                    format!("last_event_id {v:?} is not an event id: pass the decimal `id:` of the last event received"),
                )
            }),
        }
    }
}

/// A stream request that passed its checks and holds a slot: where it resumes, under which
/// cursor, and the slot, kept until the response ends.
struct Opening {
    cursor: Option<String>,
    resume: Resume,
    slot: StreamSlot,
}

/// Checks a stream request (its cursor, named within `stream`, and its last event id) and takes
/// a stream slot. Subscribe to the log next, before anything else happens, then [`Opening::serve`].
fn open(
    state: &ApiState,
    stream: &str,
    query: &ResumeQuery,
    headers: &HeaderMap,
) -> Result<Opening, ApiError> {
    let cursor = query.cursor()?.map(|name| format!("{stream}/{name}"));
    let resume = query.resume(headers)?;
    let slot = state.streams.take()?;
    Ok(Opening {
        cursor,
        resume,
        slot,
    })
}

impl Opening {
    /// Starts `replay` where the request asked and serves it as the SSE response.
    async fn serve(
        self,
        replay: Replay,
        state: &ApiState,
    ) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
        let Self {
            cursor,
            mut resume,
            slot,
        } = self;
        let replay = replay
            .with_cursor(cursor, &mut resume)
            .await
            .start(resume)
            .await;
        event_stream(replay, state, slot)
    }
}

/// The SSE response of `replay`: it ends when the node shuts down, and holds `slot` until the
/// response is dropped (the client went away, or the node stopped).
fn event_stream(
    replay: Replay,
    state: &ApiState,
    slot: StreamSlot,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let mut shutdown = state.shutdown.clone();
    let stop = async move {
        let _ = shutdown.wait_for(|stopped| *stopped).await;
    };
    let events = replay
        .into_stream()
        .take_until(Box::pin(stop))
        .map(move |event| {
            let _held = &slot;
            event
        });
    Sse::new(events).keep_alive(KeepAlive::new().interval(STREAM_KEEP_ALIVE))
}

async fn intents(
    State(state): State<ApiState>,
    Query(query): Query<CapabilityQuery>,
    Query(resume): Query<ResumeQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let filter = parse_capabilities(&query.capabilities)?;
    let opening = open(&state, "intents", &resume, &headers)?;
    // Subscribe to the live events before joining topics and before reading the log, so that
    // nothing falls in between; the replay skips what it has already sent.
    let replay = Replay::subscribe(&state.events, &[EventKind::Intent, EventKind::IntentUpdate])
        .filter(filter.iter().map(|c| c.to_string()).collect());
    if !filter.is_empty() {
        state.handle.subscribe(filter).await?;
    }
    Ok(opening.serve(replay, &state).await)
}

async fn negotiations(
    State(state): State<ApiState>,
    Query(resume): Query<ResumeQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let opening = open(&state, "negotiations", &resume, &headers)?;
    let replay = Replay::subscribe(&state.events, &[EventKind::Negotiation]);
    Ok(opening.serve(replay, &state).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_names_are_checked() {
        let named = |v: &str| ResumeQuery {
            last_event_id: None,
            cursor: Some(v.to_owned()),
        };
        assert_eq!(
            named("agent-1.a_b").cursor().unwrap().as_deref(),
            Some("agent-1.a_b")
        );
        assert_eq!(ResumeQuery::default().cursor().unwrap(), None);
        for bad in ["", "Agent", "a/b", &"x".repeat(65)] {
            assert!(named(bad).cursor().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn header_wins_over_query_and_bad_ids_are_handled() {
        let query = |v: &str| ResumeQuery {
            last_event_id: Some(v.to_owned()),
            cursor: None,
        };
        let mut headers = HeaderMap::new();
        assert_eq!(
            ResumeQuery::default().resume(&headers).unwrap(),
            Resume::Live
        );
        assert_eq!(query("7").resume(&headers).unwrap(), Resume::After(7));
        assert!(query("abc").resume(&headers).is_err());
        headers.insert("last-event-id", "12".parse().unwrap());
        assert_eq!(query("7").resume(&headers).unwrap(), Resume::After(12));
        headers.insert("last-event-id", "deadbeef".parse().unwrap());
        assert_eq!(query("7").resume(&headers).unwrap(), Resume::Ignored);
    }
}
