//! [`OwnedOutput`]: the lossless reader of a run's output, held by the
//! run's own `RunStream`.
//!
//! The ring (see the parent module) never waits for a reader, so a reader
//! that falls behind loses lines. The owner of a LongRunning run must not:
//! it gets its own bounded queue of the raw chunks read from the child's
//! pipes, filled under the ring's lock (so its order matches the ring's
//! `seq`s), and the pipes are not read while that queue is full. The child
//! then blocks on a full pipe until the owner catches up, exactly as a
//! writer does in a shell pipeline.
//!
//! Why back-pressure rather than spooling to disk: a spool trades a bounded
//! buffer for an unbounded file and a disk that can fill; a pipeline
//! already has the right behaviour (the producer waits), costs no I/O, and
//! the child's own output timing stays faithful.
//!
//! When the owner lets go (its `RunStream` is dropped, or consumed by
//! `wait`), the queue goes with it and the run continues into the ring
//! only: a dropped owner never holds the child.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::LineLog;
use super::splitter::LineSplitter;
use crate::output::{OutputChunk, OutputLine, StreamKind};

/// Bytes the owner's queue holds before the pipes stop being read: four
/// Linux pipe buffers, enough to keep a fast reader from waiting on
/// wake-ups, small enough that many streamed runs cost little. One read
/// (at most 64 KiB) can go past it.
pub const OWNER_QUEUE_BYTES: usize = 256 << 10;

/// How far past [`OWNER_QUEUE_BYTES`] the queue may grow once an attempt's
/// process group is gone: enough for what its pipes still hold (two pipes
/// at Linux's largest default size, `fs.pipe-max-size` = 1 MiB), so the
/// end of a run never waits for a slow owner and loses nothing. A stray
/// descendant that keeps writing past it is held back again, and cut off
/// by the process layer's `drain_timeout`.
pub const OWNER_ENDING_ALLOWANCE: usize = 2 << 20;

/// The owner's queue, inside the ring's lock.
#[derive(Debug, Default)]
pub(super) struct OwnerQueue {
    chunks: VecDeque<Queued>,
    /// Bytes of `chunks`.
    bytes: usize,
    /// The most `bytes` ever was.
    peak: usize,
    /// The attempt's group is gone: the rest of its pipes may go past the
    /// cap (by [`OWNER_ENDING_ALLOWANCE`]).
    ending: bool,
    /// The attempt writing now (1 for the first).
    attempt: u32,
}

/// One read of one stream as the owner will get it.
#[derive(Debug)]
struct Queued {
    stream: StreamKind,
    /// Empty for `end`.
    bytes: Vec<u8>,
    /// The ring `seq` of the first line these bytes complete.
    first_seq: u64,
    /// The stream of one attempt ended: an unfinished last line is a line.
    end: bool,
    attempt: u32,
}

impl OwnerQueue {
    /// Whether a writer must wait before reading its pipe again.
    pub(super) fn is_full(&self) -> bool {
        let allowance = if self.ending {
            OWNER_ENDING_ALLOWANCE
        } else {
            0
        };
        self.bytes >= OWNER_QUEUE_BYTES + allowance
    }

    /// Queue `chunk` of `stream` (`None`: the stream of this attempt
    /// ended), whose first completed line has ring seq `first_seq`.
    pub(super) fn push(&mut self, stream: StreamKind, chunk: Option<&[u8]>, first_seq: u64) {
        self.bytes += chunk.map_or(0, <[u8]>::len);
        self.peak = self.peak.max(self.bytes);
        self.chunks.push_back(Queued {
            stream,
            bytes: chunk.map(<[u8]>::to_vec).unwrap_or_default(),
            first_seq,
            end: chunk.is_none(),
            attempt: self.attempt,
        });
    }
}

/// The lossless reader of one run's output (see the module docs): every
/// byte the child writes, as raw chunks or as lines, with back-pressure on
/// the child while it is behind.
#[derive(Debug)]
pub struct OwnedOutput {
    log: Arc<LineLog>,
    id: u64,
    /// Lines are split here from the same chunks the ring splits, with the
    /// same limits, so they come out the same with the same `seq`s.
    out: LineSplitter,
    err: LineSplitter,
    /// Lines split from a chunk, not returned yet, with their split flag.
    ready: VecDeque<(OutputLine, bool)>,
    /// The seq of the next line if no chunk says otherwise.
    next_seq: u64,
    last_split: bool,
    done: bool,
}

impl OwnedOutput {
    pub(super) fn new(log: Arc<LineLog>, id: u64) -> Self {
        let max = log.limits.max_line;
        OwnedOutput {
            log,
            id,
            out: LineSplitter::new(StreamKind::Stdout, max),
            err: LineSplitter::new(StreamKind::Stderr, max),
            ready: VecDeque::new(),
            next_seq: 0,
            last_split: false,
            done: false,
        }
    }

