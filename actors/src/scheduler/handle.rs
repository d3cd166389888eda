//! [`Schedule`]: the caller's handle to one added schedule.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use super::SchedulerMessage;
use super::manual::Triggered;
use super::spec::ScheduleSpec;
use super::store::{ScheduleEntry, ScheduleInfo, ScheduleStore};
use crate::error::Result;
use crate::run::RunId;
use crate::slot::ActorSlot;

/// A handle to one schedule. Cheap to clone; dropping it does **not**
/// remove the schedule (use [`remove`](Self::remove)).
///
/// [`info`](Self::info) reads the schedule's state directly; `enable`,
/// `disable` and `remove` go through the scheduler actor, so they take
/// effect in order with its ticks.
#[derive(Clone)]
pub struct Schedule {
    entry: Arc<ScheduleEntry>,
    store: Arc<ScheduleStore>,
    slot: ActorSlot<SchedulerMessage>,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("name", &self.name())
            .field("trigger", &self.entry.spec.trigger.to_string())
            .finish_non_exhaustive()
    }
}

impl Schedule {
    /// A handle to `entry` (as answered by the scheduler) that reaches the
    /// scheduler through `slot`.
    pub fn new(
        entry: Arc<ScheduleEntry>,
        store: Arc<ScheduleStore>,
        slot: ActorSlot<SchedulerMessage>,
    ) -> Self {
        Schedule { entry, store, slot }
    }

    /// The schedule's name.
    pub fn name(&self) -> &str {
        self.entry.name()
    }

    /// The schedule's definition.
    pub fn spec(&self) -> &ScheduleSpec {
        &self.entry.spec
    }

    /// A snapshot: enabled, counters, the last run, the next due time.
    /// After [`remove`](Self::remove) it shows the final counters, disabled.
    pub fn info(&self) -> ScheduleInfo {
        self.entry.info(self.store.clock())
    }

    /// Resume firing. Ticks that came due while disabled are handled by
    /// the schedule's [`CatchUp`](super::CatchUp) policy. Enabling an
    /// enabled schedule does nothing.
    ///
    /// # Errors
    /// `UnknownSchedule` if the schedule was removed; `ActorFailed` or
    /// `ShuttingDown` if the scheduler cannot answer.
    pub async fn enable(&self) -> Result<()> {
        self.set_enabled(true).await
    }

    /// Stop firing until [`enable`](Self::enable)d. Runs already going
    /// finish; a run queued behind them is dropped (counted as skipped).
    ///
    /// # Errors
    /// As [`enable`](Self::enable).
    pub async fn disable(&self) -> Result<()> {
        self.set_enabled(false).await
    }

    /// Remove the schedule: it fires no more and its name is free again.
    /// Runs already going finish and stay in the run registry.
    ///
    /// # Errors
    /// `UnknownSchedule` if it was already removed; `ActorFailed` or
    /// `ShuttingDown` if the scheduler cannot answer.
    pub async fn remove(&self) -> Result<()> {
        let (name, id) = (self.entry.spec.name.clone(), self.entry.id());
        self.slot
            .request(|reply| SchedulerMessage::Remove {
                name: Arc::clone(&name),
                id,
                reply,
            })
            .await
    }

    /// Start a run now, outside the schedule's pace; its next tick stays
    /// when it was. The schedule's [`Overlap`](super::Overlap) policy
    /// applies as to a tick: with a run in flight, `Skip` starts nothing
    /// ([`Triggered::Skipped`], counted in `skipped`), `Queue` starts one
    /// run when it ends ([`Triggered::Queued`]), `Allow` starts one now. A
    /// disabled schedule can be triggered. The run is an ordinary run of
    /// the schedule, counted in its [`info`](Self::info).
    ///
    /// # Errors
    /// `UnknownSchedule` if the schedule was removed; `Halted` while the
    /// runtime is halted; `ActorFailed` or `ShuttingDown` if the scheduler
    /// cannot answer.
    pub async fn trigger_now(&self) -> Result<Triggered> {
        let (name, id) = (self.entry.spec.name.clone(), self.entry.id());
        self.slot
            .request(|reply| SchedulerMessage::TriggerNow {
                name: Arc::clone(&name),
                id,
                reply,
            })
            .await
    }

    /// Run the ticks of the schedule's trigger that fall in `[from, to)`
    /// (the ones missed while the application was down, say): one run
    /// per tick, all started now, and their ids in tick order. The ticks
    /// are the trigger's own: a cron expression's matching times, or for
    /// `Trigger::every` the times on the schedule's pace (its next tick,
    /// give or take whole intervals). Each run is an ordinary run of the
    /// schedule (counted in [`info`](Self::info)), under the global
    /// concurrency cap; the overlap policy does not hold them back, as the
    /// caller asked for each. An empty range (`from == to`) runs nothing.
    ///
    /// # Errors
    /// `InvalidBackfill` if `from` is after `to`; `BackfillTooLarge` if
    /// the range holds more than [`MAX_BACKFILL`](super::MAX_BACKFILL)
    /// ticks (nothing runs: split it); `UnknownSchedule` if the schedule
    /// was removed; `Halted` while the runtime is halted; `ActorFailed` or
    /// `ShuttingDown` if the scheduler cannot answer.
    pub async fn backfill(&self, from: SystemTime, to: SystemTime) -> Result<Vec<RunId>> {
        let (name, id) = (self.entry.spec.name.clone(), self.entry.id());
        self.slot
            .request(|reply| SchedulerMessage::Backfill {
                name: Arc::clone(&name),
                id,
                from,
                to,
                reply,
            })
            .await
    }

    async fn set_enabled(&self, enabled: bool) -> Result<()> {
        let (name, id) = (self.entry.spec.name.clone(), self.entry.id());
        self.slot
            .request(|reply| SchedulerMessage::SetEnabled {
                name: Arc::clone(&name),
                id,
                enabled,
                reply,
            })
            .await
    }
}
