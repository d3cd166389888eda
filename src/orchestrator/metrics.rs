//! Runtime-wide metrics and liveness: `metrics`, `is_running`.

use taskorch_actors::Metrics;

use super::Orchestrator;

impl Orchestrator {
    /// A snapshot of the runtime's metrics: runs by pattern and status,
    /// queue depths, start and finish rates over the last minute, latency
    /// percentiles of queue wait and run time, restarts per actor, store
    /// commit latency (`None` without a store), uptime. See
    /// [`Metrics`] and [`crate::metrics`].
    ///
    /// Never blocks: it reads counters (no actor is asked), so it answers
    /// also while an actor restarts and after shutdown. Its cost is the
    /// reader's (sorting the latency windows, a few small maps); recording
    /// costs the runs a few atomic operations each.
    pub fn metrics(&self) -> Metrics {
        self.inner.ctx.metrics_snapshot()
    }

    /// Whether the runtime accepts work: `true` from
    /// [`start`](Self::start) until [`shutdown`](Self::shutdown) or
    /// [`abort`](Self::abort) begins, `false` from then on (while shutdown
    /// runs, and after it returned). One atomic load: never blocks.
    pub fn is_running(&self) -> bool {
        !self.inner.ctx.shutdown().is_closing()
    }
}
