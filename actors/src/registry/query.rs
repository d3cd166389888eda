//! Queries over the run registry: by status, name, pattern, most recent N.
//!
//! A query scans the registry once (it holds at most `history_limit`
//! finished runs plus the live ones), locking a record only to read its
//! status, and copies out only the runs it returns, so a dashboard asking
//! for the last 20 of 100,000 runs copies 20. Results are ordered by
//! acceptance (run ids are time-ordered), oldest first.

use std::sync::Arc;

use crate::pattern::Pattern;
use crate::registry::{Registry, RunRecord};
use crate::run::{RunId, RunInfo, RunStatus};

/// Which runs [`Registry::query`] returns. A fresh query matches every run;
/// each call narrows it.
///
/// ```
/// use taskorch_actors::{RunQuery, RunStatus};
///
/// // The 20 most recent failed or timed-out runs named "nightly-export".
/// let query = RunQuery::new()
///     .name("nightly-export")
///     .status(RunStatus::Failed)
///     .status(RunStatus::TimedOut)
///     .most_recent(20);
/// # let _ = query;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    // One bit per `RunStatus` (its discriminant); 0 means any status.
    statuses: u8,
    name: Option<String>,
    pattern: Option<Pattern>,
    most_recent: Option<usize>,
}

impl RunQuery {
    /// A query matching every run.
    pub fn new() -> Self {
        RunQuery::default()
    }

    /// Only runs in `status`. Called several times, runs in any of the
    /// given statuses.
    pub fn status(mut self, status: RunStatus) -> Self {
        self.statuses |= bit(status);
        self
    }

    /// Only runs that have not finished (`Queued` or `Running`).
    pub fn active(self) -> Self {
        self.status(RunStatus::Queued).status(RunStatus::Running)
    }

    /// Only runs that have finished, whatever their terminal status.
    pub fn finished(self) -> Self {
        [
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Cancelled,
            RunStatus::TimedOut,
            RunStatus::Interrupted,
        ]
        .into_iter()
        .fold(self, RunQuery::status)
    }

    /// Only runs whose name ([`RunInfo::name`]) is exactly `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Only runs of `pattern`.
    pub fn pattern(mut self, pattern: Pattern) -> Self {
        self.pattern = Some(pattern);
        self
    }

    /// Of the matching runs, only the `n` accepted last (still returned
    /// oldest first).
    pub fn most_recent(mut self, n: usize) -> Self {
        self.most_recent = Some(n);
        self
    }

    /// Whether `info` matches (the `most_recent` limit aside).
    pub fn matches(&self, info: &RunInfo) -> bool {
        self.matches_fixed(&info.name, info.pattern) && self.matches_status(info.status)
    }

    // Name and pattern never change: checked without locking the record.
    fn matches_fixed(&self, name: &str, pattern: Pattern) -> bool {
        self.name.as_deref().is_none_or(|want| want == name)
            && self.pattern.is_none_or(|want| want == pattern)
    }

    fn matches_status(&self, status: RunStatus) -> bool {
        self.statuses == 0 || self.statuses & bit(status) != 0
    }
}

fn bit(status: RunStatus) -> u8 {
    1 << (status as u8)
}

impl Registry {
    /// Snapshots of the runs `query` matches, oldest first.
    ///
    /// Each snapshot is consistent, and every returned run matched when its
    /// snapshot was taken; a run whose status changes while the query runs
    /// may be left out.
    pub fn query(&self, query: &RunQuery) -> Vec<RunInfo> {
        let limit = query.most_recent.unwrap_or(usize::MAX);
        if limit == 0 {
            return Vec::new();
        }
        // First the matching records, without copying anything of them:
        // with `most_recent`, only the kept few are snapshotted.
        let mut found: Vec<(RunId, Arc<RunRecord>)> = self
            .runs
            .iter()
            .filter(|entry| {
                query.matches_fixed(entry.name(), entry.pattern())
                    && (query.statuses == 0 || query.matches_status(entry.status()))
            })
            .map(|entry| (*entry.key(), Arc::clone(entry.value())))
            .collect();
        if limit < found.len() {
            // Partition instead of sorting everything: only the kept tail
            // needs an order.
            let cut = found.len() - limit;
            found.select_nth_unstable_by_key(cut, |(id, _)| *id);
            found.drain(..cut);
        }
        found.sort_unstable_by_key(|(id, _)| *id);
        found
            .iter()
            .filter_map(|(_, record)| snapshot_if(record, query))
            .collect()
    }
}

/// One snapshot, taken only if its status (still) matches: one lock, so the
/// status tested is the status returned.
fn snapshot_if(record: &RunRecord, query: &RunQuery) -> Option<RunInfo> {
    let state = record.state.lock();
    query
        .matches_status(state.status)
        .then(|| record.snapshot(&state))
}
