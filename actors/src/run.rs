//! Identity and lifecycle of one run: [`RunId`], [`RunStatus`], [`RunInfo`].
//!
//! A *run* is one accepted piece of work (a command or an in-process action)
//! from acceptance to its terminal status, across all of its attempts.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::pattern::Pattern;

mod query;

pub use query::RunQuery;

/// Identifies one run. Time-ordered (UUID v7), so ids sort by creation and
/// make good store keys; unique across orchestrators and processes, so an
/// id from another orchestrator is simply unknown here.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(uuid::Uuid);

impl RunId {
    /// A fresh id.
    pub fn new() -> Self {
        RunId(uuid::Uuid::now_v7())
    }

    /// The 16 raw bytes (big-endian, so byte order is time order).
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// Rebuild an id from [`as_bytes`](Self::as_bytes).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        RunId(uuid::Uuid::from_bytes(bytes))
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunId({self})")
    }
}

/// The error of parsing a [`RunId`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid run id {input:?}: expected a UUID such as 0190a5c4-7d1e-7cc0-9a55-2f6c1f0e4b11")]
pub struct ParseRunIdError {
    input: String,
}

impl FromStr for RunId {
    type Err = ParseRunIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s.trim())
            .map(RunId)
            .map_err(|_| ParseRunIdError {
                input: s.to_string(),
            })
    }
}

/// Where a run is in its life. Status only moves forward:
/// `Queued -> Running -> {Succeeded, Failed, Cancelled, TimedOut, Interrupted}`
/// (a queued run may also end without running: cancelled, interrupted, or
/// failed to start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Accepted, not started yet.
    Queued,
    /// Started; a process or action is executing.
    Running,
    /// Finished with exit code 0 (or an action returned `Ok`).
    Succeeded,
    /// Finished unsuccessfully: non-zero exit, killed by a signal, an action
    /// error, or the work could not start.
    Failed,
    /// Cancelled by the caller.
    Cancelled,
    /// Stopped because it exceeded its timeout.
    TimedOut,
    /// Cut short by the runtime: its actor died or the orchestrator shut down.
    Interrupted,
}

impl RunStatus {
    /// Whether the run is over (no further transition is possible).
    pub fn is_terminal(&self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }

    /// Whether `self -> next` is a legal transition. The one place that
    /// defines the run state machine; the registry refuses anything else.
    pub fn can_become(&self, next: RunStatus) -> bool {
        match (self, next) {
            (RunStatus::Queued, next) => next != RunStatus::Queued,
            (RunStatus::Running, next) => next.is_terminal(),
            _ => false,
        }
    }

    /// Lower-case name, as used in JSON and the CLI.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(
            match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                "queued" => RunStatus::Queued,
                "running" => RunStatus::Running,
                "succeeded" => RunStatus::Succeeded,
                "failed" => RunStatus::Failed,
                "cancelled" | "canceled" => RunStatus::Cancelled,
                "timed_out" | "timedout" => RunStatus::TimedOut,
                "interrupted" => RunStatus::Interrupted,
                other => {
                    return Err(format!(
                        "unknown run status {other:?} (expected queued, running, succeeded, failed, \
                     cancelled, timed_out or interrupted)"
                    ));
                }
            },
        )
    }
}

/// A snapshot of one run, as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run's id.
    pub id: RunId,
    /// The task's name (its `.name(..)`, else the program or action name).
    pub name: String,
    /// Current status.
    pub status: RunStatus,
    /// The pattern that ran it.
    pub pattern: Pattern,
    /// When it was accepted.
    pub queued: SystemTime,
    /// When its first attempt started.
    pub started: Option<SystemTime>,
    /// When it reached its terminal status.
    pub finished: Option<SystemTime>,
    /// Exit code of the last attempt (`None` if killed by a signal, still
    /// running, or an in-process action).
    pub exit_code: Option<i32>,
    /// Attempts made so far (1 + retries used).
    pub attempts: u32,
    /// Bytes of stdout missing from the captured output of the finished
    /// run: cut at `max_output`, or reclaimed by the output budget
    /// (`Output::stdout_dropped`). 0 while it runs, when it ended with an
    /// error, or when nothing was lost.
    #[serde(default)]
    pub stdout_dropped: u64,
    /// The same for stderr (`Output::stderr_dropped`).
    #[serde(default)]
    pub stderr_dropped: u64,
    /// The caller's key of the run's task ([`Task::key`](crate::Task::key)).
    #[serde(default)]
    pub key: Option<String>,
    /// The labels of the run's task ([`Task::label`](crate::Task::label)).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

impl RunInfo {
    /// Whether the run's captured output lacks bytes its process wrote
    /// (see [`stdout_dropped`](Self::stdout_dropped)).
    pub fn output_truncated(&self) -> bool {
        self.stdout_dropped > 0 || self.stderr_dropped > 0
    }
}

/// A failed attempt of a run that will be tried again
/// (`RunStream::next_retry`): which attempt, how it failed, and how long
/// the run waits before the next one. Displayed as a shell tool would say
/// it: `attempt 1 failed (exit 1), retrying in 100ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryNotice {
    /// The attempt that failed (1-based).
    pub attempt: u32,
    /// Its exit code, if its process exited.
    pub exit_code: Option<i32>,
    /// The signal that killed its process, if one did.
    pub signal: Option<i32>,
    /// The error it ended with instead (timed out, could not start, ...).
    pub error: Option<String>,
    /// The wait before the next attempt.
    pub delay: std::time::Duration,
}

impl fmt::Display for RetryNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {} failed (", self.attempt)?;
        match (&self.error, self.exit_code, self.signal) {
            (Some(error), _, _) => write!(f, "{error}")?,
            (None, Some(code), _) => write!(f, "exit {code}")?,
            (None, None, Some(signal)) => write!(f, "killed by signal {signal}")?,
            (None, None, None) => write!(f, "the action failed")?,
        }
        write!(f, "), retrying in {}", humantime_like(self.delay))
    }
}

/// `100ms`, `1.5s`, `2m 3s`: short enough for a one-line notice.
fn humantime_like(d: std::time::Duration) -> String {
    if d < std::time::Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < std::time::Duration::from_secs(60) {
        let ms = d.as_millis();
        if ms.is_multiple_of(1000) {
            format!("{}s", ms / 1000)
        } else {
            format!("{:.3}s", d.as_secs_f64())
        }
    } else {
        format!("{}m {}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RetryNotice;

    fn notice(exit_code: Option<i32>, signal: Option<i32>, error: Option<&str>, ms: u64) -> String {
        RetryNotice {
            attempt: 2,
            exit_code,
            signal,
            error: error.map(str::to_string),
            delay: Duration::from_millis(ms),
        }
        .to_string()
    }

    #[test]
    fn a_retry_notice_reads_as_a_shell_tool_would_say_it() {
        assert_eq!(
            notice(Some(1), None, None, 100),
            "attempt 2 failed (exit 1), retrying in 100ms"
        );
        assert_eq!(
            notice(None, Some(9), None, 1500),
            "attempt 2 failed (killed by signal 9), retrying in 1.500s"
        );
        assert_eq!(
            notice(None, None, Some("timed out after 1s"), 2000),
            "attempt 2 failed (timed out after 1s), retrying in 2s"
        );
        assert_eq!(
            notice(None, None, None, 125_000),
            "attempt 2 failed (the action failed), retrying in 2m 5s"
        );
    }
}
