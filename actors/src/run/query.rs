//! [`RunQuery`]: which runs, by status, name (or name prefix), pattern,
//! acceptance time, caller's key, labels and most recent N. One query for the run registry (`Registry::query`,
//! oldest first) and the durable store (`Store::history`, newest first).

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::pattern::Pattern;
use crate::run::{RunInfo, RunStatus};

/// Which runs `Registry::query` (oldest first) or `Store::history` (newest
/// first) returns.
/// A fresh query matches every run; each call narrows it.
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
    pub(crate) statuses: u8,
    pub(crate) name: Option<String>,
    pattern: Option<Pattern>,
    // Accepted at or after / before (the store scans these as a key range).
    pub(crate) since: Option<SystemTime>,
    pub(crate) until: Option<SystemTime>,
    pub(crate) most_recent: Option<usize>,
    // Job options: the caller's key, and labels that must all be present
    // (sorted, without duplicates, so equal queries compare equal).
    pub(crate) key: Option<String>,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) name_prefix: Option<String>,
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

    /// Only dead letters: runs that failed for good, with every attempt
    /// their task allowed used up. Exactly the runs that ended `Failed` or
    /// `TimedOut`: a run ends in one of those only after its last allowed
    /// attempt (a failed attempt that will be retried leaves the run
    /// `Running`), so a task without retries is dead on its first failure,
    /// one with `retries(n)` after `n + 1`. Runs stopped from outside
    /// (`Cancelled`, `Interrupted` by a shutdown or a dead actor) are not
    /// dead letters: they did not fail, they were stopped. Combines with
    /// the other filters (name, pattern, time, most recent N); a status
    /// added with [`status`](Self::status) widens it as usual.
    ///
    /// ```
    /// use taskorch_actors::RunQuery;
    ///
    /// // The 50 most recent runs of "nightly-export" that failed for good.
    /// let dead = RunQuery::new().dead_letter().name("nightly-export").most_recent(50);
    /// # let _ = dead;
    /// ```
    pub fn dead_letter(self) -> Self {
        self.status(RunStatus::Failed).status(RunStatus::TimedOut)
    }

    /// Only runs whose name ([`RunInfo::name`]) is exactly `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Only runs whose name starts with `prefix` (`"nightly-"` matches
    /// `nightly-export` and `nightly-backup`).
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = Some(prefix.into());
        self
    }

    /// Only runs whose task carried the caller's key `key`
    /// ([`Task::key`](crate::Task::key)).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Only runs labelled `key = value` ([`Task::label`](crate::Task::label)).
    /// Called several times, runs that carry every one of the labels.
    /// Answered from an index (in memory and in the store), not a scan.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let label = (key.into(), value.into());
        if let Err(at) = self.labels.binary_search(&label) {
            self.labels.insert(at, label);
        }
        self
    }

    /// Only runs of `pattern`.
    pub fn pattern(mut self, pattern: Pattern) -> Self {
        self.pattern = Some(pattern);
        self
    }

    /// Only runs accepted at or after `t`.
    pub fn since(mut self, t: SystemTime) -> Self {
        self.since = Some(t);
        self
    }

    /// Only runs accepted before `t`.
    pub fn until(mut self, t: SystemTime) -> Self {
        self.until = Some(t);
        self
    }

    /// Of the matching runs, only the `n` accepted last (in the answer's
    /// own order: oldest first from the registry, newest first from the
    /// store).
    pub fn most_recent(mut self, n: usize) -> Self {
        self.most_recent = Some(n);
        self
    }

    /// Whether `info` matches (the `most_recent` limit aside).
    pub fn matches(&self, info: &RunInfo) -> bool {
        self.matches_fixed(&info.name, info.pattern, info.queued)
            && self.matches_job(info.key.as_deref(), &info.labels)
            && self.matches_status(info.status)
    }

    /// The labels the query asks for, sorted.
    pub(crate) fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    // The caller's key and the labels never change either.
    pub(crate) fn matches_job(&self, key: Option<&str>, labels: &BTreeMap<String, String>) -> bool {
        self.key.as_deref().is_none_or(|want| Some(want) == key)
            && self
                .labels
                .iter()
                .all(|(k, v)| labels.get(k).is_some_and(|have| have == v))
    }

    // Name, pattern and acceptance time never change: checked without
    // locking the record.
    pub(crate) fn matches_fixed(&self, name: &str, pattern: Pattern, queued: SystemTime) -> bool {
        self.name.as_deref().is_none_or(|want| want == name)
            && self
                .name_prefix
                .as_deref()
                .is_none_or(|prefix| name.starts_with(prefix))
            && self.pattern.is_none_or(|want| want == pattern)
            && self.since.is_none_or(|t| queued >= t)
            && self.until.is_none_or(|t| queued < t)
    }

    pub(crate) fn matches_status(&self, status: RunStatus) -> bool {
        self.statuses == 0 || self.statuses & bit(status) != 0
    }
}

fn bit(status: RunStatus) -> u8 {
    1 << (status as u8)
}
