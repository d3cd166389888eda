//! The event stream: typed [`Event`]s about runs, workflows, schedules,
//! supervision, halts, circuit breakers and risk limits, fanned out to any
//! number of subscribers ([`EventStream`]).
//!
//! # Why a broadcast channel
//! Events go through a tokio `broadcast` channel bounded in events
//! (`Config::event_capacity`) and in bytes (`Config::event_capacity_bytes`):
//! a slow subscriber never stalls the runtime or the other subscribers —
//! when it falls behind by more than either bound, it loses the oldest
//! events and reads an [`EventItem::Lagged`]`(n)` marker saying how many,
//! then carries on with the oldest event still held. How `seq` stays in
//! order under concurrent emitters and how the byte bound works: see
//! `events/hub.rs`.
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
//!  "exit_code":0,"error":null,"stdout_truncated":false,"stderr_truncated":false,
//!  "stdout_dropped":0,"stderr_dropped":0}
//! ```
//!
//! - `schema`: [`EVENT_SCHEMA_VERSION`]; fields are only ever added within
//!   a version, a rename or removal bumps it.
//! - `seq`: per orchestrator, strictly increasing in emission order, also
//!   across threads emitting at once (numbered and sent in one step); a
//!   subscriber that keeps up sees every number, so a gap means it lagged
//!   (and it read a `Lagged` marker there).
//! - `time` (RFC 3339, UTC) and `time_ms` (Unix milliseconds).
//! - `correlation`: the request's correlation id (the trace id of
//!   `Orchestrator::trace` and `TRACEPARENT`), the workflow's id for
//!   workflow events, `null` when there is none.
//! - `type` plus the fields of [`EventBody`]'s variant, in snake case.

use serde::{Deserialize, Serialize};

use crate::output::StreamKind;
use crate::pattern::Pattern;
use crate::run::{RunId, RunStatus};
use crate::trace::Correlation;

mod hub;
#[cfg(test)]
mod tests;

pub use hub::{DEFAULT_EVENT_BYTES, EventItem, EventStream, Events, MAX_EVENT_CAPACITY};

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

impl Event {
    /// Approximate bytes this event holds in memory (its own size plus
    /// its strings): what counts against the byte bound of the event
    /// stream (`Config::event_capacity_bytes`).
    pub fn approx_bytes(&self) -> usize {
        Event::approx_size(self.correlation.as_deref(), &self.body)
    }

    pub(crate) fn approx_size(correlation: Option<&str>, body: &EventBody) -> usize {
        let text = match body {
            EventBody::RunQueued { name, .. } => name.len(),
            EventBody::RunOutput { text, .. } => text.len(),
            EventBody::RunFinished { error, .. } => error.as_ref().map_or(0, String::len),
            EventBody::WorkflowStarted { workflow, .. }
            | EventBody::WorkflowCompleted { workflow, .. } => workflow.len(),
            EventBody::BlockStarted { workflow, block } => workflow.len() + block.len(),
            EventBody::BlockFinished {
                workflow,
                block,
                status,
            } => workflow.len() + block.len() + status.len(),
            EventBody::ScheduleFired { schedule, .. } => schedule.len(),
            EventBody::ScheduleSkipped { schedule, reason } => schedule.len() + reason.len(),
            EventBody::ChildRestarted { child, .. } => child.len(),
            EventBody::ChildGaveUp { child, reason } => child.len() + reason.len(),
            EventBody::Halted { reason, .. } | EventBody::Resumed { reason } => reason.len(),
            EventBody::BreakerOpened { key, .. }
            | EventBody::BreakerHalfOpen { key }
            | EventBody::BreakerClosed { key } => key.len(),
            EventBody::LimitExceeded { name, .. } => name.len(),
            EventBody::RunStarted { .. } => 0,
            EventBody::ServiceStarted { service, .. }
            | EventBody::ServiceReady { service, .. }
            | EventBody::ServiceStopped { service } => service.len(),
            EventBody::ServiceRestarting {
                service, reason, ..
            }
            | EventBody::ServiceFailed { service, reason } => service.len() + reason.len(),
        };
        std::mem::size_of::<Event>() + correlation.map_or(0, str::len) + text
    }
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
        /// Its captured stdout was cut at `max_output`: `Output::stdout`
        /// lacks bytes the child wrote.
        #[serde(default)]
        stdout_truncated: bool,
        /// Its captured stderr was cut at `max_output`.
        #[serde(default)]
        stderr_truncated: bool,
        /// Bytes of stdout the capture dropped (`Output::stdout_dropped`).
        #[serde(default)]
        stdout_dropped: u64,
        /// Bytes of stderr the capture dropped (`Output::stderr_dropped`).
        #[serde(default)]
        stderr_dropped: u64,
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
    /// A supervised service started an incarnation (a new run).
    ServiceStarted {
        /// The service's name.
        service: String,
        /// The incarnation's run.
        run_id: RunId,
    },
    /// A service's readiness probe succeeded.
    ServiceReady {
        /// The service's name.
        service: String,
        /// The incarnation's run.
        run_id: RunId,
    },
    /// A service's incarnation ended and the service will start again
    /// after `delay_ms`.
    ServiceRestarting {
        /// The service's name.
        service: String,
        /// Its restarts so far, this one included.
        restarts: u32,
        /// Milliseconds of backoff before the new incarnation.
        delay_ms: u64,
        /// How the last incarnation ended (`exit 1`, `signal 9`, ...).
        reason: String,
    },
    /// A service gave up for good (`Failed`).
    ServiceFailed {
        /// The service's name.
        service: String,
        /// Why (last exit and stderr lines, or the required service).
        reason: String,
    },
    /// A service was stopped (by `stop`, a dependency or shutdown).
    ServiceStopped {
        /// The service's name.
        service: String,
    },
    /// The runtime was halted (`orch.guard().halt`).
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
        /// Which side tripped: `ceiling` (above) or `floor` (below).
        bound: crate::error::Bound,
        /// Whether it halted the runtime.
        auto_halt: bool,
    },
}

