//! What the caller asks for: [`ScheduleSpec`] with its [`Overlap`] and
//! [`CatchUp`] policies.

use std::sync::Arc;
use std::time::Duration;

use super::trigger::{Kind, Trigger};
use crate::error::{Error, Result};
use crate::task::Task;

/// What happens when a tick comes due while the previous run of the same
/// schedule is still going (running, retrying, or queued under the global
/// concurrency cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Overlap {
    /// Do not start another run; the tick is counted in
    /// [`ScheduleInfo::skipped`](super::ScheduleInfo::skipped).
    #[default]
    Skip,
    /// Start one more run as soon as the current one ends. At most one is
    /// pending; further ticks meanwhile are skipped.
    Queue,
    /// Start another run alongside.
    Allow,
}

/// What happens to ticks that came due while they could not fire on time:
/// the process was busy, the machine slept, the schedule was disabled.
///
/// A tick fires on time if the scheduler reaches it within the schedule's
/// [`grace`](ScheduleSpec::grace); of several ticks due at once only the
/// latest can be on time. Either way there is never a burst of catch-up
/// runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CatchUp {
    /// Missed ticks do not run; the schedule resumes with the next tick.
    #[default]
    Skip,
    /// One run stands in for all missed ticks, as soon as they are noticed.
    Last,
}

/// A schedule to add: a unique name, when it fires, what it runs, and how
/// it treats overlap and missed ticks.
///
/// ```
/// use std::time::Duration;
/// use taskorch_actors::Task;
/// use taskorch_actors::scheduler::{CatchUp, Overlap, ScheduleSpec, Trigger};
///
/// let spec = ScheduleSpec::new(
///     "compact-db",
///     Trigger::cron("30 3 * * *")?.in_time_zone("Europe/Berlin")?,
///     Task::command("db-compact").retries(2),
/// )
/// .overlap(Overlap::Skip)
/// .catch_up(CatchUp::Last)
/// .jitter(Duration::from_secs(30));
/// assert_eq!(spec.name(), "compact-db");
/// # Ok::<(), taskorch_actors::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    pub(crate) name: Arc<str>,
    pub(crate) trigger: Trigger,
    pub(crate) task: Arc<Task>,
    pub(crate) overlap: Overlap,
    pub(crate) catch_up: CatchUp,
    pub(crate) jitter: Duration,
    pub(crate) grace: Duration,
    pub(crate) enabled: bool,
}

/// Default [`ScheduleSpec::grace`].
pub const DEFAULT_GRACE: Duration = Duration::from_secs(1);

impl ScheduleSpec {
    /// Run `task` whenever `trigger` fires, under the unique `name`. Runs
    /// are listed under the schedule's name, with pattern `Periodic`; a
    /// failed run is retried as the task says (`Task::retries`,
    /// `Task::backoff`) before it counts as one failure.
    pub fn new(name: impl Into<String>, trigger: Trigger, task: Task) -> Self {
        ScheduleSpec {
            name: Arc::from(name.into()),
            trigger,
            task: Arc::new(task),
            overlap: Overlap::default(),
            catch_up: CatchUp::default(),
            jitter: Duration::ZERO,
            grace: DEFAULT_GRACE,
            enabled: true,
        }
    }

    /// What to do when a tick comes while the previous run is still going
    /// (default [`Overlap::Skip`]).
    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.overlap = overlap;
        self
    }

    /// What to do about ticks that could not fire on time (default
    /// [`CatchUp::Skip`]).
    pub fn catch_up(mut self, catch_up: CatchUp) -> Self {
        self.catch_up = catch_up;
        self
    }

    /// Delay each tick by a random amount up to `max`, so that many
    /// processes with the same schedule do not all start at once. The
    /// schedule's own pace is unchanged: each tick is jittered from its
    /// exact time. For an interval trigger `max` must be shorter than the
    /// interval.
    pub fn jitter(mut self, max: Duration) -> Self {
        self.jitter = max;
        self
    }

    /// How late a tick may still fire (default 1 s); a tick the scheduler
    /// reaches later than this is missed (see [`CatchUp`]).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Add the schedule enabled (the default) or disabled.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The schedule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When it fires.
    pub fn trigger(&self) -> &Trigger {
        &self.trigger
    }

    /// What it runs.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// Check everything that does not depend on the runtime.
    ///
    /// # Errors
    /// `InvalidTask` for an empty name, a zero interval, a zero grace, or a
    /// jitter not shorter than the interval; `InvalidDuration` for an
    /// interval, jitter or grace above [`duration::MAX`](crate::duration::MAX);
    /// the task's own errors.
    pub fn validate(&self) -> Result<()> {
        let invalid = |why: String| Err(Error::InvalidTask(why));
        if self.name.trim().is_empty() {
            return invalid("schedule name must not be empty".into());
        }
        if let Some(interval) = self.trigger.interval() {
            crate::duration::check("Trigger::every", interval)?;
        }
        crate::duration::check("ScheduleSpec::jitter", self.jitter)?;
        crate::duration::check("ScheduleSpec::grace", self.grace)?;
        if let Kind::Every(interval) = self.trigger.kind() {
            if interval.is_zero() {
                return invalid(format!(
                    "schedule {:?}: the interval must be greater than zero",
                    self.name
                ));
            }
            if self.jitter >= *interval {
                return invalid(format!(
                    "schedule {:?}: jitter ({:?}) must be shorter than the interval ({interval:?})",
                    self.name, self.jitter
                ));
            }
        }
        if self.grace.is_zero() {
            return invalid(format!(
                "schedule {:?}: grace must be greater than zero",
                self.name
            ));
        }
        self.task.validate()
    }

    /// A random delay in `0..=jitter`.
    pub(crate) fn jitter_sample(&self) -> Duration {
        if self.jitter.is_zero() {
            return Duration::ZERO;
        }
        crate::duration::mul_f64(self.jitter, rand::random_range(0.0..=1.0))
    }
}
