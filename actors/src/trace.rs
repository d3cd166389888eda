//! The message trace: what every actor of the runtime handled, when, for
//! whom, and how it went.
//!
//! Every message an actor handles goes through `Context::handle`, which
//! records one [`TraceEvent`]: the actor, the message kind (its variant
//! name), the request's [`CorrelationId`], when the sender enqueued it,
//! when handling started and ended, and the outcome (ok, error, panic, or
//! a reply dropped by an injected fault). The runner records one event per
//! run (queued for an execution slot, then executing), the root supervisor
//! one per child failure, restart and give-up, and pool workers one per
//! pool request.
//!
//! # Reading queue time and handling time
//! For a message, [`queue_time`](TraceEvent::queue_time) is the time from
//! the sender's enqueue to the start of handling: how long it waited in
//! the actor's mailbox behind other messages (a growing queue time means
//! the actor is a bottleneck). [`handling_time`](TraceEvent::handling_time)
//! is the handler itself; pattern actors only dispatch, so it stays in the
//! microseconds unless something (a fault, a slow start) stalls the actor.
//! For a run, queue time is the wait for an execution slot under
//! `max_concurrency` and handling time is the run itself, all attempts.
//!
//! # Cost
//! The ring is allocated once with room for `capacity` events and never
//! grows: recording copies one `Copy` event into it under a short lock, and
//! allocates nothing (names are `&'static str`, ids are `Copy`, times are
//! integer nanoseconds). A capacity of zero turns recording off; the only
//! cost left is one clock read per request at the sender. Once the ring is
//! full the oldest events are overwritten ([`TraceLog::dropped`] counts
//! them).
//!
//! # Layout
//! - `event`: [`TraceEvent`] and what it says.
//! - `correlation`: [`CorrelationId`], what a request carries
//!   ([`Envelope`]), and the W3C `TRACEPARENT` derived from it.
//! - `log`: [`TraceLog`], a snapshot with its filters.
//! - `export`: JSON lines and the Chrome trace event format.
//! - `otel` (feature `otel`): OpenTelemetry parents for run spans and the
//!   `TRACEPARENT` of the run's span.

mod correlation;
mod event;
mod export;
mod log;
#[cfg(feature = "otel")]
pub(crate) mod otel;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

pub use correlation::{Correlation, CorrelationId, Envelope, MessageInfo, TRACEPARENT_ENV};
pub use event::{EventKind, Outcome, TraceEvent};
pub use log::TraceLog;
#[cfg(feature = "otel")]
pub use otel::OtelParent;

use crate::run::RunId;

/// Default number of events the ring keeps (`Config::trace_capacity`).
pub const DEFAULT_TRACE_CAPACITY: usize = 65_536;

/// The largest ring `Config::trace_capacity` may ask for (16 Mi events,
/// about 1.7 GB): a ring is allocated whole when the runtime starts.
pub const MAX_TRACE_CAPACITY: usize = 1 << 24;

/// The trace clock: one process-wide origin, so timestamps taken by a
/// sender (before it knows which runtime's ring the event lands in) and by
/// a handler compare directly.
struct Epoch {
    mono: Instant,
    wall: SystemTime,
}

static EPOCH: OnceLock<Epoch> = OnceLock::new();

fn epoch() -> &'static Epoch {
    EPOCH.get_or_init(|| Epoch {
        mono: Instant::now(),
        wall: SystemTime::now(),
    })
}

/// Nanoseconds on the trace clock (monotonic).
pub(crate) fn now() -> u64 {
    nanos(epoch().mono.elapsed())
}

/// The trace clock reading of `at` (zero for instants before the origin).
pub(crate) fn ticks(at: Instant) -> u64 {
    nanos(at.saturating_duration_since(epoch().mono))
}

/// The instant of trace clock reading `ns`.
pub(crate) fn instant(ns: u64) -> Instant {
    epoch().mono + Duration::from_nanos(ns)
}

/// The wall-clock time of trace clock reading `ns` (for exports).
pub(crate) fn wall(ns: u64) -> SystemTime {
    epoch().wall + Duration::from_nanos(ns)
}

fn nanos(d: Duration) -> u64 {
    // Saturates after 584 years of uptime.
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A runtime's bounded ring of [`TraceEvent`]s (see the module docs).
pub struct TraceRecorder {
    capacity: usize,
    ring: Mutex<Ring>,
}

struct Ring {
    /// Pre-sized to `capacity`; filled by `push` until full, then
    /// overwritten in place from `next`.
    events: Vec<TraceEvent>,
    next: usize,
    /// Events ever recorded; also the next sequence number.
    recorded: u64,
}

impl std::fmt::Debug for TraceRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ring = self.ring.lock();
        f.debug_struct("TraceRecorder")
            .field("capacity", &self.capacity)
            .field("held", &ring.events.len())
            .field("recorded", &ring.recorded)
            .finish()
    }
}

impl TraceRecorder {
    /// A recorder keeping the newest `capacity` events; 0 records nothing.
    /// The ring is reserved whole here (pages are touched only as events
    /// arrive), so recording never allocates.
    pub fn new(capacity: usize) -> Self {
        TraceRecorder {
            capacity,
            ring: Mutex::new(Ring {
                events: Vec::with_capacity(capacity),
                next: 0,
                recorded: 0,
            }),
        }
    }

