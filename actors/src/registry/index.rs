//! The registry's two job indexes: the caller's keys (idempotent submits,
//! [`Registry::admit_keyed`]) and the labels ([`RunQuery::label`]).
//!
//! Keys: a key names at most one run at a time, the last one admitted
//! with it. While that run is live, and for `Retention::key_window` after
//! it finished, admitting another task with the key returns the run
//! instead. The check and the admission happen under one lock, so
//! concurrent submits of one key start one run; runs without a key never
//! take it. Finished keyed runs wait in `expiring`, in finishing order,
//! until their window ends; then their key is forgotten. With a store the
//! index is rebuilt when the registry is created (`Store::keyed_since`).
//!
//! Labels: `label key -> value -> run ids`, filled at admission and
//! emptied when retention evicts a run, so a label query touches the runs
//! that carry the label, not the whole registry.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Admission, Registry, RunRecord};
use crate::run::{RunId, RunInfo, RunQuery};

/// The keys of live and recently finished runs.
#[derive(Debug, Default)]
pub(super) struct KeyIndex {
    by_key: HashMap<String, RunId>,
    /// Finished keyed runs, in finishing order, with their finishing time.
    pub(super) expiring: VecDeque<(SystemTime, String, RunId)>,
}

impl KeyIndex {
    /// Forget the keys whose run finished `window` or longer before `now`
    /// (unless the key was taken again since).
    fn expire(&mut self, now: SystemTime, window: Duration) {
        while let Some((finished, _, _)) = self.expiring.front() {
            if crate::duration::wall_after(*finished, window) > now {
                break;
            }
            let Some((_, key, id)) = self.expiring.pop_front() else {
                break;
            };
            if self.by_key.get(&key) == Some(&id) {
                self.by_key.remove(&key);
            }
        }
    }
}

/// The label index: key -> value -> runs.
pub(super) type LabelIndex = HashMap<String, HashMap<String, HashSet<RunId>>>;

/// What [`Registry::admit_keyed`] did.
#[derive(Debug)]
pub enum Keyed {
    /// No live or recent run had the key (or the task had none): this new
    /// run was admitted; start it.
    New(Arc<RunRecord>),
    /// A run with the key is live, or finished within the key window: it
    /// is returned and nothing was admitted.
    Existing(Arc<RunRecord>),
}

impl Registry {
    /// Admit a run unless its task's key ([`Task::key`](crate::Task::key))
    /// names a run that is live or finished less than
    /// `Retention::key_window` ago: then that run is returned, whatever its
    /// task (a different command under the same key still gets the
    /// existing run). A run without a key is always admitted, as by
    /// [`admit`](Self::admit), without taking the key lock.
    pub fn admit_keyed(&self, admission: Admission<'_>) -> Keyed {
        let Some(key) = admission.job.key.clone() else {
            return Keyed::New(self.admit(admission));
        };
        let mut keys = self.keys.lock();
        let now = SystemTime::now();
        keys.expire(now, self.retention.key_window);
        if let Some(&id) = keys.by_key.get(&key)
            && let Some(record) = self.get(id)
            && self.holds_key(&record, now)
        {
            return Keyed::Existing(record);
        }
        // Indexed by `admit` while the lock is held: nobody else can take
        // the key in between.
        let record = self.admit_indexed(admission, &mut keys);
        Keyed::New(record)
    }

    /// The run that `key` names now: live, or finished within the key
    /// window (`None` otherwise).
    pub fn find_key(&self, key: &str) -> Option<Arc<RunRecord>> {
        let mut keys = self.keys.lock();
        let now = SystemTime::now();
        keys.expire(now, self.retention.key_window);
        let id = *keys.by_key.get(key)?;
        drop(keys);
        self.get(id).filter(|record| self.holds_key(record, now))
    }

    /// Whether `record` still holds its key at `now`.
    fn holds_key(&self, record: &RunRecord, now: SystemTime) -> bool {
        let state = record.state.lock();
        if !state.status.is_terminal() {
            return true;
        }
        state.finished.is_some_and(|finished| {
            crate::duration::wall_after(finished, self.retention.key_window) > now
        })
    }

