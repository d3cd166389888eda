//! The event stream: typed [`Event`]s about runs, workflows, schedules,
//! supervision, halts, circuit breakers and risk limits, fanned out to any
//! number of subscribers ([`EventStream`]).
//!
//! # Why a broadcast channel
//! Events go through a tokio `broadcast` channel with a fixed capacity
//! (`Config::event_capacity`): a slow subscriber never stalls the runtime
//! or the other subscribers — when it falls behind by more than the
//! capacity, it loses the oldest events and reads an
//! [`EventItem::Lagged`]`(n)` marker saying how many, then carries on with
//! the oldest event still held.
//!
//! # Why emitting is free without subscribers
//! Every hook in the runtime (registry transitions, the supervisor, the
//! scheduler, ...) calls [`Events::emit`] with a closure that builds the
//! event. The closure runs only when somebody subscribes: the check is one
//! relaxed atomic load of our own subscriber count (tokio's
//! `receiver_count` takes a lock), so no event is built, timestamped or
//! allocated while nobody listens.
//!
//! # JSON form (schema version 1)
//! `serde_json::to_string(&event)` gives one flat object, ready to push
//! over a WebSocket or SSE:
//!
//! ```json
//! {"schema":1,"seq":7,"time":"2026-01-02T03:04:05.123456Z","time_ms":1767323045123,
//!  "correlation":"…32 hex digits…","type":"run_finished","run_id":"…","status":"succeeded",
//!  "exit_code":0,"error":null}
//! ```
//!
//! - `schema`: [`EVENT_SCHEMA_VERSION`]; fields are only ever added within
//!   a version, a rename or removal bumps it.
//! - `seq`: per orchestrator, strictly increasing in emission order (a gap
//!   seen by one subscriber means it lagged).
//! - `time` (RFC 3339, UTC) and `time_ms` (Unix milliseconds).
//! - `correlation`: the request's correlation id (the trace id of
//!   `Orchestrator::trace` and `TRACEPARENT`), the workflow's id for
//!   workflow events, `null` when there is none.
//! - `type` plus the fields of [`EventBody`]'s variant, in snake case.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::output::StreamKind;
use crate::pattern::Pattern;
use crate::registry::RunRecord;
use crate::run::{RunId, RunStatus};

#[cfg(test)]
mod tests;

/// Version of the JSON form of [`Event`] (its `schema` field).
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// Events a subscriber may fall behind by before it loses the oldest
/// (`Config::event_capacity`).
pub const DEFAULT_EVENT_CAPACITY: usize = 4096;

/// One thing that happened in the runtime (see the module docs for the
/// JSON form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// [`EVENT_SCHEMA_VERSION`].
    pub schema: u32,
    /// Emission order within one orchestrator.
    pub seq: u64,
    /// When it happened (RFC 3339 in JSON).
    pub time: chrono::DateTime<chrono::Utc>,
    /// The same instant in Unix milliseconds.
    pub time_ms: u64,
    /// The correlation id of the request (or workflow) it belongs to.
    pub correlation: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
}

