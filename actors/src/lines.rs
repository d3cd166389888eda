//! Line capture: the bounded ring of one run's output lines, and the
//! readers that follow it live.
//!
//! Every process run writes its stdout and stderr, split into lines, into a
//! [`LineLog`] attached to its registry record. `orch.output(id)` copies
//! what the ring holds, a `RunStream` or `orch.subscribe_output(id)` reads
//! it line by line as it grows, during the run and after it.
//!
//! # A ring with cursors
//! The ring keeps the newest lines: at most [`LineLimits::ring_lines`] lines
//! and [`LineLimits::ring_bytes`] bytes of text; older lines go and are
//! counted in `dropped`. A reader is only a cursor into it (the `seq` it
//! wants next), so:
//! - the writer never waits for a reader: the child's pipes are always
//!   drained, and a slow or stalled reader costs the run nothing;
//! - a reader that attaches late gets the backlog (all the ring still
//!   holds), then live lines;
//! - a reader that falls a whole ring behind finds its next line gone: it
//!   skips to the oldest line kept, and the jump in `seq` tells it how many
//!   lines it missed.
//!
//! Text is stored back to back in one byte ring with a small index entry
//! per line: pushing a line allocates nothing and evicting one frees
//! nothing, and memory stays what the limits say. A reader copies each line
//! out, one allocation per line, as `BufReader::lines` does.
//!
//! # Layout
//! - `splitter`: bytes of one stream -> lines (partial lines, the line cap,
//!   `\r\n`, invalid UTF-8).
//! - `subscription`: [`OutputSubscription`], one reader.

mod splitter;
mod subscription;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::output::{OutputLine, StreamKind};
use crate::registry::RunRecord;
use crate::run::RunId;
pub(crate) use splitter::LineSplitter;
pub use subscription::OutputSubscription;

/// Default lines kept per run.
pub const DEFAULT_RING_LINES: usize = 10_000;
/// Default bytes of line text kept per run (4 MiB).
pub const DEFAULT_RING_BYTES: usize = 4 << 20;
/// Default longest line (64 KiB); longer lines are split.
pub const DEFAULT_MAX_LINE: usize = 64 << 10;

/// The smallest line cap: room for any one UTF-8 character.
const MIN_LINE: usize = 4;

/// Lines a reader copies out per lock, and the bytes that cap such a batch:
/// enough to make locking rare for a fast reader, small enough that a
/// batch never holds much outside the ring.
const READ_BATCH_LINES: usize = 256;
const READ_BATCH_BYTES: usize = 64 << 10;

/// Bounds of the line capture of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineLimits {
    /// Lines kept per run; past it the oldest go (default 10,000).
    pub ring_lines: usize,
    /// Bytes of line text kept per run; past it the oldest lines go
    /// (default 4 MiB).
    pub ring_bytes: usize,
    /// Longest line in bytes: a longer one is cut into pieces of at most
    /// this size, each but the last flagged [`OutputLine::split`]
    /// (default 64 KiB, at least 4).
    pub max_line: usize,
}

impl Default for LineLimits {
    fn default() -> Self {
        LineLimits {
            ring_lines: DEFAULT_RING_LINES,
            ring_bytes: DEFAULT_RING_BYTES,
            max_line: DEFAULT_MAX_LINE,
        }
    }
}

/// Every line of a run still held by its ring, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedOutput {
    /// The lines kept, in `seq` order; stdout and stderr interleaved as
    /// they arrived.
    pub lines: Vec<OutputLine>,
    /// Lines written before these that the ring no longer holds (evicted
    /// when it was full, or stripped by the registry's output budget).
    pub dropped: u64,
}

/// The line ring of one run (see the module docs).
#[derive(Debug)]
pub struct LineLog {
    run: RunId,
    limits: LineLimits,
    ring: Mutex<Ring>,
    // Ids for readers, so each can replace its own waker.
    readers: AtomicU64,
}

#[derive(Debug, Default)]
struct Ring {
    /// The text of the kept lines, back to back.
    text: VecDeque<u8>,
    /// One entry per kept line, oldest first; entry `i` has seq
    /// `first_seq() + i`.
    entries: VecDeque<Entry>,
    /// Offset of `text[0]` among all bytes ever pushed.
    base: u64,
    /// The seq of the next line pushed (= lines ever pushed).
    next_seq: u64,
    /// Lines no longer kept.
    dropped: u64,
    /// No more lines will come (the run ended).
    closed: bool,
    /// Readers waiting for a line, by reader id.
    waiting: Vec<(u64, Waker)>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Offset of the line's text among all bytes ever pushed.
    start: u64,
    len: usize,
    stream: StreamKind,
    split: bool,
}

