//! What a caller builds: a [`TaskGraph`] of [`GraphTask`]s, each named by
//! the [`TaskKey`] that [`TaskGraph::add`] returns, with its
//! dependencies, [`Priority`], resource claims, tags and metadata.
//!
//! Building checks nothing and cannot fail (except
//! [`TaskGraph::add_dependency`] on a key of another graph): the whole
//! graph is checked at submit, before anything runs, so every mistake is
//! reported with the names involved in one place.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::resource::Resource;
use crate::error::{Error, Result};
pub use crate::priority::Priority;
use crate::run::RunId;
use crate::task::{Backoff, Task};
pub use crate::task_key::TaskKey;

/// Graph ids: unique in the process, so a key names one graph only.
static NEXT_GRAPH: AtomicU64 = AtomicU64::new(1);

/// One task of a graph: a [`Task`] under a name unique in its graph, plus
/// what it waits for, how urgent it is and what it claims.
///
/// ```
/// use std::time::Duration;
/// use taskorch_actors::graph::{GraphTask, Priority, Resource, TaskGraph};
/// use taskorch_actors::Task;
///
/// let mut graph = TaskGraph::new();
/// let build = graph.add(GraphTask::new("build", Task::command("cargo").arg("build")));
/// let migrate = graph.add(
///     GraphTask::new("migrate", Task::command("./migrate.sh"))
///         .after(build)
///         .priority(Priority::Critical)
///         .resource(Resource::write("database"))
///         .timeout(Duration::from_secs(300))
///         .retries(2)
///         .retry_delay(Duration::from_secs(5))
///         .tags(["deploy"]),
/// );
/// assert_eq!(graph.len(), 2);
/// # let _ = migrate;
/// ```
#[derive(Debug, Clone)]
pub struct GraphTask {
    pub(crate) name: String,
    pub(crate) task: Task,
    pub(crate) deps: Vec<TaskKey>,
    /// Runs it waits for (outside any graph, or of another graph).
    pub(crate) runs: Vec<RunId>,
    /// Tasks of other graphs it waits for, as the store names them (a
    /// graph rebuilt from the store: store key and task index).
    pub(crate) stored_deps: Vec<([u8; 16], u32)>,
    pub(crate) priority: Priority,
    pub(crate) resources: Vec<Resource>,
    pub(crate) tags: Vec<String>,
    pub(crate) metadata: serde_json::Value,
}

impl GraphTask {
    /// The task `task` under `name` (unique within its graph; its runs are
    /// listed under it in the registry).
    pub fn new(name: impl Into<String>, task: Task) -> Self {
        GraphTask {
            name: name.into(),
            task,
            deps: Vec::new(),
            runs: Vec::new(),
            stored_deps: Vec::new(),
            priority: Priority::Normal,
            resources: Vec::new(),
            tags: Vec::new(),
            metadata: serde_json::Value::Null,
        }
    }

    /// Start only after `key` has succeeded: a task of this graph, or of
    /// another graph of this runtime, in flight or finished (a finished
    /// one that succeeded is satisfied at once; one that did not skips
    /// this task, as any failed dependency does). A key of a graph the
    /// runtime does not know is refused at submit or add
    /// (`UnknownDependency`).
    pub fn after(mut self, key: TaskKey) -> Self {
        self.deps.push(key);
        self
    }

    /// Start only after every one of `keys` has succeeded.
    pub fn depends_on(mut self, keys: impl IntoIterator<Item = TaskKey>) -> Self {
        self.deps.extend(keys);
        self
    }

    /// Start only after run `run` has succeeded: any run of this runtime
    /// (launched, run, a batch's, a schedule's, another graph task's),
    /// live or finished. One that already succeeded is satisfied at once;
    /// one that failed, timed out, was cancelled or interrupted skips this
    /// task and its dependents, as a failed dependency in the graph does.
    /// A run the runtime does not know (nor its store) is refused at
    /// submit or add (`UnknownRunDependency`).
    pub fn after_run(mut self, run: RunId) -> Self {
        self.runs.push(run);
        self
    }

    /// The runs it waits for (see [`after_run`](Self::after_run)).
    pub fn run_dependencies(&self) -> &[RunId] {
        &self.runs
    }