/// What happened: the `type` field of the JSON form and its own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventBody {
    /// A run was accepted (`Queued`).
    RunQueued {
        /// The run.
        run_id: RunId,
        /// Its name.
        name: String,
        /// The pattern running it.
        pattern: Pattern,
    },
    /// A run got its execution slot and started (`Running`).
    RunStarted {
        /// The run.
        run_id: RunId,
    },
    /// A run's process wrote a line.
    RunOutput {
        /// The run.
        run_id: RunId,
        /// Which stream.
        stream: StreamKind,
        /// The line's position in the run's output (as in `OutputLine`).
        line_seq: u64,
        /// The line, without its newline.
        text: String,
    },
    /// A run reached its terminal status.
    RunFinished {
        /// The run.
        run_id: RunId,
        /// Its terminal status.
        status: RunStatus,
        /// The exit code, for a process that exited.
        exit_code: Option<i32>,
        /// The error's message, when it ended with one.
        error: Option<String>,
    },
    /// A workflow started.
    WorkflowStarted {
        /// The workflow's id.
        workflow: String,
        /// How many blocks it has.
        blocks: usize,
    },
    /// A block of a workflow started.
    BlockStarted {
        /// The workflow's id.
        workflow: String,
        /// The block's id.
        block: String,
    },
    /// A block of a workflow ended.
    BlockFinished {
        /// The workflow's id.
        workflow: String,
        /// The block's id.
        block: String,
        /// How it ended (`skipped` when an earlier block failed).
        status: String,
    },
    /// A workflow ended.
    WorkflowCompleted {
        /// The workflow's id.
        workflow: String,
        /// Whether every block succeeded.
        succeeded: bool,
    },
    /// A schedule fired and started a run.
    ScheduleFired {
        /// The schedule's name.
        schedule: String,
        /// The run it started.
        run_id: RunId,
    },
    /// A schedule's tick passed without a run.
    ScheduleSkipped {
        /// The schedule's name.
        schedule: String,
        /// Why ("overlap", "halted").
        reason: String,
    },
    /// The supervisor restarted an actor.
    ChildRestarted {
        /// The child's name ("executor", ...).
        child: String,
        /// Its restarts so far.
        restarts: u32,
    },
    /// The supervisor gave up on an actor (restart intensity exceeded).
    ChildGaveUp {
        /// The child's name.
        child: String,
        /// Why.
        reason: String,
    },
    /// The runtime was halted (`Orchestrator::halt`).
    Halted {
        /// The reason given.
        reason: String,
        /// Runs that were cancelled by it.
        cancelled: usize,
    },
    /// The runtime resumed after a halt.
    Resumed {
        /// The reason the halt had been given.
        reason: String,
    },
    /// A circuit breaker opened: work for its key fails fast.
    BreakerOpened {
        /// The dependency key.
        key: String,
        /// Consecutive failures when it opened.
        failures: u32,
        /// Milliseconds until it lets a trial through.
        retry_after_ms: u64,
    },
    /// An open breaker let one trial through (half-open).
    BreakerHalfOpen {
        /// The dependency key.
        key: String,
    },
    /// A breaker closed again after a successful trial.
    BreakerClosed {
        /// The dependency key.
        key: String,
    },
    /// A risk limit was exceeded.
    LimitExceeded {
        /// The limit's name.
        name: String,
        /// The value checked.
        value: f64,
        /// The limit.
        limit: f64,
        /// Whether it halted the runtime.
        auto_halt: bool,
    },
}

/// The sending side, shared by every hook of one runtime. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Events {
    hub: Arc<Hub>,
    // Live `EventStream`s: the cheap "is anybody listening" flag. Apart
    // from the hub, so a stream does not keep the sender (and the channel)
    // alive after the runtime is gone.
    subscribers: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct Hub {
    tx: broadcast::Sender<Event>,
    seq: AtomicU64,
}

impl Events {
    /// A hub whose subscribers may fall `capacity` events behind (at least 1).
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Events {
            hub: Arc::new(Hub {
                tx,
                seq: AtomicU64::new(0),
            }),
            subscribers: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Whether anybody subscribes (one atomic load).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.subscribers.load(Ordering::Relaxed) > 0
    }

    /// Emit the event `body` builds, if anybody subscribes; `body` does not
    /// run otherwise.
    #[inline]
    pub fn emit(&self, correlation: Option<String>, body: impl FnOnce() -> EventBody) {
        if self.is_active() {
            self.send(correlation, body());
        }
    }

    fn send(&self, correlation: Option<String>, body: EventBody) {
        let now = SystemTime::now();
        let time_ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let event = Event {
            schema: EVENT_SCHEMA_VERSION,
            seq: self.hub.seq.fetch_add(1, Ordering::Relaxed),
            time: now.into(),
            time_ms,
            correlation,
            body,
        };
        // An error means every receiver has gone since the check: nobody
        // to tell.
        let _ = self.hub.tx.send(event);
    }

    /// A new subscriber, seeing events emitted from now on.
    pub fn subscribe(&self) -> EventStream {
        // Counted before the receiver exists, so no event emitted after
        // `subscribe` returns is skipped by the flag.
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        EventStream {
            rx: self.hub.tx.subscribe(),
            subscribers: Arc::clone(&self.subscribers),
        }
    }

    /// Live subscribers.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
    }
}

