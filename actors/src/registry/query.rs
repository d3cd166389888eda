//! Queries over the run registry: a [`RunQuery`] answered from memory.
//! A query with labels reads the label index instead (see `index`).
//!
//! A query scans the registry once (it holds at most `history_limit`
//! finished runs plus the live ones), locking a record only to read its
//! status, and copies out only the runs it returns, so a dashboard asking
//! for the last 20 of 100,000 runs copies 20. Results are ordered by
//! acceptance (run ids are time-ordered), oldest first.

use crate::registry::{Registry, RunRecord};
use crate::run::{RunId, RunInfo, RunQuery};

impl Registry {
    /// Snapshots of the runs `query` matches, oldest first.
    ///
    /// Each snapshot is consistent, and every returned run matched when its
    /// snapshot was taken; a run whose status changes (or that is evicted)
    /// while the query runs may be left out.
    pub fn query(&self, query: &RunQuery) -> Vec<RunInfo> {
        if let Some(found) = self.query_labelled(query) {
            return found;
        }
        let matching = self.runs.iter().filter(|entry| {
            query.matches_fixed(entry.name(), entry.pattern(), entry.queued)
                && query.matches_job(entry.value().key(), entry.value().labels())
        });
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
