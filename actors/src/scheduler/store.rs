//! Schedules live here, outside the scheduler actor: definitions, enabled
//! state, counters, the last run and the next due tick. A restarted
//! scheduler rebuilds its timing heap from this store, so every schedule
//! comes back with the same state and the same next due time, and a tick
//! that fired before the crash (its next tick is already stored) does not
//! fire again.
//!
//! Each schedule's mutable state sits behind its own small lock, held only
//! for a few field updates (never across an `.await`), so `info()` readers,
//! the scheduler and run tasks never wait on each other for long.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::clock::Clock;
use super::spec::ScheduleSpec;
use super::tick::Due;
use super::timer::PreciseWake;
use super::trigger::CronCache;
use crate::error::{Error, Result};
use crate::registry::RunRecord;
use crate::run::{RunInfo, RunStatus};
use crate::store::Store;

/// Every schedule of one runtime (see the module docs).
#[derive(Debug)]
pub struct ScheduleStore {
    clock: Clock,
    entries: DashMap<Arc<str>, Arc<ScheduleEntry>>,
    next_id: AtomicU64,
    // Parsed cron patterns, shared between schedules (see `trigger`).
    crons: CronCache,
    // Schedules whose queued run may start now that their last run ended;
    // filled by run tasks of any incarnation, drained by the current one.
    ready: Mutex<Vec<Arc<ScheduleEntry>>>,
    ready_wake: Notify,
    precise: PreciseWake,
    // Durable state: where schedules are journaled (see `durable`).
    durable: Store,
}

impl ScheduleStore {
    /// An empty store whose cron schedules follow `clock` (the runtime
    /// always passes its store, disabled or not).
    #[cfg(test)]
    pub(crate) fn new(clock: Clock) -> Arc<Self> {
        ScheduleStore::with_store(clock, Store::disabled())
    }

    /// An empty store that journals its schedules to the durable `store`.
    pub(crate) fn with_store(clock: Clock, store: Store) -> Arc<Self> {
        Arc::new(ScheduleStore {
            durable: store,
            clock,
            entries: DashMap::new(),
            next_id: AtomicU64::new(1),
            crons: CronCache::default(),
            ready: Mutex::new(Vec::new()),
            ready_wake: Notify::new(),
            precise: PreciseWake::default(),
        })
    }

    /// The durable store schedules are journaled to.
    pub(crate) fn durable(&self) -> &Store {
        &self.durable
    }

    /// The wall clock of cron schedules.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The schedule called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<ScheduleEntry>> {
        self.entries.get(name).map(|e| Arc::clone(e.value()))
    }

    /// Every schedule, by name.
    pub fn list(&self) -> Vec<Arc<ScheduleEntry>> {
        let mut all: Vec<_> = self.entries.iter().map(|e| Arc::clone(e.value())).collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// Number of schedules.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Add `spec` with its first tick `next`.
    pub(crate) fn insert(
        &self,
        spec: ScheduleSpec,
        next: Option<Due>,
    ) -> Result<Arc<ScheduleEntry>> {
        match self.entries.entry(Arc::clone(&spec.name)) {
            // Durable state: restored at start and added again by the
            // application: adopted (see `durable`).
            Entry::Occupied(mut slot) if slot.get().state.lock().restored => {
                let state = super::durable::adopt(slot.get(), &spec, next);
                let entry = self.entry_of(spec, state);
                slot.insert(Arc::clone(&entry));
                Ok(entry)
            }
            Entry::Occupied(_) => Err(Error::DuplicateSchedule(spec.name.to_string())),
            Entry::Vacant(slot) => {
                let entry = Arc::new(ScheduleEntry {
                    id: self.next_id.fetch_add(1, Ordering::Relaxed),
                    state: Mutex::new(EntryState {
                        enabled: spec.enabled,
                        removed: false,
                        next,
                        generation: 0,
                        runs: 0,
                        failures: 0,
                        skipped: 0,
                        missed: 0,
                        in_flight: 0,
                        pending: false,
                        last: None,
                        restored: false,
                    }),
                    spec,
                });
                slot.insert(Arc::clone(&entry));
                Ok(entry)
            }
        }
    }

    fn entry_of(&self, spec: ScheduleSpec, state: EntryState) -> Arc<ScheduleEntry> {
        Arc::new(ScheduleEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(state),
            spec,
        })
    }

    /// Add a schedule restored from the durable store (replacing any by
    /// its name, which a start does not have).
    pub(crate) fn insert_restored(&self, spec: ScheduleSpec, state: EntryState) {
        let entry = self.entry_of(spec, state);
        self.entries.insert(Arc::clone(&entry.spec.name), entry);
    }

    /// Forget the schedule `entry` (if it is still the one by its name).
    pub(crate) fn remove(&self, entry: &ScheduleEntry) {
        self.entries
            .remove_if(entry.name(), |_, held| held.id == entry.id);
    }

    /// The current schedule by `name`, if it is the one with `id`.
    ///
    /// # Errors
    /// `UnknownSchedule` if there is none, or it was removed and replaced.
    pub(crate) fn current(&self, name: &str, id: u64) -> Result<Arc<ScheduleEntry>> {
        self.get(name)
            .filter(|entry| entry.id == id)
            .ok_or_else(|| Error::UnknownSchedule(name.to_string()))
    }

    pub(crate) fn push_ready(&self, entry: Arc<ScheduleEntry>) {
        self.ready.lock().push(entry);
        self.ready_wake.notify_one();
    }

    pub(crate) fn take_ready(&self) -> Vec<Arc<ScheduleEntry>> {
        std::mem::take(&mut *self.ready.lock())
    }

    /// Wait for [`push_ready`](Self::push_ready).
    ///
    /// # Cancel safety
    /// Cancel safe: a notification nobody waited for is kept for the next
    /// waiter.
    pub(crate) async fn ready_notified(&self) {
        self.ready_wake.notified().await;
    }

    pub(crate) fn crons(&self) -> &CronCache {
        &self.crons
    }

    pub(crate) fn precise(&self) -> &PreciseWake {
        &self.precise
    }
}

