//! Stored runs by a [`RunQuery`]: name, status, pattern and time.
//!
//! Run ids are UUID v7, whose first 48 bits are the acceptance time in
//! milliseconds, and the run table is keyed by id: a time window is a key
//! range, and "the most recent N" is a backward scan that stops after N
//! matches. Only name and status need a look at each row.

use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase};

use super::RUNS;
use super::records::{self, RunRow};
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
        if query.name.as_deref().is_some_and(|n| n != row.name) || !query.matches_status(row.status)
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
