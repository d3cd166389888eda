//! The Periodic pattern: run a task every N seconds or on a cron
//! expression.

use std::sync::Arc;

use taskorch_actors::Result;
use taskorch_actors::scheduler::{Schedule, ScheduleSpec, SchedulerMessage};

use super::Orchestrator;

impl Orchestrator {
    /// Add a schedule and return a handle to it. Every tick starts a run
    /// (pattern `Periodic`, named after the schedule) in the run registry,
    /// under the global concurrency cap; the handle's
    /// [`info`](Schedule::info) shows the counters, the last run and the
    /// next due time. Dropping the handle does not remove the schedule.
    ///
    /// # Errors
    /// `InvalidTask` for an empty name, a zero interval, a jitter not
    /// shorter than the interval, or a malformed task; `NotFound`,
    /// `PermissionDenied` or `UnknownAction` if the task cannot run;
    /// `DuplicateSchedule` if the name is taken; `ActorFailed` if the
    /// scheduler died meanwhile; `ShuttingDown`. (Bad cron expressions and
    /// time zones are refused earlier, by `Trigger::cron` and
    /// `Trigger::in_time_zone`, with `InvalidSchedule`.)
    ///
    /// # Cancel safety
    /// If the future is dropped after the scheduler took the request, the
    /// schedule may still be added; find it with
    /// [`schedules().find`](Schedules::find).
    pub async fn schedule(&self, spec: ScheduleSpec) -> Result<Schedule> {
        self.inner.ctx.shutdown().check()?;
        let spec = Arc::new(spec);
        let entry = self
            .inner
            .scheduler
            .request(|reply| SchedulerMessage::Add {
                spec: Arc::clone(&spec),
                reply,
            })
            .await?;
        Ok(self.schedule_handle(entry))
    }

    fn schedule_handle(&self, entry: Arc<taskorch_actors::scheduler::ScheduleEntry>) -> Schedule {
        Schedule::new(
            entry,
            Arc::clone(&self.inner.schedules),
            self.inner.scheduler.clone(),
        )
    }
}

/// The schedules of an orchestrator ([`Observer::schedules`](crate::events::Observer::schedules)).
#[derive(Debug, Clone, Copy)]
pub struct Schedules<'a> {
    orch: &'a Orchestrator,
}

impl Schedules<'_> {
    /// Every schedule, by name.
    pub fn list(&self) -> Vec<Schedule> {
        self.orch
            .inner
            .schedules
            .list()
            .into_iter()
            .map(|entry| self.orch.schedule_handle(entry))
            .collect()
    }

    /// The schedule called `name`, if there is one.
    pub fn find(&self, name: &str) -> Option<Schedule> {
        self.orch
            .inner
            .schedules
            .get(name)
            .map(|entry| self.orch.schedule_handle(entry))
    }
}

impl<'a> crate::events::Observer<'a> {
    /// The schedules: find one by name, list them all.
    pub fn schedules(&self) -> Schedules<'a> {
        Schedules { orch: self.orch }
    }
}
