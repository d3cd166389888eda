//! [`RunStream`]: the handle of a LongRunning run — its output as it comes
//! (lines or raw bytes), its outcome at the end, and a way to cancel it.
//!
//! # Who gets what
//! | reader | what it sees | if it falls behind |
//! |---|---|---|
//! | the run's own [`RunStream`] | every byte, from the first | the child waits (back-pressure) |
//! | `orch.subscribe_output(id)` | the ring's backlog, then live lines | skips what the ring dropped (`missed`) |
//! | `orch.output(id)` | what the ring holds now | `CapturedOutput::dropped` counts the rest |
//! | `Output::stdout`/`stderr` | the first `max_output` bytes | `*_truncated`, `*_dropped` |
//! | a [`RunStream`] that follows a keyed run | as `subscribe_output` | as `subscribe_output` |
//!
//! # Keys
//! A task's key ([`Task::key`](crate::Task::key)) names one run, as for
//! `launch` and `run`: streaming a task whose key names a live run (or
//! one finished within `Retention::key_window`) starts nothing. The
//! answer is a [`RunStream`] that *follows* that run
//! ([`is_owner`](RunStream::is_owner) is `false`): it reads the run's ring
//! like `subscribe_output` (the backlog it still holds, then live lines),
//! and its `wait` gives the run's outcome. It does not take over the
//! lossless queue of the stream that started the run: that one keeps every
//! byte and its back-pressure, and a follower never slows the run down.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;

use crate::error::Result;
use crate::lines::{OutputSubscription, OwnedOutput};
use crate::output::{Output, OutputChunk, OutputLine};
use crate::registry::RunRecord;
use crate::run::{RunId, RunStatus};

/// A run started by `Orchestrator::stream`: read its output as the child
/// writes it, as lines ([`next_line`](Self::next_line), or as a
/// [`futures::Stream`]) or as raw bytes ([`next_chunk`](Self::next_chunk)),
/// then [`wait`](Self::wait) for its [`Output`].
///
/// # Lossless, with back-pressure
/// This handle sees **every** byte the child writes, however slowly it is
/// read: the run's pipes are read only while this handle's queue (at most
/// [`OWNER_QUEUE_BYTES`](crate::lines::OWNER_QUEUE_BYTES) plus one read)
/// has room, so a child that writes faster than its owner reads blocks on
/// its full pipe until the owner catches up, as in a shell pipeline. Its
/// `timeout` keeps running meanwhile. Holding the handle without reading
/// therefore stalls a chatty child: read it, or drop it. The end of a run
/// never waits for the owner: once the process group is gone, what its
/// pipes still hold is queued at once (past the cap, by at most
/// [`OWNER_ENDING_ALLOWANCE`](crate::lines::OWNER_ENDING_ALLOWANCE)), so a
/// cancel, a time-out or shutdown ends the run however slow the owner.
///
/// Other readers (`subscribe_output`, `output`) read the run's bounded ring
/// and never slow it down; they may miss lines, and say how many.
///
/// # Lines or bytes
/// Use one of the two per handle: each chunk is returned once, to whichever
/// call takes it (a line being assembled from taken chunks stays with the
/// line API).
/// - [`next_chunk`](Self::next_chunk): raw bytes, stdout and stderr apart;
///   each stream's chunks concatenated are exactly what the child wrote.
/// - [`next_line`](Self::next_line): text, normalised as
///   [`OutputLine::text`] says: split at `\n` (removed, and a `\r` right
///   before it), a last line without newline delivered at the end, invalid
///   UTF-8 replaced with U+FFFD, lines longer than `Config::max_line_bytes`
///   cut into pieces ([`last_split`](Self::last_split)). Lines arrive in
///   the order the child wrote them, stdout and stderr interleaved, with
///   [`OutputLine::seq`] strictly increasing and equal to the `seq` the
///   ring gives the same line.
///
/// # Following a keyed run
/// A stream of a task whose key names a live or recent run follows that
/// run instead of starting another (see the module docs): it reads the
/// bounded ring, so it may miss lines ([`missed`](Self::missed)), and
/// [`next_chunk`](Self::next_chunk) gives lines, not the raw bytes.
/// [`cancel`](Self::cancel) and [`cancel_on_drop`](Self::cancel_on_drop)
/// act on that shared run.
///
/// # Dropping
/// Dropping a `RunStream` does **not** cancel the run: it keeps going
/// (its output now only into the bounded ring, so nothing waits for a
/// reader), and its status, outcome and output stay readable by
/// [`run_id`](Self::run_id) (`status`, `wait`, `output`,
/// `subscribe_output`). Call [`cancel_on_drop(true)`](Self::cancel_on_drop)
/// to stop the run when the handle is dropped instead (also when a
/// [`wait`](Self::wait) future is dropped unfinished).
#[derive(Debug)]
pub struct RunStream {
    record: Arc<RunRecord>,
    out: Reader,
    cancel_on_drop: bool,
}

/// Where a [`RunStream`] reads the output from.
#[derive(Debug)]
enum Reader {
    /// The run's lossless queue: this handle started the run.
    Owner(OwnedOutput),
    /// The run's ring: the run was started by another submit of its key.
    Follower(OutputSubscription),
}

impl RunStream {
    pub(crate) fn new(record: Arc<RunRecord>, out: OwnedOutput) -> Self {
        RunStream {
            record,
            out: Reader::Owner(out),
            cancel_on_drop: false,
        }
    }

    /// A stream following `record`, a run its task's key named, through
    /// the reader `sub` of its ring.
    pub(crate) fn follow(record: Arc<RunRecord>, sub: OutputSubscription) -> Self {
        RunStream {
            record,
            out: Reader::Follower(sub),
            cancel_on_drop: false,
        }
    }