/// One schedule: its definition and its state, shared by the store, the
/// scheduler and every [`Schedule`](super::Schedule) handle.
#[derive(Debug)]
pub struct ScheduleEntry {
    id: u64,
    pub(crate) spec: ScheduleSpec,
    pub(crate) state: Mutex<EntryState>,
}

/// A schedule's mutable state.
#[derive(Debug)]
pub(crate) struct EntryState {
    pub(crate) enabled: bool,
    pub(crate) removed: bool,
    /// The upcoming tick, kept while disabled so that enabling resumes the
    /// same pace (and `CatchUp` sees what was missed meanwhile).
    pub(crate) next: Option<Due>,
    /// Bumped whenever `next` or `enabled` changes: heap items carrying an
    /// older generation are stale.
    pub(crate) generation: u64,
    pub(crate) runs: u64,
    pub(crate) failures: u64,
    pub(crate) skipped: u64,
    pub(crate) missed: u64,
    pub(crate) in_flight: u32,
    pub(crate) pending: bool,
    pub(crate) last: Option<Arc<RunRecord>>,
    /// Restored from the durable store and not added again since the
    /// start: adding its name adopts it.
    pub(crate) restored: bool,
}

impl EntryState {
    /// Whether the scheduler should have this schedule in its heap.
    pub(crate) fn is_armed(&self) -> bool {
        self.enabled && !self.removed && self.next.is_some()
    }
}

impl ScheduleEntry {
    /// The schedule's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Its definition.
    pub fn spec(&self) -> &ScheduleSpec {
        &self.spec
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// A snapshot, with times read on `clock`.
    pub fn info(&self, clock: &Clock) -> ScheduleInfo {
        let state = self.state.lock();
        let next_due = state
            .next
            .filter(|_| state.is_armed())
            .map(|due| match due {
                Due::Mono { at, .. } => clock.wall_at(at),
                Due::Wall { at, .. } => at,
            });
        ScheduleInfo {
            name: self.name().to_string(),
            enabled: state.enabled && !state.removed,
            runs: state.runs,
            failures: state.failures,
            skipped: state.skipped,
            missed: state.missed,
            in_flight: state.in_flight,
            pending: state.pending,
            last: state.last.as_ref().map(|record| record.info()),
            next_due,
        }
    }
}

/// A snapshot of one schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleInfo {
    /// The schedule's name.
    pub name: String,
    /// Whether it fires (false once disabled or removed).
    pub enabled: bool,
    /// Runs started.
    pub runs: u64,
    /// Runs that ended in anything but success (after their retries):
    /// failed, timed out, cancelled, interrupted, or could not start.
    pub failures: u64,
    /// Ticks not run because the previous run was still going
    /// ([`Overlap::Skip`](super::Overlap::Skip), or a second pending run
    /// under [`Overlap::Queue`](super::Overlap::Queue)), and queued runs
    /// dropped by `disable`/`remove`.
    pub skipped: u64,
    /// Ticks that could not fire on time (busy process, machine asleep,
    /// schedule disabled); see [`CatchUp`](super::CatchUp).
    pub missed: u64,
    /// Runs of this schedule still going now.
    pub in_flight: u32,
    /// A run is queued behind the current one ([`Overlap::Queue`](super::Overlap::Queue)).
    pub pending: bool,
    /// The most recently started run.
    pub last: Option<RunInfo>,
    /// When the next tick fires (jitter included); `None` while disabled,
    /// and once a cron pattern matches no more times.
    pub next_due: Option<SystemTime>,
}

/// Held by a run task while its run is in flight: when dropped it updates
/// the schedule's counters and, if a run is queued behind this one, hands
/// the schedule to the scheduler.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) entry: Arc<ScheduleEntry>,
    pub(crate) store: Arc<ScheduleStore>,
    pub(crate) record: Arc<RunRecord>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let succeeded = self.record.status() == RunStatus::Succeeded;
        let ready = {
            let mut state = self.entry.state.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            if !succeeded {
                state.failures += 1;
                self.store.persist(&self.entry, &state);
            }
            state.in_flight == 0 && state.pending
        };
        if ready {
            self.store.push_ready(Arc::clone(&self.entry));
        }
    }
}