impl LineLog {
    /// An empty, open log for run `run`.
    pub fn new(run: RunId, limits: LineLimits) -> Self {
        LineLog {
            run,
            limits: LineLimits {
                max_line: limits.max_line.max(MIN_LINE),
                ..limits
            },
            ring: Mutex::new(Ring::default()),
            readers: AtomicU64::new(0),
        }
    }

    /// The run whose lines these are.
    pub fn run_id(&self) -> RunId {
        self.run
    }

    /// The limits of this log.
    pub fn limits(&self) -> &LineLimits {
        &self.limits
    }

    /// A copy of every line kept, with the count of those no longer kept.
    pub fn snapshot(&self) -> CapturedOutput {
        let ring = self.ring.lock();
        let lines = (0..ring.entries.len()).map(|i| ring.line(i)).collect();
        CapturedOutput {
            lines,
            dropped: ring.dropped,
        }
    }

    /// A reader that starts at the oldest line kept: the backlog first,
    /// then lines as they are written, until the run ends.
    pub fn subscribe(self: &Arc<Self>) -> OutputSubscription {
        let id = self.readers.fetch_add(1, Ordering::Relaxed);
        OutputSubscription::new(Arc::clone(self), id)
    }

    /// Whether the run has ended: no more lines will be written.
    pub fn is_closed(&self) -> bool {
        self.ring.lock().closed
    }

    /// Lines written so far, kept or not.
    pub fn written(&self) -> u64 {
        self.ring.lock().next_seq
    }

    /// Lines written but no longer kept.
    pub fn dropped(&self) -> u64 {
        self.ring.lock().dropped
    }

    /// Memory held by the ring (text and index), for retention budgets.
    pub fn held_bytes(&self) -> usize {
        let ring = self.ring.lock();
        ring.text.capacity() + ring.entries.capacity() * std::mem::size_of::<Entry>()
    }

    /// A splitter for one stream of one attempt, with this log's line cap.
    pub(crate) fn splitter(&self, stream: StreamKind) -> LineSplitter {
        LineSplitter::new(stream, self.limits.max_line)
    }

    /// Split `chunk` (the next bytes `splitter`'s stream produced) and push
    /// its complete lines.
    pub(crate) fn append(&self, splitter: &mut LineSplitter, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        let limits = &self.limits;
        let mut ring = self.ring.lock();
        let before = ring.next_seq;
        splitter.feed(chunk, |stream, text, split| {
            ring.push(limits, stream, text, split)
        });
        if ring.next_seq != before {
            ring.wake();
        }
    }

    /// Push what is left in `splitter`: the last line of a stream that
    /// ended without a newline.
    pub(crate) fn flush(&self, splitter: &mut LineSplitter) {
        let limits = &self.limits;
        let mut ring = self.ring.lock();
        let before = ring.next_seq;
        splitter.finish(|stream, text, split| ring.push(limits, stream, text, split));
        if ring.next_seq != before {
            ring.wake();
        }
    }

    /// Push one whole line.
    #[cfg(test)]
    pub(crate) fn push_line(&self, stream: StreamKind, text: &str) {
        let mut ring = self.ring.lock();
        ring.push(&self.limits, stream, text.as_bytes(), false);
        ring.wake();
    }

    /// No more lines will come: readers end once they have read the rest.
    /// Idempotent.
    pub(crate) fn close(&self) {
        let mut ring = self.ring.lock();
        ring.closed = true;
        ring.wake();
    }

    /// Drop every kept line (counted in `dropped`) and free the memory:
    /// the registry's output budget reclaiming an old run.
    pub(crate) fn strip(&self) {
        let mut ring = self.ring.lock();
        ring.dropped += ring.entries.len() as u64;
        ring.base += ring.text.len() as u64;
        ring.text = VecDeque::new();
        ring.entries = VecDeque::new();
    }
}

impl Ring {
    fn first_seq(&self) -> u64 {
        self.next_seq - self.entries.len() as u64
    }

