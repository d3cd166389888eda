//! What a finished run produced: [`Output`], and the line types of live
//! output ([`OutputLine`], [`StreamKind`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::run::RunId;

/// The result of a run that got to finish (whatever its exit code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// The run this output belongs to.
    pub run_id: RunId,
    /// Exit code of the last attempt; `None` when killed by a signal or for
    /// an in-process action.
    pub exit_code: Option<i32>,
    /// Captured standard output, at most the task's `max_output` bytes.
    pub stdout: Vec<u8>,
    /// Captured standard error, at most the task's `max_output` bytes.
    pub stderr: Vec<u8>,
    /// `stdout` hit the cap; the rest was read and discarded.
    pub stdout_truncated: bool,
    /// `stderr` hit the cap; the rest was read and discarded.
    pub stderr_truncated: bool,
    /// Bytes of stdout read past the cap and discarded.
    pub stdout_dropped: u64,
    /// Bytes of stderr read past the cap and discarded.
    pub stderr_dropped: u64,
    /// The value an in-process action returned.
    pub value: Option<serde_json::Value>,
    /// Wall time of the whole run, all attempts and backoff included.
    pub duration: Duration,
    /// Attempts made (1 + retries used).
    pub attempts: u32,
    /// The signal that killed the process, if one did (Unix).
    pub signal: Option<i32>,
}

impl Output {
    /// Exit code 0, or an in-process action that returned `Ok`.
    pub fn success(&self) -> bool {
        match self.exit_code {
            Some(code) => code == 0,
            None => self.value.is_some() && self.signal.is_none(),
        }
    }

    /// Standard output as text (invalid UTF-8 replaced).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (invalid UTF-8 replaced).
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// An empty output for `run_id`, filled in by the runner.
    pub(crate) fn empty(run_id: RunId) -> Self {
        Output {
            run_id,
            exit_code: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            stdout_dropped: 0,
            stderr_dropped: 0,
            value: None,
            duration: Duration::ZERO,
            attempts: 0,
            signal: None,
        }
    }

    /// Bytes held by this output (for retention budgets).
    pub fn held_bytes(&self) -> usize {
        self.stdout.len() + self.stderr.len()
    }

    /// Let go of the captured bytes, counting them as dropped (and the
    /// streams that had any as truncated), as the registry does when the
    /// output budget reclaims a run's output.
    pub(crate) fn release_bytes(&mut self) {
        self.stdout_dropped += self.stdout.len() as u64;
        self.stderr_dropped += self.stderr.len() as u64;
        self.stdout_truncated |= !self.stdout.is_empty();
        self.stderr_truncated |= !self.stderr.is_empty();
        self.stdout = Vec::new();
        self.stderr = Vec::new();
    }
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Raw bytes of one stream of a run, exactly as the child wrote them: no
/// decoding, no `\r` removed, no newline added or removed, no line cut.
/// Concatenating the chunks of one stream gives that stream's bytes.
/// Returned by `RunStream::next_chunk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputChunk {
    /// The stream the bytes came from.
    pub stream: StreamKind,
    /// The bytes of one read of the child's pipe (never empty).
    pub bytes: Vec<u8>,
    /// The attempt that wrote them, 1 for the first: a retried run's
    /// output is each attempt's in turn, and this tells where one ends.
    pub attempt: u32,
}

/// One line of a run's output, as the child wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputLine {
    /// The stream it came from.
    pub stream: StreamKind,
    /// Position in the run's output, strictly increasing across both
    /// streams; a gap means lines were dropped in between.
    pub seq: u64,
    /// The text, without its newline (a `\r` before it is removed too);
    /// invalid UTF-8 replaced. A line longer than `Config::max_line_bytes`
    /// arrives in pieces cut at that cap; which lines are such pieces is
    /// reported beside them ([`CapturedOutput::split`](crate::lines::CapturedOutput),
    /// `RunStream::last_split`), so this type stays the plain line it is.
    pub text: String,
}