    /// Bytes waiting in the queue now (read from the child, not yet
    /// returned).
    pub fn queued_bytes(&self) -> usize {
        self.log.ring.lock().owner.as_ref().map_or(0, |q| q.bytes)
    }

    /// The most bytes the queue ever held: at most [`OWNER_QUEUE_BYTES`]
    /// plus one read (64 KiB) while the child runs, plus
    /// [`OWNER_ENDING_ALLOWANCE`] once its group is gone.
    pub fn peak_queued_bytes(&self) -> usize {
        self.log.ring.lock().owner.as_ref().map_or(0, |q| q.peak)
    }

    /// Whether the line last returned by `poll_line` is a piece of a
    /// longer line cut at the line cap.
    pub fn last_split(&self) -> bool {
        self.last_split
    }

    /// The next raw chunk; `None` at the end of the run.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<OutputChunk>> {
        loop {
            match self.poll_queued(cx) {
                Poll::Ready(Some(q)) if q.end || q.bytes.is_empty() => continue,
                Poll::Ready(Some(q)) => {
                    return Poll::Ready(Some(OutputChunk {
                        stream: q.stream,
                        bytes: q.bytes,
                        attempt: q.attempt,
                    }));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The next line; `None` at the end of the run.
    pub fn poll_line(&mut self, cx: &mut Context<'_>) -> Poll<Option<OutputLine>> {
        loop {
            if let Some((line, split)) = self.ready.pop_front() {
                self.last_split = split;
                self.next_seq = line.seq + 1;
                return Poll::Ready(Some(line));
            }
            match self.poll_queued(cx) {
                Poll::Ready(Some(q)) => self.split(q),
                Poll::Ready(None) => {
                    // An attempt that was torn down without flushing its
                    // last line (its future dropped): deliver it anyway.
                    for stream in [StreamKind::Stdout, StreamKind::Stderr] {
                        let seq = self.next_seq;
                        self.split(Queued {
                            stream,
                            bytes: Vec::new(),
                            first_seq: seq,
                            end: true,
                            attempt: 0,
                        });
                    }
                    if self.ready.is_empty() {
                        return Poll::Ready(None);
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn split(&mut self, q: Queued) {
        let Self {
            out, err, ready, ..
        } = self;
        let splitter = match q.stream {
            StreamKind::Stdout => out,
            StreamKind::Stderr => err,
        };
        let mut seq = q.first_seq;
        let mut emit = |text: &[u8], split: bool| {
            let line = OutputLine {
                stream: q.stream,
                seq,
                text: super::owned(text),
            };
            ready.push_back((line, split));
            seq += 1;
        };
        if q.end {
            splitter.finish(&mut emit);
        } else {
            splitter.feed(&q.bytes, &mut emit);
        }
    }

    fn poll_queued(&mut self, cx: &mut Context<'_>) -> Poll<Option<Queued>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut ring = self.log.ring.lock();
        let popped = ring.owner.as_mut().and_then(|q| {
            let chunk = q.chunks.pop_front()?;
            q.bytes -= chunk.bytes.len();
            Some(chunk)
        });
        if let Some(chunk) = popped {
            ring.wake_writers();
            return Poll::Ready(Some(chunk));
        }
        if ring.closed {
            ring.forget(self.id);
            self.done = true;
            return Poll::Ready(None);
        }
        // Registered under the lock that showed an empty queue: a writer
        // queues (and wakes) only after we release it.
        ring.register(self.id, cx.waker());
        Poll::Pending
    }

    /// Whether `None` was returned.
    pub fn is_done(&self) -> bool {
        self.done && self.ready.is_empty()
    }
}

impl OwnedOutput {
    /// Let go: the run goes on into the ring alone, and no writer waits for
    /// room any more. What was queued is gone; this reader ends. Idempotent.
    pub fn release(&mut self) {
        let mut ring = self.log.ring.lock();
        ring.owner = None;
        ring.forget(self.id);
        ring.wake_writers();
        self.done = true;
        self.ready.clear();
    }
}

impl Drop for OwnedOutput {
    fn drop(&mut self) {
        self.release();
    }
}

impl LineLog {
    /// The run's lossless reader (see `owner`). Attach it before the run
    /// starts to get all of its output; there is at most one: attaching
    /// another replaces the first one's queue.
    pub(crate) fn own(self: &Arc<Self>) -> OwnedOutput {
        let id = self
            .readers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.ring.lock().owner = Some(OwnerQueue::default());
        OwnedOutput::new(Arc::clone(self), id)
    }

    /// Wait until the owner's queue has room (at once without an owner):
    /// called before each read of a child's pipe.
    pub(crate) async fn room(&self) {
        std::future::poll_fn(|cx| {
            let mut ring = self.ring.lock();
            if ring.owner.as_ref().is_none_or(|q| !q.is_full()) {
                return Poll::Ready(());
            }
            ring.writers.push(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }

    /// The attempt's process group is gone: the rest of its pipes may go
    /// past the owner's cap (see [`OWNER_ENDING_ALLOWANCE`]).
    pub(crate) fn owner_ending(&self) {
        let mut ring = self.ring.lock();
        if let Some(queue) = ring.owner.as_mut() {
            queue.ending = true;
            ring.wake_writers();
        }
    }

    /// Attempt `attempt` (1 for the first) starts: its chunks carry its
    /// number, and the owner holds its child back again.
    pub(crate) fn begin_attempt(&self, attempt: u32) {
        let mut ring = self.ring.lock();
        if let Some(queue) = ring.owner.as_mut() {
            queue.ending = false;
            queue.attempt = attempt;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;
    use crate::lines::LineLimits;
    use crate::run::RunId;

    fn log(ring_lines: usize, max_line: usize) -> Arc<LineLog> {
        Arc::new(LineLog::new(
            RunId::new(),
            LineLimits {
                ring_lines,
                ring_bytes: 1 << 20,
                max_line,
            },
        ))
    }

    async fn line(owner: &mut OwnedOutput) -> Option<OutputLine> {
        poll_fn(|cx| owner.poll_line(cx)).await
    }

    #[tokio::test]
    async fn owner_lines_match_the_ring_in_text_seq_and_split_even_when_the_ring_drops() {
        let log = log(2, 4);
        let mut owner = log.own();
        let mut out = log.writer(StreamKind::Stdout);
        let mut err = log.writer(StreamKind::Stderr);
        log.append(&mut out, b"par");
        log.append(&mut err, b"e1\r\n");
        log.append(&mut out, b"tial\nx\n");
        log.append(&mut err, b"tail");
        log.flush(&mut out);
        log.flush(&mut err);
        log.close();
        let mut got = Vec::new();
        let mut split = Vec::new();
        while let Some(l) = line(&mut owner).await {
            split.push(owner.last_split());
            got.push((l.stream, l.seq, l.text));
        }
        use StreamKind::{Stderr as E, Stdout as O};
        assert_eq!(
            got,
            [
                (E, 0, "e1".to_string()),
                (O, 1, "part".to_string()),
                (O, 2, "ial".to_string()),
                (O, 3, "x".to_string()),
                (E, 4, "tail".to_string()),
            ]
        );
        assert_eq!(split, [false, true, false, false, false]);
        // The ring kept only 2 lines; the owner got all 5, with its seqs.
        let ring = log.snapshot();
        assert_eq!(ring.dropped, 3);
        assert_eq!(ring.lines[0].seq, 3);
    }

    #[tokio::test]
    async fn chunks_are_the_raw_reads_per_stream() {
        let log = log(10, 4);
        let mut owner = log.own();
        let mut out = log.writer(StreamKind::Stdout);
        log.append(&mut out, b"a\r\n\xff");
        log.append(&mut out, b"longer than the cap");
        log.flush(&mut out);
        log.close();
        let mut bytes = Vec::new();
        while let Some(chunk) = poll_fn(|cx| owner.poll_chunk(cx)).await {
            assert_eq!(chunk.stream, StreamKind::Stdout);
            bytes.extend(chunk.bytes);
        }
        assert_eq!(bytes, b"a\r\n\xfflonger than the cap");
    }

    #[tokio::test]
    async fn a_full_queue_holds_the_writer_until_the_owner_reads_or_lets_go() {
        use futures::FutureExt;

        let log = log(10, 1 << 20);
        let mut owner = log.own();
        let mut out = log.writer(StreamKind::Stdout);
        let big = vec![b'x'; OWNER_QUEUE_BYTES];
        log.append(&mut out, &big);
        let mut held = Box::pin(log.room());
        assert!((&mut held).now_or_never().is_none(), "a full queue holds");
        // One chunk read: room again (and the writer was woken).
        assert!(poll_fn(|cx| owner.poll_chunk(cx)).await.is_some());
        assert!(held.now_or_never().is_some());

        log.append(&mut out, &big);
        let mut held = Box::pin(log.room());
        assert!((&mut held).now_or_never().is_none());
        // The attempt's group is gone: the pipes' rest goes past the cap.
        log.owner_ending();
        assert!(held.now_or_never().is_some());
        log.begin_attempt(2);
        let mut held = Box::pin(log.room());
        assert!((&mut held).now_or_never().is_none());
        drop(owner);
        assert!(
            held.now_or_never().is_some(),
            "a dropped owner never holds the writer"
        );
        assert!(log.ring.lock().owner.is_none());
        assert!(log.ring.lock().writers.is_empty(), "every writer was woken");
    }
}
