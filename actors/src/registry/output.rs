//! A run's captured lines, read through its record. Here, not in `lines.rs`:
//! the line log sits below the registry and knows nothing of run records.

use std::sync::Arc;

use super::RunRecord;
use crate::lines::{
    CapturedOutput, LineLimits, LineLog, OutputSubscription, OwnedOutput, TimedOutput,
};

impl RunRecord {
    /// Everything the run's ring holds; empty for a run without one (an
    /// in-process action, or a run that has not started a process yet).
    pub fn captured(&self) -> CapturedOutput {
        self.lines().map(|log| log.snapshot()).unwrap_or_default()
    }

    /// [`captured`](Self::captured), with the time each line was captured.
    pub fn timed_captured(&self) -> TimedOutput {
        self.lines()
            .map(|log| log.timed_snapshot())
            .unwrap_or_default()
    }

    /// The lossless reader of the run's output, for the run's own
    /// `RunStream` (see `lines::owner`); made before the run starts, it
    /// gets all of it.
    pub fn own_output(&self, limits: LineLimits) -> OwnedOutput {
        let log = self.ring_or_init(limits);
        let owned = log.own();
        if self.status().is_terminal() {
            log.close();
        }
        owned
    }

    /// A reader of the run's lines: the backlog, then live lines until the
    /// run ends. A run that has no ring yet gets one (with `limits`), so a
    /// reader attached while the run is queued sees all of it; a finished
    /// run without one (an action) gives a reader that ends at once.
    pub fn subscribe_output(&self, limits: LineLimits) -> OutputSubscription {
        let log = self.ring_or_init(limits);
        // The registry closes a run's ring when it finishes; a ring attached
        // just after that would never be closed. Checking the status after
        // attaching covers that race: either `finish` saw the ring, or we see
        // the terminal status.
        if self.status().is_terminal() {
            log.close();
        }
        log.subscribe()
    }

    fn ring_or_init(&self, limits: LineLimits) -> &Arc<LineLog> {
        self.lines_or_init(|| {
            Arc::new(LineLog::new(self.id(), limits).with_events(self.events().clone()))
        })
    }
}
