//! One recorded event: [`TraceEvent`], and what kind of thing it records.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::CorrelationId;
use crate::run::RunId;

/// What a [`TraceEvent`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// An actor handled a message (its name is the message kind).
    Message,
    /// A run, from entering the runner to its terminal status.
    Run,
    /// A pool request, from the caller's enqueue to the worker's answer.
    Request,
    /// The root supervisor saw a child fail, restarted it, or gave up on
    /// it (named `ChildFailed`, `ChildRestarted`, `ChildGaveUp`).
    Supervisor,
    /// An injected fault that is not tied to a message (`KillChildProcess`).
    Fault,
}

impl EventKind {
    /// Lower-case name, as in the exports.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Run => "run",
            EventKind::Request => "request",
            EventKind::Supervisor => "supervisor",
            EventKind::Fault => "fault",
        }
    }
}

/// How the recorded handling ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Handled. For a run or request: it succeeded.
    Ok,
    /// The handler returned an error (the actor fails and is restarted).
    /// For a run: it did not succeed (non-zero exit, error, time-out, ...);
    /// for a supervisor event: a failure or a give-up.
    Error,
    /// The handler panicked (the actor fails and is restarted).
    Panic,
    /// The message was dropped unhandled with its reply (the injected
    /// fault `DropReply`); its caller got `ActorFailed`.
    ReplyDropped,
}

impl Outcome {
    /// Lower-case name, as in the exports.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Panic => "panic",
            Outcome::ReplyDropped => "reply_dropped",
        }
    }
}

/// One entry of the message trace (see the [module docs](crate::trace)).
///
/// Times are kept as integer nanoseconds on one monotonic clock;
/// the accessors turn them into [`Instant`]s and [`Duration`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceEvent {
    pub(super) seq: u64,
    pub(super) actor: &'static str,
    pub(super) name: &'static str,
    pub(super) kind: EventKind,
    pub(super) outcome: Outcome,
    pub(super) run: Option<RunId>,
    pub(super) correlation: Option<CorrelationId>,
    pub(super) enqueued: Option<u64>,
    pub(super) started: u64,
    pub(super) ended: u64,
}

impl TraceEvent {
    /// Position in recording order (dense and increasing per runtime;
    /// events overwritten in a full ring leave gaps in a snapshot).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The actor: a child name ("executor", "batch", "launcher",
    /// "scheduler", "pool_keeper"), "pool_worker", or "supervisor".
    pub fn actor(&self) -> &'static str {
        self.actor
    }

    /// The message kind (the message enum's variant name, e.g. "Run",
    /// "Launch", "Tick"), "run" for runs, "Request" for pool requests, or
    /// the supervisor event / fault name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What this event records.
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// How it ended.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The run, for run events (and faults that hit a run's process).
    pub fn run_id(&self) -> Option<RunId> {
        self.run
    }

    /// The request this event belongs to: a request keeps one id through
    /// every actor it touches and every run it starts.
    pub fn correlation(&self) -> Option<CorrelationId> {
        self.correlation
    }

    /// When the sender enqueued the message (`None` for messages the
    /// runtime sends itself, such as timer ticks and status probes, and
    /// for supervisor events). For a run: when it entered the runner.
    pub fn enqueued(&self) -> Option<Instant> {
        self.enqueued.map(super::instant)
    }

    /// When handling started (for a run: when it got its execution slot).
    pub fn started(&self) -> Instant {
        super::instant(self.started)
    }

    /// When handling ended.
    pub fn ended(&self) -> Instant {
        super::instant(self.ended)
    }

    /// Enqueued to handling start: time spent waiting in the mailbox (for
    /// a run: waiting for an execution slot). `None` if the enqueue time
    /// is unknown.
    pub fn queue_time(&self) -> Option<Duration> {
        self.enqueued
            .map(|at| Duration::from_nanos(self.started.saturating_sub(at)))
    }

    /// Handling start to end: time spent in the handler (for a run: the
    /// run itself, all attempts).
    pub fn handling_time(&self) -> Duration {
        Duration::from_nanos(self.ended.saturating_sub(self.started))
    }

    /// Trace clock readings, for exports and filters.
    pub(super) fn span_ns(&self) -> (u64, u64) {
        (self.enqueued.unwrap_or(self.started), self.ended)
    }
}
