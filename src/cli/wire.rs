//! What the read commands exchange with a running `taskorch up` over its
//! unix socket: one JSON [`Request`] line, then JSON [`Reply`] lines (one,
//! or a stream of `line`s closed by `end` for `logs`). Both sides build
//! a run's [`RunDetails`] the same way (from what the store keeps of it,
//! [`RunDetails::stored`]), so a read through a running `up` prints what
//! a read of the file prints; `--json` prints them through `json`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{OutputLine, RunId, RunQuery, RunStatus};

// One JSON shape for a run everywhere: the HTTP API's run resource.
pub(super) use crate::server::run_json::{RunDetails, describe};

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
