//! The caller's side of a submitted graph: the [`GraphRun`] handle
//! (status, results, cancel, wait, queries, counts) and what it reports
//! ([`TaskResult`], [`GraphReport`]). Everything here reads the graph's
//! shared state; nothing goes through an actor.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::job::GraphJob;
use super::plan::Plan;
use super::spec::{GraphTask, TaskGraph, TaskKey};
use super::state::{GraphState, GraphStats, TaskError, TaskStatus};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::run::RunId;

/// One task's outcome (or progress, while the graph runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task.
    pub key: TaskKey,
    /// Its name.
    pub name: String,
    /// Where it is.
    pub status: TaskStatus,
    /// What its run produced, if it got to finish (also for a non-zero
    /// exit: the output is there, with `success() == false`).
    pub output: Option<Output>,
    /// Why it did not succeed, in words: the error, the exit code and last
    /// stderr line, the action's message, or for a skipped task which task
    /// it follows from (`not run: "build" failed`).
    pub error_message: Option<String>,
    /// A short stable name for the same: an [`Error::kind`] ("timed_out",
    /// "cancelled", "not_found", ...), "exit_code", "signal",
    /// "action_error", or "skipped".
    pub error_kind: Option<String>,
    /// Attempts made (0 if it never ran).
    pub attempts: u32,
    /// How long its run took, retries included (`None` if it never ran).
    pub duration: Option<Duration>,
    /// The metadata it was given.
    pub metadata: serde_json::Value,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its run in the registry, once it started.
    pub run_id: Option<RunId>,
    /// When its run started.
    pub started: Option<SystemTime>,
    /// When it reached its terminal status.
    pub finished: Option<SystemTime>,
    /// For a skipped task, the task whose failure it follows from.
    pub blocked_by: Option<TaskKey>,
}

impl TaskResult {
    /// Whether the task succeeded.
    pub fn success(&self) -> bool {
        self.status == TaskStatus::Succeeded
    }
}

/// Every task's result once a graph has finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphReport {
    /// One per task, in the order they were added.
    pub tasks: Vec<TaskResult>,
    /// The final counts.
    pub stats: GraphStats,
    /// From submit to the last task's end.
    pub elapsed: Duration,
}

impl GraphReport {
    /// Whether every task succeeded.
    pub fn success(&self) -> bool {
        self.stats.completed == self.stats.total
    }

    /// The result of `key`.
    pub fn get(&self, key: TaskKey) -> Option<&TaskResult> {
        self.tasks.iter().find(|t| t.key == key)
    }

    /// The result of the task called `name`.
    pub fn by_name(&self, name: &str) -> Option<&TaskResult> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// The tasks that did not succeed.
    pub fn unsuccessful(&self) -> impl Iterator<Item = &TaskResult> {
        self.tasks.iter().filter(|t| !t.success())
    }
}

/// A handle to a graph started with `orch.graphs().start`: ask about
/// its tasks, cancel some or all of them, wait for the end.
///
/// Cheap to clone. Dropping it does not stop the graph: it runs to its
/// end, and its runs stay readable in the registry.
#[derive(Debug, Clone)]
pub struct GraphRun {
    job: Arc<GraphJob>,
}

/// A graph the runtime knows of, as `Orchestrator::graphs` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphInfo {
    /// Its id in this process ([`GraphRun::id`]); an adopted graph gets a
    /// new one at each start.
    pub id: u64,
    /// Its name, if it was given one (`TaskGraph::named`).
    pub name: Option<String>,
    /// Whether it was adopted from the durable store at start.
    pub resumed: bool,
    /// Whether every task is in a terminal status.
    pub finished: bool,
    /// The counts right now.
    pub stats: GraphStats,
}

impl GraphRun {
    pub(crate) fn new(job: Arc<GraphJob>) -> Self {
        GraphRun { job }
    }

    /// The graph's id in this process (the one its keys carry).
    pub fn id(&self) -> u64 {
        self.job.id()
    }