// The hooks the runtime calls: one line at each emission point, the work
// here, and nothing at all without subscribers.

// They take the run's data, not the registry's `RunRecord`: the events sit
// below the registry, which calls them.

/// The correlation id as events carry it. Formatting it costs more than
/// the rest of a run's event bookkeeping, so callers ask only while
/// somebody subscribes (`Events::is_active`).
fn correlation_id(correlation: Option<Correlation>) -> Option<String> {
    correlation.map(|c| c.id.to_string())
}

pub(crate) fn run_queued(
    events: &Events,
    correlation: Option<Correlation>,
    run_id: RunId,
    name: &str,
    pattern: Pattern,
) {
    if !events.is_active() {
        return;
    }
    events.emit(correlation_id(correlation), || EventBody::RunQueued {
        run_id,
        name: name.to_string(),
        pattern,
    });
}

pub(crate) fn run_started(events: &Events, correlation: Option<Correlation>, run_id: RunId) {
    if !events.is_active() {
        return;
    }
    events.emit(correlation_id(correlation), || EventBody::RunStarted {
        run_id,
    });
}

/// What `run_finished` reports of an outcome, taken before the registry
/// keeps it (only while somebody subscribes).
pub(crate) type FinishSummary = Option<Finish>;

/// The part of an outcome a `run_finished` event carries.
#[derive(Debug, Default)]
pub(crate) struct Finish {
    exit_code: Option<i32>,
    error: Option<String>,
    stdout_truncated: bool,
    stderr_truncated: bool,
    stdout_dropped: u64,
    stderr_dropped: u64,
}

pub(crate) fn finish_summary(
    events: &Events,
    outcome: &crate::error::Result<crate::output::Output>,
) -> FinishSummary {
    events.is_active().then(|| match outcome {
        Ok(out) => Finish {
            exit_code: out.exit_code,
            error: None,
            stdout_truncated: out.stdout_truncated,
            stderr_truncated: out.stderr_truncated,
            stdout_dropped: out.stdout_dropped,
            stderr_dropped: out.stderr_dropped,
        },
        Err(e) => Finish {
            error: Some(e.to_string()),
            ..Finish::default()
        },
    })
}

pub(crate) fn run_finished(
    events: &Events,
    correlation: Option<Correlation>,
    run_id: RunId,
    status: RunStatus,
    summary: FinishSummary,
) {
    if let Some(finish) = summary {
        events.emit(correlation_id(correlation), || EventBody::RunFinished {
            run_id,
            status,
            exit_code: finish.exit_code,
            error: finish.error,
            stdout_truncated: finish.stdout_truncated,
            stderr_truncated: finish.stderr_truncated,
            stdout_dropped: finish.stdout_dropped,
            stderr_dropped: finish.stderr_dropped,
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

/// The event of a service's life, built only with subscribers.
pub(crate) fn service(events: &Events, body: impl FnOnce() -> EventBody) {
    events.emit(None, body);
}
