//! The pool's log ring: the last lines its workers wrote to stderr.
//!
//! Workers talk on stdout; whatever they print on stderr (start-up banners,
//! warnings, the traceback of a crash) is kept here, tagged with the worker
//! that wrote it, so it can be read through `Pool::logs` and quoted when the
//! pool gives up on a program that keeps dying. The ring is bounded in
//! lines and each line in bytes: a chatty worker costs a fixed amount of
//! memory.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, BufReader};

use super::line::{Line, read_line, skip_line};

/// Longest stderr line kept, in bytes; the rest of a longer line is dropped.
const MAX_LINE: usize = 8 * 1024;

/// One line a worker wrote to its stderr.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerLogLine {
    /// The worker's number within its pool (1, 2, ...; a replacement gets
    /// a new number).
    pub worker: u64,
    /// The worker's pid, if it was known.
    pub pid: Option<u32>,
    /// Position in the pool's log, counting from 0 (gaps mean lines
    /// dropped from the ring).
    pub seq: u64,
    /// The line, without its newline (invalid UTF-8 replaced; cut at 8 KiB).
    pub text: String,
}

/// A snapshot of a pool's log ring.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerLog {
    /// The lines still in the ring, oldest first.
    pub lines: Vec<WorkerLogLine>,
    /// Lines dropped from the ring to stay within `PoolSpec::log_lines`.
    pub dropped: u64,
}

/// The bounded ring behind [`WorkerLog`].
#[derive(Debug)]
pub(crate) struct LogRing {
    lines: VecDeque<WorkerLogLine>,
    cap: usize,
    next_seq: u64,
    dropped: u64,
}

impl LogRing {
    pub(crate) fn new(cap: usize) -> Self {
        LogRing {
            lines: VecDeque::new(),
            cap: cap.max(1),
            next_seq: 0,
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, worker: u64, pid: Option<u32>, text: String) {
        if self.lines.len() >= self.cap {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(WorkerLogLine {
            worker,
            pid,
            seq: self.next_seq,
            text,
        });
        self.next_seq += 1;
    }

    pub(crate) fn snapshot(&self) -> WorkerLog {
        WorkerLog {
            lines: self.lines.iter().cloned().collect(),
            dropped: self.dropped,
        }
    }

    /// The last `n` lines of one worker, oldest first.
    pub(crate) fn tail(&self, worker: u64, n: usize) -> Vec<String> {
        let mut tail: Vec<String> = self
            .lines
            .iter()
            .rev()
            .filter(|l| l.worker == worker)
            .take(n)
            .map(|l| l.text.clone())
            .collect();
        tail.reverse();
        tail
    }
}

/// Read `stderr` line by line into the log until end of file; `push` is
/// called with each line.
///
/// # Cancel safety
/// Cancel safe: lines read so far are already pushed.
pub(crate) async fn collect<R: AsyncRead + Unpin>(stderr: R, mut push: impl FnMut(String)) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // A read error means the worker is gone, which the serve loop
        // reports better: treat it as the end.
        let Ok(line) = read_line(&mut reader, &mut buf, MAX_LINE).await else {
            return;
        };
        if line == Line::Eof && buf.is_empty() {
            return;
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        push(String::from_utf8_lossy(&buf).into_owned());
        match line {
            Line::Complete => {}
            Line::Eof => return,
            Line::TooLong => {
                if !matches!(skip_line(&mut reader).await, Ok(Line::Complete)) {
                    return;
                }
            }
        }
    }
}
