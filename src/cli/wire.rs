//! What the read commands exchange with a running `taskorch up` over its
//! unix socket: one JSON [`Request`] line, then JSON [`Reply`] lines (one,
//! or a stream of `line`s closed by `end` for `logs`). [`RunDetails`] is
//! also what `show --json` prints.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Output, OutputLine, RunId, RunInfo, RunStatus, Task, TaskKind};

/// A read request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Request {
    /// Runs, newest first.
    Runs {
        name: Option<String>,
        status: Option<RunStatus>,
        limit: Option<usize>,
    },
    /// One run.
    Show { id: RunId },
    /// One run's lines; with `follow`, then live ones until it ends.
    Logs { id: RunId, follow: bool },
    /// Write the live trace into the store directory.
    Trace,
}

/// One reply line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Reply {
    Runs(Vec<RunInfo>),
    Run(Box<RunDetails>),
    Line(OutputLine),
    /// The end of `logs`: lines the ring no longer held.
    End {
        dropped: u64,
    },
    TraceWritten,
    UnknownRun(RunId),
    Error(String),
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
    /// Why it could not run or finish (timed out, not found, ...).
    pub(super) error: Option<String>,
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
            error: None,
        };
        match outcome {
            Some(Ok(out)) => {
                details.duration = Some(out.duration);
                details.signal = out.signal;
                details.stdout_bytes = Some(out.stdout.len());
                details.stderr_bytes = Some(out.stderr.len());
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

/// A task as a command line, for people.
pub(super) fn describe(task: &Task) -> String {
    match task.kind() {
        TaskKind::Command { program, args } => {
            let mut line = program.clone();
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