    /// The graph's name, if it was given one (`TaskGraph::named`).
    pub fn graph_name(&self) -> Option<&str> {
        self.job.graph_name()
    }

    /// Whether the graph was adopted from the durable store at start
    /// (submitted before a crash).
    pub fn resumed(&self) -> bool {
        self.job.resumed
    }

    /// Id, name, origin and counts.
    pub fn info(&self) -> GraphInfo {
        GraphInfo {
            id: self.id(),
            name: self.graph_name().map(str::to_string),
            resumed: self.resumed(),
            finished: self.is_finished(),
            stats: self.stats(),
        }
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.job.plan().len()
    }

    /// Whether the graph has no task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every task's key, in the order they were added.
    pub fn keys(&self) -> Vec<TaskKey> {
        let plan = self.job.plan();
        (0..plan.len()).map(|i| plan.key(i)).collect()
    }

    /// The key of the task called `name`.
    pub fn key(&self, name: &str) -> Option<TaskKey> {
        let plan = self.job.plan();
        let i = plan.nodes.iter().position(|n| n.name == name)?;
        Some(plan.key(i))
    }

    /// The name of `key`'s task.
    pub fn name(&self, key: TaskKey) -> Option<&str> {
        let i = self.job.plan().index(key)?;
        self.job.task_name(i)
    }

    /// The tasks `key`'s task depends on (its edges in the DAG); `None`
    /// for a key of another graph.
    pub fn dependencies(&self, key: TaskKey) -> Option<Vec<TaskKey>> {
        let plan = self.job.plan();
        let i = plan.index(key)?;
        Some(plan.deps(i).iter().map(|&d| plan.key(d as usize)).collect())
    }

    /// Where `key`'s task is; `None` for a key of another graph.
    pub fn status(&self, key: TaskKey) -> Option<TaskStatus> {
        let i = self.job.plan().index(key)?;
        self.job
            .read(|state| state.tasks.get(i).map(|task| task.status))
    }

    /// `key`'s task's result so far (final once its status is terminal);
    /// `None` for a key of another graph.
    ///
    /// Its output's bytes come from its run's record, under the output
    /// budget (see [`GraphState`]'s module docs): reclaimed ones read as
    /// dropped.
    pub fn result(&self, key: TaskKey) -> Option<TaskResult> {
        let i = self.job.plan().index(key)?;
        let mut result = self.job.read_planned(|state, plan| {
            (i < state.tasks.len()).then(|| result_of(plan, state, i))
        })?;
        self.fill(&mut result);
        Some(result)
    }

    /// Every task's result so far, in the order they were added (outputs
    /// as [`result`](Self::result) has them).
    pub fn results(&self) -> Vec<TaskResult> {
        let mut results: Vec<TaskResult> = self.job.read_planned(|state, plan| {
            (0..state.tasks.len())
                .map(|i| result_of(plan, state, i))
                .collect()
        });
        for result in &mut results {
            self.fill(result);
        }
        results
    }

    /// Bytes of captured output the graph itself holds, apart from its
    /// runs' records: none once a task's run has ended (its bytes stay in
    /// the run's record, under `Config::output_budget`), however many
    /// tasks the graph has.
    pub fn held_output_bytes(&self) -> usize {
        self.job.read(|state| {
            state
                .tasks
                .iter()
                .filter_map(|t| t.output.as_deref())
                .map(Output::held_bytes)
                .sum()
        })
    }

    // Outside the state lock: the registry (or the store) is read here.
    fn fill(&self, result: &mut TaskResult) {
        if let Some(out) = result.output.as_mut() {
            self.job.with_bytes(result.run_id, out);
        }
    }

    /// The tasks now in `status`.
    pub fn tasks_by_status(&self, status: TaskStatus) -> Vec<TaskKey> {
        self.job.read_planned(|state, plan| {
            (0..state.tasks.len())
                .filter(|&i| state.status(i) == status)
                .map(|i| plan.key(i))
                .collect()
        })
    }

