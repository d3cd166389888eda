//! The live streams, as Server-Sent Events.
//!
//! `GET /events`: every runtime event as `data:` (its JSON form, schema
//! of `taskorch::events`), `id:` its `seq`. A client that reconnects with
//! `Last-Event-ID` (or `?last_event_id=`) first gets what the hub's ring
//! still holds after that id; if the ring no longer reaches back that
//! far, a `lagged` event (`{"missed": n}`) says how many it lost. A client
//! that falls `client_buffer` events behind while connected gets a
//! `lagged` event and is disconnected: it reconnects with its last id.
//!
//! `GET /runs/{id}/output/stream`: the run's lines (`event: line`, `id:`
//! the line's `seq`, data `{stream, seq, text, time}`): the ring's backlog
//! first, then live ones, and last `event: end` with the run as `GET
//! /runs/{id}` shows it (its outcome). `Last-Event-ID` skips the lines
//! already seen. Each reader follows at its own pace and never slows the
//! run (a reader a whole ring behind skips lines: a jump in `seq`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use tokio::sync::broadcast;

use crate::Error;

use super::hub::Frame;
use super::problem::{Problem, ProblemDoc};
use super::run_json::{self, Run};
use super::state::AppState;

/// How long a disconnected client waits before reconnecting (the SSE
/// `retry` field sent first).
const RETRY: Duration = Duration::from_secs(1);

/// The last id the client saw: the `Last-Event-ID` header, else the
/// `last_event_id` query parameter (a browser's first `EventSource`
/// connect cannot set headers).
fn last_event_id(headers: &HeaderMap, pairs: &[(String, String)]) -> Result<Option<u64>, Error> {
    let mut text = None;
    for (name, value) in pairs {
        match name.as_str() {
            "last_event_id" => text = Some(value.clone()),
            other => {
                return Err(Error::BadRequest {
                    what: "query".to_string(),
                    reason: format!("unknown parameter {other:?}"),
                });
            }
        }
    }
    if let Some(value) = headers.get("last-event-id") {
        text = Some(
            value
                .to_str()
                .map_err(|_| Error::BadRequest {
                    what: "Last-Event-ID".to_string(),
                    reason: "not ASCII".to_string(),
                })?
                .to_string(),
        );
    }
    text.map(|t| {
        t.trim().parse::<u64>().map_err(|e| Error::BadRequest {
            what: "Last-Event-ID".to_string(),
            reason: format!("{t:?}: {e}"),
        })
    })
    .transpose()
}

fn frame_event(frame: &Frame) -> Event {
    Event::default().id(frame.seq.to_string()).data(&frame.json)
}

fn lagged_event(missed: u64) -> Event {
    Event::default()
        .event("lagged")
        .data(format!("{{\"missed\":{missed}}}"))
}

/// One `/events` client's feed.
struct Feed {
    pending: VecDeque<Event>,
    live: Option<broadcast::Receiver<std::sync::Arc<Frame>>>,
    last: Option<u64>,
    state: AppState,
}

fn feed(feed: Feed) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(feed, |mut f| async move {
        if let Some(event) = f.pending.pop_front() {
            return Some((Ok(event), f));
        }
        let live = f.live.as_mut()?;
        loop {
            match live.recv().await {
                Ok(frame) => {
                    // Replayed already (joined the feed before the ring).
                    if f.last.is_some_and(|last| frame.seq <= last) {
                        continue;
                    }
                    f.last = Some(frame.seq);
                    return Some((Ok(frame_event(&frame)), f));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // Dropped: it reconnects with its last id and replays
                    // what the ring still holds.
                    f.live = None;
                    f.state.metrics.client_lagged();
                    return Some((Ok(lagged_event(n)), f));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// The runtime's events, live.
#[utoipa::path(
    get,
    path = "/events",
    tag = "streams",
    params(
        ("Last-Event-ID" = Option<u64>, Header, description = "replay what followed this event"),
        ("last_event_id" = Option<u64>, Query, description = "the same, for a first EventSource connect"),
    ),
    responses(
        (status = 200, description = "text/event-stream of events (JSON), `lagged` events on loss", content_type = "text/event-stream", body = String),
        (status = 400, description = "malformed Last-Event-ID", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let result = (|| {
        let Query(pairs) = query.map_err(|e| Error::BadRequest {
            what: "query".to_string(),
            reason: e.body_text(),
        })?;
        let last = last_event_id(&headers, &pairs)?;
        state.live("GET /events")?;
        let hub = state.hub.as_ref().ok_or_else(|| Error::ReadOnly {
            what: "GET /events".to_string(),
        })?;
        Ok::<_, Error>((hub.join(last), last))
    })();
    let (joined, last) = match result {
        Ok(joined) => joined,
        Err(e) => return Problem(e).into_response(),
    };
    let mut pending = VecDeque::new();
    pending.push_back(Event::default().retry(RETRY).comment("taskorch events"));
    if joined.missed > 0 {
        pending.push_back(lagged_event(joined.missed));
    }
    let mut seen = last;
    for frame in &joined.replay {
        seen = Some(frame.seq);
        pending.push_back(frame_event(frame));
    }
    let feed = feed(Feed {
        pending,
        live: Some(joined.live),
        last: seen,
        state: state.clone(),
    });
    Sse::new(feed)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A run's output, live, ending with its outcome.
#[utoipa::path(
    get,
    path = "/runs/{id}/output/stream",
    tag = "streams",
    params(
        ("id" = String, Path, description = "full run id, or a unique suffix"),
        ("Last-Event-ID" = Option<u64>, Header, description = "skip lines up to this seq"),
    ),
    responses(
        (status = 200, description = "text/event-stream: `line` events, then one `end` event with the run", content_type = "text/event-stream", body = String),
        (status = 404, description = "no such run", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn output_stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let result = (|| {
        let Query(pairs) = query.map_err(|e| Error::BadRequest {
            what: "query".to_string(),
            reason: e.body_text(),
        })?;
        let last = last_event_id(&headers, &pairs)?;
        let orch = state.live("GET /runs/{id}/output/stream")?.clone();
        let id = state.resolve(&id)?;
        let lines = orch.observe().subscribe_output(id)?;
        Ok::<_, Error>((id, lines, last))
    })();
    let (id, lines, last) = match result {
        Ok(ok) => ok,
        Err(e) => return Problem(e).into_response(),
    };
    let start = Event::default().retry(RETRY).comment("taskorch output");
    let stream = futures::stream::unfold(
        (Some(start), Some(lines), state),
        move |(first, lines, state)| async move {
            if let Some(first) = first {
                return Some((Ok::<_, Infallible>(first), (None, lines, state)));
            }
            let mut lines = lines?;
            while let Some(line) = lines.next_line().await {
                if last.is_some_and(|l| line.seq <= l) {
                    continue;
                }
                let time = lines.last_time();
                let json = super::routes::runs::Line::new(line, time);
                let seq = json.seq();
                let event = Event::default()
                    .event("line")
                    .id(seq.to_string())
                    .data(serde_json::to_string(&json).unwrap_or_default());
                return Some((Ok(event), (None, Some(lines), state)));
            }
            // The end: the run as `GET /runs/{id}` shows it.
            let data = match state.details(id).await {
                Ok(details) => {
                    let all = state.all_ids().unwrap_or_default();
                    let run = Run::new(&details, run_json::short(id, &all));
                    serde_json::to_string(&run).unwrap_or_default()
                }
                Err(e) => format!("{{\"error\":{}}}", serde_json::Value::String(e.to_string())),
            };
            let end = Event::default().event("end").data(data);
            Some((Ok(end), (None, None, state)))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
