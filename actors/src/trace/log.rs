//! [`TraceLog`]: a snapshot of the ring, with filters that each return a
//! smaller log, so they chain.

use std::collections::HashSet;
use std::time::{Instant, SystemTime};

use super::{CorrelationId, EventKind, TraceEvent};
use crate::run::RunId;

/// A snapshot of a runtime's message trace, oldest event first.
///
/// ```
/// # use taskorch_actors::{TraceLog, RunId};
/// # fn show(log: TraceLog, id: RunId) {
/// // Everything that happened for one run: the request that started it,
/// // in every actor it passed through, and the run itself.
/// for event in log.for_run(id).events() {
///     println!(
///         "{:>12} {:<10} queued {:?} handled in {:?} -> {:?}",
///         event.actor(),
///         event.name(),
///         event.queue_time(),
///         event.handling_time(),
///         event.outcome()
///     );
/// }
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct TraceLog {
    events: Vec<TraceEvent>,
    dropped: u64,
}

impl TraceLog {
    pub(super) fn new(events: Vec<TraceEvent>, dropped: u64) -> Self {
        TraceLog { events, dropped }
    }

    /// The events, oldest first (in recording order).
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Events the ring had overwritten (it was full) when the snapshot was
    /// taken. Filters keep the count of the log they filter.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The wall-clock time of a trace instant (for correlating with logs).
    pub fn wall_time(at: Instant) -> SystemTime {
        super::wall(super::ticks(at))
    }

    /// The events `keep` accepts.
    pub fn filter(&self, mut keep: impl FnMut(&TraceEvent) -> bool) -> TraceLog {
        TraceLog {
            events: self.events.iter().filter(|e| keep(e)).copied().collect(),
            dropped: self.dropped,
        }
    }

    /// Everything about run `id`: its own events (the run, a fault that hit
    /// its process), and the messages of the request that started it (the
    /// same correlation id) in every actor they touched. For a batch run
    /// that includes the batch's `Start` message, but not its sibling runs
    /// (find those with [`for_correlation`](Self::for_correlation)).
    pub fn for_run(&self, id: RunId) -> TraceLog {
        let requests: HashSet<CorrelationId> = self
            .events
            .iter()
            .filter(|e| e.run == Some(id))
            .filter_map(|e| e.correlation)
            .collect();
        self.filter(|e| match e.run {
            Some(run) => run == id,
            None => e.correlation.is_some_and(|c| requests.contains(&c)),
        })
    }

    /// Every event of one request.
    pub fn for_correlation(&self, id: CorrelationId) -> TraceLog {
        self.filter(|e| e.correlation == Some(id))
    }

    /// The events of one actor ("executor", "batch", "launcher",
    /// "scheduler", "pool_keeper", "pool_worker", "supervisor").
    pub fn for_actor(&self, actor: &str) -> TraceLog {
        self.filter(|e| e.actor == actor)
    }

    /// The events of one kind.
    pub fn of_kind(&self, kind: EventKind) -> TraceLog {
        self.filter(|e| e.kind == kind)
    }

    /// The events that overlap `from..=to`: enqueued (or started) no later
    /// than `to` and ended no earlier than `from`.
    pub fn between(&self, from: Instant, to: Instant) -> TraceLog {
        let (from, to) = (super::ticks(from), super::ticks(to));
        self.filter(|e| {
            let (first, last) = e.span_ns();
            first <= to && last >= from
        })
    }

    /// The events that ended at or after `from`.
    pub fn since(&self, from: Instant) -> TraceLog {
        let from = super::ticks(from);
        self.filter(|e| e.ended >= from)
    }
}