    /// The tasks tagged `tag`.
    pub fn tasks_by_tag(&self, tag: &str) -> Vec<TaskKey> {
        let plan = self.job.plan();
        (0..plan.len())
            .filter(|&i| plan.nodes[i].tags.iter().any(|t| t == tag))
            .map(|i| plan.key(i))
            .collect()
    }

    /// The counts right now.
    pub fn stats(&self) -> GraphStats {
        self.job.read(|state| state.stats)
    }

    /// Whether every task is in a terminal status.
    pub fn is_finished(&self) -> bool {
        self.job.is_finished()
    }

    /// A copy of the whole state (plain data: statuses, attempts, runs,
    /// outputs, errors), for storing or inspecting; outputs as
    /// [`result`](Self::result) has them.
    pub fn snapshot(&self) -> GraphState {
        let mut state = self.job.read(GraphState::clone);
        for task in &mut state.tasks {
            if let Some(out) = task.output.as_deref_mut() {
                self.job.with_bytes(task.run, out);
            }
        }
        state
    }

    /// Cancel `key`'s task and everything downstream of it that has not
    /// finished: tasks not started end `Cancelled` at once; running ones
    /// are stopped (SIGTERM to the process group, `kill_grace`, SIGKILL)
    /// and end `Cancelled`. Finished tasks keep their result; the rest of
    /// the graph goes on.
    ///
    /// # Errors
    /// `UnknownTask` for a key of another graph.
    pub fn cancel(&self, key: TaskKey) -> Result<()> {
        let i = self.job.plan().index(key).ok_or(Error::UnknownTask(key))?;
        self.cancel_tasks(Some(i));
        Ok(())
    }

    /// Run `key`'s task again after it failed, and let the tasks that were
    /// skipped because of it run after all: the task goes back to
    /// `Pending` (then `Ready`: its dependencies had succeeded) and runs as
    /// a new run, with its full retries; every task `Skipped` downstream of
    /// it goes back to `Pending` and runs once its dependencies succeed. A
    /// dependent that also waits on another task that did not succeed stays
    /// `Skipped`, now naming that task. The task's previous run stays in
    /// the registry; its result in the graph is replaced.
    ///
    /// A graph the failure had finished is reopened: it is driven again,
    /// and [`wait`](Self::wait) waits for its new finish. With a store the
    /// retry is durable: a restart adopts the reopened graph.
    ///
    /// ```no_run
    /// # async fn f(graph: taskorch_actors::graph::GraphRun, build: taskorch_actors::graph::TaskKey) -> taskorch_actors::Result<()> {
    /// let report = graph.wait().await;
    /// if !report.success() {
    ///     // Fix what made "build" fail (a flaky mirror, a full disk), then:
    ///     graph.retry(build).await?;
    ///     let report = graph.wait().await;
    ///     # let _ = report;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// - `UnknownTask` for a key of another graph;
    /// - `TaskNotFailed` (naming the task and its status) for a task that
    ///   did not end `Failed`, `TimedOut` or `Interrupted`: one that is
    ///   pending, running, succeeded, cancelled or skipped (retry the task
    ///   it was skipped for). Nothing changed;
    /// - for a finished graph, the coordinator's refusal to drive it again
    ///   (`ShuttingDown`, `ActorFailed`): what the retry reopened then ends
    ///   `Interrupted`.
    ///
    /// # Cancel safety
    /// Cancel safe: the reset happens before the first await, and handing
    /// a reopened graph back to the coordinator goes on in a task of its
    /// own if the future is dropped.
    pub async fn retry(&self, key: TaskKey) -> Result<()> {
        let i = self.job.plan().index(key).ok_or(Error::UnknownTask(key))?;
        if !self.job.reset_failed(i)? {
            return Ok(());
        }
        let job = Arc::clone(&self.job);
        // Its own task: a caller that gives up must not leave a reopened
        // graph that no driver will finish (and whose waiters would hang).
        // It ends with the coordinator's answer.
        tokio::spawn(async move { job.drive_again().await })
            .await
            .map_err(|e| {
                Error::actor_failed(self.job.actor(), format!("reopening the graph failed: {e}"))
            })?
    }

