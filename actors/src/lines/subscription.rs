//! [`OutputSubscription`]: one reader of a run's line ring.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use futures::Stream;
use futures::stream::FusedStream;

use super::{LineLog, ReadBatch};
use crate::output::OutputLine;
use crate::run::RunId;

/// A reader of one run's output lines: first every line the ring still
/// holds, then each new line as the child writes it, and `None` once the
/// run has ended and everything has been read.
///
/// Reading never slows the run down: a reader that falls a whole ring
/// behind skips the lines that were dropped meanwhile, which shows as a jump
/// in [`OutputLine::seq`] (and in [`missed`](Self::missed)): loss is
/// possible here, never silent. Any number of subscriptions can read one
/// run; each has its own position. For every line, read the run's own
/// `RunStream` instead (see the `lines` module docs).
///
/// Also a [`futures::Stream`] of [`OutputLine`]s.
#[derive(Debug)]
pub struct OutputSubscription {
    log: Arc<LineLog>,
    id: u64,
    /// The seq of the next line to read.
    next: u64,
    missed: u64,
    /// Lines copied out of the ring but not returned yet.
    ready: ReadBatch,
    /// The last line returned was a piece of a longer line.
    last_split: bool,
    /// When the last line returned was captured (0: unknown).
    last_time: u64,
    /// `None` was returned.
    done: bool,
}

impl OutputSubscription {
    pub(super) fn new(log: Arc<LineLog>, id: u64) -> Self {
        OutputSubscription {
            log,
            id,
            next: 0,
            missed: 0,
            ready: ReadBatch::default(),
            last_split: false,
            last_time: 0,
            done: false,
        }
    }

    /// The run being read.
    pub fn run_id(&self) -> RunId {
        self.log.run_id()
    }

    /// The next line; `None` once the run has ended and every line kept
    /// has been read.
    ///
    /// # Errors
    /// None: the end of the output is `None`, and how the run ended is for
    /// `wait`.
    ///
    /// # Cancel safety
    /// Cancel safe: a line is taken only when it is returned, so a
    /// `next_line` dropped in a `select!` loses nothing.
    pub async fn next_line(&mut self) -> Option<OutputLine> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Lines this reader never got because the ring had dropped them
    /// before it read them (it attached late, or fell behind).
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Whether the line last returned is a piece of a longer line, cut at
    /// the line cap and continued by the next line of the same stream.
    pub fn last_split(&self) -> bool {
        self.last_split
    }

    /// When the line last returned was captured (see the `lines` module
    /// docs: the time its chunk was read from the child's pipe); `None`
    /// before the first line, and for a run stored without times.
    pub fn last_time(&self) -> Option<SystemTime> {
        super::times::time(self.last_time)
    }

    fn take(&mut self) -> Option<OutputLine> {
        let (line, split, time) = self.ready.pop()?;
        self.last_split = split;
        self.last_time = time;
        Some(line)
    }
}

impl Stream for OutputSubscription {
    type Item = OutputLine;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<OutputLine>> {
        let this = self.get_mut();
        if let Some(line) = this.take() {
            return Poll::Ready(Some(line));
        }
        if this.done {
            return Poll::Ready(None);
        }
        let mut ring = this.log.ring.lock();
        ring.read_into(&mut this.next, &mut this.missed, &mut this.ready);
        if !this.ready.is_empty() {
            // Strings are made outside the lock.
            drop(ring);
            return Poll::Ready(this.take());
        }
        if ring.closed {
            ring.forget(this.id);
            this.done = true;
            return Poll::Ready(None);
        }
        // Registered under the same lock that showed no line: a writer
        // pushes (and wakes) only after we release it, so no wake-up is lost.
        ring.register(this.id, cx.waker());
        Poll::Pending
    }
}

impl FusedStream for OutputSubscription {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Drop for OutputSubscription {
    fn drop(&mut self) {
        if !self.done {
            self.log.ring.lock().forget(self.id);
        }
    }
}
