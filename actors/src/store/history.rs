//! Stored runs by a [`RunQuery`]: name, status, pattern, time, caller's
//! key and labels.
//!
//! A query with labels scans the `labels` index for its first label (the
//! runs that carry it, newest first) instead of the runs; the other
//! criteria are checked on each of those runs. Every run returned gets
//! its key and labels from its `jobs` row.
//!
//! Run ids are UUID v7, whose first 48 bits are the acceptance time in
//! milliseconds, and the run table is keyed by id: a time window is a key
//! range, and "the most recent N" is a backward scan that stops after N
//! matches. Only name and status need a look at each row.

use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable};

use redb::{ReadOnlyTable, ReadTransaction};

use super::records::{self, JobRow, RunRow};
use super::{JOBS, LABELS, RUNS};
use crate::run::{RunId, RunInfo, RunQuery};

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

/// The runs `query` matches, newest first.
pub(super) fn scan(db: &Database, query: &RunQuery) -> Result<Vec<RunInfo>, redb::Error> {
    let limit = query.most_recent.unwrap_or(usize::MAX);
    let mut found = Vec::new();
    if limit == 0 {
        return Ok(found);
    }
    let txn = db.begin_read()?;
    let runs = txn.open_table(RUNS)?;
    // Absent from files written before job options: no run has any.
    let jobs = optional(&txn, JOBS)?;
    // Millisecond keys bound the range; the exact times are checked on the
    // rows (`matches`).
    let low = query.since.map_or([0; 16], |t| key_at(t, 0));
    let high = query.until.map_or([0xff; 16], |t| key_at(t, 0xff));
    let mut visit = |id: RunId, value: &[u8]| -> Result<bool, redb::Error> {
        let row: RunRow = match records::decode(value) {
            Ok(row) => row,
            Err(e) => {
                tracing::warn!(run = %id, error = %e, "unreadable stored run skipped");
                return Ok(true);
            }
        };
        if query.name.as_deref().is_some_and(|n| n != row.name) || !query.matches_status(row.status)
        {
            return Ok(true);
        }
        let mut info = row.info(id);
        if let Some(job) = job_row(jobs.as_ref(), id)? {
            job.fill(&mut info);
        }
        if query.matches(&info) {
            found.push(info);
        }
        Ok(found.len() < limit)
    };
    if let Some((key, value)) = query.labels().first() {
        let Some(labels) = optional(&txn, LABELS)? else {
            return Ok(found);
        };
        let label = format!("{key}={value}");
        let from = (label.as_str(), &low);
        let to = (label.as_str(), &high);
        for entry in labels.range(from..=to)?.rev() {
            let (entry, _) = entry?;
            let id = RunId::from_bytes(*entry.value().1);
            let Some(value) = runs.get(id.as_bytes())? else {
                continue;
            };
            if !visit(id, value.value())? {
                break;
            }
        }
        return Ok(found);
    }
    for entry in runs.range::<&[u8; 16]>(&low..=&high)?.rev() {
        let (key, value) = entry?;
        let id = RunId::from_bytes(*key.value());
        if !visit(id, value.value())? {
            break;
        }
    }
    Ok(found)
}

/// Table `def`, or `None` if the file has none yet.
fn optional<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    def: redb::TableDefinition<K, V>,
) -> Result<Option<ReadOnlyTable<K, V>>, redb::Error> {
    match txn.open_table(def) {
        Ok(table) => Ok(Some(table)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The job row of `id`, if it has a readable one.
fn job_row(
    jobs: Option<&ReadOnlyTable<&'static [u8; 16], &'static [u8]>>,
    id: RunId,
) -> Result<Option<JobRow>, redb::Error> {
    let Some(jobs) = jobs else {
        return Ok(None);
    };
    let Some(bytes) = jobs.get(id.as_bytes())? else {
        return Ok(None);
    };
    Ok(JobRow::decode(bytes.value())
        .inspect_err(|e| tracing::warn!(run = %id, error = %e, "unreadable stored job options"))
        .ok())
}

/// The keyed runs that are live or finished at or after `since`, with
/// their finishing time (see `Store::keyed_since`).
pub(super) fn keyed_since(
    db: &Database,
    since: SystemTime,
) -> Result<Vec<(String, RunId, Option<SystemTime>)>, redb::Error> {
    let txn = db.begin_read()?;
    let Some(jobs) = optional(&txn, JOBS)? else {
        return Ok(Vec::new());
    };
    let runs = txn.open_table(RUNS)?;
    let since = records::micros(since);
    let mut keyed = Vec::new();
    for entry in jobs.iter()? {
        let (id, bytes) = entry?;
        let id = RunId::from_bytes(*id.value());
        let Ok(job) = JobRow::decode(bytes.value()) else {
            continue;
        };
        let Some(key) = job.key else {
            continue;
        };
        let Some(row) = runs.get(id.as_bytes())? else {
            continue;
        };
        let Ok(row) = records::decode::<RunRow>(row.value()) else {
            continue;
        };
        if !row.status.is_terminal() {
            keyed.push((key, id, None));
        } else if let Some(finished) = row.finished.filter(|&f| f >= since) {
            keyed.push((key, id, Some(records::time(finished))));
        }
    }
    Ok(keyed)
}