    /// Cancel every task not finished yet (see [`cancel`](Self::cancel)).
    pub fn cancel_all(&self) {
        self.cancel_tasks(None);
    }

    /// Add `task` to the graph while it runs, and return its key. It may
    /// depend ([`GraphTask::after`]) on any task of this graph, on a task
    /// of another graph of this runtime (in flight, adopted, or finished
    /// and still held by a handle), and on any run
    /// ([`GraphTask::after_run`]). A dependency that already succeeded is
    /// satisfied at once; one that already failed (or was skipped,
    /// cancelled, interrupted) skips the new task, as a failed dependency
    /// does. The task is checked as a submit checks it, and runs under the
    /// graph's limit, priority and aging rules like the others.
    ///
    /// A graph that had finished is reopened (as by a
    /// [`retry`](Self::retry)): [`wait`](Self::wait) then waits for its new
    /// finish. With a store the grown graph is durable before this
    /// returns: a restart adopts it with the new task.
    ///
    /// ```no_run
    /// # async fn f(graph: taskorch_actors::graph::GraphRun, build: taskorch_actors::graph::TaskKey) -> taskorch_actors::Result<()> {
    /// use taskorch_actors::graph::GraphTask;
    /// use taskorch_actors::Task;
    ///
    /// let publish = graph
    ///     .add(GraphTask::new("publish", Task::command("./publish.sh")).after(build))
    ///     .await?;
    /// # let _ = publish;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// Nothing is added on any error:
    /// - `DuplicateTask` if a task of the graph has its name;
    /// - `UnknownDependency` for a key of a graph this runtime does not
    ///   know, or past a graph's tasks; `UnknownRunDependency` for a run
    ///   neither the registry nor the store knows;
    /// - what a submit returns for a task: `InvalidTask`, `NotFound`,
    ///   `PermissionDenied`, `UnknownAction`, `UnknownQueue`,
    ///   `StartNotSupported`, a claim no capacity can hold;
    /// - `ShuttingDown` once the runtime stops; for a finished graph, the
    ///   coordinator's refusal to drive it again (`ActorFailed`): what was
    ///   added then ends `Interrupted`.
    ///
    /// # Cancel safety
    /// As [`retry`](Self::retry): the task is added before the first
    /// await; handing a reopened graph back to the coordinator goes on if
    /// the future is dropped.
    pub async fn add(&self, task: GraphTask) -> Result<TaskKey> {
        let mut more = TaskGraph::new();
        let name = task.name().to_string();
        more.add(task);
        self.extend(more)
            .await?
            .pop()
            .ok_or_else(|| Error::InvalidTask(format!("graph task {name:?} was not added")))
    }

    /// Add every task of `tasks` at once (see [`add`](Self::add)) and
    /// return their new keys, in the order they were added to `tasks`.
    /// Their dependencies may also name each other (by the keys `tasks`
    /// gave them); a cycle among them is refused (`DependencyCycle`, naming
    /// it) and nothing is added. `tasks`' own limit, aging and name are
    /// not used: the graph keeps its own.
    ///
    /// # Errors
    /// As [`add`](Self::add), and `DependencyCycle`.
    ///
    /// # Cancel safety
    /// As [`add`](Self::add).
    pub async fn extend(&self, tasks: TaskGraph) -> Result<Vec<TaskKey>> {
        let (keys, reopen) = self.job.grow(tasks)?;
        // Durable before it answers (a no-op without a store).
        self.job.registry().store().sync().await?;
        if reopen {
            let job = Arc::clone(&self.job);
            // Its own task, as for a retry: a caller that gives up must not
            // leave a reopened graph that no driver will finish.
            tokio::spawn(async move { job.drive_again().await })
                .await
                .map_err(|e| {
                    Error::actor_failed(
                        self.job.actor(),
                        format!("reopening the graph failed: {e}"),
                    )
                })??;
        }
        Ok(keys)
    }

