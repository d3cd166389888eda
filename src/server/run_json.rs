//! The JSON shape of a run, one everywhere: the HTTP API's run resource
//! (`GET /runs`, `GET /runs/{id}`), `taskorch runs --json` and `show
//! --json`, and what a running `up` answers the read commands with.
//! Times are RFC 3339 strings in UTC (`2026-12-07T20:41:00.123456Z`),
//! durations are seconds as numbers (`1.25`), ids are the full id plus
//! `short_id`, the shortest unique suffix (at least [`SHOWN`] hex digits).
//! Not serde's default forms for `SystemTime` and `Duration`, which no
//! script wants to read.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::store::StoredRun;
use crate::task::TaskKind;
use crate::{Error, Output, Pattern, RunId, RunInfo, RunStatus, Task};

/// Digits a short id shows at least: 32 random bits, so a clash among the
/// runs of one store is rare (and then more digits are shown).
pub(crate) const SHOWN: usize = 8;

/// Digits a short id must have at least, so a typo is not taken for a
/// match by chance.
pub(crate) const MIN: usize = 6;

/// The id's 32 lowercase hex digits, without dashes.
pub(crate) fn hex(id: RunId) -> String {
    id.to_string().replace('-', "")
}

/// The shortest suffix of `id` (at least [`SHOWN`] digits) that no other
/// id of `all` ends with.
pub(crate) fn short(id: RunId, all: &[RunId]) -> String {
    let own = hex(id);
    let shared = all
        .iter()
        .filter(|&&other| other != id)
        .map(|&other| {
            own.bytes()
                .rev()
                .zip(hex(other).bytes().rev())
                .take_while(|(a, b)| a == b)
                .count()
        })
        .max()
        .unwrap_or(0);
    let len = (shared + 1).clamp(SHOWN, own.len());
    own[own.len() - len..].to_string()
}

/// Whether `text` has the form of a short id: [`MIN`] to 32 hex digits
/// (dashes and case ignored).
pub(crate) fn is_short_form(text: &str) -> bool {
    let digits = short_digits(text);
    digits.len() >= MIN && digits.len() <= 32 && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The ids of `all` that `text` (a short id) is a suffix of.
pub(crate) fn matching(text: &str, all: &[RunId]) -> Vec<RunId> {
    let digits = short_digits(text);
    all.iter()
        .copied()
        .filter(|&id| hex(id).ends_with(&digits))
        .collect()
}

fn short_digits(text: &str) -> String {
    text.trim().to_ascii_lowercase().replace('-', "")
}

/// One run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Run<'a> {
    id: String,
    short_id: String,
    name: &'a str,
    /// queued, running, succeeded, failed, cancelled, timed_out, interrupted
    #[schema(value_type = String)]
    status: RunStatus,
    /// simple, long_running, concurrent, fire_and_forget, periodic, pooled
    #[schema(value_type = String)]
    pattern: Pattern,
    command: Option<&'a str>,
    /// When it was accepted.
    queued: String,
    started: Option<String>,
    finished: Option<String>,
    /// Seconds, once it ended.
    duration: Option<f64>,
    exit_code: Option<i32>,
    signal: Option<i32>,
    attempts: u32,
    /// Bytes captured (once it ended).
    stdout_bytes: Option<usize>,
    stderr_bytes: Option<usize>,
    /// Whether the capture was cut at `max_output`, and the bytes dropped.
    stdout_truncated: bool,
    stderr_truncated: bool,
    stdout_dropped: u64,
    stderr_dropped: u64,
    error: Option<&'a str>,
    /// The caller's key of the run's task (`Task::key`).
    key: Option<&'a str>,
    /// Its labels (`Task::label`), an object.
    #[schema(value_type = Object)]
    labels: &'a std::collections::BTreeMap<String, String>,
    /// The run it reruns (`taskorch rerun`), if it is a rerun.
    rerun_of: Option<String>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(d: &'a RunDetails, short_id: String) -> Self {
        Run {
            id: d.info.id.to_string(),
            short_id,
            name: &d.info.name,
            status: d.info.status,
            pattern: d.info.pattern,
            command: d.command.as_deref(),
            queued: time(d.info.queued),
            started: d.info.started.map(time),
            finished: d.info.finished.map(time),
            duration: d.duration.map(seconds),
            exit_code: d.info.exit_code,
            signal: d.signal,
            attempts: d.info.attempts,
            stdout_bytes: d.stdout_bytes,
            stderr_bytes: d.stderr_bytes,
            stdout_truncated: d.stdout_dropped.is_some(),
            stderr_truncated: d.stderr_dropped.is_some(),
            stdout_dropped: d.stdout_dropped.unwrap_or(0),
            stderr_dropped: d.stderr_dropped.unwrap_or(0),
            error: d.error.as_deref(),
            key: d.info.key.as_deref(),
            labels: &d.info.labels,
            rerun_of: d.rerun_of.map(|id| id.to_string()),
        }
    }
}

/// One run, as `show` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunDetails {
    /// The run's record.
    #[serde(flatten)]
    pub(crate) info: RunInfo,
    /// What it runs, when known.
    pub(crate) command: Option<String>,
    /// Wall time of the whole run, once it ended.
    pub(crate) duration: Option<Duration>,
    /// The signal that killed it.
    pub(crate) signal: Option<i32>,
    /// Bytes of stdout and stderr captured.
    pub(crate) stdout_bytes: Option<usize>,
    pub(crate) stderr_bytes: Option<usize>,
    /// Bytes of stdout and stderr read past the capture cap (`max_output`)
    /// and discarded: `Some` only when the capture was cut. Renamed on the
    /// wire: the flattened `RunInfo` has fields of these names (which also
    /// count bytes the output budget reclaimed later).
    #[serde(rename = "capture_stdout_dropped")]
    pub(crate) stdout_dropped: Option<u64>,
    #[serde(rename = "capture_stderr_dropped")]
    pub(crate) stderr_dropped: Option<u64>,
    /// Why it could not run or finish (timed out, not found, ...).
    pub(crate) error: Option<String>,
    /// The run it reruns (`taskorch rerun`); absent from an older `up`.
    #[serde(default)]
    pub(crate) rerun_of: Option<RunId>,
}

impl RunDetails {
    pub(crate) fn new(
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
    pub(crate) fn stored(run: StoredRun, fallback: Option<String>) -> Self {
        let command = run.task.as_ref().map(describe).or(fallback);
        let rerun_of = run.rerun_of;
        RunDetails {
            rerun_of,
            ..RunDetails::new(run.info, command, run.outcome.as_ref())
        }
    }
}

/// A task as a command line, for people.
pub(crate) fn describe(task: &Task) -> String {
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

/// RFC 3339, UTC, to the microsecond.
pub(crate) fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Seconds, as a number.
pub(crate) fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}
