//! [`Observer`]: watching what the runtime does and did: the event
//! stream, live and timed output of a run, the durable history, and the
//! message trace's reset.

use taskorch_actors::{
    Error, EventStream, OutputSubscription, Result, RunId, RunInfo, RunQuery, StoredRun,
    TimedOutput,
};

use super::Orchestrator;

impl Orchestrator {
    /// Watch and look up: the event stream, a run's output (live, with
    /// times), runs (in memory and the durable history), and the named
    /// things of the runtime (schedules, pools, queues) and its
    /// configuration.
    pub fn observe(&self) -> Observer<'_> {
        Observer { orch: self }
    }
}

/// Watching the runtime ([`Orchestrator::observe`]): the event stream,
/// live and timed output, the durable history, the trace's reset.
#[derive(Debug, Clone, Copy)]
pub struct Observer<'a> {
    pub(super) orch: &'a Orchestrator,
}

impl Observer<'_> {
    /// Subscribe to the event stream: every run queued, started, line of
    /// output, finished; workflows and their blocks; schedules fired and
    /// skipped; actors restarted or given up on; halts and resumes; circuit
    /// breakers opened, half-open and closed; risk limits exceeded. Each
    /// [`Event`](crate::events::Event) has a time, a correlation id and a stable JSON
    /// form (`serde_json::to_string(&event)`; schema in the README section
    /// "Events").
    ///
    /// The subscriber sees events emitted after this call, `seq` going up
    /// by one from event to event, also while many runs emit at once. One
    /// that falls more than `Config::event_capacity` events or
    /// `Config::event_capacity_bytes` bytes behind loses the oldest and
    /// reads [`EventItem::Lagged`](crate::events::EventItem::Lagged)`(n)`; it never
    /// slows the runtime, and pins at most that much memory. Without
    /// subscribers no event is even built.
    pub fn subscribe(&self) -> EventStream {
        self.orch.inner.ctx.events().subscribe()
    }

    /// [`Orchestrator::output`] with the wall-clock time each line was
    /// captured (`times.get(i)` for `output.lines[i]`): the time the read
    /// of the child's pipe that completed the line returned, shared by the
    /// lines of one read, never going back within a run. Kept in the
    /// durable store with the lines; unknown (`None`) for a run stored by
    /// a release that did not keep times. `None` if the id is unknown here.
    pub fn timed_output(&self, id: RunId) -> Option<TimedOutput> {
        let record = self.orch.inner.ctx.registry().get(id)?;
        Some(record.timed_captured())
    }

    /// Another reader of run `id`'s output: every line still in its ring
    /// (the backlog), then each new line as it is written, and the end when
    /// the run ends. Any number of readers can follow one run, each at its
    /// own pace and never slows the run; a reader that falls a whole ring
    /// behind skips the lines dropped meanwhile (a jump in `seq`, counted
    /// by [`OutputSubscription::missed`]). Only the run's own
    /// [`RunStream`](crate::RunStream) is lossless.
    ///
    /// # Errors
    /// `UnknownRun` if the id is unknown here.
    pub fn subscribe_output(&self, id: RunId) -> Result<OutputSubscription> {
        let record = self
            .orch
            .inner
            .ctx
            .registry()
            .get(id)
            .ok_or(Error::UnknownRun(id))?;
        Ok(record.subscribe_output(self.orch.inner.ctx.limits().lines))
    }

    /// Runs matching `query` (name, status, pattern, accepted since /
    /// until, the most recent N), newest first: the query
    /// [`Observer::find_runs`](crate::events::Observer::find_runs) answers from memory, oldest first. With a store (`Config::store`) this is
    /// the durable history, runs from before a restart included, up to
    /// `Config::history_limit` finished runs; without one, the runs held
    /// in memory.
    ///
    /// ```no_run
    /// # fn f(orch: taskorch::Orchestrator) -> taskorch::Result<()> {
    /// use taskorch::{RunQuery, RunStatus};
    ///
    /// let failed = orch.observe().history(&RunQuery::new().status(RunStatus::Failed).most_recent(20))?;
    /// for run in failed {
    ///     println!("{} {} {:?}", run.id, run.name, run.finished);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// A query reads the store on the calling thread; one without a limit
    /// or a time window reads every stored run.
    ///
    /// # Errors
    /// `Store` if the file cannot be read, or the orchestrator has shut
    /// down (its store is closed).
    pub fn history(&self, query: &RunQuery) -> Result<Vec<RunInfo>> {
        let store = self.orch.inner.ctx.store();
        if store.is_enabled() {
            store.history(query)
        } else {
            // The registry answers oldest first (its most recent N); the
            // history reads newest first.
            let mut runs = self.orch.inner.ctx.registry().query(query);
            runs.reverse();
            Ok(runs)
        }
    }

    /// The run the caller's key `key` ([`Task::key`](crate::Task::key))
    /// names now: the run a `launch` of a task with that key would return
    /// (queued or running, or finished within `Config::key_window`).
    /// Otherwise the newest run ever given the key that is still known
    /// (in memory, or with a store in its history); `None` if there is
    /// none.
    ///
    /// ```no_run
    /// # async fn demo(orch: &taskorch::Orchestrator) -> taskorch::Result<()> {
    /// use taskorch::Task;
    ///
    /// let id = orch.launch(Task::command("train").key("training_session_123")).await?;
    /// let found = orch.observe().find_key("training_session_123")?;
    /// assert_eq!(found.map(|run| run.id), Some(id));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// `Error::Store` if the store cannot be read.
    pub fn find_key(&self, key: &str) -> Result<Option<RunInfo>> {
        let registry = self.orch.inner.ctx.registry();
        if let Some(record) = registry.find_key(key) {
            return Ok(Some(record.info()));
        }
        let query = RunQuery::new().key(key).most_recent(1);
        Ok(self.history(&query)?.into_iter().next())
    }

    /// Everything the store keeps of run `id`: its record, the task it
    /// ran, how it ended and its output lines (what `taskorch show` reads,
    /// alike through a running `up` and on the file). `None` without a
    /// store, or for a run the store does not hold.
    pub fn stored_run(&self, id: RunId) -> Option<StoredRun> {
        let store = self.orch.inner.ctx.store();
        if store.is_enabled() {
            store.stored_run(id)
        } else {
            None
        }
    }

    /// The run that run `id` reruns ([`Orchestrator::rerun`]): `None` if
    /// `id` is not a rerun or is unknown. Read from memory, or from the
    /// store for a run from before a restart.
    pub fn rerun_of(&self, id: RunId) -> Option<RunId> {
        self.orch.inner.ctx.registry().get(id)?.rerun_of()
    }

    /// Forget the message trace recorded so far (a test's trace of one
    /// step); [`Orchestrator::trace`] reads it.
    pub fn clear_trace(&self) {
        self.orch.inner.ctx.trace().clear();
    }
}