    /// Skip `key`'s task and everything downstream of it that has not
    /// started: they end `Skipped` with `cause` as their `blocked_by`, as
    /// if `cause` had failed, while `cause` itself and the rest of the
    /// graph go on (a workflow's condition skips the branch it does not
    /// take). Tasks already running or finished are left alone. Called by
    /// `cause`'s own run before it ends, the skipped tasks never start.
    ///
    /// # Errors
    /// `UnknownTask` for a key (either) of another graph.
    pub fn skip(&self, key: TaskKey, cause: TaskKey) -> Result<()> {
        let plan = self.job.plan();
        let i = plan.index(key).ok_or(Error::UnknownTask(key))?;
        let by = plan.index(cause).ok_or(Error::UnknownTask(cause))?;
        let why = TaskError {
            kind: "skipped".into(),
            message: format!("not run: skipped by {:?}", plan.nodes[by].name),
            cause: Some(cause),
        };
        self.job.update_planned(|state, plan| {
            for task in plan.downstream(i) {
                state.end_unrun(task, TaskStatus::Skipped, why.clone());
            }
        });
        self.job.poke().notify_one();
        Ok(())
    }

    /// Cancel task `root` and everything downstream of it (`None`: every
    /// task), as the plan is under the state lock: a task added meanwhile
    /// downstream of it is cancelled too.
    fn cancel_tasks(&self, root: Option<usize>) {
        let runs: Vec<RunId> = self.job.update_planned(|state, plan| {
            let tasks = match root {
                Some(i) => plan.downstream(i),
                None => (0..state.tasks.len()).collect(),
            };
            let mut runs = Vec::new();
            for i in tasks {
                match state.status(i) {
                    TaskStatus::Pending | TaskStatus::Ready => {
                        let error = TaskError {
                            kind: "cancelled".into(),
                            message: "cancelled before it started".into(),
                            cause: None,
                        };
                        state.end_unrun(i, TaskStatus::Cancelled, error);
                    }
                    // Its run ends `Cancelled`, and the driver records it.
                    TaskStatus::Running => runs.extend(state.tasks[i].run),
                    _ => {}
                }
            }
            runs
        });
        for run in runs {
            // Unknown only if retention already evicted it, i.e. it ended.
            let _ = self.job.registry().cancel(run);
        }
        // The driver may be waiting with nothing left to run.
        self.job.poke().notify_one();
    }

    /// Wait until every task has finished, and report.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future only stops waiting (the graph goes
    /// on; use [`cancel_all`](Self::cancel_all) to stop it).
    pub async fn wait(&self) -> GraphReport {
        loop {
            let done = self.job.done().notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if self.job.is_finished() {
                return self.report();
            }
            done.await;
        }
    }

    /// [`wait`](Self::wait), for at most `limit`.
    ///
    /// # Errors
    /// `TimedOut { run: None, after: limit }` if the graph has not finished
    /// by then; it keeps running.
    ///
    /// # Cancel safety
    /// Cancel safe, as `wait`.
    pub async fn wait_timeout(&self, limit: Duration) -> Result<GraphReport> {
        tokio::time::timeout(limit, self.wait())
            .await
            .map_err(|_| Error::TimedOut {
                run: None,
                after: limit,
            })
    }

    /// The report as it stands.
    pub fn report(&self) -> GraphReport {
        GraphReport {
            tasks: self.results(),
            stats: self.stats(),
            elapsed: self.job.elapsed(),
        }
    }
}

fn result_of(plan: &Plan, state: &GraphState, i: usize) -> TaskResult {
    let node = &plan.nodes[i];
    let task = &state.tasks[i];
    let error = task.error.as_deref();
    TaskResult {
        key: plan.key(i),
        name: node.name.clone(),
        status: task.status,
        output: task.output.as_deref().cloned(),
        error_message: error.map(|e| e.message.clone()),
        error_kind: error.map(|e| e.kind.clone()),
        attempts: task.attempts,
        duration: task.duration,
        metadata: node.metadata.clone(),
        tags: node.tags.to_vec(),
        run_id: task.run,
        started: task.started,
        finished: task.finished,
        blocked_by: error.and_then(|e| e.cause),
    }
}
