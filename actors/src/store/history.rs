//! [`HistoryQuery`]: stored runs by name, status and time.
//!
//! Run ids are UUID v7, whose first 48 bits are the acceptance time in
//! milliseconds, and the run table is keyed by id: a time window is a key
//! range, and "the most recent N" is a backward scan that stops after N
//! matches. Only name and status need a look at each row.

use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase};

use super::RUNS;
use super::records::{self, RunRow};
use crate::run::{RunId, RunInfo, RunStatus};

/// Which stored runs [`Observer::history`] returns: every field narrows
/// the result, `None` matches everything. Results are newest first.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use taskorch_actors::{HistoryQuery, RunStatus};
///
/// // The last 20 failed runs named "nightly-export" accepted in the past day.
/// let query = HistoryQuery {
///     name: Some("nightly-export".into()),
///     status: Some(RunStatus::Failed),
///     since: Some(SystemTime::now() - Duration::from_secs(86_400)),
///     until: None,
///     limit: Some(20),
/// };
/// // The same, built step by step.
/// let same = HistoryQuery::new()
///     .name("nightly-export")
///     .status(RunStatus::Failed)
///     .since(query.since.unwrap())
///     .limit(20);
/// assert_eq!(query, same);
/// ```
///
/// [`Observer::history`]: https://docs.rs/taskorch
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Only runs with exactly this name.
    pub name: Option<String>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs accepted at or after this time.
    pub since: Option<SystemTime>,
    /// Only runs accepted before this time.
    pub until: Option<SystemTime>,
    /// At most this many runs (the most recent ones).
    pub limit: Option<usize>,
}

impl HistoryQuery {
    /// A query matching every run.
    pub fn new() -> Self {
        HistoryQuery::default()
    }

    /// Only runs named `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Only runs in `status`.
    pub fn status(mut self, status: RunStatus) -> Self {
        self.status = Some(status);
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

    /// At most `n` runs, the most recent.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Whether `info` matches (the limit aside).
    pub fn matches(&self, info: &RunInfo) -> bool {
        self.name.as_deref().is_none_or(|n| n == info.name)
            && self.status.is_none_or(|s| s == info.status)
            && self.since.is_none_or(|t| info.queued >= t)
            && self.until.is_none_or(|t| info.queued < t)
    }

    /// Apply the query to runs held in memory (no store): newest first.
    pub fn select(&self, mut runs: Vec<RunInfo>) -> Vec<RunInfo> {
        runs.retain(|info| self.matches(info));
        runs.sort_unstable_by_key(|info| std::cmp::Reverse(info.id));
        if let Some(limit) = self.limit {
            runs.truncate(limit);
        }
        runs
    }
}

/// The smallest run id accepted at or after `t`.
fn key_at(t: SystemTime, fill: u8) -> [u8; 16] {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .min((1 << 48) - 1);
    let mut key = [fill; 16];
    key[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    key
}

pub(super) fn scan(db: &Database, query: &HistoryQuery) -> Result<Vec<RunInfo>, redb::Error> {
    let limit = query.limit.unwrap_or(usize::MAX);
    let mut found = Vec::new();
    if limit == 0 {
        return Ok(found);
    }
    let txn = db.begin_read()?;
    let runs = txn.open_table(RUNS)?;
    // Millisecond keys bound the range; the exact times are checked on the
    // rows (`matches`).
    let low = query.since.map_or([0; 16], |t| key_at(t, 0));
    let high = query.until.map_or([0xff; 16], |t| key_at(t, 0xff));
    for entry in runs.range::<&[u8; 16]>(&low..=&high)?.rev() {
        let (key, value) = entry?;
        let id = RunId::from_bytes(*key.value());
        let row: RunRow = match records::decode(value.value()) {
            Ok(row) => row,
            Err(e) => {
                tracing::warn!(run = %id, error = %e, "unreadable stored run skipped");
                continue;
            }
        };
        if query.name.as_deref().is_some_and(|n| n != row.name)
            || query.status.is_some_and(|s| s != row.status)
        {
            continue;
        }
        let info = row.info(id);
        if query.matches(&info) {
            found.push(info);
            if found.len() >= limit {
                break;
            }
        }
    }
    Ok(found)
}
