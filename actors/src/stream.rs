//! [`RunStream`]: the handle of a LongRunning run — its lines as they come,
//! its outcome at the end, and a way to cancel it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;

use crate::error::Result;
use crate::lines::OutputSubscription;
use crate::output::{Output, OutputLine};
use crate::registry::RunRecord;
use crate::run::{RunId, RunStatus};

/// A run started by `Orchestrator::stream`: read its output lines as the
/// child writes them ([`next_line`](Self::next_line), or as a
/// [`futures::Stream`]), then [`wait`](Self::wait) for its [`Output`].
///
/// Lines arrive in the order the child wrote them, stdout and stderr
/// interleaved, with [`OutputLine::seq`] strictly increasing. Reading is
/// never required: the run's pipes are drained whether or not anyone reads,
/// into a bounded ring; a reader that falls a whole ring behind skips the
/// lines dropped meanwhile (a jump in `seq`, counted by
/// [`missed`](Self::missed)).
///
/// # Dropping
/// Dropping a `RunStream` does **not** cancel the run: it keeps going, and
/// its status, outcome and output stay readable by [`run_id`](Self::run_id)
/// (`status`, `wait`, `output`, `subscribe_output`). Call
/// [`cancel_on_drop(true)`](Self::cancel_on_drop) to stop the run when the
/// handle is dropped instead (also when a [`wait`](Self::wait) future is
/// dropped unfinished).
#[derive(Debug)]
pub struct RunStream {
    record: Arc<RunRecord>,
    lines: OutputSubscription,
    cancel_on_drop: bool,
    /// The last attempt whose retry notice was returned.
    retries_seen: u32,
}

impl RunStream {
    pub(crate) fn new(record: Arc<RunRecord>, lines: OutputSubscription) -> Self {
        RunStream {
            record,
            lines,
            cancel_on_drop: false,
            retries_seen: 0,
        }
    }

    /// The run's id.
    pub fn run_id(&self) -> RunId {
        self.record.id()
    }

    /// The run's current status.
    pub fn status(&self) -> RunStatus {
        self.record.status()
    }

    /// The next output line; `None` once the run has ended and every line
    /// has been read (then [`wait`](Self::wait) answers at once).
    ///
    /// # Errors
    /// None: the end of the output is `None`, and how the run ended is for
    /// `wait`.
    ///
    /// # Cancel safety
    /// Cancel safe: a line is taken only when it is returned, so a
    /// `next_line` dropped in a `select!` loses nothing.
    pub async fn next_line(&mut self) -> Option<OutputLine> {
        self.lines.next_line().await
    }

    /// Lines this stream never returned because the ring dropped them
    /// before they were read.
    pub fn missed(&self) -> u64 {
        self.lines.missed()
    }

    /// Whether the line last returned is a piece of a line longer than
    /// `Config::max_line_bytes`, cut at that cap and continued by the next
    /// line of the same stream.
    pub fn last_split(&self) -> bool {
        self.lines.last_split()
    }

    /// The next failed attempt that is being retried (the task's
    /// `retries`), as it happens; `None` once the run has ended without
    /// another one. Attempts that failed while nobody called this are
    /// skipped but for the latest.
    ///
    /// # Cancel safety
    /// Cancel safe: a notice is marked read only when it is returned.
    pub async fn next_retry(&mut self) -> Option<crate::run::RetryNotice> {
        let notice = self.record.next_retry(self.retries_seen).await?;
        self.retries_seen = notice.attempt;
        Some(notice)
    }

    /// Wait for the run to end and return its outcome. Lines not read yet
    /// are still readable with `output(run_id)`.
    ///
    /// # Errors
    /// As `Orchestrator::run`: `Cancelled` after a cancel, `TimedOut`,
    /// `ActorFailed` if the executor died during the run, `ShuttingDown`,
    /// `NotFound`/`Spawn` if no attempt could start. A non-zero exit is `Ok`
    /// with `success() == false`.
    ///
    /// # Cancel safety
    /// Dropping the future drops the stream: the run goes on, unless
    /// [`cancel_on_drop`](Self::cancel_on_drop) was set.
    pub async fn wait(self) -> Result<Output> {
        self.record.wait().await
    }

    /// Ask the run to stop, as `Orchestrator::cancel`: SIGTERM to its
    /// process group, `kill_grace`, SIGKILL; it ends `Cancelled`. Nothing
    /// happens if it has already ended.
    pub fn cancel(&self) {
        self.record.request_cancel();
    }

    /// Whether dropping this handle cancels the run (default `false`: the
    /// run outlives its handle).
    pub fn cancel_on_drop(&mut self, cancel: bool) -> &mut Self {
        self.cancel_on_drop = cancel;
        self
    }
}

impl Stream for RunStream {
    type Item = OutputLine;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<OutputLine>> {
        Pin::new(&mut self.get_mut().lines).poll_next(cx)
    }
}

impl FusedStream for RunStream {
    fn is_terminated(&self) -> bool {
        self.lines.is_terminated()
    }
}

impl Drop for RunStream {
    fn drop(&mut self) {
        if self.cancel_on_drop {
            // A no-op for a run that has already ended.
            self.record.request_cancel();
        }
    }
}
