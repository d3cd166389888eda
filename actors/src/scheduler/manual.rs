//! Runs of a schedule by hand, outside its pace: trigger now
//! ([`Schedule::trigger_now`](super::Schedule::trigger_now)) and backfill a
//! range ([`Schedule::backfill`](super::Schedule::backfill)). Both are
//! handled by the scheduler actor, in order with its ticks, and start
//! ordinary runs of the schedule (pattern `Periodic`, named after it,
//! counted in its [`ScheduleInfo`](super::ScheduleInfo)).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::spec::Overlap;
use super::store::{EntryState, ScheduleEntry};
use super::tick::Due;
use super::trigger::{CronCache, Kind};
use super::{Clock, SchedulerState};
use crate::error::{Error, Result};
use crate::run::RunId;

/// The most ticks one [`backfill`](super::Schedule::backfill) runs; a
/// range holding more is refused with `BackfillTooLarge` (split it). Each
/// tick is a run accepted at once, so the bound keeps one call from
/// flooding the registry and the concurrency cap.
pub const MAX_BACKFILL: usize = 1_000;

/// What [`Schedule::trigger_now`](super::Schedule::trigger_now) did, as
/// the schedule's [`Overlap`] policy decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Triggered {
    /// A run started (no run of the schedule was in flight, or the policy
    /// is `Allow`).
    Started(RunId),
    /// A run was in flight and the policy is `Queue`: one run starts when
    /// it ends (as a tick would be queued; a tick already queued absorbs
    /// it).
    Queued,
    /// A run was in flight and the policy is `Skip` (or `Queue` with a run
    /// queued already, or on a disabled schedule): nothing started;
    /// counted in `skipped`.
    Skipped {
        /// The run in flight that caused the skip.
        running: Option<RunId>,
    },
}

impl Triggered {
    /// The run that started, if one did.
    pub fn run_id(&self) -> Option<RunId> {
        match self {
            Triggered::Started(id) => Some(*id),
            Triggered::Queued | Triggered::Skipped { .. } => None,
        }
    }
}

impl SchedulerState {
    /// A run of `entry` now, under its overlap policy.
    pub(super) fn trigger_now(&mut self, name: &str, id: u64) -> Result<Triggered> {
        self.ctx.shutdown().check()?;
        self.ctx.halt().check()?;
        let entry = self.store.current(name, id)?;
        let mut state = entry.state.lock();
        if state.in_flight == 0 || entry.spec.overlap == Overlap::Allow {
            return Ok(Triggered::Started(self.start_run(&entry, &mut state)));
        }
        let triggered = match entry.spec.overlap {
            // A disabled schedule starts no queued run: only its own
            // trigger now, which then has nothing to queue behind.
            Overlap::Queue if !state.pending && state.enabled => {
                state.pending = true;
                Triggered::Queued
            }
            _ => {
                state.skipped += 1;
                crate::events::schedule_skipped(self.ctx.events(), entry.name(), "overlap");
                Triggered::Skipped {
                    running: state.last.as_ref().map(|record| record.id()),
                }
            }
        };
        self.store.persist(&entry, &state);
        Ok(triggered)
    }

    /// One run of `entry` for every tick of its trigger due in
    /// `[from, to)`, all started now (the overlap policy does not apply:
    /// the caller asked for each of them).
    pub(super) fn backfill(
        &mut self,
        name: &str,
        id: u64,
        from: SystemTime,
        to: SystemTime,
    ) -> Result<Vec<RunId>> {
        self.ctx.shutdown().check()?;
        self.ctx.halt().check()?;
        let entry = self.store.current(name, id)?;
        if from > to {
            return Err(Error::InvalidBackfill {
                schedule: name.to_string(),
                reason: format!(
                    "the range starts at {} and ends at {}, before it",
                    chrono::DateTime::<chrono::Utc>::from(from).to_rfc3339(),
                    chrono::DateTime::<chrono::Utc>::from(to).to_rfc3339()
                ),
            });
        }
        let mut state = entry.state.lock();
        let ticks = ticks_in(
            &entry,
            &state,
            self.store.clock(),
            self.store.crons(),
            from,
            to,
        )?;
        Ok((0..ticks)
            .map(|_| self.start_run(&entry, &mut state))
            .collect())
    }
}

/// How many ticks of `entry` fall in `[from, to)`, at most
/// [`MAX_BACKFILL`] (`BackfillTooLarge` above).
fn ticks_in(
    entry: &Arc<ScheduleEntry>,
    state: &EntryState,
    clock: &Clock,
    crons: &CronCache,
    from: SystemTime,
    to: SystemTime,
) -> Result<usize> {
    let too_large = || Error::BackfillTooLarge {
        schedule: entry.name().to_string(),
        limit: MAX_BACKFILL,
    };
    match entry.spec.trigger.kind() {
        Kind::Every(interval) => {
            // The pace is the schedule's own: its next tick, and every
            // interval before and after it. Without one (never armed), the
            // ticks start at `from`.
            let anchor = match state.next {
                Some(Due::Mono { nominal, .. }) => clock.wall_at(nominal),
                Some(Due::Wall { nominal, .. }) => nominal,
                None => from,
            };
            let count = every_count(anchor, *interval, from, to);
            if count > MAX_BACKFILL as u128 {
                return Err(too_large());
            }
            Ok(count as usize)
        }
        Kind::Cron(cron) => {
            // `next_after` is strictly after: start just before `from` so
            // a tick at `from` itself counts.
            let mut at = from.checked_sub(Duration::from_nanos(1)).unwrap_or(from);
            let mut count = 0;
            while let Some(next) = cron.next_after(crons, at) {
                if next >= to {
                    break;
                }
                count += 1;
                if count > MAX_BACKFILL {
                    return Err(too_large());
                }
                at = next;
            }
            Ok(count)
        }
    }
}

/// How many of the times `anchor + k * interval` (any integer `k`) fall in
/// `[from, to)`.
fn every_count(anchor: SystemTime, interval: Duration, from: SystemTime, to: SystemTime) -> u128 {
    let period = interval.as_nanos().max(1) as i128;
    let signed = |t: SystemTime| -> i128 {
        match t.duration_since(anchor) {
            Ok(ahead) => ahead.as_nanos() as i128,
            Err(behind) => -(behind.duration().as_nanos() as i128),
        }
    };
    let (lo, hi) = (signed(from), signed(to));
    // The ticks are the multiples of `period` in [lo, hi).
    let first = lo.div_euclid(period) + i128::from(lo.rem_euclid(period) != 0);
    let end = hi.div_euclid(period) + i128::from(hi.rem_euclid(period) != 0);
    (end - first).max(0) as u128
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn every_count_counts_the_multiples_in_a_half_open_range() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        // Ticks at 1000, 1010, 1020, ...
        assert_eq!(every_count(t0, 10 * S, t0, t0 + 30 * S), 3);
        assert_eq!(every_count(t0, 10 * S, t0 + S, t0 + 30 * S), 2);
        assert_eq!(every_count(t0, 10 * S, t0 + S, t0 + 31 * S), 3);
        // Before the anchor too.
        assert_eq!(every_count(t0, 10 * S, t0 - 25 * S, t0), 2);
        assert_eq!(every_count(t0, 10 * S, t0 - 20 * S, t0 + S), 3);
        // Empty ranges.
        assert_eq!(every_count(t0, 10 * S, t0 + S, t0 + 9 * S), 0);
        assert_eq!(every_count(t0, 10 * S, t0, t0), 0);
    }
}
