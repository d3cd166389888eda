//! Line capture: the bounded ring of one run's output lines, the readers
//! that follow it live, and the run owner's lossless queue.
//!
//! Every process run writes its stdout and stderr, split into lines, into a
//! [`LineLog`] attached to its registry record. `orch.output(id)` copies
//! what the ring holds, `orch.observe().subscribe_output(id)` reads it line by line
//! as it grows, during the run and after it. The run's own `RunStream`
//! reads its own queue instead (see below).
//!
//! # Who gets what
//! | reader | sees | when it falls behind |
//! |---|---|---|
//! | the run's own `RunStream` ([`OwnedOutput`]) | every byte, as raw chunks or lines | the pipes are not read: the child blocks, as in a shell pipeline |
//! | [`OutputSubscription`] (`subscribe_output`) | the ring's backlog, then live lines | it skips what the ring dropped, counted by `missed()` and shown by a jump in `seq` |
//! | [`CapturedOutput`] (`output(id)`) | the lines the ring holds now | `dropped` counts the older lines |
//!
//! # A ring with cursors
//! The ring keeps the newest lines: at most [`LineLimits::ring_lines`] lines
//! and [`LineLimits::ring_bytes`] bytes of text; older lines go and are
//! counted in `dropped`. A reader is only a cursor into it (the `seq` it
//! wants next), so:
//! - the ring never waits for a reader: a slow or stalled subscriber costs
//!   the run nothing;
//! - a reader that attaches late gets the backlog (all the ring still
//!   holds), then live lines;
//! - a reader that falls a whole ring behind finds its next line gone: it
//!   skips to the oldest line kept, and the jump in `seq` tells it how many
//!   lines it missed.
//!
//! # The owner's queue
//! The run's owner must see everything, so it does not read the ring: each
//! read of a pipe is also queued, raw, for it (`owner`), under the ring's
//! lock so both orders agree, and the pipes are not read while that queue
//! is full ([`OWNER_QUEUE_BYTES`]). Memory stays bounded either way: a slow
//! owner slows the child instead of growing a buffer. An owner that lets go
//! (drops its `RunStream`) leaves the run to the ring alone. The owner
//! splits lines itself from the same bytes with the same splitter, so its
//! lines and `seq`s are the ring's.
//!
//! # What a line is
//! Lines are text for people; the owner's raw chunks are for bytes. A line
//! is the bytes up to a `\n`, without it (and without a `\r` right before
//! it); the last bytes of a stream without a newline are a line too; a
//! line longer than [`LineLimits::max_line`] is cut into pieces (flagged,
//! see [`CapturedOutput::split`]); invalid UTF-8 is replaced (U+FFFD) when
//! a line is read out. A byte-exact copy of the output can therefore not be
//! rebuilt from lines: use `RunStream::next_chunk`.
//!
//! Text is stored back to back in one byte ring with a small index entry
//! per line: pushing a line allocates nothing and evicting one frees
//! nothing, and memory stays what the limits say. A reader copies each line
//! out, one allocation per line, as `BufReader::lines` does; invalid UTF-8
//! is replaced then, never earlier, so the writer side (which must keep up
//! with the child) does no more than split and copy.
//!
//! # When a line was captured
//! Each index entry also holds the wall-clock time its line was read (one
//! clock read per chunk, shared by the lines of that chunk; see `times`).
//! `output(id)` and `OutputSubscription` return lines as they always did;
//! the times come beside them ([`TimedOutput`],
//! [`OutputSubscription::last_time`]), never inside the contract types.
//!
//! # Layout
//! - `splitter`: bytes of one stream -> lines (partial lines, the line cap,
//!   `\r\n`, invalid UTF-8).
//! - `subscription`: [`OutputSubscription`], one reader of the ring.
//! - `owner`: [`OwnedOutput`], the owner's lossless queue and reader.
//! - `times`: [`LineTimes`] and [`TimedOutput`], the capture times.

mod owner;
mod splitter;
mod subscription;
#[cfg(test)]
mod tests;
mod times;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::output::{OutputLine, StreamKind};
use crate::run::RunId;
pub use owner::{OWNER_ENDING_ALLOWANCE, OWNER_QUEUE_BYTES, OwnedOutput};
use splitter::LineSplitter;
pub use subscription::OutputSubscription;
pub use times::{LineTimes, TimedOutput};

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
    /// this size, each but the last flagged (see [`CapturedOutput::split`])
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
    /// The `seq` of every kept line that is a piece of a longer line cut at
    /// the line cap (`Config::max_line_bytes`), continued by the next line
    /// of the same stream; the last piece is not listed. Usually empty.
    pub split: Vec<u64>,
}

