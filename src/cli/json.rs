//! `--json` output of the read commands, one shape everywhere: a run is
//! the same object in `runs --json` (an array of them) and `show --json`.
//! Times are RFC 3339 strings in UTC (`2026-12-07T20:41:00.123456Z`),
//! durations are seconds as numbers (`1.25`), ids are the full id plus
//! `short_id`, the suffix `runs` prints (see `ids`). Not serde's default
//! forms for `SystemTime` and `Duration`, which no script wants to read.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::{OutputLine, Pattern, RunStatus};

use super::wire::RunDetails;

/// One run.
#[derive(Debug, Serialize)]
pub(super) struct Run<'a> {
    id: String,
    short_id: String,
    name: &'a str,
    status: RunStatus,
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
    labels: &'a std::collections::BTreeMap<String, String>,
    /// The run it reruns (`taskorch rerun`), if it is a rerun.
    rerun_of: Option<String>,
}

impl<'a> Run<'a> {
    pub(super) fn new(d: &'a RunDetails, short_id: String) -> Self {
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

/// One line of `logs --json --timestamps`: the line's own fields, and
/// when it was captured (`null` when the store has no time for it).
#[derive(Debug, Serialize)]
pub(super) struct Line<'a> {
    #[serde(flatten)]
    line: &'a OutputLine,
    time: Option<String>,
}

impl<'a> Line<'a> {
    pub(super) fn new(line: &'a OutputLine, time: Option<SystemTime>) -> Self {
        Line {
            line,
            time: time.map(self::time),
        }
    }
}

/// RFC 3339, UTC, to the microsecond.
pub(super) fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Seconds, as a number.
pub(super) fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}