    /// Index a run being admitted by its key (the caller holds the key
    /// lock) and its labels.
    pub(super) fn index_admitted(&self, record: &RunRecord, keys: &mut KeyIndex) {
        if let Some(key) = record.key() {
            keys.by_key.insert(key.to_string(), record.id);
        }
        let labels = record.labels();
        if !labels.is_empty() {
            let mut index = self.labels.write();
            for (k, v) in labels {
                index
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default()
                    .insert(record.id);
            }
        }
    }

    /// Note that keyed `record` finished at `at`: its key expires after the
    /// window.
    pub(super) fn index_finished(&self, record: &RunRecord, at: SystemTime) {
        if let Some(key) = record.key() {
            let mut keys = self.keys.lock();
            // Expired here too, so keys of runs admitted without the check
            // (graph tasks, schedule ticks, resumed runs) never pile up
            // when nobody submits with a key.
            keys.expire(at, self.retention.key_window);
            keys.expiring.push_back((at, key.to_string(), record.id));
        }
    }

    /// Forget evicted `record` in the label index.
    pub(super) fn index_evicted(&self, record: &RunRecord) {
        let labels = record.labels();
        if labels.is_empty() {
            return;
        }
        let mut index = self.labels.write();
        for (k, v) in labels {
            let Some(values) = index.get_mut(k) else {
                continue;
            };
            if let Some(ids) = values.get_mut(v) {
                ids.remove(&record.id);
                if ids.is_empty() {
                    values.remove(v);
                }
            }
            if values.is_empty() {
                index.remove(k);
            }
        }
    }

    /// Put back the keys of stored runs (live, or finished at the given
    /// time within the window) after a restart.
    pub(super) fn restore_keys(&self, stored: Vec<(String, RunId, Option<SystemTime>)>) {
        let mut keys = self.keys.lock();
        let mut finished: Vec<(SystemTime, String, RunId)> = Vec::new();
        for (key, id, at) in stored {
            // Several runs may have had the key over time: the newest
            // (ids are time-ordered) names it.
            let newer = keys.by_key.get(&key).is_none_or(|&old| old < id);
            if newer {
                keys.by_key.insert(key.clone(), id);
            }
            if let Some(at) = at {
                finished.push((at, key, id));
            }
        }
        finished.sort();
        keys.expiring.extend(finished);
        keys.expire(SystemTime::now(), self.retention.key_window);
    }

    /// The runs `query` matches among those that carry all its labels,
    /// oldest first; `None` if the query has no label.
    pub(super) fn query_labelled(&self, query: &RunQuery) -> Option<Vec<RunInfo>> {
        let wanted = query.labels();
        if wanted.is_empty() {
            return None;
        }
        let mut ids: Vec<RunId> = {
            let index = self.labels.read();
            let mut sets = Vec::with_capacity(wanted.len());
            for (k, v) in wanted {
                match index.get(k).and_then(|values| values.get(v)) {
                    Some(ids) => sets.push(ids),
                    None => return Some(Vec::new()),
                }
            }
            // Intersect from the smallest set: its size bounds the work.
            sets.sort_by_key(|ids| ids.len());
            let (first, rest) = sets.split_first()?;
            first
                .iter()
                .filter(|id| rest.iter().all(|ids| ids.contains(id)))
                .copied()
                .collect()
        };
        ids.sort_unstable();
        let mut found: Vec<RunInfo> = Vec::new();
        // Newest first, so `most_recent` stops early; reversed at the end.
        let limit = query.most_recent.unwrap_or(usize::MAX);
        for id in ids.into_iter().rev() {
            if found.len() >= limit {
                break;
            }
            let Some(record) = self.runs.get(&id).map(|r| Arc::clone(r.value())) else {
                continue;
            };
            if !query.matches_fixed(record.name(), record.pattern(), record.queued)
                || !query.matches_job(record.key(), record.labels())
            {
                continue;
            }
            let state = record.state.lock();
            if query.matches_status(state.status) {
                found.push(record.snapshot(&state));
            }
        }
        found.reverse();
        Some(found)
    }
}