    /// How urgently to start once ready (default: the task's own
    /// [`Task::priority`], itself `Normal` by default). It ranks the task
    /// among the graph's ready tasks and, for the execution permit, among
    /// every run waiting for one.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Claim `resource` for the whole run. Every claim of a task is
    /// granted at once or not at all, so tasks never deadlock on each
    /// other's claims.
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resources.push(resource);
        self
    }

    /// Claim several resources (see [`resource`](Self::resource)).
    pub fn resources(mut self, resources: impl IntoIterator<Item = Resource>) -> Self {
        self.resources.extend(resources);
        self
    }

    /// Time limit for each attempt (as [`Task::timeout`]).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.task = self.task.timeout(limit);
        self
    }

    /// Retry up to `n` more times after a failed attempt (as
    /// [`Task::retries`]); dependents are skipped only once every attempt
    /// failed.
    pub fn retries(mut self, n: u32) -> Self {
        self.task = self.task.retries(n);
        self
    }

    /// The same delay before every retry (shorthand for
    /// `.backoff(Backoff::fixed(delay))`).
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.task = self.task.backoff(Backoff::fixed(delay));
        self
    }

    /// The delay policy between attempts (as [`Task::backoff`]).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.task = self.task.backoff(backoff);
        self
    }

    /// Add tags, for [`GraphRun::tasks_by_tag`](super::GraphRun::tasks_by_tag).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Add one tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Free-form data carried along and returned in the task's
    /// [`TaskResult`](super::TaskResult) (an owner, a ticket, a commit).
    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it runs.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The keys it depends on, as declared.
    pub fn dependencies(&self) -> &[TaskKey] {
        &self.deps
    }

    /// Its claims, as declared.
    pub fn claims(&self) -> &[Resource] {
        &self.resources
    }
}

/// A set of tasks with dependencies between them, run with
/// `orch.graphs().start` (or `run`).
///
/// A task starts when every task it depends on has succeeded; if one of
/// them fails (after its retries), it and everything downstream of it is
/// `Skipped`. Independent tasks run in parallel, ready ones in
/// [`Priority`] order, each holding its claimed resources, under the
/// graph's [`limit`](Self::limit) and the runtime-wide concurrency cap.
#[derive(Debug, Clone)]
pub struct TaskGraph {
    pub(crate) id: u64,
    /// Optional; lets a caller find the graph again after a restart
    /// (`Orchestrator::graphs`).
    pub(crate) name: Option<String>,
    pub(crate) tasks: Vec<GraphTask>,
    pub(crate) limit: usize,
    pub(crate) aging: u32,
}

/// A waiting task moves up one priority level for every this many tasks
/// that become ready after it.
pub const DEFAULT_AGING: u32 = 16;

impl Default for TaskGraph {
    fn default() -> Self {
        TaskGraph::new()
    }
}

impl TaskGraph {
    /// An empty graph with no limit of its own (the runtime-wide
    /// `max_concurrency` still applies).
    pub fn new() -> Self {
        TaskGraph {
            id: NEXT_GRAPH.fetch_add(1, Ordering::Relaxed),
            name: None,
            tasks: Vec::new(),
            limit: usize::MAX,
            aging: DEFAULT_AGING,
        }
    }

    /// Add `task` and return its key, for the tasks that depend on it.
    pub fn add(&mut self, task: GraphTask) -> TaskKey {
        let index = u32::try_from(self.tasks.len()).expect("fewer than 2^32 tasks in one graph");
        self.tasks.push(task);
        TaskKey::new(self.id, index)
    }

    /// Make `task` depend on `dependency` after both were added (for
    /// graphs built in an order other than the run order). A dependency
    /// that closes a cycle is reported at submit (`DependencyCycle`).
    ///
    /// # Errors
    /// `UnknownTask` if `task` is not a task of this graph (`dependency`
    /// is checked at submit, like every dependency).
    pub fn add_dependency(&mut self, task: TaskKey, dependency: TaskKey) -> Result<()> {
        let node = self
            .index_of(task)
            .and_then(|i| self.tasks.get_mut(i))
            .ok_or(Error::UnknownTask(task))?;
        node.deps.push(dependency);
        Ok(())
    }

    /// Run at most `n` of this graph's tasks at once (default: no limit of
    /// its own). Zero is refused at submit (`InvalidTask`).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    /// Aging: a ready task that waits moves up one priority level for every
    /// `every` tasks that become ready after it (default
    /// [`DEFAULT_AGING`]), so a `Low` task is passed over by at most
    /// `3 * every` later `Critical` ones. Zero is refused at submit
    /// (`InvalidTask`).
    pub fn aging(mut self, every: u32) -> Self {
        self.aging = every;
        self
    }

    /// Name the graph, so it can be found again, by name, after a
    /// restart with a durable store (`Orchestrator::graphs`). Names need
    /// not be unique.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The graph's name, if it was given one ([`named`](Self::named)).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the graph has no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The key of the task named `name`.
    pub fn key(&self, name: &str) -> Option<TaskKey> {
        let index = self.tasks.iter().position(|t| t.name == name)?;
        Some(TaskKey::new(self.id, index as u32))
    }

    /// Every task with its key, in the order they were added.
    pub fn tasks(&self) -> impl Iterator<Item = (TaskKey, &GraphTask)> {
        let id = self.id;
        self.tasks
            .iter()
            .enumerate()
            .map(move |(i, task)| (TaskKey::new(id, i as u32), task))
    }

    /// The task `key` names, if it is one of this graph's.
    pub fn task(&self, key: TaskKey) -> Option<&GraphTask> {
        self.index_of(key).map(|i| &self.tasks[i])
    }

    /// This graph's id (the one its keys carry).
    pub fn id(&self) -> u64 {
        self.id
    }

    fn index_of(&self, key: TaskKey) -> Option<usize> {
        (key.graph() == self.id && key.index() < self.tasks.len()).then_some(key.index())
    }
}