/// What [`EventStream::next`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum EventItem {
    /// The next event.
    Event(Event),
    /// The subscriber fell behind: this many of the oldest events were
    /// lost; the stream goes on with the oldest one still held.
    Lagged(u64),
}

/// One subscriber's view of the event stream (`Orchestrator::subscribe`).
/// Dropping it unsubscribes.
#[derive(Debug)]
pub struct EventStream {
    rx: broadcast::Receiver<Event>,
    subscribers: Arc<AtomicUsize>,
}

impl EventStream {
    /// The next event, a [`EventItem::Lagged`] marker after events were
    /// lost, or `None` once the runtime is gone.
    ///
    /// # Cancel safety
    /// Cancel safe: an event is consumed only when this returns it.
    pub async fn next(&mut self) -> Option<EventItem> {
        match self.rx.recv().await {
            Ok(event) => Some(EventItem::Event(event)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(EventItem::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Option<EventItem> {
        match self.rx.try_recv() {
            Ok(event) => Some(EventItem::Event(event)),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Some(EventItem::Lagged(n)),
            Err(_) => None,
        }
    }

    /// The next event, skipping lag markers (for callers that only count
    /// on what they see).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            match self.next().await? {
                EventItem::Event(event) => return Some(event),
                EventItem::Lagged(_) => continue,
            }
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

// The hooks the runtime calls: one line at each emission point, the work
// here, and nothing at all without subscribers.

fn correlation_of(record: &RunRecord) -> Option<String> {
    record.correlation().map(|c| c.id.to_string())
}

pub(crate) fn run_queued(record: &RunRecord) {
    record
        .events()
        .emit(correlation_of(record), || EventBody::RunQueued {
            run_id: record.id(),
            name: record.name().to_string(),
            pattern: record.pattern(),
        });
}

pub(crate) fn run_started(record: &RunRecord) {
    record
        .events()
        .emit(correlation_of(record), || EventBody::RunStarted {
            run_id: record.id(),
        });
}

/// What `run_finished` reports of an outcome, taken before the registry
/// keeps it (only while somebody subscribes).
pub(crate) type FinishSummary = Option<(Option<i32>, Option<String>)>;

pub(crate) fn finish_summary(
    record: &RunRecord,
    outcome: &crate::error::Result<crate::output::Output>,
) -> FinishSummary {
    record.events().is_active().then(|| match outcome {
        Ok(out) => (out.exit_code, None),
        Err(e) => (None, Some(e.to_string())),
    })
}

pub(crate) fn run_finished(record: &RunRecord, status: RunStatus, summary: FinishSummary) {
    if let Some((exit_code, error)) = summary {
        record
            .events()
            .emit(correlation_of(record), || EventBody::RunFinished {
                run_id: record.id(),
                status,
                exit_code,
                error,
            });
    }
}

/// One `run_output` event per line of a batch whose first line has seq
/// `first`; `lines` hands each line's text to its argument.
pub(crate) fn run_output(
    events: &Events,
    run_id: RunId,
    stream: StreamKind,
    first: u64,
    lines: impl FnOnce(&mut dyn FnMut(String)),
) {
    if !events.is_active() {
        return;
    }
    let mut line_seq = first;
    lines(&mut |text| {
        events.emit(None, || EventBody::RunOutput {
            run_id,
            stream,
            line_seq,
            text,
        });
        line_seq += 1;
    });
}

pub(crate) fn child_restarted(events: &Events, child: &str, restarts: u32) {
    events.emit(None, || EventBody::ChildRestarted {
        child: child.to_string(),
        restarts,
    });
}

pub(crate) fn child_gave_up(events: &Events, child: &str, reason: &str) {
    events.emit(None, || EventBody::ChildGaveUp {
        child: child.to_string(),
        reason: reason.to_string(),
    });
}

pub(crate) fn schedule_fired(events: &Events, schedule: &str, run_id: RunId) {
    events.emit(None, || EventBody::ScheduleFired {
        schedule: schedule.to_string(),
        run_id,
    });
}

pub(crate) fn schedule_skipped(events: &Events, schedule: &str, reason: &str) {
    events.emit(None, || EventBody::ScheduleSkipped {
        schedule: schedule.to_string(),
        reason: reason.to_string(),
    });
}
