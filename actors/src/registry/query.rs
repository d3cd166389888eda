//! Queries over the run registry: by status, name, pattern, most recent N.
//!
//! A query scans the registry once (it holds at most `history_limit`
//! finished runs plus the live ones), locking a record only to read its
//! status, and copies out only the runs it returns, so a dashboard asking
//! for the last 20 of 100,000 runs copies 20. Results are ordered by
//! acceptance (run ids are time-ordered), oldest first.

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
    /// snapshot was taken; a run whose status changes (or that is evicted)
    /// while the query runs may be left out.
    pub fn query(&self, query: &RunQuery) -> Vec<RunInfo> {
        let matching = self
            .runs
            .iter()
            .filter(|entry| query.matches_fixed(entry.name(), entry.pattern()));
        let Some(limit) = query.most_recent else {
            let mut found: Vec<RunInfo> = matching
                .filter_map(|entry| snapshot_if(entry.value(), query))
                .collect();
            found.sort_unstable_by_key(|info| info.id);
            return found;
        };
        if limit == 0 {
            return Vec::new();
        }
        // Only ids first: a dashboard asking for the last 20 of 100,000
        // runs copies out 20 of them.
        let mut ids: Vec<RunId> = matching
            .filter(|entry| query.statuses == 0 || query.matches_status(entry.status()))
            .map(|entry| *entry.key())
            .collect();
        if limit < ids.len() {
            // Partition instead of sorting everything: only the kept tail
            // needs an order.
            let cut = ids.len() - limit;
            ids.select_nth_unstable(cut);
            ids.drain(..cut);
        }
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| snapshot_if(&*self.get(id)?, query))
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
