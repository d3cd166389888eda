//! Schedules in the durable store: what is journaled for a schedule, how a
//! start brings schedules back, and how a restored schedule is adopted
//! when the application adds it again.
//!
//! A schedule's row holds its definition and its state (enabled, counters,
//! last run, the upcoming tick as wall time). The row is journaled with
//! the schedule's lock held, right after each change and before a tick's
//! run is started, so the tick a run belongs to is never found due again
//! after a restart. Ticks are kept as wall times (interval ticks are
//! converted through the store's [`Clock`]): a tick that came due while
//! the application was down is found late after the restart, and the
//! schedule's [`CatchUp`] policy decides, exactly as for a tick missed
//! while the process was busy.
//!
//! Restored schedules fire on their own, so schedules added at run time
//! come back without the application doing anything. An application that
//! adds its schedules at start-up adds them again after a restart: adding
//! a name that was restored (and not added yet since the start) *adopts*
//! it instead of failing with `DuplicateSchedule`: the new definition, the
//! stored state (enabled, counters, last run), and the stored upcoming
//! tick unless the trigger changed.

use super::Clock;
use super::spec::{CatchUp, Overlap, ScheduleSpec};
use super::store::{EntryState, ScheduleEntry, ScheduleStore};
use super::tick::Due;
use super::trigger::Trigger;
use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::store::{Op, ScheduleRow, TriggerRow, micros, time};

impl ScheduleStore {
    /// Journal `entry` as `state` has it (its removal if removed). Called
    /// with the schedule's lock held, so rows are journaled in the order
    /// of the changes.
    pub(crate) fn persist(&self, entry: &ScheduleEntry, state: &EntryState) {
        if !self.durable().is_enabled() {
            return;
        }
        let name = entry.name().to_string();
        if state.removed {
            self.durable().journal(|| Op::ScheduleRemoved { name });
            return;
        }
        self.durable().journal(|| Op::Schedule {
            name,
            row: Box::new(row(&entry.spec, state, self.clock())),
        });
    }

    /// Bring back the schedules a start found in the store, before the
    /// scheduler starts (it arms them). A schedule whose row can no longer
    /// be turned into a schedule (a time zone this system does not know)
    /// is left out, and returned with the reason.
    pub(crate) fn restore_from(
        &self,
        recovered: &crate::store::Recovered,
        registry: &Registry,
    ) -> Vec<(String, Error)> {
        let mut failed = Vec::new();
        for (name, row) in &recovered.schedules {
            match spec(name, row) {
                Ok(spec) => {
                    let state = EntryState {
                        enabled: row.enabled,
                        removed: false,
                        next: row.next.map(|n| due(&spec, n, self.clock())),
                        generation: 0,
                        runs: row.runs,
                        failures: row.failures,
                        skipped: row.skipped,
                        missed: row.missed,
                        in_flight: 0,
                        pending: false,
                        last: row.last.and_then(|id| registry.get(id)),
                        restored: true,
                    };
                    self.insert_restored(spec, state);
                }
                Err(e) => {
                    tracing::warn!(schedule = %name, error = %e, "stored schedule not restored");
                    failed.push((name.clone(), e));
                }
            }
        }
        failed
    }
}

/// The state a schedule added again takes over from its restored `old`
/// (see the module docs); `old` is retired.
pub(super) fn adopt(old: &ScheduleEntry, spec: &ScheduleSpec, first: Option<Due>) -> EntryState {
    let mut state = old.state.lock();
    let same_trigger = old.spec.trigger.to_string() == spec.trigger.to_string();
    let adopted = EntryState {
        enabled: state.enabled,
        removed: false,
        next: if same_trigger { state.next } else { first },
        generation: 0,
        runs: state.runs,
        failures: state.failures,
        skipped: state.skipped,
        missed: state.missed,
        in_flight: 0,
        pending: false,
        last: state.last.clone(),
        restored: false,
    };
    // Its heap items are stale from now on.
    state.removed = true;
    state.enabled = false;
    state.generation += 1;
    adopted
}

fn row(spec: &ScheduleSpec, state: &EntryState, clock: &Clock) -> ScheduleRow {
    let trigger = match (spec.trigger.interval(), spec.trigger.expression()) {
        (Some(interval), _) => TriggerRow::Every {
            interval,
            immediately: spec.trigger.is_immediate(),
        },
        (None, expression) => TriggerRow::Cron {
            expression: expression.unwrap_or_default().to_string(),
            zone: spec.trigger.time_zone().unwrap_or("UTC").to_string(),
            immediately: spec.trigger.is_immediate(),
        },
    };
    let next = state.next.map(|due| match due {
        Due::Mono { nominal, at } => (micros(clock.wall_at(nominal)), micros(clock.wall_at(at))),
        Due::Wall { nominal, at } => (micros(nominal), micros(at)),
    });
    ScheduleRow {
        trigger,
        task: (*spec.task).clone(),
        overlap: match spec.overlap {
            Overlap::Skip => 0,
            Overlap::Queue => 1,
            Overlap::Allow => 2,
        },
        catch_up: match spec.catch_up {
            CatchUp::Skip => 0,
            CatchUp::Last => 1,
        },
        jitter: spec.jitter,
        grace: spec.grace,
        enabled: state.enabled,
        next,
        runs: state.runs,
        failures: state.failures,
        skipped: state.skipped,
        missed: state.missed,
        last: state.last.as_ref().map(|record| record.id()),
    }
}

fn spec(name: &str, row: &ScheduleRow) -> Result<ScheduleSpec> {
    let trigger = match &row.trigger {
        TriggerRow::Every {
            interval,
            immediately,
        } => immediate(Trigger::every(*interval), *immediately),
        TriggerRow::Cron {
            expression,
            zone,
            immediately,
        } => {
            let cron = Trigger::cron(expression)?;
            let zoned = match zone.as_str() {
                "UTC" => cron,
                "Local" => cron.in_local_time()?,
                named => cron.in_time_zone(named)?,
            };
            immediate(zoned, *immediately)
        }
    };
    let mut spec = ScheduleSpec::new(name, trigger, row.task.clone())
        .jitter(row.jitter)
        .grace(row.grace)
        .enabled(row.enabled);
    spec.overlap = match row.overlap {
        1 => Overlap::Queue,
        2 => Overlap::Allow,
        _ => Overlap::Skip,
    };
    spec.catch_up = if row.catch_up == 1 {
        CatchUp::Last
    } else {
        CatchUp::Skip
    };
    Ok(spec)
}

fn immediate(trigger: Trigger, immediately: bool) -> Trigger {
    if immediately {
        trigger.immediately()
    } else {
        trigger
    }
}

/// A stored tick back on its clock.
fn due(spec: &ScheduleSpec, (nominal, at): (u64, u64), clock: &Clock) -> Due {
    let (nominal, at) = (time(nominal), time(at));
    if spec.trigger.interval().is_some() {
        Due::Mono {
            nominal: clock.instant_at(nominal),
            at: clock.instant_at(at),
        }
    } else {
        Due::Wall { nominal, at }
    }
}