    /// Whether this handle started its run and reads it losslessly;
    /// `false` for a stream that follows a run its task's key named (see
    /// the type docs).
    pub fn is_owner(&self) -> bool {
        matches!(self.out, Reader::Owner(_))
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
    /// has been read (then [`wait`](Self::wait) answers at once). See the
    /// type docs for what a line is.
    ///
    /// # Errors
    /// None: the end of the output is `None`, and how the run ended is for
    /// `wait`.
    ///
    /// # Cancel safety
    /// Cancel safe: a line is taken only when it is returned, so a
    /// `next_line` dropped in a `select!` loses nothing.
    pub async fn next_line(&mut self) -> Option<OutputLine> {
        std::future::poll_fn(|cx| self.poll_line(cx)).await
    }

    /// The next raw chunk of output, stdout and stderr kept apart; `None`
    /// once the run has ended and every byte has been read. The bytes are
    /// exactly what the child wrote (see [`OutputChunk`]).
    ///
    /// A stream that follows a keyed run reads a ring of lines, not bytes:
    /// each chunk is then one line, its text followed by `\n`, with the
    /// attempt the run was at when the line was read.
    ///
    /// # Errors
    /// None: the end of the output is `None`, and how the run ended is for
    /// `wait`.
    ///
    /// # Cancel safety
    /// Cancel safe: a chunk is taken only when it is returned.
    pub async fn next_chunk(&mut self) -> Option<OutputChunk> {
        std::future::poll_fn(|cx| match &mut self.out {
            Reader::Owner(out) => out.poll_chunk(cx),
            Reader::Follower(sub) => Pin::new(sub).poll_next(cx).map(|line| {
                line.map(|line| {
                    let mut bytes = line.text.into_bytes();
                    bytes.push(b'\n');
                    OutputChunk {
                        stream: line.stream,
                        bytes,
                        attempt: self.record.attempt(),
                    }
                })
            }),
        })
        .await
    }

    /// Lines this stream never returned: always 0 for the run's own stream,
    /// which is lossless (see the type docs); for a stream that follows a
    /// keyed run, the lines the ring dropped before it read them (as
    /// `OutputSubscription::missed`).
    pub fn missed(&self) -> u64 {
        match &self.out {
            Reader::Owner(_) => 0,
            Reader::Follower(sub) => sub.missed(),
        }
    }

    /// Bytes read from the child and not yet returned by this stream (0
    /// for a follower, which queues nothing).
    pub fn queued_bytes(&self) -> usize {
        match &self.out {
            Reader::Owner(out) => out.queued_bytes(),
            Reader::Follower(_) => 0,
        }
    }

    /// The most bytes this stream's queue ever held: the memory a slow
    /// reader costs, at most `OWNER_QUEUE_BYTES` plus one read (64 KiB),
    /// plus `OWNER_ENDING_ALLOWANCE` for what the pipes hold when the
    /// process group is gone (0 for a follower).
    pub fn peak_queued_bytes(&self) -> usize {
        match &self.out {
            Reader::Owner(out) => out.peak_queued_bytes(),
            Reader::Follower(_) => 0,
        }
    }

    /// Whether the line last returned is a piece of a line longer than
    /// `Config::max_line_bytes`, cut at that cap and continued by the next
    /// line of the same stream.
    pub fn last_split(&self) -> bool {
        match &self.out {
            Reader::Owner(out) => out.last_split(),
            Reader::Follower(sub) => sub.last_split(),
        }
    }

    fn poll_line(&mut self, cx: &mut Context<'_>) -> Poll<Option<OutputLine>> {
        match &mut self.out {
            Reader::Owner(out) => out.poll_line(cx),
            Reader::Follower(sub) => Pin::new(sub).poll_next(cx),
        }
    }

    /// The run's failed attempts that are being retried (the task's
    /// `retries`), as they happen: a handle of its own, so it can be
    /// awaited beside [`next_chunk`](Self::next_chunk) in one `select!`.
    pub fn retries(&self) -> Retries {
        Retries {
            record: Arc::clone(&self.record),
            seen: 0,
        }
    }

    /// Wait for the run to end and return its outcome. This lets go of
    /// the stream (the run continues into the ring only); lines not read
    /// yet are readable with `output(run_id)` as far as the ring keeps them.
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
    pub async fn wait(mut self) -> Result<Output> {
        // Nobody reads this stream from here on: it must not hold the child.
        if let Reader::Owner(out) = &mut self.out {
            out.release();
        }
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
        self.get_mut().poll_line(cx)
    }
}

impl FusedStream for RunStream {
    fn is_terminated(&self) -> bool {
        match &self.out {
            Reader::Owner(out) => out.is_done(),
            Reader::Follower(sub) => sub.is_terminated(),
        }
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

/// A run's retries as they happen ([`RunStream::retries`]).
#[derive(Debug)]
pub struct Retries {
    record: Arc<RunRecord>,
    /// The last attempt whose notice was returned.
    seen: u32,
}

impl Retries {
    /// The next failed attempt that is being retried; `None` once the run
    /// has ended without another one. Of attempts that failed while
    /// nobody waited here, only the latest is returned.
    ///
    /// # Cancel safety
    /// Cancel safe: a notice is marked read only when it is returned.
    pub async fn next(&mut self) -> Option<crate::run::RetryNotice> {
        let notice = self.record.next_retry(self.seen).await?;
        self.seen = notice.attempt;
        Some(notice)
    }
}
