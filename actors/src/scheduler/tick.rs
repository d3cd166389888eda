//! What one tick does, as a pure function of the schedule, its upcoming
//! tick and the time: fire or not, how many ticks were missed, and when the
//! next one is due. No actor, no lock, no clock read here, so the rules for
//! overlap-free catch-up are tested on their own.
//!
//! Interval ticks live on tokio's monotonic clock, cron ticks on the wall
//! clock ([`Clock`](super::Clock)); [`Due`] keeps each in its own domain.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::spec::{CatchUp, ScheduleSpec};
use super::trigger::{CronCache, Kind};

/// The upcoming tick of a schedule: its exact time on the schedule's pace
/// (`nominal`) and when it fires, jitter included (`at >= nominal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// An interval tick, on the monotonic clock.
    Mono { nominal: Instant, at: Instant },
    /// A cron tick, on the wall clock.
    Wall { nominal: SystemTime, at: SystemTime },
}

/// The outcome of handling a due tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Start a run (subject to the overlap policy).
    pub(crate) fire: bool,
    /// Ticks that passed without firing on time.
    pub(crate) missed: u64,
    /// The next tick; `None` once a cron pattern matches no more times.
    pub(crate) next: Option<Due>,
}

/// Cron ticks counted one by one at most this many times per catch-up;
/// beyond it the count is a lower bound and the search jumps to the end.
const MAX_COUNTED: u64 = 10_000;

/// The first tick of a newly added schedule.
pub(crate) fn first_due(
    spec: &ScheduleSpec,
    now: Instant,
    wall: SystemTime,
    crons: &CronCache,
) -> Option<Due> {
    let immediately = spec.trigger.is_immediate();
    match spec.trigger.kind() {
        Kind::Every(interval) => {
            let nominal = if immediately {
                now
            } else {
                now.plus(*interval)
            };
            let at = if immediately {
                now
            } else {
                nominal.plus(spec.jitter_sample())
            };
            Some(Due::Mono { nominal, at })
        }
        Kind::Cron(cron) => {
            if immediately {
                return Some(Due::Wall {
                    nominal: wall,
                    at: wall,
                });
            }
            let nominal = cron.next_after(crons, wall)?;
            Some(Due::Wall {
                nominal,
                at: nominal.plus(spec.jitter_sample()),
            })
        }
    }
}

/// Handle `due`, which has come (its `at` is not after `now` or `wall`).
pub(crate) fn plan(
    spec: &ScheduleSpec,
    due: Due,
    now: Instant,
    wall: SystemTime,
    crons: &CronCache,
) -> Plan {
    match (spec.trigger.kind(), due) {
        (Kind::Every(interval), Due::Mono { nominal, at }) => {
            let period = interval.as_nanos().max(1);
            let behind = now.saturating_duration_since(nominal).as_nanos();
            let extra = behind / period;
            // Saturate rather than overflow: a schedule that is centuries
            // behind is simply very behind.
            let offset = Duration::from_nanos(u64::try_from(extra * period).unwrap_or(u64::MAX));
            let latest = nominal.checked_add(offset).unwrap_or(now);
            let count = u64::try_from(extra).unwrap_or(u64::MAX).saturating_add(1);
            let step = *interval;
            decide(
                spec,
                Span {
                    count,
                    latest,
                    first_at: at,
                    now,
                },
                |t| t.checked_add(step),
                |nominal, at| Due::Mono { nominal, at },
            )
        }
        (Kind::Cron(cron), Due::Wall { nominal, at }) => {
            let mut latest = nominal;
            let mut count = 1;
            while let Some(next) = cron.next_after(crons, latest) {
                if next > wall {
                    break;
                }
                if count >= MAX_COUNTED {
                    // Jump: a per-second pattern after a long suspend would
                    // otherwise walk every second.
                    latest = cron
                        .latest_at_or_before(crons, wall)
                        .unwrap_or(next)
                        .max(next);
                    count += 1;
                    break;
                }
                latest = next;
                count += 1;
            }
            decide(
                spec,
                Span {
                    count,
                    latest,
                    first_at: at,
                    now: wall,
                },
                |t| cron.next_after(crons, t),
                |nominal, at| Due::Wall { nominal, at },
            )
        }
        // A trigger never changes kind, so its ticks never change domain.
        (_, due) => Plan {
            fire: false,
            missed: 0,
            next: Some(due),
        },
    }
}

/// The due ticks found: `count` of them, the last at `latest`; the first
/// fires at `first_at` (jitter included).
struct Span<P> {
    count: u64,
    latest: P,
    first_at: P,
    now: P,
}

/// The rules, in one domain: of the due ticks only the latest may fire on
/// time, if the scheduler reached it within the grace; the others are
/// missed, and `CatchUp::Last` runs once for them all.
fn decide<P: Point>(
    spec: &ScheduleSpec,
    span: Span<P>,
    following: impl Fn(P) -> Option<P>,
    due: impl Fn(P, P) -> Due,
) -> Plan {
    let Span {
        count,
        latest,
        first_at,
        now,
    } = span;
    let catch_up = spec.catch_up == CatchUp::Last;
    let latest_at = if count == 1 {
        first_at
    } else {
        latest.plus(spec.jitter_sample())
    };
    if latest_at > now {
        // The latest tick's jitter has not run out: it is still upcoming.
        let missed = count - 1;
        return Plan {
            fire: catch_up && missed > 0,
            missed,
            next: Some(due(latest, latest_at)),
        };
    }
    let on_time = now.since(latest_at) <= spec.grace;
    let missed = count - u64::from(on_time);
    let next = following(latest).map(|n| due(n, n.plus(spec.jitter_sample())));
    Plan {
        fire: on_time || (catch_up && missed > 0),
        missed,
        next,
    }
}

/// A point in time of either domain.
trait Point: Copy + Ord {
    /// `self - earlier`, zero if `earlier` is later.
    fn since(self, earlier: Self) -> Duration;
    /// `self + d`, saturated (see `crate::duration`): a restored schedule
    /// never checked, or a jitter sample, cannot overflow it.
    fn plus(self, d: Duration) -> Self;
}

impl Point for Instant {
    fn since(self, earlier: Self) -> Duration {
        self.saturating_duration_since(earlier)
    }

    fn plus(self, d: Duration) -> Self {
        crate::duration::after(self, d)
    }
}

impl Point for SystemTime {
    fn since(self, earlier: Self) -> Duration {
        self.duration_since(earlier).unwrap_or_default()
    }

    fn plus(self, d: Duration) -> Self {
        crate::duration::wall_after(self, d)
    }
}

#[cfg(test)]
mod tests;