    /// A recorder that records nothing.
    pub fn off() -> Self {
        TraceRecorder::new(0)
    }

    /// Whether events are recorded (capacity above zero).
    pub fn is_on(&self) -> bool {
        self.capacity > 0
    }

    /// How many events the ring keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Events recorded so far, including those overwritten since.
    pub fn recorded(&self) -> u64 {
        self.ring.lock().recorded
    }

    /// A copy of the events held now, oldest first.
    pub fn snapshot(&self) -> TraceLog {
        let ring = self.ring.lock();
        let mut events = Vec::with_capacity(ring.events.len());
        events.extend_from_slice(&ring.events[ring.next..]);
        events.extend_from_slice(&ring.events[..ring.next]);
        let dropped = ring.recorded - events.len() as u64;
        TraceLog::new(events, dropped)
    }

    /// Forget every event held (sequence numbers keep counting).
    pub fn clear(&self) {
        let mut ring = self.ring.lock();
        ring.events.clear();
        ring.next = 0;
    }

    /// Store `event`, numbering it. The hot path: no allocation.
    fn push(&self, mut event: TraceEvent) {
        if self.capacity == 0 {
            return;
        }
        let mut ring = self.ring.lock();
        event.seq = ring.recorded;
        ring.recorded += 1;
        if ring.events.len() < self.capacity {
            // Within the reserved capacity: never reallocates.
            ring.events.push(event);
        } else {
            let at = ring.next;
            ring.events[at] = event;
            ring.next = (at + 1) % self.capacity;
        }
    }

    /// Start timing the handling of one message; the returned guard
    /// records it when finished or dropped (a panic unwinding through the
    /// handler records `Outcome::Panic`).
    pub(crate) fn begin(&self, actor: &'static str, info: MessageInfo) -> Handling<'_> {
        Handling {
            recorder: self,
            actor,
            info,
            started: if self.is_on() { now() } else { 0 },
            outcome: None,
        }
    }

    /// Record one run: entered the runner at `entered`, started executing
    /// at `started` (`None` if it never did), ended at `ended` (`None`:
    /// now; the runner passes the reading that also timed the run).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run(
        &self,
        actor: &'static str,
        run: RunId,
        correlation: Option<CorrelationId>,
        entered: u64,
        started: Option<u64>,
        ended: Option<u64>,
        ok: bool,
    ) {
        if !self.is_on() {
            return;
        }
        let ended = ended.unwrap_or_else(now);
        self.push(TraceEvent {
            seq: 0,
            actor,
            name: "run",
            kind: EventKind::Run,
            outcome: if ok { Outcome::Ok } else { Outcome::Error },
            run: Some(run),
            correlation,
            enqueued: Some(entered),
            started: started.unwrap_or(ended),
            ended,
        });
    }

    /// Record one pool request: queued at `enqueued`, taken by a worker at
    /// `started`, answered now.
    pub(crate) fn request(&self, actor: &'static str, enqueued: u64, started: u64, ok: bool) {
        if !self.is_on() {
            return;
        }
        self.push(TraceEvent {
            seq: 0,
            actor,
            name: "Request",
            kind: EventKind::Request,
            outcome: if ok { Outcome::Ok } else { Outcome::Error },
            run: None,
            correlation: None,
            enqueued: Some(enqueued),
            started,
            ended: now(),
        });
    }

    /// Record something that happened to `actor` rather than a message it
    /// handled: a supervisor event, an injected fault. It spans from
    /// `since` (when known, e.g. the failure a restart answers) to now.
    pub(crate) fn note(
        &self,
        actor: &'static str,
        name: &'static str,
        kind: EventKind,
        outcome: Outcome,
        since: Option<u64>,
        run: Option<RunId>,
    ) {
        if !self.is_on() {
            return;
        }
        let ended = now();
        self.push(TraceEvent {
            seq: 0,
            actor,
            name,
            kind,
            outcome,
            run,
            correlation: None,
            enqueued: None,
            started: since.unwrap_or(ended).min(ended),
            ended,
        });
    }
}

/// The handling of one message being timed (see [`TraceRecorder::begin`]).
pub(crate) struct Handling<'a> {
    recorder: &'a TraceRecorder,
    actor: &'static str,
    info: MessageInfo,
    started: u64,
    outcome: Option<Outcome>,
}

impl Handling<'_> {
    /// The handler finished with `outcome`.
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }
}

impl Drop for Handling<'_> {
    fn drop(&mut self) {
        if !self.recorder.is_on() {
            return;
        }
        // Dropped without `finish`: the handler unwound.
        let outcome = self.outcome.unwrap_or(Outcome::Panic);
        let envelope = self.info.envelope;
        self.recorder.push(TraceEvent {
            seq: 0,
            actor: self.actor,
            name: self.info.kind,
            kind: EventKind::Message,
            outcome,
            run: None,
            correlation: envelope.map(|e| e.correlation.id),
            enqueued: envelope.map(|e| e.sent),
            started: self.started,
            ended: now(),
        });
    }
}
