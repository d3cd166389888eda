//! Human output: aligned tables, times and durations, the batch summary.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::batch::{Ended, Verdict};
use super::wire::RunDetails;

/// Columns padded to their widest cell; the last column is not padded.
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 == widths.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// A wall-clock time, UTC, to the second.
pub(super) fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A duration for people: `3ms`, `1.204s`, `2m 3s`.
pub(super) fn duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.3}s", d.as_secs_f64())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

/// `runs`: one row per run, under its short id (`shorts[i]` for
/// `runs[i]`).
pub(super) fn runs(runs: &[RunDetails], shorts: &[String]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .zip(shorts)
        .map(|(d, short)| {
            let r = &d.info;
            let took = match (d.duration, r.started) {
                (Some(took), _) => duration(took),
                (None, Some(s)) => s
                    .elapsed()
                    .map(|d| format!("{} so far", duration(d)))
                    .unwrap_or_default(),
                _ => "-".into(),
            };
            vec![
                short.clone(),
                r.name.clone(),
                r.status.to_string(),
                r.pattern.to_string(),
                time(r.queued),
                took,
                r.exit_code.map_or_else(|| "-".into(), |c| c.to_string()),
            ]
        })
        .collect();
    table(
        &[
            "ID", "NAME", "STATUS", "PATTERN", "ACCEPTED", "TOOK", "EXIT",
        ],
        &rows,
    )
}

/// What a run's capture lost (`max_output`), one note per stream.
pub(super) fn truncation_notes(d: &RunDetails) -> Vec<String> {
    [("stdout", d.stdout_dropped), ("stderr", d.stderr_dropped)]
        .into_iter()
        .filter_map(|(stream, dropped)| {
            dropped.map(|n| {
                format!("{stream} was truncated: {n} bytes past the capture limit were dropped")
            })
        })
        .collect()
}

/// `show`: one run, a field per line.
pub(super) fn details(d: &RunDetails, short: &str) -> String {
    let opt_time = |t: Option<SystemTime>| t.map_or_else(|| "-".into(), time);
    let mut rows = vec![
        ("id", d.info.id.to_string()),
        ("short id", short.to_string()),
        ("name", d.info.name.clone()),
        ("status", d.info.status.to_string()),
        ("pattern", d.info.pattern.to_string()),
    ];
    if let Some(command) = &d.command {
        rows.push(("command", command.clone()));
    }
    if let Some(key) = &d.info.key {
        rows.push(("key", key.clone()));
    }
    if !d.info.labels.is_empty() {
        let labels: Vec<String> = d
            .info
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rows.push(("labels", labels.join(" ")));
    }
    if let Some(old) = d.rerun_of {
        rows.push(("rerun of", old.to_string()));
    }
    rows.push(("accepted", time(d.info.queued)));
    rows.push(("started", opt_time(d.info.started)));
    rows.push(("finished", opt_time(d.info.finished)));
    if let Some(took) = d.duration {
        rows.push(("duration", duration(took)));
    }
    rows.push(("attempts", d.info.attempts.to_string()));
    rows.push((
        "exit code",
        d.info
            .exit_code
            .map_or_else(|| "-".into(), |c| c.to_string()),
    ));
    if let Some(signal) = d.signal {
        rows.push(("signal", signal.to_string()));
    }
    if let (Some(out), Some(err)) = (d.stdout_bytes, d.stderr_bytes) {
        let cut = |dropped: Option<u64>| {
            dropped.map_or_else(String::new, |n| format!(" (truncated: {n} bytes dropped)"))
        };
        rows.push((
            "output",
            format!(
                "{out} bytes stdout{}, {err} bytes stderr{}",
                cut(d.stdout_dropped),
                cut(d.stderr_dropped)
            ),
        ));
    }
    if let Some(error) = &d.error {
        rows.push(("error", error.clone()));
    }
    let mut out = String::new();
    for (key, value) in rows {
        let _ = writeln!(out, "{key:<10} {value}");
    }
    out
}

/// The end-of-batch summary.
#[derive(Debug, Default)]
pub(super) struct BatchSummary {
    succeeded: usize,
    failed: usize,
    not_started: usize,
    timed_out: usize,
    cancelled: usize,
    /// Failed jobs, for the table: command, exit code, why.
    failures: Vec<(String, i32, String)>,
}

/// Failed jobs listed in the summary; the joblog has them all.
const LISTED: usize = 10;

impl BatchSummary {
    pub(super) fn add(&mut self, command: &str, verdict: &Verdict) {
        match verdict.ended {
            Ended::Succeeded => {
                self.succeeded += 1;
                return;
            }
            Ended::Failed => self.failed += 1,
            Ended::NotStarted => self.not_started += 1,
            Ended::TimedOut => self.timed_out += 1,
            Ended::Cancelled => self.cancelled += 1,
        }
        self.failures
            .push((command.to_string(), verdict.exit, verdict.why.clone()));
    }

    /// Jobs that ended, whichever way.
    pub(super) fn total(&self) -> usize {
        self.succeeded + self.failed()
    }

    /// Jobs that succeeded.
    pub(super) fn succeeded(&self) -> usize {
        self.succeeded
    }

    /// Jobs that did not succeed.
    pub(super) fn failed(&self) -> usize {
        self.failed + self.not_started + self.timed_out + self.cancelled
    }

    pub(super) fn table(&self, elapsed: Duration) -> String {
        let total = self.total();
        let rate = total as f64 / elapsed.as_secs_f64().max(1e-9);
        let mut out = table(
            &[
                "JOBS",
                "SUCCEEDED",
                "FAILED",
                "NOT STARTED",
                "TIMED OUT",
                "CANCELLED",
                "WALL",
                "RATE",
            ],
            &[vec![
                total.to_string(),
                self.succeeded.to_string(),
                self.failed.to_string(),
                self.not_started.to_string(),
                self.timed_out.to_string(),
                self.cancelled.to_string(),
                duration(elapsed),
                format!("{rate:.0}/s"),
            ]],
        );
        if !self.failures.is_empty() {
            let rows: Vec<Vec<String>> = self
                .failures
                .iter()
                .take(LISTED)
                .map(|(cmd, exit, why)| vec![exit.to_string(), why.clone(), cmd.clone()])
                .collect();
            out.push('\n');
            out.push_str(&table(&["EXIT", "WHY", "COMMAND"], &rows));
            if self.failures.len() > LISTED {
                let _ = writeln!(out, "... and {} more", self.failures.len() - LISTED);
            }
        }
        out
    }
}
