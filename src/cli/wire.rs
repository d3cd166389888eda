//! What the read commands exchange with a running `taskorch up` over its
//! unix socket: one JSON [`Request`] line, then JSON [`Reply`] lines (one,
//! or a stream of `line`s closed by `end` for `logs`). Both sides build
//! a run's [`RunDetails`] the same way (from what the store keeps of it,
//! [`RunDetails::stored`]), so a read through a running `up` prints what
//! a read of the file prints; `--json` prints them through `json`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::store::StoredRun;
use crate::task::TaskKind;
use crate::{Error, Output, OutputLine, RunId, RunInfo, RunQuery, RunStatus, Task};

/// What `taskorch runs` asks for, alike on the file and in a running
/// `up` (the fields of `Request::Runs`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct RunsFilter {
    pub(super) name: Option<String>,
    pub(super) status: Option<RunStatus>,
    pub(super) limit: Option<usize>,
    /// The caller's key (absent in requests of an older client).
    #[serde(default)]
    pub(super) key: Option<String>,
    /// Labels a run must all carry.
    #[serde(default)]
    pub(super) labels: Vec<(String, String)>,
    /// Only dead letters (`runs --dead`); absent from an older client.
    #[serde(default)]
    pub(super) dead: bool,
}

/// The query of `Request::Runs`.
pub(super) fn runs_query(filter: RunsFilter) -> RunQuery {
    let mut query = RunQuery::new();
    if filter.dead {
        query = query.dead_letter();
    }
    if let Some(name) = filter.name {
        query = query.name(name);
    }
    if let Some(status) = filter.status {
        query = query.status(status);
    }
    if let Some(limit) = filter.limit {
        query = query.most_recent(limit);
    }
    if let Some(key) = filter.key {
        query = query.key(key);
    }
    for (k, v) in filter.labels {
        query = query.label(k, v);
    }
    query
}

/// A read request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Request {
    /// Every run's id (to resolve a short id).
    Ids,
    /// Runs, newest first.
    Runs {
        #[serde(flatten)]
        filter: RunsFilter,
    },
    /// One run.
    Show { id: RunId },
    /// One run's lines; with `follow`, then live ones until it ends.
    Logs { id: RunId, follow: bool },
    /// Write the live trace into the store directory.
    Trace,
    /// The live runtime metrics.
    Metrics,
}

/// One reply line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Reply {
    Ids(Vec<RunId>),
    Runs(Vec<RunDetails>),
    Run(Box<RunDetails>),
    Line(TimedLine),
    /// The end of `logs`: lines the ring no longer held.
    End {
        dropped: u64,
    },
    TraceWritten,
    Metrics(Box<crate::Metrics>),
    UnknownRun(RunId),
    Error(String),
}

/// One line of `logs`, with when it was captured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TimedLine {
    /// The line (flattened: `{"line": {"stream", "seq", "text",
    /// "time_us"}}`, so a reply of an `up` without times still reads, and
    /// a client without them ignores the extra field).
    #[serde(flatten)]
    pub(super) line: OutputLine,
    /// Microseconds since the Unix epoch; absent when unknown (a run
    /// stored without times, or an older `up`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) time_us: Option<u64>,
}

impl TimedLine {
    pub(super) fn new(line: OutputLine, time: Option<SystemTime>) -> Self {
        let time_us = time
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        TimedLine { line, time_us }
    }

    /// When the line was captured, if known.
    pub(super) fn time(&self) -> Option<SystemTime> {
        self.time_us
            .map(|us| UNIX_EPOCH + Duration::from_micros(us))
    }
}

/// One run, as `show` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RunDetails {
    /// The run's record.
    #[serde(flatten)]
    pub(super) info: RunInfo,
    /// What it runs, when known.
    pub(super) command: Option<String>,
    /// Wall time of the whole run, once it ended.
    pub(super) duration: Option<Duration>,
    /// The signal that killed it.
    pub(super) signal: Option<i32>,
    /// Bytes of stdout and stderr captured.
    pub(super) stdout_bytes: Option<usize>,
    pub(super) stderr_bytes: Option<usize>,
    /// Bytes of stdout and stderr read past the capture cap (`max_output`)
    /// and discarded: `Some` only when the capture was cut. Renamed on the
    /// wire: the flattened `RunInfo` has fields of these names (which also
    /// count bytes the output budget reclaimed later).
    #[serde(rename = "capture_stdout_dropped")]
    pub(super) stdout_dropped: Option<u64>,
    #[serde(rename = "capture_stderr_dropped")]
    pub(super) stderr_dropped: Option<u64>,
    /// Why it could not run or finish (timed out, not found, ...).
    pub(super) error: Option<String>,
    /// The run it reruns (`taskorch rerun`); absent from an older `up`.
    #[serde(default)]
    pub(super) rerun_of: Option<RunId>,
}

impl RunDetails {
    pub(super) fn new(
        info: RunInfo,
        command: Option<String>,
        outcome: Option<&Result<Output, Error>>,
    ) -> Self {
        let mut details = RunDetails {
            info,
            command,
            duration: None,
            signal: None,
            stdout_bytes: None,
            stderr_bytes: None,
            stdout_dropped: None,
            stderr_dropped: None,
            error: None,
            rerun_of: None,
        };
        match outcome {
            Some(Ok(out)) => {
                details.duration = Some(out.duration);
                details.signal = out.signal;
                details.stdout_bytes = Some(out.stdout.len());
                details.stderr_bytes = Some(out.stderr.len());
                details.stdout_dropped = out.stdout_truncated.then_some(out.stdout_dropped);
                details.stderr_dropped = out.stderr_truncated.then_some(out.stderr_dropped);
            }
            Some(Err(e)) => details.error = Some(e.to_string()),
            None => {}
        }
        if details.duration.is_none()
            && let (Some(start), Some(end)) = (details.info.started, details.info.finished)
        {
            details.duration = end.duration_since(start).ok();
        }
        details
    }
}

impl RunDetails {
    /// A run as the store keeps it; `fallback` names its command when the
    /// store has no task for it (runs `up` started before it stored tasks).
    pub(super) fn stored(run: StoredRun, fallback: Option<String>) -> Self {
        let command = run.task.as_ref().map(describe).or(fallback);
        let rerun_of = run.rerun_of;
        RunDetails {
            rerun_of,
            ..RunDetails::new(run.info, command, run.outcome.as_ref())
        }
    }
}

/// A task as a command line, for people.
pub(super) fn describe(task: &Task) -> String {
    match task.kind() {
        TaskKind::Command => {
            let (program, args) = task.command_line().unwrap_or_default();
            let mut line = program.to_string();
            for arg in args {
                line.push(' ');
                line.push_str(&quote(arg));
            }
            line
        }
        TaskKind::Shell { script } => format!("sh -c {}", quote(script)),
        TaskKind::Action { name, .. } => format!("action {name}"),
    }
}

fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}