/// The line ring of one run (see the module docs).
#[derive(Debug)]
pub struct LineLog {
    run: RunId,
    limits: LineLimits,
    ring: Mutex<Ring>,
    // Ids for readers, so each can replace its own waker.
    readers: AtomicU64,
    // Where each line also goes as a `run_output` event, if anywhere.
    events: Option<crate::events::Events>,
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
    /// The capture time of the newest line pushed (microseconds since the
    /// epoch): no line gets an earlier one, whatever the wall clock does.
    last_time: u64,
    /// Readers waiting for a line, by reader id.
    waiting: Vec<(u64, Waker)>,
    /// The queue of the run's own lossless reader, while it has one.
    owner: Option<owner::OwnerQueue>,
    /// Pipe readers waiting for room in `owner`.
    writers: Vec<Waker>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Offset of the line's text among all bytes ever pushed.
    start: u64,
    len: usize,
    stream: StreamKind,
    split: bool,
    /// When it was captured, microseconds since the epoch (0: unknown).
    time: u64,
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
            events: None,
        }
    }

    /// Also emit every line as a `run_output` event to `events`.
    pub fn with_events(mut self, events: crate::events::Events) -> Self {
        self.events = Some(events);
        self
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
        self.timed_snapshot().output
    }

    /// [`snapshot`](Self::snapshot), with the time each line was captured
    /// (taken under the same lock, so the two lists match).
    pub fn timed_snapshot(&self) -> TimedOutput {
        let ring = self.ring.lock();
        let mut split = Vec::new();
        let mut times = Vec::with_capacity(ring.entries.len());
        let lines = (0..ring.entries.len())
            .map(|i| {
                let (line, cut) = ring.line(i);
                if cut {
                    split.push(line.seq);
                }
                times.push(ring.entries[i].time);
                line
            })
            .collect();
        TimedOutput {
            output: CapturedOutput {
                lines,
                dropped: ring.dropped,
                split,
            },
            times: LineTimes::from_micros(times),
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

    /// The writing end of one stream of one attempt.
    pub(crate) fn writer(&self, stream: StreamKind) -> LineWriter {
        LineWriter {
            splitter: LineSplitter::new(stream, self.limits.max_line),
            batch: LineBatch::default(),
        }
    }

    /// Split `chunk` (the next bytes of `writer`'s stream) and push the
    /// lines it completes.
    ///
    /// Splitting and UTF-8 checks happen before the lock is taken, so a
    /// reader copying lines out and the writer pushing them hold it only
    /// for a copy each.
    pub(crate) fn append(&self, writer: &mut LineWriter, chunk: &[u8]) {
        let LineWriter { splitter, batch } = writer;
        splitter.feed(chunk, |text, split| batch.add(text, split));
        self.push_batch(writer, Some(chunk));
    }

    /// Push what is left in `writer`: the last line of a stream that ended
    /// without a newline.
    pub(crate) fn flush(&self, writer: &mut LineWriter) {
        let LineWriter { splitter, batch } = writer;
        splitter.finish(|text, split| batch.add(text, split));
        self.push_batch(writer, None);
    }

    /// Push the lines of `writer`'s batch, and give the owner (if any) the
    /// raw `chunk` they came from (`None`: the stream ended) under the
    /// same lock, so the owner's order is the ring's.
    fn push_batch(&self, writer: &mut LineWriter, chunk: Option<&[u8]>) {
        let stream = writer.splitter.stream();
        let lines = !writer.batch.lines.is_empty();
        // One clock read per chunk, outside the lock, shared by its lines.
        let now = if lines { times::now_micros() } else { 0 };
        let mut ring = self.ring.lock();
        let first = ring.next_seq;
        if lines {
            ring.push(&self.limits, stream, &writer.batch, now);
        }
        let queued = match ring.owner.as_mut() {
            Some(queue) => {
                queue.push(stream, chunk, first);
                true
            }
            None => false,
        };
        if lines || queued {
            ring.wake();
        }
        drop(ring);
        if !lines {
            return;
        }
        if let Some(events) = &self.events {
            crate::events::run_output(events, self.run, stream, first, |f| writer.batch.each(f));
        }
        writer.batch.clear();
    }

    /// Push one whole line.
    #[cfg(test)]
    pub(crate) fn push_line(&self, stream: StreamKind, text: &str) {
        let mut batch = LineBatch::default();
        batch.add(text.as_bytes(), false);
        let mut ring = self.ring.lock();
        ring.push(&self.limits, stream, &batch, times::now_micros());
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

impl LineLog {
    /// A closed log holding `captured` (a snapshot read back from the
    /// durable store), with the same `seq`s, split flags, capture `times`
    /// (unknown where `times` has none) and dropped count; its limits are
    /// whatever holds all of it.
    pub(crate) fn restore(run: RunId, captured: &CapturedOutput, times: &LineTimes) -> Self {
        let bytes: usize = captured.lines.iter().map(|l| l.text.len()).sum();
        let longest = captured.lines.iter().map(|l| l.text.len()).max();
        let limits = LineLimits {
            ring_lines: captured.lines.len().max(1),
            ring_bytes: bytes.max(MIN_LINE),
            max_line: longest.unwrap_or(0).max(MIN_LINE),
        };
        let log = LineLog::new(run, limits);
        {
            let mut ring = log.ring.lock();
            let first = captured.lines.first().map_or(captured.dropped, |l| l.seq);
            ring.next_seq = first;
            ring.dropped = first;
            for (i, line) in captured.lines.iter().enumerate() {
                let mut batch = LineBatch::default();
                batch.add(line.text.as_bytes(), captured.split.contains(&line.seq));
                ring.push(&log.limits, line.stream, &batch, times.micros_at(i));
            }
            ring.closed = true;
        }
        log
    }
}

/// The writing end of one stream into a [`LineLog`]: its splitter, and the
/// lines of the current read waiting to be pushed.
#[derive(Debug)]
pub(crate) struct LineWriter {
    splitter: LineSplitter,
    batch: LineBatch,
}

/// Lines split from one read, ready to be pushed in one go.
///
/// Text is kept as the child wrote it: UTF-8 is checked (and invalid bytes
/// replaced) when a line is read out, where a `String` has to be made
/// anyway, so the writer side never pays for it.
#[derive(Debug, Default)]
struct LineBatch {
    /// Their bytes, back to back.
    text: Vec<u8>,
    /// Each line's length in `text`, and its split flag.
    lines: Vec<(usize, bool)>,
}

impl LineBatch {
    fn add(&mut self, raw: &[u8], split: bool) {
        self.text.extend_from_slice(raw);
        self.lines.push((raw.len(), split));
    }

    fn clear(&mut self) {
        self.text.clear();
        self.lines.clear();
    }

    /// Each line's text (invalid UTF-8 replaced).
    fn each(&self, mut f: impl FnMut(String)) {
        let mut at = 0;
        for &(len, _) in &self.lines {
            f(String::from_utf8_lossy(&self.text[at..at + len]).into_owned());
            at += len;
        }
    }
}

impl Ring {
    fn first_seq(&self) -> u64 {
        self.next_seq - self.entries.len() as u64
    }

    /// Append `batch`, read at `time` (microseconds since the epoch; 0:
    /// unknown), evicting the oldest lines to stay within `limits`.
    fn push(&mut self, limits: &LineLimits, stream: StreamKind, batch: &LineBatch, time: u64) {
        // Never before the line before: a wall clock stepped back does not
        // reorder a run's times. Unknown (0) stays unknown.
        let time = if time == 0 {
            0
        } else {
            time.max(self.last_time)
        };
        self.last_time = self.last_time.max(time);
        let mut lines = &batch.lines[..];
        let mut text = &batch.text[..];
        // Lines of the batch itself that cannot fit are dropped at once
        // (keeping at least one, which `max_line <= ring_bytes` lets fit).
        let mut skipped = 0;
        while lines.len() > 1 && (lines.len() > limits.ring_lines || text.len() > limits.ring_bytes)
        {
            text = &text[lines[0].0..];
            lines = &lines[1..];
            skipped += 1;
        }
        if skipped > 0 {
            // Then nothing older fits either, and the ring must stay one
            // run of consecutive seqs.
            self.evict(self.entries.len());
            self.next_seq += skipped;
            self.dropped += skipped;
        }
        let (mut count, mut bytes) = (0, 0);
        while count < self.entries.len()
            && (self.entries.len() - count + lines.len() > limits.ring_lines
                || self.text.len() - bytes + text.len() > limits.ring_bytes)
        {
            bytes += self.entries[count].len;
            count += 1;
        }
        self.evict(count);
        // Grow by doubling, but never past the cap: a plain `extend` could
        // double a ring that is just over half full to twice the cap.
        let need = self.text.len() + text.len();
        if need > self.text.capacity() {
            let target = (self.text.capacity() * 2)
                .max(need)
                .min(limits.ring_bytes.max(need));
            self.text.reserve_exact(target - self.text.len());
        }
        let mut start = self.base + self.text.len() as u64;
        self.text.extend(text);
        for &(len, split) in lines {
            self.entries.push_back(Entry {
                start,
                len,
                stream,
                split,
                time,
            });
            start += len as u64;
        }
        self.next_seq += lines.len() as u64;
    }

    /// Drop the `count` oldest lines.
    fn evict(&mut self, count: usize) {
        let bytes: usize = self.entries.drain(..count).map(|e| e.len).sum();
        self.text.drain(..bytes);
        self.base += bytes as u64;
        self.dropped += count as u64;
    }

    /// A copy of the kept line at index `i`, and whether it is a piece of
    /// a longer line.
    fn line(&self, i: usize) -> (OutputLine, bool) {
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
            owned(&bytes)
        };
        let line = OutputLine {
            stream: entry.stream,
            seq: self.first_seq() + i as u64,
            text,
        };
        (line, entry.split)
    }

    /// Copy a batch of lines from `*next` on into `out`, moving `*next`
    /// past them: only their bytes and index entries, so the lock is held
    /// for little more than a `memcpy`; the reader makes `String`s after
    /// releasing it. A cursor older than the oldest kept line skips to it
    /// and counts the lines it skipped in `missed`.
    fn read_into(&self, next: &mut u64, missed: &mut u64, out: &mut ReadBatch) {
        let first = self.first_seq();
        if *next < first {
            *missed += first - *next;
            *next = first;
        }
        let from = (*next - first) as usize;
        let mut to = from;
        let mut bytes = 0;
        while to < self.entries.len()
            && to - from < READ_BATCH_LINES
            && (bytes < READ_BATCH_BYTES || to == from)
        {
            bytes += self.entries[to].len;
            to += 1;
        }
        if to == from {
            return;
        }
        let at = (self.entries[from].start - self.base) as usize;
        let (front, back) = self.text.as_slices();
        let end = at + bytes;
        if at < front.len() {
            out.text.extend_from_slice(&front[at..end.min(front.len())]);
        }
        if end > front.len() {
            out.text
                .extend_from_slice(&back[at.saturating_sub(front.len())..end - front.len()]);
        }
        for (i, entry) in self.entries.range(from..to).enumerate() {
            out.lines.push_back(LineMeta {
                seq: *next + i as u64,
                len: entry.len,
                stream: entry.stream,
                split: entry.split,
                time: entry.time,
            });
        }
        *next += (to - from) as u64;
    }

    /// Remember that reader `id` waits for a line.
    fn register(&mut self, id: u64, waker: &Waker) {
        match self.waiting.iter_mut().find(|(reader, _)| *reader == id) {
            Some((_, known)) => known.clone_from(waker),
            None => self.waiting.push((id, waker.clone())),
        }
    }

    /// Wake the pipe readers waiting for room in the owner's queue.
    fn wake_writers(&mut self) {
        for waker in self.writers.drain(..) {
            waker.wake();
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

/// Lines a reader has copied out of the ring, not yet returned.
#[derive(Debug, Default)]
struct ReadBatch {
    /// Their bytes, back to back; `at` is where the next one starts.
    text: Vec<u8>,
    /// `text` checked as UTF-8 in one pass (much faster than line by line):
    /// `Some` once checked and valid.
    checked: Option<String>,
    at: usize,
    lines: VecDeque<LineMeta>,
}

#[derive(Debug, Clone, Copy)]
struct LineMeta {
    seq: u64,
    len: usize,
    stream: StreamKind,
    split: bool,
    time: u64,
}

impl ReadBatch {
    fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The next line, whether it is a piece of a longer line, and when it
    /// was captured (microseconds since the epoch; 0: unknown).
    fn pop(&mut self) -> Option<(OutputLine, bool, u64)> {
        let meta = self.lines.pop_front()?;
        if self.at == 0 && self.checked.is_none() {
            match String::from_utf8(std::mem::take(&mut self.text)) {
                Ok(valid) => self.checked = Some(valid),
                Err(invalid) => self.text = invalid.into_bytes(),
            }
        }
        let range = self.at..self.at + meta.len;
        let text = match &self.checked {
            // `get` refuses a range that is not on character boundaries:
            // a character cut between two lines, valid only together.
            Some(valid) => valid
                .get(range.clone())
                .map_or_else(|| owned(&valid.as_bytes()[range]), str::to_owned),
            None => owned(&self.text[range]),
        };
        self.at += meta.len;
        if self.lines.is_empty() {
            // Keep the allocation for the next batch.
            if let Some(valid) = self.checked.take() {
                self.text = valid.into_bytes();
            }
            self.text.clear();
            self.at = 0;
        }
        let line = OutputLine {
            stream: meta.stream,
            seq: meta.seq,
            text,
        };
        Some((line, meta.split, meta.time))
    }
}

/// A line's stored bytes as a `String`, invalid UTF-8 replaced. `from_utf8`
/// first: valid text (the usual case) is then one copy.
fn owned(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}