    fn push(&mut self, limits: &LineLimits, stream: StreamKind, raw: &[u8], split: bool) {
        // Valid UTF-8 (the usual case) is borrowed, not copied.
        let text = String::from_utf8_lossy(raw);
        let bytes = text.as_bytes();
        let len = bytes.len();
        while let Some(oldest) = self.entries.front().copied() {
            if self.entries.len() < limits.ring_lines && self.text.len() + len <= limits.ring_bytes
            {
                break;
            }
            self.entries.pop_front();
            self.text.drain(..oldest.len);
            self.base += oldest.len as u64;
            self.dropped += 1;
        }
        // Grow by doubling, but never past the cap: a plain `extend` could
        // double a ring that is just over half full to twice the cap.
        let need = self.text.len() + len;
        if need > self.text.capacity() {
            let target = (self.text.capacity() * 2)
                .max(need)
                .min(limits.ring_bytes.max(need));
            self.text.reserve_exact(target - self.text.len());
        }
        let start = self.base + self.text.len() as u64;
        self.text.extend(bytes);
        self.entries.push_back(Entry {
            start,
            len,
            stream,
            split,
        });
        self.next_seq += 1;
    }

    /// A copy of the kept line at index `i`.
    fn line(&self, i: usize) -> OutputLine {
        let entry = self.entries[i];
        let at = (entry.start - self.base) as usize;
        let (front, back) = self.text.as_slices();
        let end = at + entry.len;
        let text = if at >= front.len() {
            owned(&back[at - front.len()..end - front.len()])
        } else if end <= front.len() {
            owned(&front[at..end])
        } else {
            // The line wraps around the end of the ring's buffer.
            let mut bytes = Vec::with_capacity(entry.len);
            bytes.extend_from_slice(&front[at..]);
            bytes.extend_from_slice(&back[..end - front.len()]);
            // Only valid UTF-8 is stored, so this never replaces anything.
            String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        };
        OutputLine {
            stream: entry.stream,
            seq: self.first_seq() + i as u64,
            text,
            split: entry.split,
        }
    }

    /// Copy a batch of lines from `*next` on into `out`, moving `*next`
    /// past them. A cursor older than the oldest kept line skips to it and
    /// counts the lines it skipped in `missed`.
    fn read_into(&self, next: &mut u64, missed: &mut u64, out: &mut VecDeque<OutputLine>) {
        let first = self.first_seq();
        if *next < first {
            *missed += first - *next;
            *next = first;
        }
        let mut index = (*next - first) as usize;
        let mut bytes = 0;
        while index < self.entries.len()
            && out.len() < READ_BATCH_LINES
            && (bytes < READ_BATCH_BYTES || out.is_empty())
        {
            let line = self.line(index);
            bytes += line.text.len();
            out.push_back(line);
            index += 1;
            *next += 1;
        }
    }

    /// Remember that reader `id` waits for a line.
    fn register(&mut self, id: u64, waker: &Waker) {
        match self.waiting.iter_mut().find(|(reader, _)| *reader == id) {
            Some((_, known)) => known.clone_from(waker),
            None => self.waiting.push((id, waker.clone())),
        }
    }

    fn forget(&mut self, id: u64) {
        self.waiting.retain(|(reader, _)| *reader != id);
    }

    /// Wake every waiting reader. Done under the lock: waking a tokio task
    /// only queues it, and this keeps the waker list's allocation.
    fn wake(&mut self) {
        for (_, waker) in self.waiting.drain(..) {
            waker.wake();
        }
    }
}

/// A line's stored text as a `String`; stored text is valid UTF-8, so this
/// is one copy and never replaces anything.
fn owned(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Everything `record`'s ring holds; empty for a run without one (an
/// in-process action, or a run that has not started a process yet).
pub fn captured(record: &RunRecord) -> CapturedOutput {
    record.lines().map(|log| log.snapshot()).unwrap_or_default()
}

/// A reader of `record`'s lines: the backlog, then live lines until the run
/// ends. A run that has no ring yet gets one (with `limits`), so a reader
/// attached while the run is queued sees all of it; a finished run without
/// one (an action) gives a reader that ends at once.
pub fn subscribe(record: &RunRecord, limits: LineLimits) -> OutputSubscription {
    let log = record.lines_or_init(|| Arc::new(LineLog::new(record.id(), limits)));
    // The registry closes a run's ring when it finishes; a ring attached
    // just after that would never be closed. Checking the status after
    // attaching covers that race: either `finish` saw the ring, or we see
    // the terminal status.
    if record.status().is_terminal() {
        log.close();
    }
    log.subscribe()
}
